"""Benchmarks of the timing-critical path. Run: ``pytest benches/ --benchmark-only``.

Derived figures go into ``extra_info``. The CI gates (.ci/check_gates.py) are
ratios between benchmarks of the same run, never absolute times: the machines
are shared and noisy.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import numpy as np

from controller.firmware.pen_controller import PenController
from controller.firmware.target import Target
from controller.treatment.plan import load_plan
from controller.treatment.report import build_report
from controller.treatment.session import run_session
from hal.backend import CartridgeInfo, StrokeCommand
from hal.registry import open_backend
from hal.telemetry import Telemetry

FULL_PASS = 216_000
"""Strokes of a 30-minute pass at 120 Hz."""
MODEL_WORKLOAD = 600
"""Strokes that the reference and the kernel both run, for the speed-up gate."""
LOOP_STROKES = 4096
FAST_MODEL = os.environ.get("PENCTL_BENCH_FAST_MODEL", "kernel")
"""Set to 'reference' to see the speed-up gate fail (the gate's own check)."""
DRIVE = os.environ.get("PENCTL_BENCH_DRIVE", "voice_coil")
"""The drive the pass, loop and plan benchmarks run on ('rotary_cam': the motor-and-cam pen); the rotary
models' own speed-up pair runs on every run."""


def simulate(strokes: int, model: str, drive: str = DRIVE) -> Telemetry:
    backend = open_backend("sim", seed=1, cartridge=CartridgeInfo(cartridge_id=1), model=model, drive=drive)
    backend.apply(StrokeCommand(depth_mm=1.0, frequency_hz=120.0))
    return backend.read_strokes(strokes)


def _best(benchmark: Any) -> float:
    return float(benchmark.stats.stats.min) if benchmark.stats else float("nan")


def test_simulator_30_minute_pass(benchmark: Any) -> None:
    """Physics of a 30-minute pass at 120 Hz, 24 kHz, nonlinear skin: target <= 1 s."""
    simulate(10, FAST_MODEL)  # compile or load the kernel outside the timing
    tel = benchmark.pedantic(
        simulate, args=(FULL_PASS if FAST_MODEL == "kernel" else 2000, FAST_MODEL), rounds=3, iterations=1
    )
    simulated = float(tel["period_s"].astype(np.float64).sum())
    seconds = _best(benchmark)
    benchmark.extra_info.update(
        strokes=len(tel), simulated_s=simulated, strokes_per_s=len(tel) / seconds, real_time_factor=simulated / seconds
    )


def test_model_fast(benchmark: Any) -> None:
    simulate(10, FAST_MODEL)
    tel = benchmark.pedantic(simulate, args=(MODEL_WORKLOAD, FAST_MODEL), rounds=5, iterations=1)
    benchmark.extra_info.update(strokes=len(tel), model=FAST_MODEL)


def test_model_reference(benchmark: Any) -> None:
    tel = benchmark.pedantic(simulate, args=(MODEL_WORKLOAD, "reference"), rounds=3, iterations=1)
    fast = simulate(MODEL_WORKLOAD, "kernel")
    diff = np.abs(tel["depth_mm"].astype(np.float64) - fast["depth_mm"].astype(np.float64)).max()
    assert diff <= 1e-3
    benchmark.extra_info.update(strokes=len(tel), max_depth_diff_um=float(diff * 1e3))


def test_stroke_loop_per_stroke(benchmark: Any) -> None:
    """The controller's share: supervisor checks, counting, logging, on replayed telemetry."""
    recording = simulate(LOOP_STROKES, "kernel")
    ctl = PenController(open_backend("replay", telemetry=recording, loop=True))
    ctl.power_on()
    ctl.select(Target(depth_mm=1.0, frequency_hz=120.0, zone_max_mm=1.0, zone="cheeks"))
    ctl.arm()
    ctl.start()
    out = benchmark.pedantic(ctl.run, args=(LOOP_STROKES,), rounds=30, iterations=1)
    assert len(out) == LOOP_STROKES and ctl.state == "running"
    benchmark.extra_info.update(strokes=LOOP_STROKES, us_per_stroke=1e6 * _best(benchmark) / LOOP_STROKES)


def test_plan_to_report(benchmark: Any) -> None:
    """The built-in plan end to end: validation, pass, coverage maps, report (no PNG)."""
    plan = load_plan(None)
    plan = replace(plan, pen=replace(plan.pen, drive=DRIVE))
    report = benchmark.pedantic(lambda: build_report(run_session(plan, seed=0)), rounds=3, iterations=1)
    assert report["outcome"] == "completed"
    benchmark.extra_info.update(strokes=report["total"]["strokes"])


def test_rotary_model_fast(benchmark: Any) -> None:
    """The rotary drive's compiled kernel on the speed-up workload."""
    simulate(10, "kernel", "rotary_cam")
    tel = benchmark.pedantic(simulate, args=(MODEL_WORKLOAD, "kernel", "rotary_cam"), rounds=5, iterations=1)
    benchmark.extra_info.update(strokes=len(tel), drive="rotary_cam")


def test_rotary_model_reference(benchmark: Any) -> None:
    """The rotary drive's reference model on the same workload, and the two models' agreement."""
    tel = benchmark.pedantic(simulate, args=(MODEL_WORKLOAD, "reference", "rotary_cam"), rounds=3, iterations=1)
    fast = simulate(MODEL_WORKLOAD, "kernel", "rotary_cam")
    diff = np.abs(tel["depth_mm"].astype(np.float64) - fast["depth_mm"].astype(np.float64)).max()
    rate = np.abs(tel["period_s"].astype(np.float64) / fast["period_s"].astype(np.float64) - 1.0).max()
    assert diff <= 1e-3 and rate <= 1e-3
    benchmark.extra_info.update(strokes=len(tel), max_depth_diff_um=float(diff * 1e3), max_rate_diff=float(rate))
