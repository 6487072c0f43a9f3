"""What every ``penctl`` subcommand shares: exit codes, the argument parser, argument types, helpers."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import os
import re
import signal
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from controller.host.table_reader import did_you_mean
from hal.errors import InputError

EXIT_OK, EXIT_FAULT, EXIT_INPUT, EXIT_UNVERIFIED, EXIT_SHORT = 0, 1, 2, 3, 4
EXIT_INTERNAL, EXIT_OUTPUT, EXIT_INTERRUPTED, EXIT_TERMINATED = 70, 74, 130, 143


def seed_number(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to 2**63-1, got {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to 2**63-1, got {text!r}")
    return value


if TYPE_CHECKING:
    from _typeshed import SupportsWrite


class Parser(argparse.ArgumentParser):
    """argparse with messages that say what was expected, and "did you mean" for a mistyped choice or option."""

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        self._given = list(args) if args is not None else sys.argv[1:]
        return super().parse_known_args(args, namespace)

    def _mistyped(self) -> str:
        """A "did you mean" for the first option given that this command does not know ("" if none)."""
        options = [o for action in self._actions for o in action.option_strings]
        for word in getattr(self, "_given", []):
            name = word.split("=", 1)[0]
            if name.startswith("--") and name not in options:
                return did_you_mean(name, [o for o in options if o.startswith("--")])
        return ""

    def unknown_options(self, extras: list[str]) -> NoReturn:
        """Arguments this (sub)command does not take, said in its own usage, with the nearest option it does."""
        options = [o for action in self._actions for o in action.option_strings if o.startswith("--")]
        first = extras[0].split("=", 1)[0]
        hint = did_you_mean(first, options) if first.startswith("-") else ""
        self.error(f"unrecognized arguments: {' '.join(extras)} (expected: see `{self.prog} --help`){hint}")

    def error(self, message: str) -> NoReturn:
        match = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if match:
            choices = [c.strip(" '") for c in match.group(2).split(",")]
            hint = did_you_mean(match.group(1), choices)
            message = f"{message.split(':')[0]}: expected one of {', '.join(choices)}, got {match.group(1)!r}{hint}"
        elif "expected" not in message:
            message += f" (expected: see `{self.prog} --help`)"
        if "required: " in message and "--port" in message.split("required: ", 1)[1]:
            message += f"; or set {PORT_ENV}, the default of every --port (export {PORT_ENV}=/dev/ttyUSB0)"
        if "required: " in message:
            message += self._mistyped()
        self.print_usage(sys.stderr)
        self.exit(EXIT_INPUT, f"{self.prog}: error: {message}\n")

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        """As argparse's, but help on stdout that cannot be written (a full disk) is an error, not silence.
        (A usage error that cannot be written to stderr still exits 2: the input is what is wrong.)"""
        if not message:
            return
        if file is None or file is sys.stderr:
            with contextlib.suppress(OSError):
                sys.stderr.write(message)
            return
        file.write(message)


PORT_ENV = "PENCTL_PORT"
"""The environment variable that gives every ``--port`` its default."""

PORT_HELP = "the pen's port: a device (/dev/ttyUSB0), a pty path, socket://HOST:PORT or loop://"


def add_port(parser: argparse.ArgumentParser, required: bool, help_text: str = PORT_HELP) -> None:
    """``--port URL``, defaulting to ``$PENCTL_PORT``; required only when neither is given."""
    default = os.environ.get(PORT_ENV) or None
    parser.add_argument(
        "--port",
        metavar="URL",
        default=default,
        required=required and default is None,
        help=f"{help_text} (default: ${PORT_ENV}{', now ' + repr(default) if default else ''})",
    )


def add_json(parser: argparse.ArgumentParser, what: str = "the output") -> None:
    """``--json``: the one way every subcommand that prints data is asked for JSON."""
    parser.add_argument("--json", action="store_true", help=f"print {what} as JSON on stdout")


def described(description: str, *examples: str) -> dict[str, Any]:
    """Parser keywords: the description wrapped, and an "examples:" epilog kept as written."""
    return {
        "description": textwrap.fill(description, 79),
        "epilog": "examples:\n" + "\n".join(f"  {line}" for line in examples),
        "formatter_class": argparse.RawDescriptionHelpFormatter,
    }


def add_logging_options(parser: argparse.ArgumentParser, inherited: bool = False) -> None:
    """``-v`` (info), ``-vv`` (debug) and ``--log-level LEVEL``: diagnostics on stderr.

    ``inherited``: a subcommand's copy, so ``penctl treat -v`` works too; it sets nothing unless given.
    """
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS if inherited else 0,
        help="log more on stderr: -v info (link statistics, ...), -vv debug",
    )
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
        default=argparse.SUPPRESS if inherited else None,
        metavar="LEVEL",
        help="log level on stderr: DEBUG, INFO, WARNING (default), ERROR or CRITICAL; overrides -v",
    )


def subparsers_of(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every parser below ``parser`` (subcommands, their actions, ...)."""
    found: list[argparse.ArgumentParser] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += [sub, *subparsers_of(sub)]
    return found


OWN_LOGGERS = ("controller", "hal", "sim")


def configure_logging(verbose: int, level_name: str | None) -> None:
    """Configure the stdlib's logging once, for the whole process: records go to stderr."""
    level = logging.WARNING - 10 * min(verbose, 2)
    if level_name:
        level = logging.getLevelNamesMapping()[level_name]
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "penctl", False)]:
        root.removeHandler(old)  # main() called again in one process: replace, never stack
    handler = logging.StreamHandler(sys.stderr)
    handler.penctl = True  # type: ignore[attr-defined]
    timed = " %(relativeCreated).0f ms:" if level <= logging.DEBUG else ""  # -vv: where the time goes
    handler.setFormatter(logging.Formatter(f"penctl: %(levelname)s:{timed} %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(max(level, logging.WARNING))  # libraries (transitions, matplotlib): warnings and worse
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(level)


def number_in(name: str, lo: float, hi: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"--{name}: expected a number from {lo:g} to {hi:g}, got {text!r}")
        return value

    return parse


def port_number(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a TCP port from 0 to 65535, got {text!r}")
    return int(text)


def iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def week_range(text: str) -> tuple[int, int]:
    low, dash, high = text.partition("-")
    try:
        weeks = (int(low), int(high if dash else low))
    except ValueError:
        weeks = (0, 0)
    if not 1 <= weeks[0] <= weeks[1] <= 52:
        raise argparse.ArgumentTypeError(f"expected weeks LOW-HIGH with 1 <= LOW <= HIGH <= 52, got {text!r}")
    return weeks


def prepare_out_dir(text: str) -> Path:
    """Create the report directory before any work starts, so a bad ``--out`` costs nothing."""
    out = Path(text)
    if out.exists() and not out.is_dir():
        raise InputError("--out", "", "a directory (or a path to create one at)", text)
    from controller.host.interrupts import signals_deferred

    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".penctl-write-test"
        with signals_deferred(signal.SIGINT, signal.SIGTERM):  # an interrupt in between left the probe behind
            probe.write_bytes(b"")
            probe.unlink()
    except OSError as exc:
        raise InputError("--out", "", "a directory penctl can create and write in", f"{text}: {exc.strerror}") from None
    return out


def unlock(pen: Any, key: bytes, level: str) -> None:
    """Challenge-response unlock on an open connection; it lasts until the connection ends or it expires."""
    from hal.service_auth import unlock_response

    nonce = pen.service_challenge()
    pen.service_unlock(level, unlock_response(key, nonce, level, pen.identify().serial_number))
