"""Treatment areas and their clinical depth limits, from the packaged table ``data/areas.csv``.

The table carries a source column so every limit can be traced to the text it
came from. The area maximum is the zone maximum unless the plan sets a lower one.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class Area:
    """One treatable area."""

    name: str
    region: str
    default_depth_mm: float
    max_depth_mm: float
    source: str


@cache
def areas() -> dict[str, Area]:
    """All known areas by name, in table order."""
    text = resources.files("controller").joinpath("data/areas.csv").read_text(encoding="utf-8")
    return {
        row["area"]: Area(
            name=row["area"],
            region=row["region"],
            default_depth_mm=float(row["default_depth_mm"]),
            max_depth_mm=float(row["max_depth_mm"]),
            source=row["source"],
        )
        for row in csv.DictReader(io.StringIO(text))
    }
