"""Every transition of the pen's state machine, and every refusal, checked against the spec.

The expected table is written out here by hand (not derived from the code's table)
so that a change to the machine has to be a change to this specification too.
"""

from __future__ import annotations

import itertools
import math

import pytest

from controller.firmware.limits import DepthLimit, FirmwareLimits
from controller.firmware.pen_controller import PenController
from controller.firmware.state_machine import STATES, TRIGGERS, PenStateMachine
from controller.firmware.target import Target
from hal.backend import CartridgeInfo
from hal.errors import CommandRefusedError
from sim.backend import SimBackend
from tests.conftest import running

POWERED = ["self_test", "idle", "ready", "running", "paused", "fault", "estop"]
EXPECTED: dict[tuple[str, str], str] = {
    ("off", "power_on"): "self_test",
    ("self_test", "self_test_passed"): "idle",
    ("idle", "arm"): "ready",
    ("ready", "disarm"): "idle",
    ("ready", "start"): "running",
    ("running", "pause"): "paused",
    ("paused", "resume"): "running",
    ("running", "stop"): "idle",
    ("paused", "stop"): "idle",
    ("ready", "stop"): "idle",
    ("fault", "clear"): "idle",
    ("estop", "release"): "self_test",
    **{(s, "fault"): "fault" for s in ["self_test", "idle", "ready", "running", "paused"]},
    **{(s, "estop"): "estop" for s in POWERED if s != "estop"},
    **{(s, "power_off"): "off" for s in POWERED},
}
PATHS = {
    "off": [],
    "self_test": ["power_on"],
    "idle": ["power_on", "self_test_passed"],
    "ready": ["power_on", "self_test_passed", "arm"],
    "running": ["power_on", "self_test_passed", "arm", "start"],
    "paused": ["power_on", "self_test_passed", "arm", "start", "pause"],
    "fault": ["power_on", "self_test_passed", "fault"],
    "estop": ["power_on", "estop"],
}
RETRACTING = {"fault", "estop", "pause", "stop", "disarm", "power_off"}


def machine_in(state: str) -> tuple[PenStateMachine, list[str]]:
    retracts: list[str] = []
    m = PenStateMachine(now=lambda: 0.0, retract=lambda: retracts.append("retract"))
    for trigger in PATHS[state]:
        m.fire(trigger)
    assert m.state == state
    retracts.clear()
    return m, retracts


def test_the_spec_covers_the_states_and_triggers_of_the_code() -> None:
    assert set(STATES) == set(PATHS)
    assert set(TRIGGERS) == {t for _, t in EXPECTED}


@pytest.mark.parametrize("state,trigger", list(itertools.product(PATHS, sorted({t for _, t in EXPECTED}))))
def test_every_trigger_in_every_state(state: str, trigger: str) -> None:
    m, retracts = machine_in(state)
    dest = EXPECTED.get((state, trigger))
    if dest is None:
        with pytest.raises(CommandRefusedError, match=f"'{trigger}' refused in state '{state}'"):
            m.fire(trigger)
        assert m.state == state, "a refused trigger changes nothing"
        assert retracts == []
    else:
        m.fire(trigger, reason="test")
        assert m.state == dest
        assert m.log[-1].trigger == trigger and m.log[-1].source == state and m.log[-1].dest == dest
        assert retracts == (["retract"] if trigger in RETRACTING else [])


def test_no_automatic_to_state_shortcuts() -> None:
    m, _ = machine_in("idle")
    assert not hasattr(m, "to_running")


def test_unknown_trigger_is_an_error_not_a_skip() -> None:
    m, _ = machine_in("idle")
    with pytest.raises(CommandRefusedError, match="no such trigger"):
        m.fire("warp_speed")


def test_a_guard_refusal_names_every_reason_and_changes_nothing() -> None:
    m = PenStateMachine(now=lambda: 0.0, retract=lambda: None, guards={"arm": lambda: ["reason one", "reason two"]})
    m.fire("power_on")
    m.fire("self_test_passed")
    with pytest.raises(CommandRefusedError) as info:
        m.fire("arm")
    assert info.value.reasons == ["reason one", "reason two"]
    assert m.state == "idle"


# --- guards on the real controller ---------------------------------------------------


