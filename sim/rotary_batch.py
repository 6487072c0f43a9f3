"""What a batch of rotary-drive strokes starts from and produces, for both rotary stroke models.

:mod:`sim.rotary_reference` and :mod:`sim.rotary_kernel` step the same physics on a :class:`RotaryBatch` and
return :class:`RotaryResults`, so a test can hold them side by side. A stroke is one revolution of the cam, so
its length in ticks is an output here, not an input: the motor's speed decides it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from sim.battery import BatteryParams
from sim.rotary_drive import RotaryDrive
from sim.thermal import ThermalParams

FloatArray = NDArray[np.float64]


class RotaryCarried(NamedTuple):
    """What carries over from one revolution to the next (SI units, degC, coulombs)."""

    theta_rad: float
    omega_rad_s: float
    current_a: float
    integral_v: float
    x_m: float
    v_m_s: float
    battery_a: float
    motor_temp_c: float
    charge_used_c: float
    battery_temp_c: float
    nut_m: float
    """Where the depth stop's screw nut is: what its encoder reads."""
    stop_m: float
    """Where the stop itself is (the nut, give or take the backlash)."""
    wear_m: float
    """Stroke amplitude the cam has lost to wear."""


@dataclass(kw_only=True, frozen=True)
class RotaryBatch:
    """Revolutions at one commanded speed and depth, on one skin."""

    drive: RotaryDrive
    dt: float
    omega_ref_rad_s: float
    stop_target_m: float
    stiffness_n_per_m: FloatArray
    tent_n_per_m: FloatArray
    puncture_n: float
    surface_m: FloatArray
    skin_stiffening_m: float
    skin_damping_ns_per_m: float
    start: RotaryCarried
    thermal: ThermalParams
    battery: BatteryParams
    max_ticks: int
    """A revolution that takes longer ends here, as a stalled stroke."""
    tick_budget: int
    """The batch ends at the first revolution boundary at or after this many ticks (a fault's onset)."""
    front_stop_m: float = 1.0
    """The carriage cannot pass this (a jam in front of it: debris, a bent needle)."""
    back_stop_m: float = -1.0
    """The carriage cannot come back behind this (a retract failure)."""
    current_sense_ok: bool = True
    """False: the motor current's sensor has failed, and with it the bridge's current limit."""
    load_lost: bool = False
    """The carriage has come off the cam: the motor turns with nothing to push."""
    stop_jam_m: float = float("nan")
    """The stop's screw has seized here (NaN: it moves)."""
    wear_m_per_stroke: float = 0.0
    winding_fault_heat_w: float = 0.0
    battery_fault_heat_w: float = 0.0

    @property
    def strokes(self) -> int:
        return len(self.stiffness_n_per_m)


@dataclass(kw_only=True, frozen=True)
class RotaryResults:
    """Per-revolution results; element k describes revolution k (only the first :attr:`done` happened)."""

    ticks: NDArray[np.int64]
    peak_m: FloatArray
    penetration_m: FloatArray
    load_n: FloatArray
    current_peak_a: FloatArray
    battery_min_v: FloatArray
    current_limited: NDArray[np.bool_]
    voltage_saturated: NDArray[np.bool_]
    encoder_m: FloatArray
    """The stop encoder's reading at the revolution's end."""
    state: FloatArray
    """Row k: the carried state after revolution k, in :class:`RotaryCarried` order."""
    done: int

    def state_after(self, k: int) -> RotaryCarried:
        return RotaryCarried(*(float(v) for v in self.state[k]))
