"""``penctl bench``: the figures that say whether the stroke loop and the simulator are fast enough.

Timing uses the wall clock from :mod:`controller.host.clock` (the only module that reads it).
The same figures, with statistics over rounds, come from ``pytest benches/ --benchmark-only``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from controller.firmware.pen_controller import PenController
from controller.firmware.target import Target
from controller.host.clock import Pacer, WallClock
from controller.host.realtime import run_paced
from hal.backend import PenBackend, StrokeCommand
from hal.registry import open_backend
from hal.telemetry import Telemetry
from sim.factories import build_simulated_pen

FULL_PASS_STROKES = 216_000
"""A 30-minute pass at 120 Hz."""


@dataclass(kw_only=True, frozen=True)
class Workload:
    depth_mm: float = 1.0
    frequency_hz: float = 120.0
    strokes: int = 7200


def _sim(model: str = "kernel", seed: int = 1) -> PenBackend:
    return build_simulated_pen(seed=seed, model=model)


def simulate(work: Workload, model: str = "kernel") -> tuple[Telemetry, float]:
    """Run ``work`` on a fresh simulated pen; return telemetry and wall seconds."""
    backend = _sim(model)
    backend.apply(StrokeCommand(depth_mm=work.depth_mm, frequency_hz=work.frequency_hz))
    backend.read_strokes(1)  # first call compiles or loads the kernel; not part of the figure
    clock = WallClock()
    start = clock.now()
    tel = backend.read_strokes(work.strokes)
    return tel, clock.now() - start


def controller_us_per_stroke(recording: Telemetry, target: Target) -> float:
    """Controller cost per stroke with no physics behind it (replayed telemetry)."""
    clock = WallClock()
    best = float("inf")
    for _ in range(5):  # a fresh session each round: five 30-minute passes in one would pass the session maximum
        ctl = PenController(open_backend("replay", telemetry=recording, loop=True))
        ctl.power_on()
        ctl.select(target)
        ctl.arm()
        ctl.start()
        start = clock.now()
        ctl.run(len(recording))
        best = min(best, clock.now() - start)
    return 1e6 * best / len(recording)


def realtime_lateness_us(seconds: float, rate_hz: float) -> dict[str, float]:
    """Serve stroke boundaries at ``rate_hz`` on the wall clock; lateness percentiles in us."""
    ctl = PenController(_sim(), batch_strokes=1)
    ctl.power_on()
    ctl.select(Target(depth_mm=1.0, frequency_hz=rate_hz, zone_max_mm=1.0, zone="cheeks"))
    ctl.arm()
    ctl.start()
    late = run_paced(ctl, max(1, round(seconds * rate_hz)), Pacer(1.0 / rate_hz), stop_on_overrun=False)
    return {
        "p50": late.percentile_us(50),
        "p99": late.percentile_us(99),
        "max": late.percentile_us(100),
        "strokes": float(len(late.seconds)),
        "overruns": float(late.overruns(1.0 / rate_hz)),
    }


def run_bench(seconds: float = 2.0, rate_hz: float = 150.0, full: bool = False) -> dict[str, Any]:
    work = Workload(strokes=FULL_PASS_STROKES if full else Workload.strokes)
    tel, wall = simulate(work)
    simulated = float(tel["period_s"].astype(np.float64).sum())
    small = Workload(strokes=600)
    fast, fast_s = simulate(small)
    ref, ref_s = simulate(small, model="reference")
    diff_um = float(np.abs(fast["depth_mm"].astype(np.float64) - ref["depth_mm"].astype(np.float64)).max() * 1e3)
    return {
        "simulator": {
            "strokes": work.strokes,
            "wall_s": wall,
            "strokes_per_s": work.strokes / wall,
            "real_time_factor": simulated / wall,
        },
        "reference_vs_kernel": {"strokes": small.strokes, "speedup": ref_s / fast_s, "max_depth_diff_um": diff_um},
        "controller_us_per_stroke": controller_us_per_stroke(
            tel, Target(depth_mm=1.0, frequency_hz=120.0, zone_max_mm=1.0, zone="cheeks")
        ),
        "realtime_lateness_us": realtime_lateness_us(seconds, rate_hz) | {"rate_hz": rate_hz},
    }


def format_bench(figures: dict[str, Any]) -> str:
    s, r = figures["simulator"], figures["reference_vs_kernel"]
    late = figures["realtime_lateness_us"]
    return "\n".join(
        [
            f"simulator        {s['strokes']} strokes at 120 Hz, 1.0 mm: {s['wall_s']:.3f} s wall, "
            f"{s['strokes_per_s']:,.0f} strokes/s, {s['real_time_factor']:,.0f}x real time",
            f"reference model  {r['strokes']} strokes: kernel {r['speedup']:,.0f}x faster, "
            f"largest depth difference {r['max_depth_diff_um']:.3f} um",
            f"controller       {figures['controller_us_per_stroke']:.3f} us per stroke (batched, replayed telemetry)",
            f"real-time mode   {late['strokes']:.0f} strokes at {late['rate_hz']:.0f} Hz: boundary lateness "
            f"p50 {late['p50']:.0f} us, p99 {late['p99']:.0f} us, max {late['max']:.0f} us, "
            f"{late['overruns']:.0f} overrun(s) (later than one period)",
        ]
    )
