"""The campaign file: the example is valid, and every class of bad value is refused with the key named."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from controller.host.table_reader import InputFileError
from controller.qa.verification.campaign import METRICS, Campaign, load_campaign, parse_campaign
from sim.factories import NOMINAL, PARAMETERS, RANGES
from tests.conftest import ROOT

EXAMPLE = ROOT / "examples" / "campaign.toml"


def small(**overrides: Any) -> str:
    """A tiny valid campaign as TOML text; ``overrides`` replace whole top-level tables."""
    doc: dict[str, Any] = {
        "campaign": {"name": "tiny", "seed": 7, "pens": 6, "seconds": 0.2, "chunk_pens": 2},
        "parameters": {
            "needle_length_error_mm": {"distribution": "normal", "mean": 0.0, "sd": 0.02, "min": -0.06, "max": 0.06},
            "battery_soc": {"distribution": "uniform", "min": 0.5, "max": 1.0},
        },
        "points": [{"depth_mm": 1.0, "frequency_hz": 120.0, "skin": "normal"}],
        "criteria": [{"metric": "depth_error_mean_mm", "min": -0.1, "max": 0.1}],
    }
    doc.update(overrides)
    return dumps(doc)


def dumps(doc: dict[str, Any]) -> str:
    """Just enough TOML writing for these documents (tables, arrays of tables, scalars, lists)."""
    lines: list[str] = []

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(v)

    def table(prefix: str, body: dict[str, Any], header: str) -> None:
        scalars = {k: v for k, v in body.items() if not isinstance(v, dict)}
        lines.append(header)
        lines.extend(f"{k} = {value(v)}" for k, v in scalars.items())
        for k, v in body.items():
            if isinstance(v, dict):
                table(f"{prefix}.{k}", v, f"[{prefix}.{k}]")

    for key, body in doc.items():
        if isinstance(body, list) and body and isinstance(body[0], dict):
            for item in body:
                table(key, item, f"[[{key}]]")
        elif isinstance(body, dict):
            table(key, body, f"[{key}]")
        else:
            lines.insert(0, f"{key} = {value(body)}")
    return "\n".join(lines) + "\n"


def parse(text: str) -> Campaign:
    return parse_campaign(text.encode(), "c.toml")


def refused(text: str) -> str:
    with pytest.raises(InputFileError) as caught:
        parse(text)
    return str(caught.value)


def test_the_example_campaign_is_valid_and_varies_what_the_issue_names() -> None:
    campaign = load_campaign(EXAMPLE)
    assert campaign.pens == 1000
    assert {
        "moving_mass_kg",
        "spring_n_per_m",
        "force_constant_n_per_a",
        "coil_resistance_ohm",
        "needle_length_error_mm",
        "depth_offset_mm",
        "thick_skin_stiffness",
        "battery_soc",
        "battery_age",
        "ambient_c",
    } <= set(campaign.parameters)
    assert campaign.criteria and campaign.sensitivity is not None


def test_every_parameter_has_a_range_and_a_nominal_inside_it() -> None:
    assert set(RANGES) == set(PARAMETERS)
    for name in PARAMETERS:
        lo, hi, *_ = RANGES[name]
        assert lo <= getattr(NOMINAL, name) <= hi, name


def test_a_tiny_campaign_parses() -> None:
    campaign = parse(small())
    assert campaign.chunks == 3 and list(campaign.pens_of(2)) == [4, 5]
    assert list(campaign.parameters) == ["needle_length_error_mm", "battery_soc"]  # PenBuild's order


@pytest.mark.parametrize(
    ("table", "key", "bad"),
    [
        ("campaign", "pens", 0),
        ("campaign", "pens", "many"),
        ("campaign", "pens", 2.5),
        ("campaign", "seed", -1),
        ("campaign", "seconds", 0.0),
        ("campaign", "seconds", 1e9),
        ("campaign", "chunk_pens", 0),
        ("campaign", "name", "line\nbreak"),
        ("campaign", "colour", "blue"),
    ],
)
def test_bad_campaign_values_are_refused_with_their_key(table: str, key: str, bad: object) -> None:
    doc = tomllib.loads(small())
    doc[table][key] = bad
    assert f"{table}.{key}" in refused(dumps(doc))


@pytest.mark.parametrize("name", PARAMETERS)
def test_every_parameter_refuses_values_outside_its_range(name: str) -> None:
    lo, hi, *_ = RANGES[name]
    for bad_low, bad_high in ((lo - abs(lo) - 1.0, hi), (lo, hi + abs(hi) + 1.0), (hi, lo)):
        text = small(parameters={name: {"distribution": "uniform", "min": bad_low, "max": bad_high}})
        assert f"parameters.{name}." in refused(text)
    nominal = small(pen={name: hi + abs(hi) + 1.0})
    assert f"pen.{name}" in refused(nominal)


@pytest.mark.parametrize(
    ("dist", "key"),
    [
        ({"distribution": "normal", "min": 0.0, "max": 0.1}, "sd"),  # normal needs its sd
        ({"distribution": "normal", "sd": 0.0, "min": -0.1, "max": 0.1}, "sd"),
        ({"distribution": "normal", "sd": 0.01, "mean": 0.2, "min": -0.1, "max": 0.1}, "mean"),
        ({"distribution": "lognormal", "min": -0.1, "max": 0.1}, "distribution"),
        ({"distribution": "uniform", "max": 0.1}, "min"),
        ({"distribution": "uniform", "min": -0.1, "max": 0.1, "sd": 0.1}, "sd"),  # unknown for a uniform
    ],
)
def test_bad_distributions_are_refused(dist: dict[str, Any], key: str) -> None:
    text = small(parameters={"needle_length_error_mm": dist})
    assert f"parameters.needle_length_error_mm.{key}" in refused(text)


def test_an_unknown_parameter_is_refused_with_the_known_ones() -> None:
    message = refused(small(parameters={"needle_lenght_error_mm": {"distribution": "uniform", "min": 0, "max": 1}}))
    assert "parameters.needle_lenght_error_mm" in message and "needle_length_error_mm" in message


@pytest.mark.parametrize(
    ("point", "key"),
    [
        ({"depth_mm": 2.6, "frequency_hz": 120.0}, "depth_mm"),  # beyond the cartridge's 2.5 mm
        ({"depth_mm": 0.0, "frequency_hz": 120.0}, "depth_mm"),
        ({"depth_mm": 1.0, "frequency_hz": 151.0}, "frequency_hz"),
        ({"depth_mm": 1.0, "frequency_hz": 24.0}, "frequency_hz"),
        ({"depth_mm": 1.0, "frequency_hz": 120.0, "skin": "leather"}, "skin"),
        ({"depth_mm": float("nan"), "frequency_hz": 120.0}, "depth_mm"),
    ],
)
def test_operating_points_outside_the_pen_are_refused(point: dict[str, Any], key: str) -> None:
    assert f"points[0].{key}" in refused(small(points=[point]))


def test_a_point_deeper_than_the_cartridge_is_refused() -> None:
    text = small(cartridge={"id": 3, "needles": 12, "max_depth_mm": 1.0})
    doc = tomllib.loads(text)
    doc["points"] = [{"depth_mm": 1.5, "frequency_hz": 100.0}]
    assert "points[0].depth_mm" in refused(dumps(doc))


def test_a_grid_spans_skins_rates_and_depths() -> None:
    doc = tomllib.loads(small())
    del doc["points"]
    doc["grid"] = {"depths_mm": [0.5, 1.0], "rates_hz": [100.0, 150.0], "skins": ["normal", "thick"]}
    assert len(parse(dumps(doc)).points) == 8
    doc["grid"] = {"depths_mm": [0.5, 3.0], "rates_hz": [100.0]}
    assert "grid.depths_mm" in refused(dumps(doc))
    doc["grid"] = {"depths_mm": [0.5]}
    assert "grid.rates_hz" in refused(dumps(doc))


def test_no_operating_point_is_refused() -> None:
    doc = tomllib.loads(small())
    del doc["points"]
    assert "at least one operating point" in refused(dumps(doc))


def test_a_plans_zones_are_operating_points(tmp_path: Path) -> None:
    plan = (ROOT / "examples" / "full_face.toml").read_text()
    (tmp_path / "plan.toml").write_text(plan)
    doc = tomllib.loads(small())
    del doc["points"]
    doc["campaign"]["plan"] = "plan.toml"
    (tmp_path / "c.toml").write_text(dumps(doc))
    assert len(load_campaign(tmp_path / "c.toml").points) >= 1
    (tmp_path / "plan.toml").write_text("[plan]\nname = 1\n")
    with pytest.raises(InputFileError, match="campaign.plan"):
        load_campaign(tmp_path / "c.toml")


@pytest.mark.parametrize(
    ("criterion", "key"),
    [
        ({"metric": "depth_error_median_mm", "min": -0.1, "max": 0.1}, "metric"),
        ({"metric": "depth_error_mean_mm", "min": 0.1, "max": -0.1}, "max"),
        ({"metric": "depth_error_mean_mm", "min": -0.1, "max": 0.1, "coverage": 1.0}, "coverage"),
        ({"metric": "depth_error_mean_mm", "min": -0.1, "max": 0.1, "confidence": 0.2}, "confidence"),
        ({"metric": "depth_error_mean_mm", "min": -0.1, "max": 0.1, "method": "bayes"}, "method"),
    ],
)
def test_bad_criteria_are_refused(criterion: dict[str, Any], key: str) -> None:
    assert f"criteria[0].{key}" in refused(small(criteria=[criterion]))


def test_every_metric_a_criterion_names_exists() -> None:
    for metric in METRICS:
        parse(small(criteria=[{"metric": metric, "min": -1.0, "max": 1.0}]))


@pytest.mark.parametrize(("samples", "ok"), [(8, True), (64, True), (48, False), (4, False), (8192, False)])
def test_sensitivity_samples_are_a_power_of_two(samples: int, ok: bool) -> None:
    text = small(sensitivity={"samples": samples, "seconds": 0.1})
    if ok:
        assert parse(text).sensitivity is not None
    else:
        assert "sensitivity.samples" in refused(text)


def test_every_problem_is_reported_at_once() -> None:
    doc = tomllib.loads(small())
    doc["campaign"]["pens"] = 0
    doc["points"][0]["frequency_hz"] = 1000.0
    message = refused(dumps(doc))
    assert "campaign.pens" in message and "points[0].frequency_hz" in message


def test_a_missing_or_unreadable_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="readable campaign file"):
        load_campaign(tmp_path / "nope.toml")
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe")
    with pytest.raises(InputFileError, match="UTF-8"):
        load_campaign(tmp_path / "bin.toml")


def test_a_rotary_cam_campaign_varies_what_that_drive_has() -> None:
    doc = tomllib.loads(small())
    doc["pen"] = {"drive": "rotary_cam"}
    assert parse(dumps(doc)).drive == "rotary_cam"
    doc["parameters"]["moving_mass_kg"] = {"distribution": "uniform", "min": 0.002, "max": 0.003}
    assert "parameters.moving_mass_kg: expected a parameter of the rotary_cam drive" in refused(dumps(doc))
    doc["pen"] = {"drive": "stepper"}
    assert "pen.drive" in refused(dumps(doc))


def test_a_rotary_cam_pen_runs_a_case_under_its_firmware() -> None:
    import numpy as np

    from controller.qa.verification.campaign import OperatingPoint
    from controller.qa.verification.cases import run_case
    from sim.factories import DEFAULT_CARTRIDGE, PenBuild

    point = OperatingPoint(depth_mm=1.0, frequency_hz=120.0, skin="normal")
    seed = np.random.SeedSequence(3)
    rotary = run_case(PenBuild(), point, 1.0, DEFAULT_CARTRIDGE, seed, drive="rotary_cam")
    coil = run_case(PenBuild(), point, 1.0, DEFAULT_CARTRIDGE, seed)
    assert rotary.strokes == coil.strokes == 120 and rotary.completed
    assert rotary.depth_error_mean_mm != coil.depth_error_mean_mm
