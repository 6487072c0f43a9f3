"""Plan files: everything is checked before anything runs, and every problem is named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from controller.host.table_reader import InputFileError
from controller.treatment.plan import load_plan, parse_plan
from controller.treatment.presets import areas
from tests.conftest import ROOT

ZONE = """
[[zone]]
area = "{area}"
depth_mm = {depth}
frequency_hz = {hz}
area_cm2 = 20
speed_mm_s = {speed:g}
passes = 1
"""
HEAD = """
[plan]
name = "test"

[cartridge]
id = 7
needles = 12
max_depth_mm = 2.5
"""


def plan_text(area: str = "cheeks", depth: float = 1.0, hz: float = 120.0, extra: str = "") -> str:
    """One zone of 20 cm2 in one pass, glided at the speed that lands in the 250-300 /cm2 band at ``hz``
    (150 mm/s at 120 Hz), so a pass fails its verdict only on what a test changes."""
    return HEAD + ZONE.format(area=area, depth=depth, hz=hz, speed=1.25 * hz) + extra


def problems(text: str) -> list[str]:
    with pytest.raises(InputFileError) as info:
        parse_plan(text.encode(), "p.toml")
    return [str(p) for p in info.value.problems]


def test_the_builtin_plan_is_valid_and_the_example_is_the_same_file() -> None:
    plan = load_plan(None)
    assert len(plan.zones) >= 6
    assert (ROOT / "examples/full_face.toml").read_bytes() == (
        ROOT / "controller/treatment/plans/full_face.toml"
    ).read_bytes()


def test_a_valid_plan_reads_back() -> None:
    plan = parse_plan(plan_text().encode(), "p.toml")
    zone = plan.zones[0]
    assert (zone.area, zone.depth_mm, zone.frequency_hz, zone.passes, zone.skin) == ("cheeks", 1.0, 120.0, 1, "normal")
    assert zone.max_depth_mm == areas()["cheeks"].max_depth_mm


def test_four_millimetres_is_refused_naming_the_key_and_the_limits() -> None:
    [p] = problems(plan_text(area="abdomen", depth=4.0))
    assert p.startswith("zone[0].depth_mm (abdomen): expected a number above 0 to 2.5 mm")
    assert "pen 2.5 mm" in p and "cartridge 2.5 mm" in p and "got 4.0" in p


def test_depth_above_the_area_maximum_is_refused() -> None:
    [p] = problems(plan_text(area="periorbital", depth=1.0))
    assert p.startswith("zone[0].depth_mm (periorbital): expected a number above 0 to 0.3 mm")


def test_300_hz_is_refused() -> None:
    [p] = problems(plan_text(hz=300))
    assert p == "zone[0].frequency_hz (cheeks): expected a number from 25 to 150 Hz, got 300"


def test_unknown_area_is_refused_listing_the_known_ones() -> None:
    [p] = problems(plan_text(area="elbow"))
    assert p.startswith("zone[0].area: expected a known area for zone[0]: one of periorbital, forehead,")
    assert p.endswith("got 'elbow'")


def test_every_problem_is_listed_at_once() -> None:
    text = (
        HEAD
        + ZONE.format(area="elbow", depth=4.0, hz=300, speed=150)
        + ZONE.format(area="cheeks", depth=-1, hz=10, speed=150)
    )
    keys = [p.split(":")[0] for p in problems(text)]
    assert keys == [
        "zone[0].area",
        "zone[0].depth_mm",
        "zone[0].frequency_hz",
        "zone[1].depth_mm (cheeks)",
        "zone[1].frequency_hz (cheeks)",
    ]


def test_a_typo_is_an_unknown_key() -> None:
    found = problems(plan_text().replace("speed_mm_s", "sped_mm_s"))
    assert found[0] == "zone[0].speed_mm_s (cheeks): expected a number above 0 to 500 mm/s (the key is missing)"
    assert found[1].startswith("zone[0].sped_mm_s (cheeks): expected a known key (this table has: area,")
    assert found[1].endswith("did you mean 'speed_mm_s'?")


@pytest.mark.parametrize(
    "edit,key",
    [
        (lambda t: t.replace("passes = 1", ""), "zone[0].passes"),
        (lambda t: t.replace("passes = 1", "passes = 1\nduration_s = 30"), "zone[0].passes"),
        (lambda t: t.replace("needles = 12", "needles = 12.5"), "cartridge.needles"),
        (lambda t: t.replace("depth_mm = 1.0", 'depth_mm = "1.0"'), "zone[0].depth_mm"),
        (lambda t: t.replace("depth_mm = 1.0", "depth_mm = nan"), "zone[0].depth_mm"),
        (lambda t: t + "\n[pen]\nbattery_soc = 1.5\n", "pen.battery_soc"),
        (lambda t: t.replace("[cartridge]", "[cartridges]"), "cartridge"),
        (lambda t: t + "\nskin = 'leather'\n", "zone[0].skin"),
    ],
)
def test_bad_values_name_their_key(edit, key: str) -> None:  # type: ignore[no-untyped-def]
    found = problems(edit(plan_text()))
    assert any(re.match(re.escape(key) + r"( \([a-z_]+\))?:", p) for p in found), found  # (a zone: its area)


def test_a_missing_key_is_reported_as_missing() -> None:
    found = problems(plan_text().replace("speed_mm_s = 150", ""))
    assert found == ["zone[0].speed_mm_s (cheeks): expected a number above 0 to 500 mm/s (the key is missing)"]


def test_not_toml_and_not_utf8() -> None:
    assert problems("[plan\nname=")[0].startswith("expected valid TOML")
    with pytest.raises(InputFileError, match="UTF-8"):
        parse_plan(b"\xff\xfe", "p.toml")


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="nope.toml: expected a readable plan file"):
        load_plan(tmp_path / "nope.toml")


def test_depth_defaults_to_the_area_default() -> None:
    plan = parse_plan(plan_text(area="forehead").replace("depth_mm = 1.0\n", "").encode(), "p.toml")
    assert plan.zones[0].depth_mm == areas()["forehead"].default_depth_mm


@pytest.mark.parametrize("name", ["\\u001b[2J forged", "line one\\r\\nPASS: everything", "tab\\there", "bell\\u0007"])
def test_control_characters_in_plan_text_are_refused(name: str) -> None:
    """Outside probe: escape sequences and line breaks in plan.name reached the terminal and could forge lines."""
    text = plan_text().replace('name = "test"', f'name = "{name}"')
    assert text != plan_text(), "the plan's name line was found"
    [p] = problems(text)
    assert p.startswith("plan.name: expected a string of at most") and "without control characters" in p
