"""What every ``penctl`` subcommand shares: exit codes, the argument parser, argument types, helpers."""

from __future__ import annotations

import argparse
import datetime as dt
import difflib
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from hal.errors import InputError

EXIT_OK, EXIT_FAULT, EXIT_INPUT, EXIT_UNVERIFIED, EXIT_SHORT = 0, 1, 2, 3, 4
EXIT_INTERNAL, EXIT_INTERRUPTED = 70, 130


def seed_number(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to 2**63-1, got {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to 2**63-1, got {text!r}")
    return value


class Parser(argparse.ArgumentParser):
    """argparse with messages that say what was expected, and "did you mean" for a mistyped choice."""

    def error(self, message: str) -> NoReturn:
        match = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if match:
            choices = [c.strip(" '") for c in match.group(2).split(",")]
            close = difflib.get_close_matches(match.group(1), choices, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            message = f"{message.split(':')[0]}: expected one of {', '.join(choices)}, got {match.group(1)!r}{hint}"
        elif "expected" not in message:
            message += f" (expected: see `{self.prog} --help`)"
        self.print_usage(sys.stderr)
        self.exit(EXIT_INPUT, f"{self.prog}: error: {message}\n")


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
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".penctl-write-test"
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
