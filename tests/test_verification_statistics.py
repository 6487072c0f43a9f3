"""Tolerance intervals against published tables and against their own promise, and the pens' physics of tolerance."""

from __future__ import annotations

import numpy as np
import pytest

from controller.qa.verification.tolerance import (
    normal_interval,
    normal_k,
    required_n,
    wilks_confidence,
    wilks_interval,
)
from hal.backend import CartridgeInfo, StrokeCommand
from sim.build import END_OF_LIFE_CAPACITY, PenBuild, gauge_depth_mm, gauge_rate_hz
from sim.pen import SimulatedPen

EXACT_K = {  # two-sided normal tolerance factors, ISO 16269-6 Table C.4 / NIST e-Handbook 7.2.6.3
    (10, 0.95, 0.95): 3.379,
    (30, 0.95, 0.95): 2.549,
    (100, 0.95, 0.95): 2.233,
    (1000, 0.95, 0.95): 2.036,
    (30, 0.99, 0.95): 3.350,
}


@pytest.mark.parametrize(("n", "coverage", "confidence"), list(EXACT_K))
def test_howes_k_is_the_tabulated_factor_on_the_safe_side(n: int, coverage: float, confidence: float) -> None:
    exact = EXACT_K[(n, coverage, confidence)]
    k = normal_k(n, coverage, confidence)
    assert exact - 0.001 <= k <= exact * 1.002


@pytest.mark.parametrize(("coverage", "confidence", "n"), [(0.95, 0.95, 93), (0.99, 0.95, 473), (0.90, 0.90, 38)])
def test_wilks_sample_sizes_are_the_known_ones(coverage: float, confidence: float, n: int) -> None:
    assert required_n(coverage, confidence) == n
    assert wilks_interval(np.arange(n - 1, dtype=float), coverage, confidence) is None
    assert wilks_interval(np.arange(n, dtype=float), coverage, confidence) is not None


def test_wilks_confidence_is_the_closed_form_for_the_extremes() -> None:
    for n in (50, 93, 200):
        p = 0.95
        assert wilks_confidence(n, 1, p) == pytest.approx(1 - n * p ** (n - 1) + (n - 1) * p**n, rel=1e-12)


def coverage_hits(draw: str, method: str, n: int, repeats: int = 1500) -> float:
    """The share of repeated samples whose interval really covers 95 % of the population."""
    rng = np.random.default_rng(11)
    hits = 0
    for _ in range(repeats):
        values = rng.standard_normal(n) if draw == "normal" else rng.exponential(size=n)
        interval = (normal_interval if method == "normal" else wilks_interval)(values, 0.95, 0.95)
        assert interval is not None
        if draw == "normal":
            from scipy.stats import norm

            covered = norm.cdf(interval.high) - norm.cdf(interval.low)
        else:
            covered = np.exp(-max(interval.low, 0.0)) - np.exp(-interval.high)
        hits += covered >= 0.95
    return hits / repeats


@pytest.mark.parametrize(("draw", "method", "n"), [("normal", "normal", 20), ("exponential", "wilks", 120)])
def test_intervals_keep_their_promise_of_95_percent_confidence(draw: str, method: str, n: int) -> None:
    """Monte Carlo: 1,500 samples; the confidence is 95 % (the binomial spread of the estimate is 0.6 %)."""
    assert coverage_hits(draw, method, n) >= 0.93


def test_a_normal_interval_on_skewed_data_can_break_its_promise() -> None:
    """Why the distribution-free method exists: the normal interval misses on an exponential population."""
    assert coverage_hits("exponential", "normal", 120, repeats=400) < 0.9


def pen_run(build: PenBuild, strokes: int = 200) -> tuple[SimulatedPen, np.ndarray]:
    pen = SimulatedPen(seed=5, cartridge=CartridgeInfo(cartridge_id=1), build=build)
    pen.command = StrokeCommand(depth_mm=1.0, frequency_hz=120.0)
    return pen, pen.run(strokes)


def test_needles_too_long_go_deeper_than_the_pen_reads_and_the_gauge_sees_it() -> None:
    _, nominal = pen_run(PenBuild())
    build = PenBuild(needle_length_error_mm=0.05, depth_offset_mm=-0.02)
    _, long = pen_run(build)
    read = float(long["depth_mm"].mean() - nominal["depth_mm"].mean())
    true = float(gauge_depth_mm(long, build).mean() - gauge_depth_mm(nominal, PenBuild()).mean())
    assert abs(read) < 0.01  # the pen's own sensor cannot see it (the skin pushes back a little harder)
    assert true == pytest.approx(0.07, abs=0.01)


def test_a_slow_crystal_makes_every_stroke_longer_in_real_time() -> None:
    build = PenBuild(clock_error_ppm=1000.0)
    _, tel = pen_run(build)
    assert gauge_rate_hz(tel, build) == pytest.approx(120.0 / 1.001, rel=1e-9)
    assert gauge_rate_hz(tel, PenBuild()) == pytest.approx(120.0, rel=1e-9)


def test_the_servo_plans_with_the_design_and_a_weak_magnet_costs_depth() -> None:
    weak = PenBuild(force_constant_n_per_a=2.7, moving_mass_kg=0.0028)
    pen, tel = pen_run(weak)
    assert pen.design.force_constant_n_per_a == 3.0 and pen.coil.force_constant_n_per_a == 2.7
    _, nominal = pen_run(PenBuild())
    assert float(tel["depth_mm"].mean()) != float(nominal["depth_mm"].mean())


def test_an_old_battery_holds_less_and_sags_more() -> None:
    old, new = PenBuild(battery_age=1.0).battery(), PenBuild().battery()
    assert old.capacity_mah == pytest.approx(new.capacity_mah * END_OF_LIFE_CAPACITY)
    assert old.internal_resistance_ohm > new.internal_resistance_ohm
    _, tel_old = pen_run(PenBuild(battery_age=1.0, battery_soc=0.3))
    _, tel_new = pen_run(PenBuild(battery_soc=0.3))
    assert float(tel_old["battery_v"].min()) < float(tel_new["battery_v"].min())


def test_a_warm_room_starts_the_winding_warm() -> None:
    pen, _ = pen_run(PenBuild(ambient_c=40.0), strokes=1)
    assert pen.state.motor_temp_c > 39.0


def test_stiffer_skin_than_typical_costs_depth() -> None:
    soft, stiff = PenBuild(normal_skin_stiffness=0.7), PenBuild(normal_skin_stiffness=1.4)
    _, tel_soft = pen_run(soft)
    _, tel_stiff = pen_run(stiff)
    assert float(tel_stiff["depth_mm"].mean()) < float(tel_soft["depth_mm"].mean())