def test_arm_start_and_run(controller: PenController) -> None:
    controller.arm()
    controller.start()
    tel = controller.run(50)
    assert len(tel) == 50
    assert controller.counters.strokes == 50
    assert controller.counters.punctures == 50 * 12


def test_arm_refused_without_a_cartridge() -> None:
    backend = SimBackend(seed=1, cartridge=None)
    ctl = PenController(backend)
    ctl.power_on()
    ctl.select(Target(depth_mm=0.5, frequency_hz=100.0))
    with pytest.raises(CommandRefusedError, match="no cartridge attached"):
        ctl.arm()
    assert ctl.state == "idle"


@pytest.mark.parametrize(
    "pen_mm,cartridge_mm,zone_mm,owner",
    [(1.2, 2.5, None, "pen"), (2.5, 1.2, None, "cartridge"), (2.5, 2.5, 1.2, "zone cheeks"), (1.2, 1.2, 1.2, "pen")],
)
def test_depth_beyond_the_smallest_limit_is_refused_and_names_its_owner(
    pen_mm: float, cartridge_mm: float, zone_mm: float | None, owner: str
) -> None:
    ctl = PenController(
        SimBackend(seed=1, cartridge=CartridgeInfo(cartridge_id=9, max_depth_mm=cartridge_mm)),
        limits=FirmwareLimits(pen_max_depth_mm=pen_mm),
    )
    ctl.power_on()
    with pytest.raises(
        CommandRefusedError, match=f"depth 1.3 mm is outside 0 < depth <= 1.2 mm \\(the {owner} limit\\)"
    ):
        ctl.select(Target(depth_mm=1.3, frequency_hz=100.0, zone_max_mm=zone_mm, zone="cheeks"))
    assert ctl.target is None, "a refused selection changes nothing"
    ctl.select(Target(depth_mm=1.2, frequency_hz=100.0, zone_max_mm=zone_mm, zone="cheeks"))
    ctl.arm()


def test_stroke_rate_outside_the_pen_range_is_refused(controller: PenController) -> None:
    with pytest.raises(CommandRefusedError, match="300.0 Hz is outside 25.0-150.0 Hz"):
        controller.select(Target(depth_mm=0.5, frequency_hz=300.0))
    assert controller.target == Target(depth_mm=1.0, frequency_hz=100.0, zone_max_mm=1.0, zone="cheeks")


def test_low_battery_refuses_a_new_zone_but_self_test_passes() -> None:
    ctl = PenController(SimBackend(seed=1, cartridge=CartridgeInfo(cartridge_id=9), battery_soc=0.08))
    ctl.power_on()
    assert ctl.state == "idle"
    ctl.select(Target(depth_mm=0.5, frequency_hz=100.0))
    with pytest.raises(CommandRefusedError, match="battery low"):
        ctl.arm()


def test_critical_battery_fails_the_self_test_into_a_latched_fault() -> None:
    ctl = PenController(SimBackend(seed=1, cartridge=CartridgeInfo(cartridge_id=9), battery_soc=0.01))
    ctl.power_on()
    assert ctl.state == "fault"
    assert ctl.faults[0].kind == "self_test"
    with pytest.raises(CommandRefusedError, match="battery still"):
        ctl.clear()
    assert ctl.state == "fault"


def test_changing_depth_while_running_takes_effect_at_the_next_stroke(controller: PenController) -> None:
    controller.arm()
    controller.start()
    first = controller.run(10)
    controller.select(Target(depth_mm=0.5, frequency_hz=100.0, zone_max_mm=1.0, zone="cheeks"))
    second = controller.run(10)
    assert (first["depth_cmd_mm"] == 1.0).all()
    assert (second["depth_cmd_mm"] == 0.5).all()
    assert second["index"][0] == first["index"][-1] + 1


def test_estop_retracts_from_running_and_is_idempotent(controller: PenController, backend: SimBackend) -> None:
    controller.arm()
    controller.start()
    controller.run(5)
    controller.estop()
    controller.estop()
    assert controller.state == "estop"
    assert not backend.pen.command.motor_enabled
    assert backend.status().tip_mm < 0
    controller.release()
    assert controller.state == "idle"


def test_run_is_refused_unless_running(controller: PenController) -> None:
    with pytest.raises(CommandRefusedError, match="strokes run only in state running"):
        controller.run(1)


