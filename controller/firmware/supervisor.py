"""Safety checks on every stroke's telemetry, against the limits that apply at that moment.

The supervisor looks at a whole batch with vector operations. It returns the
first stroke that broke a high-priority limit, so the stroke loop can stop the
pen at that stroke (with a speculative backend the strokes after it are
discarded, which makes the outcome identical to checking one stroke at a time),
and the first stroke of each medium- or low-priority condition up to there, which
raise alarms without stopping the stroke. Which condition has which priority
and response is docs/hazards.md (controller/firmware/hazards.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from controller.firmware.limits import DRIFT_WINDOW, DepthLimit, FirmwareLimits
from hal.telemetry import StrokeFlag, Telemetry

CHECKS = (
    "stop_position",
    "over_depth",
    "not_retracted",
    "overcurrent",
    "stall",
    "cartridge_changed",
    "over_temperature",
    "battery_overheat",
    "battery_critical",
    "amplitude_loss",
    "rate_sag",
    "over_speed",
    "stroke_rate",
)
"""High-priority conditions, in the order reported when one stroke breaks several.

Each is written so that a value that is not a number (a broken sensor, a garbled reading) breaks
it: ``~(x <= limit)``, never ``x > limit``, which NaN would pass."""
CONDITIONS = ("battery_low", "depth_drift", "depth_envelope")
"""Medium- and low-priority conditions: an alarm, and the stroke goes on."""
ENVELOPE_MARGIN_MM = 0.05
STOP_TOLERANCE_MM = 0.1
"""How much deeper than the command the depth stop's encoder may read (a rotary pen's stop; a voice-coil pen
plans at or short of the command, never beyond it)."""
AMPLITUDE_LOSS_FACTOR = 2.0
"""Mean depth error over the drift window, in drift tolerances, at which the strokes no longer reach the stop."""


@dataclass(kw_only=True, frozen=True)
class Violation:
    """A stroke that broke a limit, and what it saw."""

    kind: str
    position: int
    """Index of the stroke in the batch."""
    stroke: int
    t_s: float
    value: float
    limit: float
    message: str


Mask = NDArray[np.bool_]


@dataclass(kw_only=True, frozen=True, slots=True)
class Check:
    """One limit applied to a whole batch: which strokes break it, what each showed, and how to say it."""

    broken: Mask
    values: NDArray[np.float64]
    limit: float
    message: str
    """A format string; ``{value}`` is the offending stroke's reading."""


