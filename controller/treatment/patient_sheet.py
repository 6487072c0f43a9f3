"""The printable patient sheet (``patient-sheet.md`` next to report.json): what the patient takes home.

Built from the report's clinical section alone, so the sheet says exactly what
the report says and a replayed pass writes the same sheet. It gives the
after-care, the side effects to expect, the expected course and the date window
of the next session; no clinical text is written here, every line comes from the
rule tables through the report.
"""

from __future__ import annotations

from typing import Any


def patient_sheet(report: dict[str, Any]) -> str:
    """The sheet as Markdown (see the module docstring)."""
    clinical = report["clinical"]
    screening = clinical["screening"] or {}
    lines = [f"# After your microneedling session: {report['plan']['name']}", ""]
    if screening:
        lines += [f"Patient: {screening['patient']}; session date: {screening['session_date']}", ""]
    lines += ["## After-care", "", *(f"- {a['instruction']}" for a in clinical["aftercare"])]
    lines += ["", "## What you may notice", "", *(f"- {s['text']}" for s in clinical["side_effects"])]
    lines += ["", "## Your course", "", *_course(clinical)]
    if clinical["cautions"]:
        lines += ["", "## Notes from your clinician's checks", "", *(f"- {c['text']}" for c in clinical["cautions"])]
    return "\n".join(lines) + "\n"


def _course(clinical: dict[str, Any]) -> list[str]:
    """The expected course and the next session's window, as list items."""
    course = clinical["expected_course"]
    low, high = course["interval_weeks"]
    lines = [
        f"- Sessions: {course['sessions']}, {low} to {high} weeks apart.",
        f"- Maintenance: {course['maintenance']}.",
        f"- Results: {course['results']}.",
    ]
    nxt = clinical["next_session"]
    if nxt:
        lines.append(f"- Next session: between {nxt['earliest']} and {nxt['latest']}.")
        if "held_back_by" in nxt:
            lines.append(f"  Not sooner: {nxt['held_back_by']}.")
    else:
        lines.append(f"- Next session: {low} to {high} weeks after this one.")
    return lines
