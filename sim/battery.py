"""The pen's Li-ion cell: charge, open-circuit voltage and sag under load.

The open-circuit voltage follows a typical single-cell discharge curve; the
loaded voltage drops by the internal resistance times the current, which the
actuator model applies tick by tick. A nearly empty cell therefore both reads
low and leaves the drive less voltage, as a real one does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SOC_POINTS = np.array([0.0, 0.05, 0.10, 0.20, 0.40, 0.60, 0.80, 0.95, 1.0])
OCV_POINTS = np.array([3.00, 3.30, 3.45, 3.58, 3.70, 3.80, 3.95, 4.10, 4.20])
"""Open-circuit voltage against state of charge: a typical single Li-ion cell."""


@dataclass(kw_only=True, frozen=True)
class BatteryParams:
    """One Li-ion cell."""

    capacity_mah: float = 1000.0
    internal_resistance_ohm: float = 0.1
    thermal_resistance_k_per_w: float = 15.0
    """Cell-to-ambient steady-state rise per watt dissipated in the cell."""
    thermal_time_constant_s: float = 120.0

    @property
    def capacity_c(self) -> float:
        """Capacity in coulombs."""
        return self.capacity_mah * 3.6


def open_circuit_voltage(soc: float) -> float:
    """Open-circuit voltage at state of charge ``soc`` (0..1)."""
    return float(np.interp(min(max(soc, 0.0), 1.0), SOC_POINTS, OCV_POINTS))
