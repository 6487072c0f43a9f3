"""Safety checks on every stroke's telemetry.

The supervisor looks at a whole batch with vector operations and returns the
first stroke that broke a limit, so the stroke loop can stop the pen at that
stroke: with a speculative backend the strokes after it are discarded, which
makes the outcome identical to checking one stroke at a time. The limits are
those that apply at that moment (see :mod:`controller.limits`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from controller.limits import DepthLimit, FirmwareLimits
from hal.telemetry import StrokeFlag, Telemetry

CHECKS = ("over_depth", "not_retracted", "overcurrent", "over_temperature", "battery_critical", "stroke_rate")
"""Every condition the supervisor faults on, in the order it reports them when one stroke breaks several."""


@dataclass(frozen=True)
class Violation:
    """The first stroke of a batch that broke a limit, and what it saw."""

    kind: str
    position: int
    """Index of the stroke in the batch."""
    stroke: int
    t_s: float
    value: float
    limit: float
    message: str


class Supervisor:
    """Checks telemetry batches against the limits that apply."""

    def __init__(self, limits: FirmwareLimits) -> None:
        self.limits = limits

    def first_violation(self, tel: Telemetry, depth: DepthLimit, frequency_hz: float) -> Violation | None:
        """The earliest stroke in ``tel`` that breaks a limit, or None."""
        lim = self.limits
        rate = 1.0 / tel["period_s"].astype(np.float64)
        masks = {
            "over_depth": (
                tel["depth_mm"] > depth.depth_mm + lim.over_depth_margin_mm,
                tel["depth_mm"],
                depth.depth_mm + lim.over_depth_margin_mm,
                f"depth reached {{value:.3f}} mm exceeds the {depth.owner} limit "
                f"{depth.depth_mm:.2f} mm + {lim.over_depth_margin_mm:.2f} mm margin",
            ),
            "not_retracted": (
                (tel["flags"] & StrokeFlag.NOT_RETRACTED) != 0,
                tel["end_mm"],
                0.0,
                "needles still at {value:.3f} mm at the end of the stroke: not retracted",
            ),
            "overcurrent": (
                tel["current_a"] > lim.overcurrent_a,
                tel["current_a"],
                lim.overcurrent_a,
                f"coil current {{value:.2f}} A above {lim.overcurrent_a:.2f} A",
            ),
            "over_temperature": (
                tel["motor_temp_c"] > lim.motor_temp_limit_c,
                tel["motor_temp_c"],
                lim.motor_temp_limit_c,
                f"motor at {{value:.1f}} degC above {lim.motor_temp_limit_c:.1f} degC",
            ),
            "battery_critical": (
                tel["battery_v"] < lim.battery_critical_v,
                tel["battery_v"],
                lim.battery_critical_v,
                f"battery at {{value:.2f}} V below the critical {lim.battery_critical_v:.2f} V",
            ),
            "stroke_rate": (
                np.abs(rate - frequency_hz) > lim.stroke_rate_tolerance * frequency_hz,
                rate,
                frequency_hz,
                f"stroke rate {{value:.1f}} Hz deviates from {frequency_hz:.1f} Hz by more than "
                f"{lim.stroke_rate_tolerance:.0%}",
            ),
        }
        bad = np.zeros(len(tel), dtype=bool)
        for mask, _, _, _ in masks.values():
            bad |= mask
        if not bad.any():
            return None
        position = int(np.argmax(bad))
        for kind in CHECKS:
            mask, values, limit, message = masks[kind]
            if mask[position]:
                value = float(values[position])
                return Violation(
                    kind=kind,
                    position=position,
                    stroke=int(tel["index"][position]),
                    t_s=float(tel["t_s"][position]),
                    value=value,
                    limit=float(limit),
                    message=message.format(value=value),
                )
        raise AssertionError("unreachable: a stroke was flagged by no check")
