"""The simulated pen's physics: accuracy where it should be accurate, honest where it cannot be."""

from __future__ import annotations

import numpy as np
import pytest

from hal.telemetry import TELEMETRY_DTYPE, StrokeFlag
from sim.pen import SimulatedPen
from tests.conftest import make_pen


def test_one_millimetre_at_100_hz_on_normal_skin_is_within_50_um() -> None:
    tel = make_pen(depth_mm=1.0, frequency_hz=100.0).run(3000)
    error = tel["depth_mm"].astype(float) - 1.0
    assert abs(error.mean()) <= 0.05
    assert np.abs(error).max() <= 0.05
    assert not (tel["flags"] & (StrokeFlag.SHORTFALL | StrokeFlag.CURRENT_LIMITED)).any()


def test_stroke_rate_is_the_commanded_rate_within_timer_quantisation() -> None:
    for hz in (25.0, 100.0, 110.0, 150.0):
        tel = make_pen(depth_mm=0.5, frequency_hz=hz).run(50)
        measured = 1.0 / tel["period_s"].astype(float).mean()
        # The stroke timer counts whole physics ticks (24 kHz): at most half a tick off.
        assert abs(measured - hz) / hz <= 0.5 * hz / 24_000 + 1e-6


def test_deep_fast_strokes_fall_short_and_say_so() -> None:
    tel = make_pen(depth_mm=2.5, frequency_hz=150.0).run(300)
    assert tel["depth_mm"].mean() < 2.5 - 0.5, "the actuator cannot reach 2.5 mm at 150 Hz"
    assert (tel["flags"] & StrokeFlag.SHORTFALL).all()
    assert not (tel["flags"] & StrokeFlag.NOT_RETRACTED).any(), "falling short must not stop the needles retracting"
    assert tel["depth_mm"].max() <= 2.5


def test_same_depth_at_a_slower_rate_is_reached() -> None:
    tel = make_pen(depth_mm=2.5, frequency_hz=100.0).run(300)
    assert abs(tel["depth_mm"].mean() - 2.5) <= 0.05


def test_stiffer_skin_pushes_back_harder_and_costs_depth() -> None:
    # The servo does not know the skin, so the stiffer the skin, the shallower the stroke.
    means = [make_pen(skin=skin).run(1000)["depth_mm"].mean() for skin in ("sensitive", "normal", "thick")]
    assert means[0] > means[1] > means[2]
    assert means[0] - means[2] < 0.05, "still within the accuracy the pen promises"


def test_same_seed_gives_identical_bytes_and_another_seed_does_not() -> None:
    a = make_pen(seed=11).run(800).tobytes()
    b = make_pen(seed=11).run(800).tobytes()
    c = make_pen(seed=12).run(800).tobytes()
    assert a == b
    assert a != c


@pytest.mark.parametrize("depth_mm,frequency_hz", [(1.0, 100.0), (2.0, 120.0), (2.5, 150.0)])
def test_a_batch_is_identical_to_stepping_one_stroke_at_a_time(depth_mm: float, frequency_hz: float) -> None:
    batch = make_pen(depth_mm=depth_mm, frequency_hz=frequency_hz).run(120)
    pen = make_pen(depth_mm=depth_mm, frequency_hz=frequency_hz)
    single = np.concatenate([pen.run(1) for _ in range(120)])
    assert batch.tobytes() == single.tobytes()


def test_discarding_the_end_of_a_batch_is_as_if_it_never_ran() -> None:
    a = make_pen()
    a.run(400)
    a.discard_after(137)
    b = make_pen()
    b.run(137)
    assert a.run(50).tobytes() == b.run(50).tobytes()
    assert a.state == b.state


def test_the_winding_warms_while_stroking_and_cools_while_still() -> None:
    pen = make_pen(depth_mm=2.0, frequency_hz=120.0)
    tel = pen.run(6000)
    temps = tel["motor_temp_c"]
    assert temps[-1] > temps[0] + 1.0
    assert np.all(np.diff(temps) >= 0)
    hot = pen.state.motor_temp_c
    pen.wait(600.0)
    assert pen.state.motor_temp_c < hot - 1.0


def test_the_battery_runs_down_and_sags_under_load() -> None:
    pen = make_pen(depth_mm=2.0, frequency_hz=120.0)
    soc0 = pen.battery_soc
    tel = pen.run(6000)
    assert pen.battery_soc < soc0
    assert tel["battery_v"][-1] < tel["battery_v"][0]
    assert (tel["battery_v"] < pen.battery_voltage() + 0.05).all()


