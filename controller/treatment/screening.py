"""Patient screening: every contraindication the treatment texts list, either refused or reported.

Rules come from ``data/contraindications.csv`` (with sources). Hard stops
refuse the plan and list every reason at once; cautions are printed and go into
the report. A previous session closer than the course interval is refused unless
the plan documents an override (its reason goes into the report). History rules
are judged against the session date, so the same plan gives the same answer on
any day it is run. A condition whose row is a caution (a history of cold sores)
is reported, not refused. Sessions for an indication the texts limit per year
(``yearly_max:*`` in ``data/limits.csv``) are counted from the patient's
microneedling history over the 365 days before the session. A past session
entered without an indication counts against every indication's maximum and
course: nobody can say it was not for this one, so the conservative reading is
the one that cannot let an extra session through.

The course rules (``interval_max``, ``course_sessions_high``) are cautions: a
late session or a longer course departs from the texts' plan but harms no one,
so the clinician is told and decides. A session less than six months after the
previous one belongs to the same course; six months or more is maintenance
(the texts: maintenance every 6-12 months).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cache

from controller.treatment.calendar import Span, parse_span
from controller.treatment.rules import limit, limits, read_table, yearly_max

FDA_MIN_AGE = int(limit("fda_age"))
DARKER_SKIN = int(limit("fitzpatrick_caution"))


@dataclass(kw_only=True, frozen=True)
class Rule:
    """One row of ``data/contraindications.csv``: what it is, how hard it stops, and its source."""

    rule: str
    kind: str
    """flag, condition, history, age, fitzpatrick or indication (a caution for a zone's indication)."""
    severity: str
    """hard, caution or interval."""
    window: Span | None
    """History: a session this soon after the item is refused (an interval rule: closer than this)."""
    caution_window: Span | None
    area_specific: bool
    text: str
    source: str


@cache
def rules() -> dict[str, Rule]:
    """Every contraindication and caution by rule name, in table order."""
    return {
        row["rule"]: Rule(
            rule=row["rule"],
            kind=row["kind"],
            severity=row["severity"],
            window=parse_span(row["window"]) if row["window"] else None,
            caution_window=parse_span(row["caution_window"]) if row["caution_window"] else None,
            area_specific=row["area_specific"] == "yes",
            text=row["text"],
            source=row["source"],
        )
        for row in read_table("contraindications.csv")
    }


def conditions() -> list[str]:
    return [r.rule for r in rules().values() if r.kind == "condition"]


def history_kinds() -> list[str]:
    return [r.rule for r in rules().values() if r.kind == "history"]


@dataclass(kw_only=True, frozen=True)
class HistoryItem:
    """A dated medication or procedure; a microneedling session may name its indication."""

    kind: str
    date: dt.date
    area: str | None = None
    indication: str | None = None


@dataclass(kw_only=True, frozen=True)
class Patient:
    """The screened patient as the plan gives them: pseudonymous id, flags, conditions and dated history."""

    id: str
    age: int
    fitzpatrick: int
    pregnant: bool = False
    breastfeeding: bool = False
    conditions: tuple[str, ...] = ()
    history: tuple[HistoryItem, ...] = ()
    anaesthetic_applied: dt.datetime | None = None


@dataclass(kw_only=True, frozen=True)
class Finding:
    """One rule that applies to this patient and session, with where in the plan it comes from."""

    key: str
    """Where in the plan the reason is (e.g. ``patient.history[0]``)."""
    rule: str
    severity: str
    text: str
    source: str


@dataclass(kw_only=True)
class Screening:
    """The findings sorted by what they do: refuse, warn, or refuse unless an override is documented."""

    hard_stops: list[Finding] = field(default_factory=list)
    cautions: list[Finding] = field(default_factory=list)
    interval: list[Finding] = field(default_factory=list)
    """Sessions too close to the previous one: refused unless the plan documents an override."""


def screen(
    patient: Patient,
    session_date: dt.date,
    areas: set[str],
    min_age: int,
    indications: frozenset[str] = frozenset(),
    unlabelled: bool = False,
) -> Screening:
    """Judge ``patient`` for a session on ``session_date`` treating ``areas`` for ``indications``.

    ``unlabelled``: a zone names no indication. The session then counts against every indication's yearly
    maximum, as a past session without one does: the conservative reading (it may have been for any of them).
    """
    table = rules()
    result = Screening()

    def hit(key: str, rule: Rule, text: str | None = None, severity: str | None = None) -> None:
        finding = Finding(
            key=key, rule=rule.rule, severity=severity or rule.severity, text=text or rule.text, source=rule.source
        )
        {"hard": result.hard_stops, "caution": result.cautions, "interval": result.interval}[finding.severity].append(
            finding
        )

    for flag in ("pregnant", "breastfeeding"):
        if getattr(patient, flag):
            hit(f"patient.{flag}", table[flag])
    for k, condition in enumerate(patient.conditions):
        hit(f"patient.conditions[{k}]", table[condition])
    if patient.age < min_age:
        hit(
            "patient.age",
            table["min_age"],
            f"age {patient.age}: {table['min_age'].text}",
        )
    elif patient.age < FDA_MIN_AGE:
        hit("patient.age", table["fda_age"], f"age {patient.age}: {table['fda_age'].text}")
    if patient.fitzpatrick >= DARKER_SKIN:
        hit(
            "patient.fitzpatrick",
            table["darker_skin"],
            f"Fitzpatrick {patient.fitzpatrick}: {table['darker_skin'].text}",
        )
    for rule in table.values():
        if rule.kind == "indication" and rule.rule in indications:
            hit("zone.indication", rule)
    for k, item in enumerate(patient.history):
        rule = table[item.kind]
        if rule.area_specific and item.area is not None and item.area not in areas:
            continue
        days = (session_date - item.date).days
        where = f" ({item.area})" if item.area else ""
        if rule.window is not None and within(item.date, session_date, rule.window, rule.severity):
            hit(f"patient.history[{k}]", rule, f"{rule.text}: {item.kind}{where} {days} days before the session")
        elif (
            rule.caution_window is not None
            and rule.severity != "interval"
            and within(item.date, session_date, rule.caution_window, rule.severity)
        ):
            hit(
                f"patient.history[{k}]",
                rule,
                f"{item.kind}{where} {days} days before the session: {rule.text}",
                "caution",
            )
    capped = frozenset(name.split(":", 1)[1] for name in limits() if name.startswith("yearly_max:"))
    result.interval += yearly_findings(patient, session_date, indications | capped if unlabelled else indications)
    result.cautions += course_findings(patient, session_date, indications)
    return result


MAINTENANCE_GAP = Span(count=6, unit="months")
"""From one session, the gap after which the next is maintenance, not the course (the texts: every 6-12 months)."""


def within(item: dt.date, session: dt.date, span: Span, severity: str) -> bool:
    """Whether a history item on ``item`` falls within ``span`` before the session.

    A contraindication "within 6 months" includes the day six calendar months before (the safe side); an
    interval "at least 4 weeks apart" is broken only by a session closer than that.
    """
    start = span.before(session)
    return start < item <= session if severity == "interval" else start <= item <= session


def is_maintenance(last: dt.date, session: dt.date) -> bool:
    """A session ``MAINTENANCE_GAP`` or more after the last one starts maintenance, not the course's next."""
    return session >= MAINTENANCE_GAP.after(last)


def course_before(patient: Patient, session_date: dt.date, indication: str | None) -> list[int]:
    """The history items (indices) of the course this session continues, newest first.

    Sessions for ``indication`` or without one (``None``: every session), chained back from the session
    while each gap is shorter than the maintenance gap.
    """
    sessions = sorted(
        (
            (item.date, k)
            for k, item in enumerate(patient.history)
            if item.kind == "microneedling"
            and (indication is None or item.indication in (indication, None))
            and item.date <= session_date
        ),
        reverse=True,
    )
    chain, after = [], session_date
    for date, k in sessions:
        if is_maintenance(date, after):
            break
        chain.append(k)
        after = date
    return chain


def course_findings(patient: Patient, session_date: dt.date, indications: frozenset[str]) -> list[Finding]:
    """Cautions on the course: a gap longer than the interval, and more sessions than a course has."""
    table, found = limits(), []
    last = max((item.date for item in patient.history if item.kind == "microneedling"), default=None)
    if last is not None:
        gap = (session_date - last).days
        if 7 * limit("interval_max") < gap and not is_maintenance(last, session_date):
            rule = table["interval_max"]
            found.append(
                Finding(
                    key="patient.history",
                    rule=rule.rule,
                    severity="caution",
                    text=f"{gap} days ({gap / 7:.1f} weeks) since the last session: {rule.text}",
                    source=rule.source,
                )
            )
    most = int(limit("course_sessions_high"))
    wanted: list[str | None] = [*sorted(indications)] or [None]
    for indication in wanted:
        chain = course_before(patient, session_date, indication)
        if len(chain) + 1 > most:
            rule, what = table["course_sessions_high"], indication or "any indication"
            found.append(
                Finding(
                    key=f"patient.history[{chain[-1]}]",
                    rule=rule.rule,
                    severity="caution",
                    text=f"{what}: this would be session {len(chain) + 1} of one course: {rule.text}",
                    source=rule.source,
                )
            )
    return found


def yearly_counts(patient: Patient, session_date: dt.date, indications: frozenset[str]) -> dict[str, list[int]]:
    """Per indication, the history items (indices) of its microneedling sessions in the 365 days before."""
    return {
        indication: [
            k
            for k, item in enumerate(patient.history)
            if item.kind == "microneedling"
            and item.indication in (indication, None)
            and 0 <= (session_date - item.date).days < 365
        ]
        for indication in sorted(indications)
    }


def yearly_findings(patient: Patient, session_date: dt.date, indications: frozenset[str]) -> list[Finding]:
    """This session would exceed an indication's yearly maximum: counted from the history's 365 days before it."""
    found = []
    for indication, before in yearly_counts(patient, session_date, indications).items():
        most = yearly_max(indication)
        if most is not None and len(before) + 1 > most:
            rule = limits()[f"yearly_max:{indication}"]
            found.append(
                Finding(
                    key=f"patient.history[{before[0]}]",
                    rule=rule.rule,
                    severity="interval",
                    text=f"{rule.text}: this would be session {len(before) + 1} in 365 days",
                    source=rule.source,
                )
            )
    return found
