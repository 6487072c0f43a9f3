"""What the patient is told after the session, and what the course looks like, from the treatment texts.

The after-care lines, the side effects and the course figures are rows of the
packaged tables (``data/aftercare.csv``, ``data/side_effects.csv``,
``data/limits.csv``), so the report, the printed summary and the patient sheet
all say what the tables say.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from controller.treatment.rules import limit, limits, practice, read_table, side_effects


@cache
def instructions() -> list[dict[str, Any]]:
    """The after-care lines, in table order."""
    return [
        {"topic": row["topic"], "instruction": row["instruction"], "hours": int(row["hours"]), "source": row["source"]}
        for row in read_table("aftercare.csv")
    ]


def side_effect_list() -> list[dict[str, str]]:
    """The side effects to tell the patient, as report entries."""
    return [{"effect": s.effect, "text": s.text, "source": s.source} for s in side_effects()]


def course_sessions() -> tuple[int, int, int]:
    """(fewest, most) sessions of a typical course, and the fewest for the best results."""
    low, high, best = (int(limit(k)) for k in ("course_sessions_low", "course_sessions_high", "course_sessions_best"))
    return low, high, best


def expected_course() -> dict[str, Any]:
    """The course as the texts describe it, for the clinician, and every course fact in the patient's words."""
    table = limits()
    low, high, best = course_sessions()
    per_year = int(limit("maintenance_per_year"))
    facts = [e for e in table.values() if e.acts == "shown" or e.patient_text]
    return {
        "sessions": f"{low}-{high}; at least {best} for the best results",
        "interval_weeks": [int(limit("interval_min")), int(limit("interval_max"))],
        "maintenance": f"every 6 to 12 months after the course (one source: at least {per_year} sessions a year)",
        "yearly_maximum": {
            rule.split(":", 1)[1]: int(entry.value) for rule, entry in table.items() if rule.startswith("yearly_max:")
        },
        "facts": [{"rule": e.rule, "text": e.text, "source": e.source} for e in facts],
        "for_the_patient": [e.patient_text for e in table.values() if e.patient_text],
        "source": "; ".join(dict.fromkeys(e.source for e in facts)),
    }


def practice_list() -> list[dict[str, str]]:
    """Consultation, professional, sterile setting: as report entries."""
    return [{"rule": p.rule, "text": p.text, "patient_text": p.patient_text, "source": p.source} for p in practice()]
