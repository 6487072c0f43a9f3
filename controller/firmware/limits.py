"""The limits that apply at a given moment, and which of them is the binding one.

Depth has three owners: the pen (its maximum setting), the cartridge (its
rated maximum) and the zone being treated (the clinical maximum for the area,
or a lower one the plan sets). The applicable limit is the smallest of them, and
refusals and faults name the owner so the operator knows which one to change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from hal.settings import SettingValue

DRIFT_WINDOW = 64
"""Strokes over which the mean depth error is taken for the drift check."""


@dataclass(kw_only=True, frozen=True)
class FirmwareLimits:
    """Thresholds the firmware enforces; defaults are the pen's factory settings."""

    pen_max_depth_mm: float = 2.5
    min_frequency_hz: float = 25.0
    max_frequency_hz: float = 150.0
    over_depth_margin_mm: float = 0.05
    """A stroke may reach at most this far past the applicable limit before it is a fault."""
    stroke_rate_tolerance: float = 0.02
    """Largest relative stroke-rate deviation before it is a fault (2 %)."""
    overcurrent_a: float = 1.7
    """Coil current above the drive's own 1.6 A limit means the drive lost control (stall, short)."""
    motor_temp_limit_c: float = 60.0
    motor_temp_clear_c: float = 55.0
    """The winding must cool to this before an over-temperature fault may be cleared."""
    battery_arm_v: float = 3.45
    """Below this a new zone is not started (battery low)."""
    battery_critical_v: float = 3.2
    """Below this the drive stops at once (battery critical)."""
    battery_temp_limit_c: float = 55.0
    depth_drift_tolerance_mm: float = 0.1
    """Largest mean depth error over :data:`DRIFT_WINDOW` strokes before a depth-drift alarm."""
    stall_margin_mm: float = 0.3
    """A current-limited stroke that falls this far (or half its target, if less) short of its target stalled."""
    session_max_s: float = 3600.0
    session_total_max_s: float = 3600.0
    """The whole session (preparation, anaesthetic, strokes and pauses) the pen accepts from a plan."""
    anaesthetic_wait_s: float = 900.0
    min_patient_age_years: int = 18

    def narrowed(self, pen_max_depth_mm: float | None, min_hz: float, max_hz: float) -> FirmwareLimits:
        """These limits lowered by a plan's pen maximum, and their rates narrowed to what the pen's drive holds
        (its HELLO: a rotary drive's range is narrower than the settings'): only ever tighter."""
        depth = self.pen_max_depth_mm if pen_max_depth_mm is None else min(self.pen_max_depth_mm, pen_max_depth_mm)
        return replace(
            self,
            pen_max_depth_mm=depth,
            min_frequency_hz=max(self.min_frequency_hz, min_hz),
            max_frequency_hz=min(self.max_frequency_hz, max_hz),
        )

    @classmethod
    def from_settings(cls, values: Mapping[str, SettingValue]) -> FirmwareLimits:
        """The limits as the pen's settings set them (read at power-on)."""

        def num(key: str) -> float:
            value = values[key]
            assert isinstance(value, (int, float))
            return float(value)

        return cls(
            pen_max_depth_mm=num("depth.max_mm"),
            min_frequency_hz=num("frequency.min_hz"),
            max_frequency_hz=num("frequency.max_hz"),
            over_depth_margin_mm=num("depth.over_depth_margin_mm"),
            stroke_rate_tolerance=num("frequency.tolerance_pct") / 100.0,
            overcurrent_a=num("drive.overcurrent_a"),
            motor_temp_limit_c=num("thermal.motor_limit_c"),
            motor_temp_clear_c=num("thermal.motor_clear_c"),
            battery_arm_v=num("battery.low_v"),
            battery_critical_v=num("battery.critical_v"),
            battery_temp_limit_c=num("thermal.battery_limit_c"),
            depth_drift_tolerance_mm=num("depth.drift_tolerance_mm"),
            session_max_s=60.0 * num("session.max_minutes"),
            session_total_max_s=60.0 * num("session.max_total_minutes"),
            anaesthetic_wait_s=60.0 * num("anaesthetic.wait_min"),
            min_patient_age_years=int(num("patient.min_age_years")),
        )


@dataclass(kw_only=True, frozen=True)
class DepthLimit:
    """The applicable depth limit and who sets it."""

    depth_mm: float
    owner: str
    """'pen', 'cartridge' or 'zone <area>'."""


def applicable_depth_limit(
    pen_mm: float, cartridge_mm: float | None, zone_mm: float | None, zone: str = "zone"
) -> DepthLimit:
    """The smallest of the pen, cartridge and zone maxima, with its owner.

    On a tie the pen is named first, then the cartridge: the owner that is
    hardest to change is the one worth telling.
    """
    candidates = [DepthLimit(depth_mm=pen_mm, owner="pen")]
    if cartridge_mm is not None:
        candidates.append(DepthLimit(depth_mm=cartridge_mm, owner="cartridge"))
    if zone_mm is not None:
        candidates.append(DepthLimit(depth_mm=zone_mm, owner=zone))
    return min(candidates, key=lambda limit: limit.depth_mm)
