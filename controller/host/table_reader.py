"""Typed, range-checked reads from parsed TOML tables, collecting every problem.

Modelled on Klipper's config getters: each read names the key, the expected
type and range, and keys nobody read are reported as unknown so a typo never
passes silently. Problems are collected rather than raised one at a time, so an
operator fixing a file sees all of them in one go.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hal.errors import InputError


@dataclass(kw_only=True, frozen=True)
class Problem:
    """One thing wrong with an input file."""

    key: str
    expected: str
    got: object = None
    context: str = ""
    """What the key's table is called by people, after the key: ``zone[1].depth_mm (forehead)``."""

    def __str__(self) -> str:
        where = f"{self.key} ({self.context})" if self.context else self.key
        text = f"{where}: expected {self.expected}" if self.key else f"expected {self.expected}"
        return text + (f", got {self.got!r}" if self.got is not None else "")


class InputFileError(InputError):
    """An input file with one or more problems; nothing was done with it."""

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        first = self.problems[0]
        super().__init__(source, first.key, first.expected, first.got)
        self.args = (self.describe(),)

    def describe(self) -> str:
        lines = [f"{self.source}: {p}" for p in self.problems]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.describe()


_MISSING = object()
UNPRINTABLE = {"Cc", "Cf", "Zl", "Zp"}
"""Unicode categories a text from a file may not hold: control, format (bidi overrides, zero-width), line and
paragraph separators."""
EARLIEST_YEAR, LATEST_YEAR = 1900, 2199
"""Dates and times in input files must fall in these years (a session, a history item)."""


def is_finite_number(value: object) -> bool:
    """A real number a float can hold: not a bool, not NaN or infinite, not a 400-digit integer."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(value, int):
        return abs(value) < 2**1023
    return math.isfinite(value)


def shown(value: object) -> object:
    """A value as it goes into a message: a huge integer is summarised, not printed whole."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**30:
        return f"a {len(str(abs(value)))}-digit integer"
    return value


