"""Faults the simulator can inject, on a schedule, to prove the firmware detects and answers them.

Each kind models a physical failure behind one hazard of docs/hazards.md. A
fault starts at the first stroke boundary at or after its time and stays: the
simulated pen never ends a batch of strokes across a fault's onset, so the
result is the same however the strokes are batched.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FaultKind(StrEnum):
    """Physical failures, each with its effect on the simulated pen."""

    STALL = "stall"
    """The carriage jams near the skin surface (debris, a bent needle): it cannot extend."""
    CURRENT_SENSE = "current_sense"
    """The coil-current sensor fails: the current loop runs open and over-drives the coil."""
    MOTOR_OVERHEAT = "motor_overheat"
    """A shorted turn or blocked vent adds heat to the winding (value: watts)."""
    BATTERY_OVERHEAT = "battery_overheat"
    """An internal short heats the cell (value: watts)."""
    BATTERY_DRAIN = "battery_drain"
    """A failing cell collapses to a low state of charge (value: the charge left, 0-1)."""
    DEPTH_OVERSHOOT = "depth_overshoot"
    """The cartridge seats deeper than it should: needles protrude further (value: mm)."""
    DEPTH_DRIFT = "depth_drift"
    """A worn cartridge seat or a drifting sensor: needles reach less deep (value: mm short)."""
    RATE_DEVIATION = "rate_deviation"
    """The stroke timer drifts (value: relative period error, e.g. 0.05)."""
    RETRACT_FAILURE = "retract_failure"
    """The carriage cannot come back behind the surface (value: mm it stays out)."""
    CARTRIDGE_REMOVED = "cartridge_removed"
    CARTRIDGE_SWAP = "cartridge_swap"
    """Another cartridge appears mid-treatment (value: its id)."""
    LINK_LOSS = "link_loss"
    """The pen stops reporting telemetry."""


DEFAULT_VALUE: dict[FaultKind, float] = {
    FaultKind.STALL: 0.05,
    FaultKind.CURRENT_SENSE: 0.0,
    FaultKind.MOTOR_OVERHEAT: 8.0,
    FaultKind.BATTERY_OVERHEAT: 4.0,
    FaultKind.BATTERY_DRAIN: 0.02,
    FaultKind.DEPTH_OVERSHOOT: 0.3,
    FaultKind.DEPTH_DRIFT: 0.15,
    FaultKind.RATE_DEVIATION: 0.05,
    FaultKind.RETRACT_FAILURE: 0.4,
    FaultKind.CARTRIDGE_REMOVED: 0.0,
    FaultKind.CARTRIDGE_SWAP: 99_999.0,
    FaultKind.LINK_LOSS: 0.0,
}


@dataclass(frozen=True)
class InjectedFault:
    """One scheduled fault: when (pen time), what, and how bad (see :data:`DEFAULT_VALUE`)."""

    at_s: float
    kind: FaultKind
    value: float | None = None

    @property
    def magnitude(self) -> float:
        return DEFAULT_VALUE[self.kind] if self.value is None else self.value


@dataclass
class ActiveFaults:
    """The effect of every fault that has started, as the stroke model needs it."""

    current_sense_ok: bool = True
    winding_heat_w: float = 0.0
    battery_heat_w: float = 0.0
    protrusion_mm: float = 0.0
    """How much further the needles reach than the pen believes (negative: less far)."""
    period_factor: float = 1.0
    link_lost: bool = False
    front_stop_mm: float | None = None
    back_stop_mm: float | None = None