def test_strokes_to_the_surface_only_graze_it() -> None:
    tel = make_pen(depth_mm=0.0).run(200)
    # Only the stroke-to-stroke jitter of the skin surface (a few micrometres) can be felt.
    assert tel["depth_mm"].max() <= 0.02
    no_contact = (tel["flags"] & StrokeFlag.CONTACT) == 0
    assert no_contact.any()
    assert (tel["depth_mm"][no_contact] == 0).all()


def test_a_disabled_motor_makes_no_strokes() -> None:
    pen = make_pen()
    pen.retract()
    assert len(pen.run(10)) == 0


def test_physics_rate_below_20_khz_is_refused() -> None:
    with pytest.raises(ValueError, match="20000 Hz"):
        SimulatedPen(physics_rate_hz=10_000.0)


def test_telemetry_record_is_compact() -> None:
    assert TELEMETRY_DTYPE.itemsize <= 64


ENVELOPE_GRID = [
    (depth, hz, skin, soc)
    for depth in (0.1, 0.15, *np.arange(0.25, 2.51, 0.25).round(2))
    for hz in (25.0, 50.0, 75.0, 100.0, 125.0, 150.0)
    for skin in ("sensitive", "normal", "thick")
    for soc in (0.1, 0.5, 0.9)
]


def test_no_planned_stroke_overshoots_its_target_anywhere_in_the_envelope() -> None:
    """The planner asks only for what the drive can give, so no stroke overshoots what it planned.

    Over depth x rate x skin x battery charge (648 points, 40 strokes each) the deepest stroke stays within
    0.02 mm of the planner's target (sensor noise and surface jitter included).
    """
    worst = 0.0
    for depth, hz, skin, soc in ENVELOPE_GRID:
        tel = make_pen(depth_mm=depth, frequency_hz=hz, skin=skin, battery_soc=soc).run(40)
        over = float((tel["depth_mm"] - tel["depth_target_mm"]).max())
        assert over <= 0.02, (depth, hz, skin, soc, over)
        worst = max(worst, over)
    assert worst > 0.0, "the check saw real strokes"


def test_the_planner_shortens_by_what_the_drive_allows_and_more_on_a_tired_battery() -> None:
    full = make_pen(depth_mm=2.5, frequency_hz=150.0, battery_soc=0.9).run(5)
    assert float(full["depth_target_mm"][0]) < 2.5
    low = make_pen(depth_mm=2.5, frequency_hz=100.0, battery_soc=0.02).run(5)
    high = make_pen(depth_mm=2.5, frequency_hz=100.0, battery_soc=0.9).run(5)
    assert float(low["depth_target_mm"][0]) <= float(high["depth_target_mm"][0])


def test_skin_tents_before_it_is_punctured_and_stiffer_skin_loads_the_needles_more() -> None:
    """Protrusion is what a bench measures; the skin receives less (the tent), and stiffer skin pushes harder."""
    figures = {}
    for skin in ("sensitive", "normal", "thick"):
        tel = make_pen(depth_mm=1.0, frequency_hz=100.0, skin=skin).run(300)
        protrusion, penetration, load = (
            float(tel[f].astype(float).mean()) for f in ("depth_mm", "penetration_mm", "load_n")
        )
        assert 0.0 < penetration < protrusion, skin
        figures[skin] = (protrusion, penetration, load)
    sensitive, normal, thick = figures["sensitive"], figures["normal"], figures["thick"]
    assert sensitive[1] < normal[1] < thick[1], "softer skin tents further before it is punctured"
    assert sensitive[2] < normal[2] < thick[2], "the load rises with stiffer skin"


def test_more_needles_tent_the_skin_further() -> None:
    few = make_pen(depth_mm=1.0, frequency_hz=100.0, needles=6).run(200)
    many = make_pen(depth_mm=1.0, frequency_hz=100.0, needles=36).run(200)
    assert float(many["penetration_mm"].mean()) < float(few["penetration_mm"].mean())


def test_thirty_minutes_at_150_hz_and_0_75_mm_does_not_overheat() -> None:
    tel = make_pen(depth_mm=0.75, frequency_hz=150.0, skin="thick").run(150 * 1800)
    assert float(tel["motor_temp_c"].max()) < 60.0
    assert not (tel["flags"] & StrokeFlag.CURRENT_LIMITED).any()
