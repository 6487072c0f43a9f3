"""``penctl``: parse the command line and dispatch to the subcommand's module.

Exit codes: 0 done, 1 the pen or treatment ended in a fault or refusal, 2 bad input (nothing
written, nothing sent), 3 settings applied but not verified, 70 an internal error (one line, no
traceback), 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from controller import __version__
from controller.cli import bench, course, faults, ports, record, replay, serve, service, settings, treat
from controller.cli.common import (
    EXIT_FAULT,
    EXIT_INPUT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_UNVERIFIED,
    Parser,
)
from controller.host.settings_flash import UnverifiedError
from hal.errors import InputError, PenError

SUBCOMMANDS = (treat, record, replay, serve, faults, service, course, ports, settings, bench)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="penctl", description="Microneedling pen controller and simulator.")
    parser.add_argument("--version", action="version", version=f"penctl {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    for subcommand in SUBCOMMANDS:
        subcommand.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    import signal

    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `penctl settings list | head` ends quietly
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except InputError as exc:
        print(f"penctl {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except UnverifiedError as exc:
        print(f"penctl {args.command}: applied, not verified: {exc}", file=sys.stderr)
        return EXIT_UNVERIFIED
    except PenError as exc:
        print(f"penctl {args.command}: pen error: {exc}", file=sys.stderr)
        return EXIT_FAULT
    except KeyboardInterrupt:
        print(f"penctl {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # the last resort: a bug, said in one line, never a traceback
        if os.environ.get("PENCTL_DEBUG"):
            raise
        print(
            f"penctl {args.command}: internal error ({type(exc).__name__}: {exc}); "
            "this is a bug: please report it (PENCTL_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
