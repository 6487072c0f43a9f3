"""Course planning: when the sessions of a course fall, from the interval the treatment texts give."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(kw_only=True, frozen=True)
class SessionSlot:
    number: int
    earliest: dt.date
    latest: dt.date


def plan_course(start: dt.date, sessions: int, interval_weeks: tuple[int, int]) -> list[SessionSlot]:
    """Session 1 on ``start``; each next one from ``low`` to ``high`` weeks after the earliest date of the last.

    Dates chain from the earliest date, so the course is as short as the texts allow;
    each window says how late a session may still be.
    """
    low, high = interval_weeks
    if not 1 <= sessions <= 12:
        raise ValueError("sessions must be from 1 to 12")
    if not 1 <= low <= high <= 52:
        raise ValueError("interval weeks must satisfy 1 <= low <= high <= 52")
    slots = [SessionSlot(number=1, earliest=start, latest=start)]
    for k in range(2, sessions + 1):
        base = slots[-1].earliest
        slots.append(
            SessionSlot(number=k, earliest=base + dt.timedelta(weeks=low), latest=base + dt.timedelta(weeks=high))
        )
    return slots


def maintenance_window(last: dt.date) -> tuple[dt.date, dt.date]:
    """Maintenance every 6-12 months after the course."""
    return last + dt.timedelta(days=182), last + dt.timedelta(days=365)