class Supervisor:
    """Checks telemetry batches against the limits that apply."""

    def __init__(self, limits: FirmwareLimits) -> None:
        self.limits = limits
        self._recent_errors = np.zeros(0)

    def new_command(self) -> None:
        """Forget the depth history: the drift window must not straddle a change of command."""
        self._recent_errors = np.zeros(0)

    def first_violation(
        self, tel: Telemetry, depth: DepthLimit, frequency_hz: float, cartridge_id: int | None = None
    ) -> Violation | None:
        """The earliest stroke in ``tel`` that breaks a high-priority limit, or None."""
        return self.inspect(tel, depth, frequency_hz, cartridge_id)[0]

    def inspect(
        self, tel: Telemetry, depth: DepthLimit, frequency_hz: float, cartridge_id: int | None = None
    ) -> tuple[Violation | None, list[Violation]]:
        """(first high-priority violation, first stroke of each lower-priority condition up to it)."""
        lim = self.limits
        n = len(tel)
        rate = 1.0 / tel["period_s"].astype(np.float64)
        depth_mm = tel["depth_mm"].astype(np.float64)
        margin = lim.over_depth_margin_mm
        ids = tel["cartridge_id"]
        target = tel["depth_target_mm"].astype(np.float64)
        drift, drift_values = self._drift(tel)
        contact = (tel["flags"] & StrokeFlag.CONTACT) != 0
        high: dict[str, Check] = {
            "over_depth": Check(
                broken=~(depth_mm <= depth.depth_mm + margin),
                values=depth_mm,
                limit=depth.depth_mm + margin,
                message=f"depth reached {{value:.3f}} mm exceeds the {depth.owner} limit {depth.depth_mm:.2f} mm "
                f"+ {margin:.2f} mm margin",
            ),
            "stop_position": Check(
                broken=~(target <= tel["depth_cmd_mm"] + STOP_TOLERANCE_MM),
                values=target,
                limit=float(tel["depth_cmd_mm"][0]) + STOP_TOLERANCE_MM if n else 0.0,
                message=f"depth stop's encoder reads {{value:.3f}} mm, more than {STOP_TOLERANCE_MM:.2f} mm "
                "beyond the command",
            ),
            "not_retracted": Check(
                broken=((tel["flags"] & StrokeFlag.NOT_RETRACTED) != 0) | ~np.isfinite(tel["end_mm"]),
                values=tel["end_mm"].astype(np.float64),
                limit=0.0,
                message="needles still at {value:.3f} mm at the end of the stroke: not retracted",
            ),
            "overcurrent": Check(
                broken=~(tel["current_a"] <= lim.overcurrent_a),
                values=tel["current_a"].astype(np.float64),
                limit=lim.overcurrent_a,
                message=f"coil current {{value:.2f}} A above {lim.overcurrent_a:.2f} A",
            ),
            "stall": Check(
                broken=((tel["flags"] & StrokeFlag.CURRENT_LIMITED) != 0)
                & (target - depth_mm > np.minimum(lim.stall_margin_mm, 0.5 * target)),
                values=depth_mm,
                limit=float(tel["depth_target_mm"][0]) if n else 0.0,
                message="carriage stalled: {value:.3f} mm reached at the current limit",
            ),
            "cartridge_changed": Check(
                broken=(ids != cartridge_id) if cartridge_id is not None else np.zeros(n, dtype=bool),
                values=ids.astype(np.float64),
                limit=float(cartridge_id or 0),
                message="cartridge id changed to {value:.0f} mid-treatment (0: removed)",
            ),
            "over_temperature": Check(
                broken=~(tel["motor_temp_c"] <= lim.motor_temp_limit_c),
                values=tel["motor_temp_c"].astype(np.float64),
                limit=lim.motor_temp_limit_c,
                message=f"motor at {{value:.1f}} degC above {lim.motor_temp_limit_c:.1f} degC",
            ),
            "battery_overheat": Check(
                broken=~(tel["battery_temp_c"] <= lim.battery_temp_limit_c),
                values=tel["battery_temp_c"].astype(np.float64),
                limit=lim.battery_temp_limit_c,
                message=f"battery at {{value:.1f}} degC above {lim.battery_temp_limit_c:.1f} degC",
            ),
            "battery_critical": Check(
                broken=~(tel["battery_v"] >= lim.battery_critical_v),
                values=tel["battery_v"].astype(np.float64),
                limit=lim.battery_critical_v,
                message=f"battery at {{value:.2f}} V below the critical {lim.battery_critical_v:.2f} V",
            ),
            "amplitude_loss": Check(
                broken=drift_values < -AMPLITUDE_LOSS_FACTOR * lim.depth_drift_tolerance_mm,
                values=drift_values,
                limit=-AMPLITUDE_LOSS_FACTOR * lim.depth_drift_tolerance_mm,
                message=f"mean depth error {{value:+.3f}} mm over {DRIFT_WINDOW} strokes: the strokes no longer "
                "reach the depth stop (cam wear)",
            ),
            "rate_sag": Check(
                broken=((tel["flags"] & StrokeFlag.VOLTAGE_SATURATED) != 0)
                & ~(rate >= (1.0 - lim.stroke_rate_tolerance) * frequency_hz),
                values=rate,
                limit=frequency_hz,
                message=f"stroke rate {{value:.1f}} Hz sags below {frequency_hz:.1f} Hz by more than "
                f"{lim.stroke_rate_tolerance:.0%}: the drive is out of voltage",
            ),
            "over_speed": Check(
                broken=~contact & ~(rate <= (1.0 + lim.stroke_rate_tolerance / 2.0) * frequency_hz),
                values=rate,
                limit=frequency_hz,
                message=f"stroke rate {{value:.1f}} Hz above {frequency_hz:.1f} Hz with no skin contact: the motor "
                "has lost its load",
            ),
            "stroke_rate": Check(
                broken=~(np.abs(rate - frequency_hz) <= lim.stroke_rate_tolerance * frequency_hz),
                values=rate,
                limit=frequency_hz,
                message=f"stroke rate {{value:.1f}} Hz deviates from {frequency_hz:.1f} Hz by more than "
                f"{lim.stroke_rate_tolerance:.0%}",
            ),
        }
        bad = np.zeros(n, dtype=bool)
        for check in high.values():
            bad |= check.broken
        violation = None
        end = n
        if bad.any():
            position = int(np.argmax(bad))
            kind = next(k for k in CHECKS if high[k].broken[position])
            violation = self._violation(tel, kind, position, high[kind])
            end = position + 1

        lower: dict[str, Check] = {
            "battery_low": Check(
                broken=tel["battery_v"] < lim.battery_arm_v,
                values=tel["battery_v"].astype(np.float64),
                limit=lim.battery_arm_v,
                message=f"battery at {{value:.2f}} V below {lim.battery_arm_v:.2f} V: no new zone",
            ),
            "depth_drift": Check(
                broken=drift,
                values=drift_values,
                limit=lim.depth_drift_tolerance_mm,
                message=f"mean depth error {{value:+.3f}} mm over {DRIFT_WINDOW} strokes exceeds "
                f"{lim.depth_drift_tolerance_mm:.2f} mm",
            ),
            "depth_envelope": Check(
                broken=tel["depth_target_mm"] < tel["depth_cmd_mm"] - ENVELOPE_MARGIN_MM,
                values=depth_mm,
                limit=float(tel["depth_cmd_mm"][0]) if n else 0.0,
                message=(
                    f"the pen cannot reach {float(tel['depth_cmd_mm'][0]) if n else 0.0:.2f} mm at this rate: "
                    f"strokes planned to {float(tel['depth_target_mm'][0]) if n else 0.0:.2f} mm "
                    "reached {value:.2f} mm"
                ),
            ),
        }
        findings = []
        for kind in CONDITIONS:
            mask = lower[kind].broken[:end]
            if mask.any():
                position = int(np.argmax(mask))
                findings.append(self._violation(tel, kind, position, lower[kind]))
        return violation, findings

    def _drift(self, tel: Telemetry) -> tuple[Mask, NDArray[np.float64]]:
        """Rolling mean of (reached - target) over the last DRIFT_WINDOW strokes, across batches."""
        errors = tel["depth_mm"].astype(np.float64) - tel["depth_target_mm"].astype(np.float64)
        history = np.concatenate((self._recent_errors, errors))
        self._recent_errors = history[-(DRIFT_WINDOW - 1) :]
        sums = np.concatenate(([0.0], np.cumsum(history)))
        means = np.full(len(history), np.nan)
        if len(history) >= DRIFT_WINDOW:
            means[DRIFT_WINDOW - 1 :] = (sums[DRIFT_WINDOW:] - sums[:-DRIFT_WINDOW]) / DRIFT_WINDOW
        means = means[len(history) - len(errors) :]
        with np.errstate(invalid="ignore"):
            return np.abs(means) > self.limits.depth_drift_tolerance_mm, means

    @staticmethod
    def _violation(tel: Telemetry, kind: str, position: int, check: Check) -> Violation:
        value = float(check.values[position])
        return Violation(
            kind=kind,
            position=position,
            stroke=int(tel["index"][position]),
            t_s=float(tel["t_s"][position]),
            value=value,
            limit=float(check.limit),
            message=check.message.format(value=value),
        )
