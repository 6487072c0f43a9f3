"""The printable patient sheet (``patient-sheet.md`` next to report.json): what the patient takes home.

Built from the report's clinical section alone, so the sheet says exactly what
the report says and a replayed pass writes the same sheet. Every line is a
row's patient text from the rule tables (after-care, side effects, the course
facts, who treats and where), in the patient's words: the clinician's wording
(end point, indications, rule names, the cautions of the screening, which the
clinician acts on before the session) stays in the report and the summary. The patient and the
date are given whenever the plan has them, and the next session as a date
window whenever the plan has a date.
"""

from __future__ import annotations

from typing import Any


def patient_sheet(report: dict[str, Any]) -> str:
    """The sheet as Markdown (see the module docstring)."""
    clinical = report["clinical"]
    screening = clinical["screening"] or {}
    lines = ["# After your microneedling session", ""]
    who = [f"Patient: {screening['patient']}"] if screening else []
    if clinical.get("session_date"):
        who.append(f"date of the session: {clinical['session_date']}")
    if who:
        lines += ["; ".join(who), ""]
    lines += ["## Looking after your skin", "", *(f"- {a['instruction']}" for a in clinical["aftercare"])]
    lines += ["", "## What you may notice", "", *(f"- {s['text']}" for s in clinical["side_effects"])]
    lines += ["", "## Your course", "", *_course(clinical)]
    lines += ["", "## Your treatment", "", *(f"- {p['patient_text']}" for p in clinical.get("practice", []))]
    return "\n".join(lines) + "\n"


def _course(clinical: dict[str, Any]) -> list[str]:
    """The course facts and the next session's window, as list items."""
    course = clinical["expected_course"]
    lines = [f"- {fact}" for fact in course["for_the_patient"]]
    nxt = clinical["next_session"]
    if nxt:
        what = "a maintenance session, as your course is complete," if nxt.get("kind") == "maintenance" else ""
        lines.append(f"- Your next session: {what + ' ' if what else ''}between {nxt['earliest']} and {nxt['latest']}.")
        if "held_back_for_the_patient" in nxt:
            lines.append(f"  Not sooner: {nxt['held_back_for_the_patient']}.")
    else:
        low, high = course["interval_weeks"]
        lines.append(f"- Your next session: {low} to {high} weeks after this one (ask the clinic for the dates).")
    return lines