@dataclass(kw_only=True)
class TableReader:
    """Reads one table; ``path`` is its dotted name for messages (e.g. ``zone[2]``)."""

    table: dict[str, Any]
    path: str
    problems: list[Problem]
    context: str = ""
    """A name for the table in messages besides its path (a zone's area), once it is known."""
    _read: set[str] = field(default_factory=set)

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def has(self, name: str) -> bool:
        return name in self.table

    def allow(self, *names: str) -> None:
        """Count ``names`` as known keys, read or not (a table whose keys are all optional lists them this way)."""
        self._read.update(names)

    def _get(self, name: str, expected: str, required: bool) -> Any:
        self._read.add(name)
        if name not in self.table:
            if required:
                self.problem(name, expected + " (the key is missing)")
            return _MISSING
        return self.table[name]

    def number(
        self,
        name: str,
        lo: float,
        hi: float,
        unit: str,
        default: float | None = None,
        required: bool = True,
        lo_open: bool = False,
    ) -> float | None:
        """A finite number in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``)."""
        lo_text = f"above {lo:g}" if lo_open else f"from {lo:g}"
        expected = f"a number {lo_text} to {hi:g} {unit}".rstrip()
        value = self._get(name, expected, required and default is None)
        if value is _MISSING:
            return default
        if not is_finite_number(value):
            self.problem(name, expected, got=shown(value))
            return default
        if value > hi or value < lo or (lo_open and value == lo):
            self.problem(name, expected, got=shown(value))
            return default
        return float(value)

    def integer(self, name: str, lo: int, hi: int, default: int | None = None, required: bool = True) -> int | None:
        expected = f"a whole number from {lo} to {hi}"
        value = self._get(name, expected, required and default is None)
        if value is _MISSING:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            self.problem(name, expected, got=shown(value))
            return default
        return value

    def choice(self, name: str, choices: Sequence[str], default: str | None = None) -> str | None:
        expected = "one of " + ", ".join(choices)
        value = self._get(name, expected, default is None)
        if value is _MISSING:
            return default
        if not isinstance(value, str) or value not in choices:
            hint = did_you_mean(value, list(choices)) if isinstance(value, str) else ""
            self.problem(name, expected + hint, got=value)
            return default
        return value

    def text(
        self, name: str, default: str | None = None, max_len: int = 200, required: bool = True, blank: bool = True
    ) -> str | None:
        """A string without control, format or line-separator characters; ``blank=False``: not only spaces."""
        expected = f"a string of at most {max_len} characters, without control characters" + (
            "" if blank else ", saying something (not only spaces)"
        )
        value = self._get(name, expected, required and default is None)
        if value is _MISSING:
            return default
        # Control and format characters (escape sequences, line breaks, U+2028, bidi overrides, zero-width
        # spaces) would reach the operator's terminal and could forge or hide lines of the summary; a name or a
        # reason never needs them. A documented reason that is only spaces documents nothing.
        if (
            not isinstance(value, str)
            or len(value) > max_len
            or any(unicodedata.category(c) in UNPRINTABLE for c in value)
            or (not blank and not value.strip())
        ):
            self.problem(name, expected, got=value)
            return default
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self._get(name, "true or false", False)
        if value is _MISSING:
            return default
        if not isinstance(value, bool):
            self.problem(name, "true or false", got=value)
            return default
        return value

    def date(self, name: str, required: bool = True) -> dt.date | None:
        """A TOML date (``2026-11-22``)."""
        expected = f"a date such as 2026-11-22 (years {EARLIEST_YEAR}-{LATEST_YEAR})"
        value = self._get(name, expected, required)
        if value is _MISSING:
            return None
        if isinstance(value, dt.datetime) or not isinstance(value, dt.date) or not self._year_ok(value):
            self.problem(name, expected, got=value)
            return None
        return value

    @staticmethod
    def _year_ok(value: dt.date) -> bool:
        return EARLIEST_YEAR <= value.year <= LATEST_YEAR

    def local_datetime(self, name: str, required: bool = True) -> dt.datetime | None:
        """A TOML local date-time (``2026-11-22T09:30:00``)."""
        expected = f"a local date and time such as 2026-11-22T09:30:00 (years {EARLIEST_YEAR}-{LATEST_YEAR})"
        value = self._get(name, expected, required)
        if value is _MISSING:
            return None
        if not isinstance(value, dt.datetime) or value.tzinfo is not None or not self._year_ok(value):
            self.problem(name, expected, got=value)
            return None
        return value

    def choice_list(
        self,
        name: str,
        choices: Sequence[str],
        resolve: Callable[[str], str | None] | None = None,
        spellings: Sequence[str] = (),
    ) -> list[str]:
        """A list of strings, each one of ``choices`` (empty when the key is absent).

        ``resolve`` maps a name as people write it to its choice (None: unknown); an unknown one gets a "did you
        mean" among ``spellings`` (default: the choices)."""
        expected = "a list of: " + ", ".join(choices)
        value = self._get(name, expected, False)
        if value is _MISSING:
            return []
        if not isinstance(value, list):
            self.problem(name, expected, got=value)
            return []
        good = []
        for k, item in enumerate(value):
            chosen = (resolve(item) if resolve else item) if isinstance(item, str) else None
            if chosen in choices:
                good.append(str(chosen))
                continue
            hint = did_you_mean(item, list(spellings or choices)) if isinstance(item, str) else ""
            self.problems.append(
                Problem(key=f"{self.key(name)}[{k}]", expected="one of " + ", ".join(choices) + hint, got=item)
            )
        return good

    def number_list(self, name: str, lo: float, hi: float, unit: str, lo_open: bool = False) -> list[float]:
        """A non-empty list of finite numbers in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``); [] if absent."""
        expected = f"a non-empty list of numbers {'above' if lo_open else 'from'} {lo:g} to {hi:g} {unit}".rstrip()
        value = self._get(name, expected, False)
        if value is _MISSING:
            return []
        ok = isinstance(value, list) and len(value) > 0 and all(is_finite_number(v) for v in value)
        if not ok or not all(lo <= v <= hi and not (lo_open and v == lo) for v in value):
            self.problem(name, expected, got=shown(value))
            return []
        return [float(v) for v in value]

    def number_pair(
        self, name: str, lo: float, hi: float, unit: str, default: tuple[float, float]
    ) -> tuple[float, float]:
        """``[low, high]`` with ``lo <= low <= high <= hi``."""
        expected = f"[low, high] with {lo:g} <= low <= high <= {hi:g} {unit}"
        value = self._get(name, expected, False)
        if value is _MISSING:
            return default
        ok = isinstance(value, list) and len(value) == 2 and all(is_finite_number(v) for v in value)
        if not ok or not lo <= value[0] <= value[1] <= hi:
            self.problem(name, expected, got=value)
            return default
        return float(value[0]), float(value[1])

    def sub_table(self, name: str, required: bool = True) -> TableReader | None:
        value = self._get(name, "a table", required)
        if value is _MISSING:
            return None
        if not isinstance(value, dict):
            self.problem(name, "a table", got=value)
            return None
        return TableReader(table=value, path=self.key(name), problems=self.problems)

    def table_array(self, name: str, min_items: int = 1) -> list[TableReader]:
        expected = f"an array of tables ([[{name}]]) with at least {min_items}"
        value = self._get(name, expected, min_items > 0)
        if value is _MISSING:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value) or len(value) < min_items:
            self.problem(name, expected, value if not isinstance(value, list) else None)
            return []
        return [
            TableReader(table=v, path=f"{self.key(name)}[{k}]", problems=self.problems) for k, v in enumerate(value)
        ]

    def problem(self, name: str, expected: str, got: object = None) -> None:
        """Record a problem with key ``name`` of this table (the one place problems of a table are made)."""
        self.problems.append(Problem(context=self.context, key=self.key(name), expected=expected, got=got))

    def finish(self) -> None:
        """Report every key that no read asked for: probably a typo."""
        for name in self.table:
            if name not in self._read:
                hint = did_you_mean(name, sorted(self._read))
                self.problems.append(
                    Problem(
                        context=self.context,
                        key=self.key(name),
                        expected=f"a known key (this table has: {', '.join(sorted(self._read))}){hint}",
                    )
                )


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``choices``, or ``""``: every such hint reads alike."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def parse_document(data: bytes, source: str, kind: str) -> object:
    """TOML (or JSON for ``kind == "json"``) bytes to a document; every failure is an InputFileError."""
    import json
    import tomllib

    what = "JSON" if kind == "json" else "TOML"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputFileError(source, [Problem(key="", expected=f"UTF-8 text (byte {exc.start} is not)")]) from None
    try:
        if kind == "json":
            return json.loads(text, object_pairs_hook=_unique_keys)
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(source, [Problem(key="", expected=f"valid {what} ({exc})")]) from None
    except DuplicateKeyError as exc:
        raise InputFileError(
            source, [Problem(key=str(exc), expected="each key once (this one is given twice)")]
        ) from None
    except RecursionError:
        raise InputFileError(
            source, [Problem(key="", expected=f"{what} nested less deeply (it nests too deep to read)")]
        ) from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise InputFileError(
            source, [Problem(key="", expected=f"valid {what} with numbers of sane size ({exc})")]
        ) from None


class DuplicateKeyError(ValueError):
    """A JSON object gives a key twice."""


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKeyError(key)
        out[key] = value
    return out
