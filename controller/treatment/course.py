"""Course planning: when the sessions of a course fall, from the interval the treatment texts give.

The interval's lower bound is the same rule ``penctl treat`` applies to a
patient's last session (``interval_min`` in ``data/limits.csv``), so a course
printed here never schedules a session that ``treat`` would refuse.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from controller.treatment.calendar import Span
from controller.treatment.rules import limit
from controller.treatment.screening import MAINTENANCE_GAP


@dataclass(kw_only=True, frozen=True)
class SessionSlot:
    """One session of a course: its number and the window it may fall in."""

    number: int
    earliest: dt.date
    latest: dt.date


def interval_problem(interval_weeks: tuple[int, int]) -> str | None:
    """Why a course interval breaks the texts' rule (sessions at least ``interval_min`` weeks apart), if it does."""
    shortest = int(limit("interval_min"))
    if interval_weeks[0] < shortest:
        return f"sessions at least {shortest} weeks apart (the interval rule penctl treat applies)"
    return None


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


def next_session_window(session: dt.date) -> tuple[dt.date, dt.date]:
    """When the session after ``session`` falls: the course interval (4-6 weeks) after it."""
    return (
        session + dt.timedelta(weeks=int(limit("interval_min"))),
        session + dt.timedelta(weeks=int(limit("interval_max"))),
    )


MAINTENANCE_LATEST = Span(count=12, unit="months")


def maintenance_window(last: dt.date) -> tuple[dt.date, dt.date]:
    """Maintenance after the course: every 6 to 12 months (the texts), counted from the course's last session.

    Its first day is where a session stops being a late one of the course (screening.MAINTENANCE_GAP), so
    ``penctl treat`` does not caution a maintenance session booked in this window.
    """
    return MAINTENANCE_GAP.after(last), MAINTENANCE_LATEST.after(last)
