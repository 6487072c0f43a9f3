"""The rotary drive: its compiled kernel against the plain-Python reference, batching, and its honest physics."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from controller.firmware.limits import DepthLimit, FirmwareLimits
from controller.firmware.supervisor import Supervisor
from controller.treatment.plan import PEN_DRIVES, parse_plan
from hal.backend import CartridgeInfo, Skin, StrokeCommand
from hal.faults import FaultKind
from hal.telemetry import StrokeFlag, Telemetry
from sim.drives import DRIVES, drive_class
from sim.faults import InjectedFault
from sim.rotary_pen import RotaryPen
from sim.tissue import SKINS
from tests.test_plan import HEAD, ZONE

CARTRIDGE = CartridgeInfo(cartridge_id=1)


def pen(skin: str = "normal", soc: float = 0.9, seed: int = 0, model: str = "kernel") -> RotaryPen:
    p = RotaryPen(seed=seed, cartridge=CARTRIDGE, battery_soc=soc, model=model)
    p.skin = SKINS[Skin(skin)]
    return p


def stroke(p: RotaryPen, depth_mm: float, hz: float, strokes: int) -> Telemetry:
    p.command = StrokeCommand(depth_mm=depth_mm, frequency_hz=hz, motor_enabled=True)
    return p.run(strokes)


@pytest.mark.parametrize(
    "skin,soc,hz,depths",
    [("normal", 0.9, 100.0, (0.5, 1.5)), ("thick", 0.2, 150.0, (1.0, 0.25)), ("sensitive", 0.5, 120.0, (0.25, 2.0))],
)
def test_kernel_matches_the_reference_to_a_micrometre_and_a_thousandth_of_rate(
    skin: str, soc: float, hz: float, depths: tuple[float, float]
) -> None:
    """Same batch through both models, across a depth change (the stop travels and settles mid-batch)."""
    runs = []
    for model in ("kernel", "reference"):
        p = pen(skin, soc, seed=3, model=model)
        runs.append([stroke(p, d, hz, 30) for d in depths])
    for fast, ref in zip(*runs, strict=True):
        assert np.abs(fast["depth_mm"] - ref["depth_mm"]).max() <= 1e-3  # mm: 1 um
        assert np.abs(fast["depth_target_mm"] - ref["depth_target_mm"]).max() <= 1e-3
        rates = 1.0 / fast["period_s"].astype(np.float64), 1.0 / ref["period_s"].astype(np.float64)
        assert np.abs(rates[0] / rates[1] - 1.0).max() <= 1e-3


def test_a_batch_is_the_same_as_one_revolution_at_a_time() -> None:
    whole, single = pen("thick", 0.3), pen("thick", 0.3)
    a = stroke(whole, 1.0, 150.0, 24)
    b = np.concatenate([stroke(single, 1.0, 150.0, 1) for _ in range(24)])
    assert a.tobytes() == b.tobytes()


def test_discard_after_rewinds_to_the_kept_revolution() -> None:
    p, q = pen(seed=5), pen(seed=5)
    stroke(p, 1.0, 120.0, 20)
    p.discard_after(7)
    stroke(q, 1.0, 120.0, 7)
    assert stroke(p, 1.0, 120.0, 5).tobytes() == stroke(q, 1.0, 120.0, 5).tobytes()


def rate_check(tel: Telemetry, hz: float) -> str | None:
    limit = DepthLimit(depth_mm=2.5, owner="pen")
    violation = Supervisor(FirmwareLimits()).first_violation(tel, limit, hz)
    return violation.kind if violation else None


def test_the_rate_holds_down_to_the_rated_charge_and_sags_on_a_drained_cell() -> None:
    """The speed loop runs out of voltage only below the charge the range is rated for (10 %): then the rate is
    what the motor manages, and the supervisor sees it."""
    fresh = stroke(pen("normal", 0.9), 1.0, 100.0, 100)
    assert np.abs(1.0 / fresh["period_s"] - 100.0).max() < 2.0
    assert rate_check(fresh, 100.0) is None
    rated = stroke(pen("thick", 0.1), 1.0, 150.0, 100)
    assert rate_check(rated, 150.0) is None
    tired = stroke(pen("thick", 0.04), 1.0, 150.0, 100)
    rate = 1.0 / tired["period_s"].astype(np.float64)
    assert rate.min() < 150.0 * 0.98
    assert (tired["flags"] & StrokeFlag.VOLTAGE_SATURATED).all()
    assert rate_check(tired, 150.0) == "rate_sag"


def test_a_depth_change_takes_the_stops_travel_and_settling() -> None:
    """The pen waits for the stop before it strokes: 1 mm at 5 mm/s and the settling, about a quarter second."""
    p = pen("normal")
    shallow = stroke(p, 0.5, 100.0, 50)
    end_s = float(shallow["t_s"][-1] + shallow["period_s"][-1])
    deeper = stroke(p, 1.5, 100.0, 60)
    assert 0.2 < float(deeper["t_s"][0]) - end_s < 0.5
    assert abs(float(deeper["depth_target_mm"][0]) - 1.5) < 0.01
    assert abs(float(deeper["depth_mm"].mean()) - 1.5) < 0.1


def test_a_seized_stop_is_given_up_on_and_its_encoder_shows_it() -> None:
    p = pen("normal")
    stroke(p, 1.0, 100.0, 20)
    p.inject(InjectedFault(at_s=p.time_s, kind=FaultKind.STOP_JAM, value=1.0))
    p.retract()
    tel = stroke(p, 0.5, 100.0, 5)
    assert float(tel["depth_target_mm"][0]) > 0.8
    assert rate_check(tel, 100.0) == "stop_position"


def test_a_jammed_carriage_stalls_the_cam_at_the_current_limit() -> None:
    p = pen("normal")
    stroke(p, 1.0, 120.0, 10)
    p.inject(InjectedFault(at_s=p.time_s, kind=FaultKind.STALL, value=0.05))
    tel = stroke(p, 1.0, 120.0, 5)
    assert (tel["period_s"] >= 2.9 / 120.0).all()  # the revolution never completes
    assert (tel["flags"] & StrokeFlag.CURRENT_LIMITED).all()
    assert (tel["flags"] & StrokeFlag.NOT_RETRACTED).all()  # the cam stopped with the needles out at the jam
    assert rate_check(tel, 120.0) == "not_retracted"  # which the pen answers by retracting (the cam reverses)


def test_retract_parks_the_cam_at_bottom_dead_centre() -> None:
    p = pen()
    stroke(p, 2.0, 120.0, 3)
    p.retract()
    assert p.state.x_m * 1e3 < -0.9


def test_plans_and_the_simulator_know_the_same_drives() -> None:
    assert set(PEN_DRIVES) == set(DRIVES)
    assert drive_class("rotary_cam") is RotaryPen
    with pytest.raises(ValueError, match="expected one of voice_coil, rotary_cam"):
        drive_class("stepper")


def test_a_plan_chooses_its_drive_and_an_unknown_one_is_refused() -> None:
    pen_table = '[pen]\ndrive = "rotary_cam"\n'
    text = pen_table + HEAD + ZONE.format(area="cheeks", depth=1.0, hz=120, speed=150)
    assert parse_plan(text.encode(), "p.toml").pen.drive == "rotary_cam"
    bad = text.replace("rotary_cam", "stepper")
    with pytest.raises(Exception, match="pen.drive"):
        parse_plan(bad.encode(), "p.toml")


def test_a_rotary_pens_time_advances_by_whole_revolutions() -> None:
    p = pen("normal")
    tel = stroke(p, 1.0, 120.0, 40)
    ticks = np.round(tel["period_s"].astype(np.float64) * 24_000)
    assert math.isclose(float(np.diff(tel["t_s"]).sum()), float(ticks[:-1].sum()) / 24_000, rel_tol=1e-9)
    assert replace(p.command, motor_enabled=False) != p.command


def test_treat_runs_the_builtin_plan_on_the_rotary_drive_and_refuses_an_unknown_drive(tmp_path: Path) -> None:
    import json

    from tests.test_cli import penctl

    proc = penctl("treat", "--drive", "rotary_cam", "--out", str(tmp_path / "r"), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["outcome"] == "completed"
    assert abs(report["total"]["depth"]["error_mean_mm"]) < 0.05
    assert abs(report["total"]["stroke_rate"]["error_max_abs_pct"]) < 2.0
    plan = tmp_path / "p.toml"
    plan.write_text('[pen]\ndrive = "stepper"\n' + HEAD + ZONE.format(area="cheeks", depth=1.0, hz=120, speed=150))
    bad = penctl("treat", str(plan), "--out", str(tmp_path / "bad"))
    assert bad.returncode == 2
    assert f"{plan}: pen.drive: expected one of voice_coil, rotary_cam" in bad.stderr
    assert "Traceback" not in bad.stderr


@pytest.mark.parametrize("drive,outcome", [("voice_coil", "completed"), ("rotary_cam", "completed")])
def test_the_rate_sag_example_completes_on_both_drives(drive: str, outcome: str) -> None:
    """examples/rotary_rate_sag.toml: 150 Hz, thick skin, 20 % battery, inside the rotary drive's rated range:
    both drives hold it (the old, stiff speed loop sagged here; the sag now needs a drained cell, H21)."""
    from controller.treatment.plan import load_plan
    from controller.treatment.session import run_session

    plan = load_plan(Path(__file__).parent.parent / "examples" / "rotary_rate_sag.toml")
    result = run_session(replace(plan, pen=replace(plan.pen, drive=drive)), seed=0)
    assert result.pen_outcome == outcome, [f.message for f in result.faults]


def test_the_envelope_measures_either_drive_and_shows_the_rotary_sag() -> None:
    from sim.envelope import characterise

    coil = characterise(1.0, 150.0, skin="thick", battery_soc=0.04, drive="voice_coil")
    cam = characterise(1.0, 150.0, skin="thick", battery_soc=0.04, drive="rotary_cam")
    assert coil.rate_mean_hz == pytest.approx(150.0, rel=1e-3)
    assert cam.rate_mean_hz < 0.99 * 150.0
    assert abs(cam.error_mean_mm) < 0.15  # the stop sets the depth: the cam still reaches it, only slower


def test_the_backend_and_the_served_pen_take_the_drive() -> None:
    from sim.backend import SimBackend

    backend = SimBackend(cartridge=CARTRIDGE, drive="rotary_cam")
    assert isinstance(backend.pen, RotaryPen)
    backend.reset_world(1, CARTRIDGE, 0.5)
    assert isinstance(backend.pen, RotaryPen)  # a new world keeps the pen's drive
    with pytest.raises(ValueError, match="unknown drive 'stepper'"):
        SimBackend(drive="stepper")


def test_the_rotary_pen_reports_and_enforces_its_drives_rate_range() -> None:
    """Defence in depth: the pen itself refuses a COMMAND its drive cannot hold, whatever the host checked."""
    from hal.backend import CartridgeInfo as Cartridge
    from hal.backend import StrokeCommand
    from hal.errors import PenRefusedError
    from hal.protocol import ErrorCode
    from sim.backend import SimBackend
    from sim.drives import rate_range_hz

    sim = SimBackend(drive="rotary_cam", cartridge=Cartridge(cartridge_id=5))
    ident = sim.identify()
    assert (ident.min_frequency_hz, ident.max_frequency_hz) == rate_range_hz("rotary_cam") == (90.0, 150.0)
    for hz in (25.0, 50.0, 89.9, 150.1):
        with pytest.raises(PenRefusedError) as info:
            sim.apply(StrokeCommand(depth_mm=1.0, frequency_hz=hz))
        assert info.value.code == ErrorCode.COMMAND_RANGE and "rotary_cam drive's 90-150 Hz" in info.value.reason
    sim.apply(StrokeCommand(depth_mm=1.0, frequency_hz=90.0))
