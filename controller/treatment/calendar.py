"""Clinical time spans as the texts say them: "within 6 months" is six calendar months, not 182 days.

Six months before 22 November is 22 May, 184 days earlier; counting 182 days let a filler injected on
22 May pass. Spans in weeks or days are exact day counts; months and years follow the calendar, a day that
does not exist in the target month falling on its last day (31 August - 6 months = 28 or 29 February).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

UNITS = ("days", "weeks", "months")


@dataclass(kw_only=True, frozen=True)
class Span:
    """A number of days, weeks or calendar months."""

    count: int
    unit: str

    def before(self, date: dt.date) -> dt.date:
        """The date this span before ``date``."""
        return self._shift(date, -1)

    def after(self, date: dt.date) -> dt.date:
        """The date this span after ``date``."""
        return self._shift(date, +1)

    def _shift(self, date: dt.date, sign: int) -> dt.date:
        if self.unit == "days":
            return date + dt.timedelta(days=sign * self.count)
        if self.unit == "weeks":
            return date + dt.timedelta(weeks=sign * self.count)
        return add_months(date, sign * self.count)

    def __str__(self) -> str:
        return f"{self.count} {self.unit if self.count != 1 else self.unit[:-1]}"


def parse_span(text: str) -> Span:
    """``"6 months"``, ``"4 weeks"``, ``"91 days"`` (the tables' spelling); ValueError otherwise."""
    match = re.fullmatch(r"(\d+) (day|week|month)s?", text.strip())
    if not match:
        raise ValueError(f"a span such as '6 months', '4 weeks' or '91 days', got {text!r}")
    return Span(count=int(match.group(1)), unit=match.group(2) + "s")


def add_months(date: dt.date, months: int) -> dt.date:
    """``date`` moved by ``months`` calendar months, clamped to the last day of the month it lands in."""
    index = date.year * 12 + date.month - 1 + months
    year, month = divmod(index, 12)
    day = min(date.day, calendar.monthrange(year, month + 1)[1])
    return dt.date(year, month + 1, day)
