"""The depth stop's positioning: a speed-limited lag towards the target, and backlash between nut and stop.

Scalar functions, one tick at a time, shared by the reference model; the compiled kernel repeats the same
arithmetic inline. A depth change therefore takes the stop's travel and settling time, during which the
strokes reach where the stop is, not where it was told to go.
"""

from __future__ import annotations

import math

from sim.rotary_drive import DepthStopParams


def nut_step(stop: DepthStopParams, nut_m: float, target_m: float, jam_m: float, dt: float) -> float:
    """The screw nut after one tick: towards the target, no faster than the screw turns (or seized)."""
    if not math.isnan(jam_m):
        return jam_m
    speed = (target_m - nut_m) / stop.time_constant_s
    limit = stop.max_speed_mm_s * 1e-3
    return nut_m + dt * max(-limit, min(limit, speed))


def follow_backlash(stop: DepthStopParams, nut_m: float, stop_m: float) -> float:
    """Where the stop sits: it moves only when the nut takes up the play on one side or the other."""
    half = stop.backlash_mm * 0.5e-3
    if stop_m < nut_m - half:
        return nut_m - half
    if stop_m > nut_m + half:
        return nut_m + half
    return stop_m
