"""The supervisor finds the first stroke that broke a limit; the stroke loop stops the pen there."""

from __future__ import annotations

import numpy as np
import pytest

from controller.firmware.limits import DepthLimit, FirmwareLimits
from controller.firmware.pen_controller import PenController
from controller.firmware.supervisor import CHECKS, Supervisor
from controller.firmware.target import Target
from hal.backend import CartridgeInfo
from hal.telemetry import StrokeFlag, Telemetry, empty_telemetry
from sim.backend import SimBackend

LIMIT = DepthLimit(depth_mm=1.0, owner="zone cheeks")


def healthy(n: int = 10) -> Telemetry:
    tel = empty_telemetry(n)
    tel["index"] = np.arange(n)
    tel["t_s"] = np.arange(n) / 100.0
    tel["depth_cmd_mm"] = 1.0
    tel["depth_target_mm"] = 1.0
    tel["depth_mm"] = 0.99
    tel["battery_temp_c"] = 30.0
    tel["cartridge_id"] = 42
    tel["period_s"] = 0.01
    tel["current_a"] = 1.0
    tel["motor_temp_c"] = 30.0
    tel["battery_v"] = 3.8
    tel["end_mm"] = -0.3
    tel["flags"] = StrokeFlag.CONTACT
    return tel


BREAKS = {
    "over_depth": ("depth_mm", 1.06),
    "not_retracted": ("flags", StrokeFlag.CONTACT | StrokeFlag.NOT_RETRACTED),
    "overcurrent": ("current_a", 1.8),
    "stall": ("flags", StrokeFlag.CONTACT | StrokeFlag.CURRENT_LIMITED | StrokeFlag.SHORTFALL),
    "cartridge_changed": ("cartridge_id", 0),
    "battery_overheat": ("battery_temp_c", 56.0),
    "over_temperature": ("motor_temp_c", 60.5),
    "battery_critical": ("battery_v", 3.1),
    "stroke_rate": ("period_s", 0.0105),
    "stop_position": ("depth_target_mm", 1.15),
    "rate_sag": ("period_s", 0.0105),  # and the drive at its voltage limit
    "over_speed": ("period_s", 0.0098),  # and no contact
    "amplitude_loss": ("depth_mm", 0.7),  # a rolling mean: its own test below
}
EXTRA_FLAGS = {"rate_sag": StrokeFlag.CONTACT | StrokeFlag.VOLTAGE_SATURATED, "over_speed": StrokeFlag.NONE}


def test_every_check_is_exercised_here() -> None:
    assert set(BREAKS) == set(CHECKS)


@pytest.mark.parametrize("kind", [k for k in CHECKS if k != "amplitude_loss"])
def test_each_limit_is_caught_on_the_stroke_that_broke_it(kind: str) -> None:
    tel = healthy()
    field, value = BREAKS[kind]
    tel[field][6:] = value
    if kind in EXTRA_FLAGS:
        tel["flags"][6:] = EXTRA_FLAGS[kind]
    if kind == "stall":
        tel["depth_mm"][6:] = 0.05
    v = Supervisor(FirmwareLimits()).first_violation(tel, LIMIT, 100.0, cartridge_id=42)
    assert v is not None
    assert (v.kind, v.position, v.stroke) == (kind, 6, 6)
    assert v.t_s == pytest.approx(0.06)


def test_amplitude_loss_is_a_mean_error_of_twice_the_drift_tolerance_over_the_window() -> None:
    tel = healthy(100)
    tel["depth_mm"][:] = 1.0 - np.linspace(0.0, 0.6, 100)  # a cam wearing stroke by stroke
    v = Supervisor(FirmwareLimits()).first_violation(tel, LIMIT, 100.0, cartridge_id=42)
    assert v is not None and v.kind == "amplitude_loss"
    assert v.value < -0.2 and v.position >= 63


def test_healthy_strokes_pass() -> None:
    assert Supervisor(FirmwareLimits()).inspect(healthy(), LIMIT, 100.0, cartridge_id=42) == (None, [])


