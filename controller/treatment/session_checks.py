"""Rules on a session as a whole, judged when the plan is read: its length, the anaesthetic, the screening.

Separate from the plan reader because these rules span the whole plan (every
zone, the patient, the start time) and come from the clinical tables and the
settings' factory defaults, while the reader checks keys one at a time. Every
rule is judged against ``plan.start``, never today's date, so a plan gives the
same answer on any day. A problem refuses the plan; a caution goes into
``Plan.cautions`` (printed before the pass and reported).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from controller.host.table_reader import InputFileError, Problem
from controller.treatment.rules import limit, limits
from controller.treatment.screening import Finding, Screening, screen

if TYPE_CHECKING:
    from controller.treatment.plan import Plan


def check_session(plan: Plan) -> Plan:
    """The plan with its screening and cautions, or :class:`InputFileError` listing every problem."""
    problems = _length_problems(plan) + _anaesthetic_problems(plan)
    screening, screening_problems = _screen(plan)
    problems += screening_problems
    if problems:
        raise InputFileError(plan.source, problems)
    cautions = (
        (screening.cautions if screening else [])
        + _length_cautions(plan)
        + _indication_cautions(plan)
        + _shallow_cautions(plan)
        + _anaesthetic_cautions(plan)
    )
    return replace(plan, screening=screening, cautions=tuple(cautions))


def _screen(plan: Plan) -> tuple[Screening | None, list[Problem]]:
    """The patient's screening for this session, and the problems it raises (hard stops, refused intervals)."""
    patient, start = plan.patient, plan.start
    if patient is None:
        return None, []
    if start is None:
        return None, [Problem(key="plan.start", expected="the session date and time (history rules are judged by it)")]
    problems = [
        Problem(key=f"patient.history[{k}].date", expected="a date on or before the session", got=h.date.isoformat())
        for k, h in enumerate(patient.history)
        if h.date > start.date()
    ]
    screening = screen(
        patient,
        start.date(),
        {z.area for z in plan.zones},
        int(limit("min_age")),
        frozenset(z.indication for z in plan.zones if z.indication),
        unlabelled=any(z.indication is None for z in plan.zones),
    )
    problems += [
        Problem(key=f.key, expected=f"no contraindication: {f.text}", got="hard stop") for f in screening.hard_stops
    ]
    if not plan.interval_override_reason:
        problems += [
            Problem(
                key=f.key,
                expected=f"no session closer than the course interval or over the yearly maximum: {f.text} (or "
                "plan.interval_override_reason documenting why)",
                got="refused",
            )
            for f in screening.interval
        ]
    return screening, problems


def anaesthetic_minutes(plan: Plan) -> float:
    """Minutes from the topical anaesthetic to arming: its age at the start, or the wait if that is longer."""
    patient = plan.patient
    if patient is None or patient.anaesthetic_applied is None or plan.start is None:
        return 0.0
    ago = (plan.start - patient.anaesthetic_applied).total_seconds() / 60.0
    # An application older than its window is refused on its own; counting all of it here would only say so twice.
    return max(min(ago, limit("anaesthetic_max_age")), limit("anaesthetic_wait"))


def whole_session_minutes(plan: Plan) -> float:
    """Preparation, the anaesthetic's time, stroking and pauses: the session as the patient lives it."""
    return plan.preparation_min + anaesthetic_minutes(plan) + plan.planned_seconds() / 60.0


def _length_problems(plan: Plan) -> list[Problem]:
    """The stroking limit and the whole-session limit (settings session.max_minutes, session.max_total_minutes)."""
    problems = []
    stroking, most = plan.planned_seconds() / 60.0, limit("session_stroking_max")
    if stroking > most:
        problems.append(
            Problem(
                key="zone",
                expected=f"{limits()['session_stroking_max'].text} (session.max_minutes: {most:g} min)",
                got=f"{stroking:.2f} min ({plan.planned_seconds():.2f} s) planned",
            )
        )
        return problems  # the whole session is longer still: one problem says it
    whole, total_max = whole_session_minutes(plan), limit("session_total_max")
    if whole > total_max:
        problems.append(
            Problem(
                key="plan",
                expected=f"a whole session of at most {total_max:g} min (session.max_total_minutes): "
                f"{limits()['session_total_max'].text}",
                got=f"{_minutes(whole)} ({_parts(plan)})",
            )
        )
    return problems


