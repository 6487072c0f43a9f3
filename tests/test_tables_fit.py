"""Every table penctl prints fits 100 columns and never cuts a word: the envelope's, swept over what it can say.

The envelope's longest lines come from points that trip and stall; rather than hunt for a skin and charge
that make every one do so, the formatter is given every combination directly (the physics is tested in
tests/test_envelope.py).
"""

from __future__ import annotations

import itertools

import pytest

from controller.host.columns import TABLE_WIDTH, joined, wrapped
from controller.qa.envelope import format_table
from sim.drives import rate_range_hz
from sim.envelope import DEPTHS_MM, EnvelopePoint, rates_hz


def point(depth: float, hz: float, *, trips: bool, stalls: bool, error: float, other: bool = False) -> EnvelopePoint:
    """A point that trips, stalls, is off by ``error``; ``other``: also too shallow and at risk of a rate fault."""
    return EnvelopePoint(
        depth_mm=depth,
        frequency_hz=hz,
        target_mm=depth,
        reached_mean_mm=depth + error,
        reached_min_mm=depth + 2 * error,
        error_mean_mm=error,
        error_worst_mm=2 * error,
        penetration_mean_mm=0.8 * depth,
        tissue_mean_mm=0.01 if other else 0.8 * depth,
        load_mean_n=1.0,
        shortfall_fraction=0.0,
        current_limited_fraction=1.0 if stalls else 0.0,
        winding_w=12.345 if trips else 0.123,
        steady_temp_c=123.4 if trips else 30.0,
        duty_limit_s=612.3 if trips else None,
        stiff_reached_mm=depth,
        stall_risk=stalls,
        rate_mean_hz=hz,
        rate_worst_hz=0.9 * hz if other else hz,
        rate_risk=other,
    )


@pytest.mark.parametrize("drive", ["voice_coil", "rotary_cam"])
@pytest.mark.parametrize(
    ("trips", "stalls", "error", "other"),
    list(itertools.product([False, True], [False, True], [-0.1234, 0.0], [False, True])),
)
def test_the_envelope_table_fits_100_columns_whole_words(
    drive: str, trips: bool, stalls: bool, error: float, other: bool
) -> None:
    points = [
        point(d, f, trips=trips, stalls=stalls, error=error, other=other) for f in rates_hz(drive) for d in DEPTHS_MM
    ]
    table = format_table(points, skin="sensitive", battery_soc=0.05, drive=drive, needles=64)
    assert all(len(line) <= TABLE_WIDTH for line in table.splitlines()), max(table.splitlines(), key=len)
    assert "None" not in table
    words = " ".join(table.split())
    low, high = rate_range_hz(drive)
    for p in points:
        if trips and low <= p.frequency_hz <= high:
            assert f"{p.depth_mm:g} mm: {612.3 / 60:.1f} min" in words


@pytest.mark.parametrize("width", [10, 30, 60, 100])
def test_joined_keeps_every_item_whole_and_in_order(width: int) -> None:
    items = [f"{d:g} mm: {d * 3:.1f} min (stalls first)" for d in DEPTHS_MM]
    lines = joined(items, "; ", "head ", "     ", width)
    assert " ".join(" ".join(lines).split()) == " ".join(("head " + "; ".join(items)).split())
    assert all(len(line) <= width or len(line.split("; ")) == 1 for line in lines)


def test_wrapped_never_breaks_a_negative_number_or_a_name() -> None:
    lines = wrapped("x " * 45 + "-0.046 mm rotary_cam-like", width=100)
    assert "-0.046" in " ".join(lines).split() and "rotary_cam-like" in " ".join(lines).split()
