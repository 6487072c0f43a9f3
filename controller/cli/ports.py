"""``penctl ports``: the serial ports of this machine."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from controller.cli.common import EXIT_OK, add_json, described


def register(commands: Any) -> None:
    """Add the subcommand to ``penctl``."""
    ports = commands.add_parser(
        "ports",
        help="list serial ports",
        **described(
            "List this machine's serial ports, one a line: device, description, hardware id (tab-separated). "
            "None found: stdout stays empty, a note goes to stderr, and the exit code is still 0.",
            "penctl ports",
            "penctl ports --json",
        ),
    )
    add_json(ports, "the ports")
    ports.set_defaults(handler=cmd_ports)


def cmd_ports(args: argparse.Namespace) -> int:
    from serial.tools import list_ports

    found = sorted(list_ports.comports(), key=lambda p: p.device)
    if args.json:
        rows = [{"device": p.device, "description": p.description, "hwid": p.hwid} for p in found]
        print(json.dumps(rows, indent=2))
    for port in [] if args.json else found:
        print(f"{port.device}\t{port.description}\t{port.hwid}")
    if not found:
        print("penctl ports: no serial ports found", file=sys.stderr)
    return EXIT_OK