def _length_cautions(plan: Plan) -> list[Finding]:
    """A whole session longer than one clinic's texts advise (session.advised_total_minutes)."""
    whole, advised = whole_session_minutes(plan), limit("session_total_advised")
    if whole <= advised or whole > limit("session_total_max"):
        return []
    rule = limits()["session_total_advised"]
    text = f"whole session {_minutes(whole)} ({_parts(plan)}) is longer than {advised:g} min: {rule.text}"
    return [Finding(key="plan", rule=rule.rule, severity="caution", text=text, source=rule.source)]


def _indication_cautions(plan: Plan) -> list[Finding]:
    """A zone deeper or shallower than its indication's range: within the area's (safe) range, but not what the
    texts give for the indication, so the clinician is told."""
    from controller.treatment.presets import indications

    found = []
    for k, zone in enumerate(plan.zones):
        preset = indications().get(zone.indication or "")
        if preset is None or preset.min_depth_mm <= zone.depth_mm <= preset.max_depth_mm:
            continue
        text = (
            f"{zone.indication} at {zone.depth_mm:g} mm: the texts give {preset.min_depth_mm:g}-"
            f"{preset.max_depth_mm:g} mm for it"
        )
        found.append(
            Finding(
                key=f"zone[{k}].depth_mm",
                rule=zone.indication or "",
                severity="caution",
                text=text,
                source=preset.source,
            )
        )
    return found


def _shallow_cautions(plan: Plan) -> list[Finding]:
    """A zone set below its area's usual range: safe, but shallower than the texts treat the area at."""
    from controller.treatment.presets import areas

    found = []
    for k, zone in enumerate(plan.zones):
        area = areas()[zone.area]
        if zone.depth_mm < area.min_depth_mm:
            usual = f"{area.min_depth_mm:g}-{area.max_depth_mm:g} mm"
            text = (
                f"{zone.area} at {zone.depth_mm:g} mm: below the {usual} the texts give for the area (safe, shallower)"
            )
            found.append(
                Finding(key=f"zone[{k}].depth_mm", rule="area_min", severity="caution", text=text, source=area.source)
            )
    return found


def _anaesthetic_cautions(plan: Plan) -> list[Finding]:
    """A session with a patient and no topical anaesthetic recorded: the texts apply one 15-20 minutes before."""
    if plan.patient is None or plan.patient.anaesthetic_applied is not None:
        return []
    rule = limits()["anaesthetic_wait"]
    text = (
        "no topical anaesthetic recorded (patient.anaesthetic_applied): the texts apply one 15-20 minutes before the "
        "session; record when it was applied, or that the patient declined"
    )
    return [
        Finding(
            key="patient.anaesthetic_applied",
            rule="anaesthetic_missing",
            severity="caution",
            text=text,
            source=rule.source,
        )
    ]


def _minutes(value: float) -> str:
    """Minutes and seconds, so that a session a second over its limit does not read as exactly on it."""
    seconds = round(value * 60.0)
    return f"{seconds // 60} min {seconds % 60:02d} s"


def _parts(plan: Plan) -> str:
    return (
        f"preparation {plan.preparation_min:g} min + anaesthetic {anaesthetic_minutes(plan):.1f} min "
        f"+ stroking and pauses {plan.planned_seconds() / 60.0:.1f} min"
    )


def _anaesthetic_problems(plan: Plan) -> list[Problem]:
    """The anaesthetic's window: on or before the start, and not so long before that it has worn off."""
    patient = plan.patient
    if patient is None or patient.anaesthetic_applied is None or plan.start is None:
        return []
    applied = patient.anaesthetic_applied
    if applied > plan.start:
        return [Problem(key="patient.anaesthetic_applied", expected="a time before plan.start", got=str(applied))]
    ago, oldest = (plan.start - applied).total_seconds() / 60.0, limit("anaesthetic_max_age")
    if ago > oldest:
        return [
            Problem(
                key="patient.anaesthetic_applied",
                expected=f"an application at most {oldest:g} min before plan.start (anaesthetic.max_age_min): "
                f"{limits()['anaesthetic_max_age'].text}",
                got=f"{ago:g} min before",
            )
        ]
    return []
