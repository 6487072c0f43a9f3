"""Benchmarks of the timing-critical path: the simulator and the controller's stroke loop.

Run with ``pytest benches/ --benchmark-only``. Figures that matter are put in
``extra_info`` (strokes per second, real-time factor, microseconds per stroke).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from controller.pen_controller import PenController, Target
from hal.telemetry import Telemetry
from sim.backend import SimBackend
from sim.cartridge import Cartridge
from tests.conftest import make_pen

STROKES = 4096


def test_simulator_throughput(benchmark: Any) -> None:
    """Physics only: strokes of 1.0 mm at 120 Hz, 24 kHz physics, nonlinear skin."""

    def run() -> Telemetry:
        return make_pen(depth_mm=1.0, frequency_hz=120.0).run(STROKES)

    tel = benchmark.pedantic(run, rounds=3, iterations=1)
    assert len(tel) == STROKES
    seconds = benchmark.stats.stats.min if benchmark.stats else float("nan")
    simulated = float(tel["period_s"].astype(np.float64).sum())
    benchmark.extra_info.update(strokes_per_s=STROKES / seconds, real_time_factor=simulated / seconds)


class _ReplayBackend(SimBackend):
    """A pen that replays precomputed telemetry, so only the controller's cost is measured."""

    def __init__(self, tel: Telemetry) -> None:
        super().__init__(seed=0, cartridge=Cartridge(1))
        self._tel = tel
        self._pos = 0

    def read_strokes(self, max_strokes: int) -> Telemetry:
        part = self._tel[self._pos : self._pos + max_strokes]
        self._pos = (self._pos + len(part)) % len(self._tel)
        return part


def test_controller_cost_per_stroke(benchmark: Any) -> None:
    tel = make_pen(depth_mm=1.0, frequency_hz=120.0).run(STROKES)
    ctl = PenController(_ReplayBackend(tel))
    ctl.power_on()
    ctl.select(Target(1.0, 120.0, 1.0, "cheeks"))
    ctl.arm()
    ctl.start()

    def run() -> Telemetry:
        return ctl.run(STROKES)

    out = benchmark.pedantic(run, rounds=20, iterations=1)
    assert len(out) == STROKES and ctl.state == "running"
    seconds = benchmark.stats.stats.min if benchmark.stats else float("nan")
    benchmark.extra_info.update(us_per_stroke=1e6 * seconds / STROKES)
