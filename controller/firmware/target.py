"""What the operator asks the pen for: a depth and a rate in a zone, with the zone's own maximum."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(kw_only=True, frozen=True)
class Target:
    """What the operator asked for: depth and rate, and the zone's own maximum."""

    depth_mm: float
    frequency_hz: float
    zone_max_mm: float | None = None
    zone: str = "zone"
