"""The pen's operating envelope end to end: the chart, the plan check before a pass, and the sessions that
must hold at the edges (150 Hz, the 60-minute maximum, stiff and soft skin)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.qa.envelope import check_plan
from controller.treatment.plan import Plan, parse_plan
from controller.treatment.session import run_session
from hal.errors import InputError
from tests.test_cli import penctl

HEAD = '[plan]\nname = "edge"\n[cartridge]\nid = 77\nneedles = 12\nmax_depth_mm = 2.5\n'


def zone(area: str, depth: float, hz: float, seconds: float, skin: str = "normal") -> str:
    return (
        f'[[zone]]\narea = "{area}"\ndepth_mm = {depth}\nfrequency_hz = {hz}\nskin = "{skin}"\n'
        f"area_cm2 = 20\nspeed_mm_s = 150\nduration_s = {seconds}\n"
    )


def plan(*zones: str, extra: str = "") -> Plan:
    return parse_plan((HEAD + "".join(zones) + extra).encode(), "edge.toml")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sensitive_skin_at_150_hz_and_the_zone_maximum_completes(seed: int) -> None:
    """1.25 mm at 150 Hz on sensitive skin, with the zone maximum at 1.25 mm: no over-depth, no shortfall."""
    result = run_session(plan(zone("abdomen", 1.25, 150, 20, "sensitive"), extra=""), seed=seed)
    assert result.pen_outcome == "completed", [f.message for f in result.faults]
    tel = result.zones[0].telemetry
    assert float(tel["depth_mm"].max()) <= 1.25 + 0.05


def test_thirty_minutes_at_150_hz_and_0_75_mm_on_the_thighs_completes() -> None:
    result = run_session(plan(zone("thighs", 0.75, 150, 1800, "thick")), seed=1)
    assert result.pen_outcome == "completed", [f.message for f in result.faults]
    assert len(result.zones[0].telemetry) == 150 * 1800
    assert float(result.zones[0].telemetry["motor_temp_c"].max()) < 60.0


def test_a_sixty_minute_plan_does_every_stroke() -> None:
    """432,000 strokes at 120 Hz make exactly the 60-minute session maximum: all of them are done."""
    result = run_session(plan(zone("cheeks", 0.5, 120, 3600)), seed=0)
    assert result.pen_outcome == "completed"
    assert len(result.zones[0].telemetry) == 432_000
    assert not [a for a in result.alarms if a.kind == "session_time"]


@pytest.mark.parametrize("hz", [110.0, 120.0, 150.0])
def test_the_session_maximum_holds_to_the_stroke(hz: float) -> None:
    """No stroke starts once the maximum is reached, and every one that starts before it is done (the pen's timer
    counts whole ticks): at 110 Hz the 6,606th stroke starts 110 ticks before the 60 s and ends 108 after."""
    from dataclasses import replace

    from controller.firmware.limits import FirmwareLimits
    from controller.firmware.pen_controller import PenController
    from controller.firmware.target import Target
    from sim.factories import build_simulated_pen

    ctl = PenController(build_simulated_pen(), limits=replace(FirmwareLimits(), session_max_s=60.0))
    ctl.power_on()
    ctl.select(Target(depth_mm=0.5, frequency_hz=hz, zone_max_mm=1.0, zone="cheeks"))
    ctl.arm()
    ctl.start()
    done = 0
    while ctl.state == "running":
        done += len(ctl.run(2048))
    ticks = round(24_000 / hz)
    assert done == -(-60 * 24_000 // ticks)
    assert (done - 1) * ticks < 60 * 24_000 <= done * ticks
    assert ctl.alarms.is_active("session_time")


def test_the_plan_check_warns_of_a_depth_out_of_reach() -> None:
    [warning] = check_plan(plan(zone("abdomen", 2.5, 150, 10)))
    assert "zone[0] (abdomen, 2.5 mm at 150 Hz on normal skin) is beyond the pen's envelope" in warning
    assert check_plan(plan(zone("cheeks", 1.0, 100, 10))) == []


def test_the_plan_check_refuses_a_zone_the_winding_cannot_last() -> None:
    with pytest.raises(InputError) as info:
        check_plan(plan(zone("abdomen", 2.5, 100, 600, "thick")))
    message = str(info.value)
    assert "zone[0] (abdomen, 2.5 mm at 100 Hz on thick skin) would trip the winding's 60 degC limit" in message
    assert "of its 10.0 min" in message


def test_the_predicted_trip_matches_a_full_simulation_within_five_percent() -> None:
    from sim.envelope import characterise
    from tests.conftest import make_pen

    point = characterise(2.5, 100.0, skin="thick")
    assert point.duty_limit_s is not None
    tel = make_pen(depth_mm=2.5, frequency_hz=100.0, skin="thick", seed=0).run(100 * 600)
    tripped = tel["t_s"][tel["motor_temp_c"] > 60.0]
    assert len(tripped) and abs(float(tripped[0]) - point.duty_limit_s) / float(tripped[0]) < 0.05


def test_penctl_envelope_writes_its_chart_and_table(tmp_path: Path) -> None:
    proc = penctl("envelope", "--skin", "thick", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "envelope.json").read_text())
    assert len(data["points"]) == 60 and data["skin"] == "thick"
    assert (tmp_path / "envelope.png").stat().st_size > 10_000
    assert "150 Hz" in proc.stdout and "continuous-duty limit" in proc.stdout
    assert any(p["duty_limit_s"] is not None for p in data["points"]), "deep strokes in thick skin trip the winding"
    assert penctl("envelope", "--battery", "2").returncode == 2


def test_every_depth_the_envelope_calls_deliverable_in_thick_skin_runs_without_a_fault() -> None:
    """Outside probe: the envelope listed thick-skin depths that treat then stopped with a stall fault."""
    from controller.qa.envelope import measure
    from sim.envelope import RATES_HZ

    points = measure(skin="thick", battery_soc=0.9)
    for hz in RATES_HZ:
        good = [p for p in points if p.frequency_hz == hz and abs(p.error_mean_mm) <= 0.15 and not p.stall_risk]
        deepest = max(good, key=lambda p: p.depth_mm)
        for seed in (0, 1, 2):
            result = run_session(plan(zone("abdomen", deepest.depth_mm, hz, 10, "thick")), seed=seed)
            assert result.pen_outcome == "completed", (deepest.depth_mm, hz, seed, [f.message for f in result.faults])


def test_the_plan_check_warns_of_a_likely_stall() -> None:
    warnings = check_plan(plan(zone("abdomen", 2.25, 75, 10, "thick")))
    assert any("stall fault" in w and "zone[0] (abdomen, 2.25 mm at 75 Hz on thick skin)" in w for w in warnings)


def test_skin_pressed_but_not_punctured_counts_no_punctures() -> None:
    """Outside probe: 36 needles at 0.25 mm on sensitive skin only tent it (0.62 mm tent): no punctures."""
    text = HEAD.replace("needles = 12", "needles = 36") + zone("forehead", 0.25, 100, 5, "sensitive")
    result = run_session(parse_plan(text.encode(), "edge.toml"), seed=0)
    from controller.treatment.report import build_report

    report = build_report(result)
    z = report["zones"][0]
    assert z["flags"]["contact"] == z["strokes"] and z["tissue"]["punctured_strokes"] == 0
    assert z["punctures"] == 0 and z["density_per_cm2"]["mean"] == 0.0


def test_an_hour_at_a_rate_the_timer_cannot_divide_is_refused_before_the_pass() -> None:
    """Outside probe: 3600 s at 130 Hz is 468,000 strokes of 185 ticks, 3,607.5 s on the pen: over the maximum."""
    from controller.host.table_reader import InputFileError

    with pytest.raises(InputFileError) as info:
        plan(zone("cheeks", 0.5, 130, 3600))
    assert "got '60.12 min (3607.50 s) planned'" in str(info.value)
