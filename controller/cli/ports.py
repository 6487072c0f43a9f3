"""``penctl ports``: the serial ports of this machine."""

from __future__ import annotations

import argparse
from typing import Any

from controller.cli.common import EXIT_OK


def register(commands: Any) -> None:
    """Add the subcommand to ``penctl``."""
    ports = commands.add_parser("ports", help="list serial ports")
    ports.set_defaults(handler=cmd_ports)


def cmd_ports(args: argparse.Namespace) -> int:
    from serial.tools import list_ports

    found = sorted(list_ports.comports(), key=lambda p: p.device)
    for port in found:
        print(f"{port.device}\t{port.description}\t{port.hwid}")
    if not found:
        print("no serial ports found")
    return EXIT_OK
