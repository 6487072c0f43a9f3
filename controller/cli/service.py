"""``penctl service unlock``: prove the service key by challenge-response."""

from __future__ import annotations

import argparse
from typing import Any

from controller.cli.common import EXIT_OK, Parser, add_port, described, unlock


def register(commands: Any) -> None:
    """Add the subcommand to ``penctl``."""
    service = commands.add_parser(
        "service",
        help="service access to the pen",
        **described(
            "Service access to the pen.",
            "penctl service unlock --key-file pen.key --port /dev/pts/3",
            "penctl service unlock --key-file pen.key --level factory --port socket://127.0.0.1:7000",
        ),
    )
    service_actions = service.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=Parser)
    unlock = service_actions.add_parser(
        "unlock",
        help="unlock service (or factory) settings by challenge-response",
        **described(
            "Unlock by HMAC-SHA256 challenge-response over the pen's key; the unlock lasts "
            "service.unlock_timeout_s or until power-off, and ends with this connection, so on its own "
            "this proves the key (give --key-file to `penctl settings` to change service settings).",
            "penctl service unlock --key-file pen.key --port /dev/pts/3",
            "PENCTL_PORT=/dev/pts/3 penctl service unlock --key-file pen.key --level factory",
        ),
    )
    unlock.add_argument("--key-file", required=True, metavar="FILE", help="the pen's key as 64 hex digits")
    add_port(unlock, required=True)
    unlock.add_argument(
        "--level",
        choices=("service", "factory"),
        default="service",
        help="what to unlock: service settings, or factory settings too (default: %(default)s)",
    )
    service.set_defaults(handler=cmd_service)


def cmd_service(args: argparse.Namespace) -> int:
    from hal.registry import open_backend
    from hal.service_auth import read_key_file

    key = read_key_file(args.key_file)
    pen = open_backend("serial", url=args.port)
    try:
        unlock(pen, key, args.level)
    finally:
        pen.close()
    print(
        f"{args.level} access unlocked on pen {pen.identify().serial_number}: the key is right; the unlock ended "
        "with this connection (give --key-file to `penctl settings` to change service settings)"
    )
    return EXIT_OK
