"""Area and indication presets: clinical depth ranges, from packaged tables with a source for every row.

``data/areas.csv`` gives, per area, the depth range the clinic texts allow (the
area maximum is the zone maximum unless the plan documents an override);
``data/indications.csv`` gives the range per indication where a text gives one
(an indication without a figure, such as skin laxity, is named but leaves the
depth to the area's range: no range is made up for it). A zone without
``depth_mm`` gets the indication's default (else the area's), clamped into the
area's range and shifted by skin type: a quarter of the range shallower for
sensitive skin, deeper for thick skin.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from controller.treatment.rules import read_table

SKIN_SHIFT = {"sensitive": -0.25, "normal": 0.0, "thick": 0.25}
"""Default-depth shift by skin type, as a fraction of the area's depth range."""


@dataclass(kw_only=True, frozen=True)
class DepthRange:
    """A named clinical depth range with its source."""

    name: str
    min_depth_mm: float
    default_depth_mm: float
    max_depth_mm: float
    source: str
    region: str = ""


def _read(name: str, key: str) -> dict[str, DepthRange]:
    return {
        row[key]: DepthRange(
            name=row[key],
            min_depth_mm=float(row["min_depth_mm"]),
            default_depth_mm=float(row["default_depth_mm"]),
            max_depth_mm=float(row["max_depth_mm"]),
            source=row["source"],
            region=row.get("region", ""),
        )
        for row in read_table(name)
        if row["min_depth_mm"]
    }


@cache
def areas() -> dict[str, DepthRange]:
    """Treatable areas by name, in table order."""
    return _read("areas.csv", "area")


@cache
def indications() -> dict[str, DepthRange]:
    """Indications with a depth range in the texts, by name, in table order."""
    return _read("indications.csv", "indication")


@cache
def indication_names() -> list[str]:
    """Every indication, with or without a depth range of its own, in table order."""
    return [row["indication"] for row in read_table("indications.csv")]


def default_depth(area: DepthRange, indication: DepthRange | None, skin: str) -> float:
    """The depth a zone gets when the plan gives none (see the module docstring)."""
    lo, hi = area.min_depth_mm, area.max_depth_mm
    base = min(max(indication.default_depth_mm if indication else area.default_depth_mm, lo), hi)
    shifted = base + SKIN_SHIFT[skin] * (hi - lo)
    return round(min(max(shifted, lo), hi), 2)