def test_over_temperature_fault_clears_only_after_cooling(controller: PenController, backend: SimBackend) -> None:
    controller.arm()
    controller.start()
    backend.pen.state.motor_temp_c = 61.0  # as if a long session had heated it
    controller.run(10)
    assert controller.state == "fault"
    assert controller.faults[-1].kind == "over_temperature"
    assert controller.faults[-1].stroke == 0, "detected on the first stroke that showed it"
    with pytest.raises(CommandRefusedError, match="must cool"):
        controller.clear()
    backend.wait(900.0)
    controller.clear()
    assert controller.state == "idle"
    assert controller.log[-1].reason == "over_temperature"


def test_a_latched_fault_survives_estop_release_and_a_second_fault() -> None:
    backend = SimBackend(cartridge=CartridgeInfo(cartridge_id=1))
    ctl = running(backend)
    backend.pen.state.motor_temp_c = 61.0
    ctl.run(5)
    assert ctl.state == "fault"
    backend.pen.state.motor_temp_c = 57.9  # cooler, not cool enough to clear
    ctl.estop()
    ctl.release()
    assert ctl.state == "fault", "releasing an e-stop does not clear a latched fault"
    ctl.fault("overrun", "a second fault")
    with pytest.raises(CommandRefusedError, match="must cool"):
        ctl.clear()
    backend.wait(900.0)
    ctl.clear()
    assert ctl.state == "idle"


def test_a_high_alarm_still_active_blocks_arming() -> None:
    ctl = PenController(SimBackend(cartridge=CartridgeInfo(cartridge_id=1)))
    ctl.power_on()
    ctl.alarms.raise_alarm(0.0, "overcurrent", "seen elsewhere")
    ctl.select(Target(depth_mm=0.5, frequency_hz=100.0))
    with pytest.raises(CommandRefusedError, match="unresolved high alarm overcurrent"):
        ctl.arm()


def test_a_stuck_carriage_keeps_the_fault_latched() -> None:
    backend = SimBackend(cartridge=CartridgeInfo(cartridge_id=1))
    ctl = running(backend)
    backend.inject_fault(0.05, "retract_failure")
    ctl.run(100)
    assert ctl.faults[-1].kind == "not_retracted"
    assert backend.status().tip_mm > 0, "the needles are honestly still out"
    with pytest.raises(CommandRefusedError, match="needles still out"):
        ctl.clear()


def test_a_zone_change_while_running_is_refused() -> None:
    ctl = running(SimBackend(cartridge=CartridgeInfo(cartridge_id=1)))
    with pytest.raises(CommandRefusedError, match="pause before moving to another zone"):
        ctl.select(Target(depth_mm=0.5, frequency_hz=120.0, zone_max_mm=None, zone="forehead"))
    ctl.select(
        Target(depth_mm=0.8, frequency_hz=120.0, zone_max_mm=None, zone="abdomen")
    )  # the same zone: takes effect at the next stroke


def test_a_cartridge_with_an_unreadable_rating_is_not_recognised() -> None:
    ctl = PenController(SimBackend(cartridge=CartridgeInfo(cartridge_id=9, max_depth_mm=math.nan)))
    ctl.power_on()
    assert ctl.depth_limit() == DepthLimit(depth_mm=0.0, owner="cartridge")
    with pytest.raises(CommandRefusedError, match="outside 0 < depth <= 0.0 mm"):
        ctl.select(Target(depth_mm=0.5, frequency_hz=100.0))


@pytest.mark.parametrize("dest", ["fault", "off"])
def test_a_forced_stop_leaves_a_state_the_machine_still_knows(dest: str) -> None:
    """Outside probe: after a forced fault (the pen unreachable), power_off was refused 'in state fault'."""
    from controller.firmware.state_machine import Mode, Trigger

    m, _ = machine_in("running")
    m.force(Trigger.FAULT if dest == "fault" else Trigger.POWER_OFF, Mode(dest), "link lost")
    assert type(m.state) is str and m.state == dest
    assert m.log[-1].dest == dest and type(m.log[-1].dest) is str
    if dest == "fault":
        m.fire("power_off")
        assert m.state == "off"
    else:
        m.fire("power_on")
        assert m.state == "self_test"
