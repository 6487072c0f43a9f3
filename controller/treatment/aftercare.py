"""What the patient is told after the session, and what the course looks like, from the treatment texts."""

from __future__ import annotations

import csv
import io
from functools import cache
from importlib import resources
from typing import Any

EXPECTED_COURSE: dict[str, Any] = {
    "sessions": "3-5 (some sources 2-6)",
    "interval_weeks": [4, 6],
    "maintenance": "every 6-12 months",
    "results": "visible from about 4-6 weeks; full effect 6-8 weeks after the last session",
    "end_point": "pinpoint bleeding with mild redness",
    "source": "shared/domain.md, clinical parameters (course)",
}


@cache
def instructions() -> list[dict[str, Any]]:
    text = resources.files("controller.treatment").joinpath("data/aftercare.csv").read_text(encoding="utf-8")
    return [
        {"topic": row["topic"], "instruction": row["instruction"], "hours": int(row["hours"]), "source": row["source"]}
        for row in csv.DictReader(io.StringIO(text))
    ]
