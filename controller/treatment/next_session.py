"""The next session's date window: what the patient sheet and the summary book, never one treat would refuse.

Within a course the interval gives the window (4-6 weeks); the session that completes a course, or a maintenance
session, is followed by maintenance (6-12 months); an indication's yearly maximum can hold either back.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from controller.treatment.course import maintenance_window, next_session_window
from controller.treatment.rules import limit, limits, yearly_max
from controller.treatment.screening import course_before, is_maintenance
from controller.treatment.session import SessionResult


def next_session(result: SessionResult) -> dict[str, Any] | None:
    """The date window of the next session, from the session's date (none without one).

    Within a course the interval gives the window (4-6 weeks); once this session completes a course (its
    ``course_sessions_high``-th), the next one is maintenance, 6 to 12 months on. An indication's yearly maximum
    can push it later: the next session must wait until the oldest of the sessions it would exceed the maximum
    with is a year old, so the sheet never books a session that ``penctl treat`` would refuse.
    """
    plan = result.plan
    if plan.start is None:
        return None
    today = plan.start.date()
    kind = "maintenance" if _completes_course(result, today) or _is_maintenance(result, today) else "course"
    earliest, latest = maintenance_window(today) if kind == "maintenance" else next_session_window(today)
    held = _held_back_until(result, today)
    if held is None or held[0] <= earliest:
        return {"kind": kind, "earliest": earliest.isoformat(), "latest": latest.isoformat()}
    until, text, patient_text = held
    return {
        "kind": kind,
        "earliest": until.isoformat(),
        "latest": _held_latest(kind, until, earliest, latest).isoformat(),
        "held_back_by": text,
        "held_back_for_the_patient": patient_text,
    }


def _held_latest(kind: str, until: dt.date, earliest: dt.date, latest: dt.date) -> dt.date:
    """The window's end when a yearly maximum holds it back to ``until``: a course window moves as a whole (its
    4-6 weeks from the new start); a maintenance window keeps its 12-month end while ``until`` is before it."""
    if kind == "maintenance":
        return latest if until < latest else until + MAINTENANCE_GRACE
    return until + (latest - earliest)


MAINTENANCE_GRACE = dt.timedelta(weeks=2)
"""A maintenance session held back past the 12 months: a fortnight to book it in (the texts give no figure)."""


def _is_maintenance(result: SessionResult, today: dt.date) -> bool:
    """This session is maintenance: it comes 6 months or more after a course of at least the texts' fewest sessions,
    so the next one is maintenance too (every 6 to 12 months), not a second session of a new course."""
    patient = result.plan.patient
    sessions = sorted(h.date for h in (patient.history if patient else ()) if h.kind == "microneedling")
    return len(sessions) >= int(limit("course_sessions_low")) and is_maintenance(sessions[-1], today)


def _completes_course(result: SessionResult, today: dt.date) -> bool:
    """This session is the last a course has (by the longest course of any of its indications)."""
    patient = result.plan.patient
    if patient is None:
        return False
    named: list[str | None] = [*sorted({z.indication for z in result.plan.zones if z.indication})]
    wanted = named or [None]
    sessions = max(len(course_before(patient, today, indication)) + 1 for indication in wanted)
    return sessions >= int(limit("course_sessions_high"))


def _held_back_until(result: SessionResult, today: dt.date) -> tuple[dt.date, str, str] | None:
    """The first date the yearly maxima allow another session: (date, the rule, the rule in patient words).

    Counted as ``penctl treat`` counts them: past sessions without an indication count for every indication, and
    so does this one when a zone names none.
    """
    patient = result.plan.patient
    if patient is None:
        return None
    unlabelled = any(z.indication is None for z in result.plan.zones)
    capped = [name.split(":", 1)[1] for name in limits() if name.startswith("yearly_max:")]
    wanted = sorted({z.indication for z in result.plan.zones if z.indication} | (set(capped) if unlabelled else set()))
    found: tuple[dt.date, str, str] | None = None
    for indication in wanted:
        most = yearly_max(indication)
        if most is None:
            continue
        dates = sorted(
            [
                item.date
                for item in patient.history
                if item.kind == "microneedling" and item.indication in (indication, None)
            ]
            + [today]
        )
        if len(dates) >= most:
            until = dates[-most] + dt.timedelta(days=365)
            if found is None or until > found[0]:
                words = f"for {indication.replace('_', ' ')}, at most {most} sessions in any 12 months"
                found = (until, limits()[f"yearly_max:{indication}"].text, words)
    return found