def test_lower_priority_conditions_raise_findings_without_stopping() -> None:
    tel = healthy(200)
    tel["battery_v"][50:] = 3.4  # below battery.low_v, above critical
    tel["depth_mm"][100:] = 0.8  # 0.2 mm short of the target: drift once the window fills
    tel["depth_target_mm"][150:] = 0.9  # the planner shortened the stroke
    violation, findings = Supervisor(FirmwareLimits()).inspect(tel, LIMIT, 100.0, cartridge_id=42)
    assert violation is None
    found = {f.kind: f.position for f in findings}
    assert found["battery_low"] == 50
    assert found["depth_envelope"] == 150
    assert 100 < found["depth_drift"] < 164, "the 64-stroke mean crosses 0.1 mm about half way in"


def test_drift_is_tracked_across_batches() -> None:
    sup = Supervisor(FirmwareLimits())
    tel = healthy(40)
    tel["depth_mm"] = 0.85
    assert sup.inspect(tel, LIMIT, 100.0, 42)[1] == []
    _, findings = sup.inspect(tel, LIMIT, 100.0, 42)
    assert [f.kind for f in findings] == ["depth_drift"] and findings[0].position == 23


def test_reaching_exactly_the_margin_is_allowed() -> None:
    tel = healthy()
    tel["depth_mm"] = np.float32(1.0 + 0.04)
    assert Supervisor(FirmwareLimits()).first_violation(tel, LIMIT, 100.0) is None


def test_the_earliest_stroke_wins_and_ties_follow_the_check_order() -> None:
    tel = healthy()
    tel["current_a"][3] = 2.0
    tel["depth_mm"][3] = 1.2
    tel["motor_temp_c"][2] = 70.0
    v = Supervisor(FirmwareLimits()).first_violation(tel, LIMIT, 100.0)
    assert v is not None and (v.kind, v.position) == ("over_temperature", 2)
    tel["motor_temp_c"][2] = 30.0
    v = Supervisor(FirmwareLimits()).first_violation(tel, LIMIT, 100.0)
    assert v is not None and (v.kind, v.position) == ("over_depth", 3)


def _overheating_controller(batch: int) -> tuple[PenController, SimBackend]:
    backend = SimBackend(seed=5, cartridge=CartridgeInfo(cartridge_id=42))
    backend.pen.state.motor_temp_c = 47.0  # 2.5 mm at 120 Hz settles near 49 degC: it crosses 47.5 in about 80 s
    limits = FirmwareLimits(motor_temp_limit_c=47.5)
    ctl = PenController(backend, limits=limits, batch_strokes=batch)
    ctl.power_on()
    ctl.select(Target(depth_mm=2.5, frequency_hz=120.0, zone_max_mm=None, zone="abdomen"))
    ctl.arm()
    ctl.start()
    return ctl, backend


def test_a_fault_lands_on_the_same_stroke_whatever_the_batch_size() -> None:
    outcomes = []
    for batch in (1, 7, 4096):
        ctl, backend = _overheating_controller(batch)
        tel = ctl.run(20_000)
        assert ctl.state == "fault"
        fault = ctl.faults[-1]
        outcomes.append(
            (
                fault.kind,
                fault.stroke,
                fault.t_s,
                len(tel),
                backend.pen.state.stroke_index,
                tel.tobytes(),
                backend.pen.rng.bit_generator.state["state"]["state"],
            )
        )
        assert not backend.pen.command.motor_enabled, "retracted and motor disabled"
    assert outcomes[0][0] == "over_temperature"
    assert outcomes[0] == outcomes[1] == outcomes[2]
    assert outcomes[0][3] == outcomes[0][1] + 1, "the pen did the violating stroke and not one more"


@pytest.mark.parametrize("field", ["depth_mm", "end_mm", "current_a", "motor_temp_c", "battery_temp_c", "battery_v"])
def test_a_reading_that_is_not_a_number_is_a_violation(field: str) -> None:
    tel = healthy()
    tel[field][3] = np.nan
    violation = Supervisor(FirmwareLimits()).first_violation(tel, LIMIT, 100.0, 42)
    assert violation is not None and violation.position == 3
