"""Faults the simulator can inject, on a schedule, to prove the firmware detects and answers them.

Each kind models a physical failure behind one hazard of docs/hazards.md. A
fault starts at the first stroke boundary at or after its time and stays: the
simulated pen never ends a batch of strokes across a fault's onset, so the
result is the same however the strokes are batched.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from hal.faults import FAULTS, FaultKind, fault_problem

if TYPE_CHECKING:
    from sim.pen import SimulatedPen


@dataclass(kw_only=True, frozen=True)
class InjectedFault:
    """One scheduled fault: when (pen time), what, and how bad (see hal.faults.FAULTS)."""

    at_s: float
    kind: FaultKind
    value: float | None = None

    def __post_init__(self) -> None:
        problem = fault_problem(self.at_s, self.kind, self.value)
        if problem:
            raise ValueError(f"fault {self.kind}: expected {problem}")

    @property
    def magnitude(self) -> float:
        return FAULTS[self.kind].default if self.value is None else self.value


@dataclass(kw_only=True)
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
    load_lost: bool = False
    """Rotary drive: the carriage has come off the cam; the motor turns with nothing to push."""
    stop_jam_mm: float | None = None
    """Rotary drive: the depth stop's screw has seized at this position."""
    cam_wear_mm_per_stroke: float = 0.0
    """Rotary drive: stroke amplitude the cam loses per revolution."""


def start_fault(fault: InjectedFault, pen: SimulatedPen) -> None:
    """What a fault does to the pen's hardware from its onset on."""
    from hal.backend import CartridgeInfo

    f, v, kind = pen.faults, fault.magnitude, fault.kind
    if kind is FaultKind.STALL:
        f.front_stop_mm = v  # the carriage jams near the surface (debris, a bent needle)
    elif kind is FaultKind.CURRENT_SENSE:
        f.current_sense_ok = False  # the current loop runs open and over-drives the coil
    elif kind is FaultKind.MOTOR_OVERHEAT:
        f.winding_heat_w += v  # a shorted turn or a blocked vent
    elif kind is FaultKind.BATTERY_OVERHEAT:
        f.battery_heat_w += v  # an internal short
    elif kind is FaultKind.BATTERY_DRAIN:
        pen.state.charge_used_c = max(pen.state.charge_used_c, (1.0 - v) * pen.battery.capacity_c)
    elif kind is FaultKind.DEPTH_OVERSHOOT:
        f.protrusion_mm += v  # the cartridge seats deeper than it should
    elif kind is FaultKind.DEPTH_DRIFT:
        f.protrusion_mm -= v  # a worn seat or a drifting sensor
    elif kind is FaultKind.RATE_DEVIATION:
        f.period_factor *= 1.0 + v  # the stroke timer drifts
    elif kind is FaultKind.RETRACT_FAILURE:
        f.back_stop_mm = v  # the carriage cannot come back behind the surface
        pen.state.x_m = max(pen.state.x_m, v * 1e-3)
    elif kind is FaultKind.CARTRIDGE_REMOVED:
        pen.cartridge = None
    elif kind is FaultKind.CARTRIDGE_SWAP:
        pen.cartridge = replace(pen.cartridge or CartridgeInfo(cartridge_id=0), cartridge_id=int(v))
    elif kind is FaultKind.LINK_LOSS:
        f.link_lost = True
    elif kind is FaultKind.STOP_JAM:
        f.stop_jam_mm = v  # the depth stop's lead screw seizes (a voice-coil pen has no stop: nothing happens)
    elif kind is FaultKind.CAM_WEAR:
        f.cam_wear_mm_per_stroke += v / 1000.0  # the cam and follower wear (no cam on a voice-coil pen)
    elif kind is FaultKind.LOAD_LOSS:
        f.load_lost = True  # the carriage comes off the cam (no cam on a voice-coil pen)
