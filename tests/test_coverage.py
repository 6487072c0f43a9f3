"""The raster path and the puncture-density map."""

from __future__ import annotations

import numpy as np

from controller.treatment.coverage import DensityMap, RasterPath, density_map, needle_pattern
from controller.treatment.plan import parse_plan
from controller.treatment.session import planned_strokes
from tests.test_plan import plan_text


def test_needles_sit_inside_the_field() -> None:
    for n in (1, 12, 16, 36):
        pattern = needle_pattern(n, 3.5)
        assert pattern.shape == (n, 2)
        assert (np.hypot(pattern[:, 0], pattern[:, 1]) <= 1.75).all()
        assert len({tuple(p) for p in pattern.round(6)}) == n


def test_the_raster_covers_the_rectangle_row_by_row() -> None:
    path = RasterPath.for_area(16.0, 3.5)  # 40 x 40 mm
    assert path.rows == 12
    assert path.length_mm == 12 * 40.0
    x, y = path.positions(np.array([0.0, 10.0, 40.0 + 10.0]))
    assert x.tolist() == [0.0, 10.0, 30.0]  # the second row runs back
    assert y[0] == y[1] and y[2] > y[1]
    # The second pass crosses the first: its rows run up and down, the third pass runs across again.
    x2, y2 = path.positions(np.array([path.length_mm + 10.0, path.length_mm + 50.0, 2 * path.length_mm + 10.0]))
    assert (x2[0], y2[0]) == (y[1], x[1]) and x2[1] > x2[0] and y2[1] == 30.0
    assert (x2[2], y2[2]) == (x[1], y[1])


def test_punctures_are_conserved_and_density_matches_the_arithmetic() -> None:
    path = RasterPath.for_area(20.0, 3.5)
    hz, speed, needles = 120.0, 150.0, 12
    n = int(path.length_mm / speed * hz)
    times = np.arange(n) / hz
    dmap = density_map(
        path, speed, times, np.ones(n, dtype=bool), needle_pattern(needles, 3.5), np.random.default_rng(0)
    )
    assert dmap.punctures_inside + dmap.punctures_outside == n * needles
    expected = dmap.punctures_inside / 20.0
    assert abs(dmap.stats()["mean"] - expected) / expected < 1e-9
    # One pass at 150 mm/s with rows one field apart: hz * needles / (speed * spacing) per mm2.
    spacing = path.height_mm / path.rows
    assert abs(dmap.stats()["mean"] - 100 * hz * needles / (speed * spacing)) / dmap.stats()["mean"] < 0.1


def test_strokes_that_miss_the_skin_do_not_puncture() -> None:
    path = RasterPath.for_area(10.0, 3.5)
    times = np.arange(1000) / 100.0
    contact = np.zeros(1000, dtype=bool)
    dmap = density_map(path, 100.0, times, contact, needle_pattern(12, 3.5), np.random.default_rng(0))
    assert dmap.per_cm2.sum() == 0 and dmap.punctures_outside == 0


def test_planned_strokes_follow_passes_or_duration() -> None:
    plan = parse_plan(plan_text(hz=100).encode(), "p.toml")
    zone = plan.zones[0]
    path = RasterPath.for_area(zone.area_cm2, 3.5)
    assert planned_strokes(zone, 3.5) == round(path.length_mm / zone.speed_mm_s * 100)
    timed = parse_plan(plan_text(hz=100).replace("passes = 1", "duration_s = 12.5").encode(), "p.toml").zones[0]
    assert planned_strokes(timed, 3.5) == 1250


def _passes(path: RasterPath, passes: int, hz: float, speed: float, needles: int) -> DensityMap:
    n = int(passes * path.length_mm / speed * hz)
    times = np.arange(n) / hz
    pattern = needle_pattern(needles, 3.5)
    return density_map(path, speed, times, np.ones(n, dtype=bool), pattern, np.random.default_rng(1))


def test_the_band_is_judged_on_cells_of_about_one_cm2() -> None:
    """Two passes tuned to the middle of the band flag few judged cells; one pass (half) flags them all under.

    The fine 2.5 mm cells of the same good run stray out of the band all over (counting noise of
    about 16 punctures a cell), which is why they are not what the band is judged on.
    """
    path = RasterPath.for_area(36.0, 3.5)  # 60 x 60 mm
    hz, needles = 120.0, 12
    spacing = path.height_mm / path.rows
    speed = 2 * 100 * hz * needles / (275.0 * spacing)  # two passes give 275 /cm2 on average
    band = (250.0, 300.0)
    good = _passes(path, 2, hz, speed, needles)
    judged = good.judged()
    assert judged.per_cm2.shape == (6, 6)
    assert all(abs(side - 10.0) < 0.5 for side in judged.cell_mm)
    assert abs(judged.per_cm2.mean() - good.per_cm2.mean()) < 1e-9  # blocks of whole cells: nothing lost
    under, over = judged.outside(band)
    assert under.sum() + over.sum() <= 0.1 * judged.per_cm2.size
    fine_under, fine_over = good.outside(band)
    assert fine_under.sum() + fine_over.sum() > 0.2 * good.per_cm2.size

    half = _passes(path, 1, hz, speed, needles).judged()
    under, over = half.outside(band)
    assert under.all() and not over.any()


def test_judged_cells_split_a_side_into_near_equal_blocks() -> None:
    fine = np.arange(11 * 7, dtype=np.float64).reshape(11, 7)
    dmap = DensityMap(per_cm2=fine, cell_width_mm=2.5, cell_height_mm=2.6, punctures_inside=0, punctures_outside=0)
    judged = dmap.judged()
    assert judged.row_edges_mm.round(6).tolist() == [0.0, 10.4, 18.2, 28.6]  # 11 rows of 2.6 mm: 4, 3, 4
    assert judged.col_edges_mm.round(6).tolist() == [0.0, 10.0, 17.5]  # 7 columns of 2.5 mm: 4, 3
    assert judged.per_cm2[0, 0] == fine[:4, :4].mean()
    assert judged.per_cm2[2, 1] == fine[7:, 4:].mean()
