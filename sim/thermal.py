"""First-order thermal model of the motor winding.

One thermal mass with one resistance to ambient is enough to show what matters
for safety: the winding warms with the copper loss of each stroke and cools
towards ambient with a time constant of minutes, so long deep sessions approach
the temperature limit slowly and predictably.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(kw_only=True, frozen=True)
class ThermalParams:
    """Winding-to-ambient thermal model."""

    ambient_c: float = 25.0
    resistance_k_per_w: float = 25.0
    """Steady-state rise per watt of copper loss."""
    time_constant_s: float = 240.0


def temperature_after(params: ThermalParams, start_c: float, power_w: float, seconds: float) -> float:
    """Winding temperature after ``seconds`` at constant ``power_w``, from ``start_c``.

    The exact solution of the first-order model over the interval, so the result
    does not depend on how the interval is split into steps of equal power.
    """
    decay = math.exp(-seconds / params.time_constant_s)
    steady = params.ambient_c + params.resistance_k_per_w * power_w
    return steady + (start_c - steady) * decay
