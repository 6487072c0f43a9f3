"""What a batch of strokes starts from and what it produces, for both stroke models.

:mod:`sim.reference` and :mod:`sim.kernel` step the same physics; they take a
:class:`StrokeBatch` and return :class:`StrokeResults`, so either can stand in
for the other and a test can hold them side by side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from sim.actuator import ServoGains, Trajectory, VoiceCoilParams
from sim.battery import BatteryParams
from sim.thermal import ThermalParams

FloatArray = NDArray[np.float64]


class CarriedState(NamedTuple):
    """What carries over from one stroke to the next (SI units, degC, coulombs)."""

    x_m: float
    v_m_s: float
    coil_a: float
    battery_a: float
    motor_temp_c: float
    charge_used_c: float
    battery_temp_c: float


@dataclass(kw_only=True, frozen=True)
class StrokeBatch:
    """Strokes that share one reference: same depth, same rate, same skin."""

    trajectory: Trajectory
    dt: float
    stiffness_n_per_m: FloatArray
    """Stiffness of the punctured tissue on all needles, per stroke (skin varies from stroke to stroke)."""
    tent_n_per_m: FloatArray
    """Stiffness of the skin's tenting under the needle field, per stroke."""
    puncture_n: float
    """Force at which the needles puncture the skin (all needles' insertion forces)."""
    surface_m: FloatArray
    """Skin surface height under the cartridge, per stroke."""
    skin_stiffening_m: float
    skin_damping_ns_per_m: float
    start: CarriedState
    coil: VoiceCoilParams
    """The actuator as built: the physics."""
    design: VoiceCoilParams
    """The actuator as designed: what the pen's servo feeds forward with and converts force to current by."""
    servo: ServoGains
    thermal: ThermalParams
    battery: BatteryParams
    current_sense_ok: bool = True
    """False models a failed coil-current sensor: the current loop runs open and over-drives the coil."""
    winding_fault_heat_w: float = 0.0
    """Extra heat in the winding (a shorted turn, a blocked vent)."""
    battery_fault_heat_w: float = 0.0
    """Extra heat in the cell (an internal short)."""

    @property
    def strokes(self) -> int:
        return len(self.stiffness_n_per_m)

    @property
    def period_s(self) -> float:
        return len(self.trajectory.position_m) * self.dt


@dataclass(kw_only=True, frozen=True)
class StrokeResults:
    """Per-stroke results; element k describes stroke k of the batch."""

    x_end: FloatArray
    v_end: FloatArray
    i_end: FloatArray
    battery_current_end: FloatArray
    peak_m: FloatArray
    """Deepest tip position of the stroke (protrusion)."""
    penetration_m: FloatArray
    """Deepest tissue penetration of the stroke: the tip past the tented surface (0 if never punctured)."""
    load_n: FloatArray
    """Skin force on the needles when the tips were deepest."""
    current_peak_a: FloatArray
    battery_min_v: FloatArray
    current_limited: NDArray[np.bool_]
    voltage_saturated: NDArray[np.bool_]
    motor_temp_end_c: FloatArray
    charge_end_c: FloatArray
    battery_temp_end_c: FloatArray

    def state_after(self, k: int) -> CarriedState:
        """The carried state after stroke ``k`` (0-based)."""
        return CarriedState(
            float(self.x_end[k]),
            float(self.v_end[k]),
            float(self.i_end[k]),
            float(self.battery_current_end[k]),
            float(self.motor_temp_end_c[k]),
            float(self.charge_end_c[k]),
            float(self.battery_temp_end_c[k]),
        )
