"""The faults a simulated pen can be told to suffer: names, what the value means, and its range.

This is contract, not physics: plan files name these kinds, the wire carries them
(``INJECT_FAULT``), and both ends check the value against the same range before
anything happens. What each fault does to the hardware is simulation
(sim/faults.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

LATEST_FAULT_S = 1_000_000.0
"""The latest pen time a fault may be scheduled at (about 11.6 days of pen time)."""
MAX_CARTRIDGE_ID = 2**32 - 1


class FaultKind(StrEnum):
    """Physical failures a simulated pen can be made to suffer, each behind a hazard of docs/hazards.md."""

    STALL = "stall"
    CURRENT_SENSE = "current_sense"
    MOTOR_OVERHEAT = "motor_overheat"
    BATTERY_OVERHEAT = "battery_overheat"
    BATTERY_DRAIN = "battery_drain"
    DEPTH_OVERSHOOT = "depth_overshoot"
    DEPTH_DRIFT = "depth_drift"
    RATE_DEVIATION = "rate_deviation"
    RETRACT_FAILURE = "retract_failure"
    CARTRIDGE_REMOVED = "cartridge_removed"
    CARTRIDGE_SWAP = "cartridge_swap"
    LINK_LOSS = "link_loss"
    STOP_JAM = "stop_jam"
    CAM_WEAR = "cam_wear"
    LOAD_LOSS = "load_loss"


@dataclass(frozen=True, kw_only=True)
class FaultSpec:
    """What a fault's value means, its default and the values it may take."""

    kind: FaultKind
    meaning: str
    unit: str
    default: float
    low: float
    high: float
    whole: bool = False
    """The value must be a whole number (a cartridge id)."""

    def problem(self, value: float) -> str | None:
        """None if ``value`` is valid for this fault, else what was expected."""
        ok = math.isfinite(value) and self.low <= value <= self.high and (not self.whole or value.is_integer())
        return None if ok else self.expected()

    def expected(self) -> str:
        what = "a whole number" if self.whole else "a number"
        unit = f" {self.unit}" if self.unit else ""
        return f"{what} from {self.low:g} to {self.high:g}{unit} ({self.meaning})"


def _spec(kind: FaultKind, meaning: str, unit: str, default: float, low: float, high: float) -> FaultSpec:
    whole = kind is FaultKind.CARTRIDGE_SWAP
    return FaultSpec(kind=kind, meaning=meaning, unit=unit, default=default, low=low, high=high, whole=whole)


FAULTS: dict[FaultKind, FaultSpec] = {
    spec.kind: spec
    for spec in (
        _spec(FaultKind.STALL, "where the carriage jams, tip position", "mm", 0.05, -0.3, 3.0),
        _spec(FaultKind.CURRENT_SENSE, "no value: the coil-current sensor fails", "", 0.0, 0.0, 0.0),
        _spec(FaultKind.MOTOR_OVERHEAT, "extra heat in the winding", "W", 8.0, 0.0, 100.0),
        _spec(FaultKind.BATTERY_OVERHEAT, "extra heat in the cell", "W", 4.0, 0.0, 50.0),
        _spec(FaultKind.BATTERY_DRAIN, "charge left in the cell, fraction of full", "", 0.02, 0.0, 1.0),
        _spec(FaultKind.DEPTH_OVERSHOOT, "how much further the needles protrude", "mm", 0.3, 0.0, 3.0),
        _spec(FaultKind.DEPTH_DRIFT, "how much less far the needles reach", "mm", 0.15, 0.0, 3.0),
        _spec(FaultKind.RATE_DEVIATION, "relative stroke-period error", "", 0.05, -0.5, 1.0),
        _spec(FaultKind.RETRACT_FAILURE, "tip position the carriage cannot come back behind", "mm", 0.4, -0.3, 3.0),
        _spec(FaultKind.CARTRIDGE_REMOVED, "no value: the cartridge is pulled", "", 0.0, 0.0, 0.0),
        _spec(FaultKind.CARTRIDGE_SWAP, "id of the cartridge that appears", "", 99_999.0, 1.0, MAX_CARTRIDGE_ID),
        _spec(FaultKind.LINK_LOSS, "no value: the pen stops reporting", "", 0.0, 0.0, 0.0),
        _spec(FaultKind.STOP_JAM, "rotary drive: where the depth stop's screw seizes", "mm", 1.0, 0.0, 2.6),
        _spec(
            FaultKind.CAM_WEAR, "rotary drive: stroke amplitude the cam loses per 1000 strokes", "mm", 0.05, 0.0, 1.0
        ),
        _spec(FaultKind.LOAD_LOSS, "no value: rotary drive: the carriage comes off the cam", "", 0.0, 0.0, 0.0),
    )
}
"""Every fault kind's value: meaning, unit, default and range."""


def fault_problem(at_s: float, kind: str, value: float | None) -> str | None:
    """None if a fault request is valid, else what was expected (names the field)."""
    if kind not in FAULTS:
        return f"kind: one of {', '.join(FAULTS)}, got {kind!r}"
    if not (math.isfinite(at_s) and 0.0 <= at_s <= LATEST_FAULT_S):
        return f"at_s: a pen time from 0 to {LATEST_FAULT_S:g} s, got {at_s!r}"
    if value is None:
        return None
    why = FAULTS[FaultKind(kind)].problem(value)
    return f"value of {kind}: {why}, got {value!r}" if why else None
