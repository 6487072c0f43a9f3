"""What became of each injected fault: when it started, when and how it was caught, what it did.

Computed from the session's telemetry, alarms and end state, so it says what
the firmware did, not what it was meant to do. The fault campaign and the
report both use it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from controller.treatment.session import SessionResult
from hal.telemetry import Telemetry, empty_telemetry


@dataclass(kw_only=True, frozen=True)
class FaultOutcome:
    kind: str
    scheduled_s: float
    onset_s: float
    """Pen time of the first stroke boundary at or after the scheduled time."""
    detected: str | None
    """The first alarm raised at or after the onset."""
    priority: str | None
    detection_s: float | None
    """When the firmware knew: the end of the stroke in which the condition showed."""
    latency_ms: float | None
    latency_strokes: int | None
    """Strokes from the onset to the one in which the condition showed, that one included."""
    strokes_after_detection: int
    """Strokes the pen did after the one in which the condition showed (0: stopped at once)."""
    max_depth_after_onset_mm: float
    final_state: str
    final_tip_mm: float | None


def all_telemetry(result: SessionResult) -> Telemetry:
    parts = [z.telemetry for z in result.zones if len(z.telemetry)]
    return np.concatenate(parts) if parts else empty_telemetry()


def fault_outcomes(result: SessionResult) -> list[FaultOutcome]:
    tel = all_telemetry(result)
    t = tel["t_s"].astype(np.float64)
    out = []
    for fault in result.faults_injected:
        after = np.nonzero(t >= fault.at_s - 1e-9)[0]
        if len(after):
            onset_s = float(t[after[0]])
        elif len(tel):  # nothing was stroked after it: it started at the next boundary
            onset_s = max(fault.at_s, float(t[-1] + tel["period_s"][-1]))
        else:
            onset_s = fault.at_s
        onset_index = int(tel["index"][after[0]]) if len(after) else None
        since = [a for a in result.alarms if a.t_s >= onset_s - 1e-6]
        # What stopped the pen, if anything did; else the first thing it noticed.
        alarm = next((a for a in since if a.priority == "high"), since[0] if since else None)
        detection_s = latency_ms = latency_strokes = None
        strokes_after = 0
        if alarm is not None:
            period = float(tel["period_s"][after[0]]) if len(after) else 0.0
            if alarm.stroke >= 0 and len(after):
                at = np.nonzero(tel["index"] == alarm.stroke)[0]
                period = float(tel["period_s"][at[0]]) if len(at) else period
                detection_s = alarm.t_s + period
                latency_strokes = alarm.stroke - (onset_index or alarm.stroke) + 1
                strokes_after = int(np.count_nonzero(tel["index"] > alarm.stroke))
            else:
                detection_s = alarm.t_s
                latency_strokes = 0
            latency_ms = 1e3 * (detection_s - onset_s)
        depth_after = tel["depth_mm"][after].astype(np.float64)
        out.append(
            FaultOutcome(
                kind=fault.kind,
                scheduled_s=fault.at_s,
                onset_s=onset_s,
                detected=alarm.kind if alarm else None,
                priority=str(alarm.priority) if alarm else None,
                detection_s=detection_s,
                latency_ms=latency_ms,
                latency_strokes=latency_strokes,
                strokes_after_detection=strokes_after,
                max_depth_after_onset_mm=float(depth_after.max()) if len(depth_after) else 0.0,
                final_state=result.final_state,
                final_tip_mm=result.final_tip_mm,
            )
        )
    return out
