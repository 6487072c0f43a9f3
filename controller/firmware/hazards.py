"""The hazard table: every hazard the firmware answers, how it is detected, the response and its priority.

docs/hazards.md is this table in prose (a test keeps the two in step); the
fault campaign (``penctl faults``) runs one scenario per row and checks that the
firmware does what the row promises. Priorities follow IEC 60601-1-8's high /
medium / low; the standard does not say which condition gets which, so the
choice is ours and is stated here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Priority(StrEnum):
    HIGH = "high"
    """Retract and disable the motor within one stroke period; latched fault until cleared."""
    MEDIUM = "medium"
    """Finish what is running (the stroke, the zone); refuse to start anything new until resolved."""
    LOW = "low"
    """Inform: logged and reported, nothing stops."""


@dataclass(kw_only=True, frozen=True)
class Hazard:
    id: str
    name: str
    cause: str
    kind: str
    """What the firmware calls the condition (supervisor check, guard or controller check)."""
    detection: str
    response: str
    priority: Priority
    tests: str


HAZARDS: tuple[Hazard, ...] = (
    Hazard(
        id="H01",
        name="Over-depth command",
        cause="operator or plan asks for more than a limit allows",
        kind="depth_command",
        detection="guard on select/arm: depth > smallest of pen (depth.max_mm), cartridge and zone maximum",
        response="command refused with the owner of the limit named; nothing changes",
        priority=Priority.LOW,
        tests="test_state_machine.py::test_depth_beyond_the_smallest_limit_is_refused_and_names_its_owner",
    ),
    Hazard(
        id="H02",
        name="Over-depth reach",
        cause="cartridge seated too deep, servo overshoot",
        kind="over_depth",
        detection="per stroke: depth reached > applicable limit + depth.over_depth_margin_mm (0.05 mm)",
        response="retract, motor off, latched fault",
        priority=Priority.HIGH,
        tests="test_hazards.py::test_hazard[H02]",
    ),
    Hazard(
        id="H03",
        name="Depth drift from the command",
        cause="worn cartridge seat, drifting depth sensor",
        kind="depth_drift",
        detection="mean (reached - target) over 64 strokes beyond depth.drift_tolerance_mm (0.1 mm)",
        response="alarm; the zone finishes; no new zone until acknowledged",
        priority=Priority.MEDIUM,
        tests="test_hazards.py::test_hazard[H03]",
    ),
    Hazard(
        id="H04",
        name="Depth not reachable at this rate",
        cause="deep strokes at a high rate exceed the actuator",
        kind="depth_envelope",
        detection="per stroke: planner target < command - 0.05 mm (the stroke was shortened)",
        response=(
            "alarm stating the depth reached; every such stroke flagged 'shortfall'; a zone short of its depth by more "
            "than 0.15 mm on average ends the pass 'short' (exit 4)"
        ),
        priority=Priority.LOW,
        tests="test_hazards.py::test_hazard[H04]",
    ),
    Hazard(
        id="H05",
        name="Stroke-rate deviation",
        cause="stroke timer drift, motor fault",
        kind="stroke_rate",
        detection="per stroke: |1/period - rate| > frequency.tolerance_pct (2 %) of the rate",
        response="retract, motor off, latched fault",
        priority=Priority.HIGH,
        tests="test_hazards.py::test_hazard[H05]",
    ),
    Hazard(
        id="H06",
        name="Needles not retracting",
        cause="broken return path, drive fault",
        kind="not_retracted",
        detection="per stroke: tip in front of -0.05 mm at the end of the stroke",
        response="retract, motor off, latched fault",
        priority=Priority.HIGH,
        tests="test_hazards.py::test_hazard[H06]",
    ),
    Hazard(
        id="H07",
        name="Motor stall",
        cause="jammed carriage (debris, bent needle)",
        kind="stall",
        detection="per stroke: current limited and depth short of the target by 0.3 mm or half the target",
        response="retract, motor off, latched fault",
        priority=Priority.HIGH,
        tests="test_hazards.py::test_hazard[H07]",
    ),
    Hazard(
        id="H08",
        name="Over-current",
        cause="failed current sensor, shorted winding",
        kind="overcurrent",
        detection=(
            "per stroke: peak coil current > drive.overcurrent_a (1.7 A); a failed sensor drives about 3x the demand, "
            "which crosses it on hard strokes (at gentle ones the position loop still holds the depth)"
        ),
        response="retract, motor off, latched fault",
        priority=Priority.HIGH,
        tests="test_hazards.py::test_hazard[H08]",
    ),
    Hazard(
        id="H09",
        name="Motor over-temperature",
        cause="long deep sessions, shorted turn, blocked vent",
        kind="over_temperature",
        detection="per stroke: winding > thermal.motor_limit_c (60 degC); clears below thermal.motor_clear_c",
        response="retract, motor off, latched fault",
        priority=Priority.HIGH,
        tests="test_hazards.py::test_hazard[H09]",
    ),
    Hazard(
        id="H10",
        name="Battery over-temperature",
        cause="cell internal short",
        kind="battery_overheat",
        detection="per stroke: cell > thermal.battery_limit_c (55 degC)",
        response="retract, motor off, latched fault",
        priority=Priority.HIGH,
        tests="test_hazards.py::test_hazard[H10]",
    ),
    Hazard(
        id="H11",
        name="Battery low",
        cause="battery depletion during treatment",
        kind="battery_low",
        detection="per stroke: loaded battery < battery.low_v (3.45 V); also checked before each zone",
        response="alarm; the zone finishes; no new zone",
        priority=Priority.MEDIUM,
        tests="test_hazards.py::test_hazard[H11]",
    ),
    Hazard(
        id="H12",
        name="Battery critical",
        cause="battery depletion, failing cell",
        kind="battery_critical",
        detection="per stroke: loaded battery < battery.critical_v (3.2 V); also at self-test",
        response="retract, motor off, latched fault",
        priority=Priority.HIGH,
        tests="test_hazards.py::test_hazard[H12]",
    ),
    Hazard(
        id="H13",
        name="Cartridge removed or changed mid-treatment",
        cause="cartridge pulled or swapped",
        kind="cartridge_changed",
        detection="per stroke: cartridge id differs from the one armed (0: removed)",
        response="retract, motor off, latched fault",
        priority=Priority.HIGH,
        tests="test_hazards.py::test_hazard[H13]",
    ),
    Hazard(
        id="H14",
        name="Cartridge unrecognised",
        cause="no or unreadable id chip",
        kind="cartridge_unrecognised",
        detection="guard on arm: no cartridge, id 0 or no needles",
        response="arming refused; alarm",
        priority=Priority.MEDIUM,
        tests="test_hazards.py::test_hazard[H14]",
    ),
    Hazard(
        id="H15",
        name="Cartridge re-used (cross-contamination)",
        cause="a used single-use cartridge attached again",
        kind="cartridge_reused",
        detection="guard on arm: the pen's store lists the id as used (kept over power cycles)",
        response="arming refused; alarm",
        priority=Priority.MEDIUM,
        tests="test_hazards.py::test_hazard[H15]",
    ),
    Hazard(
        id="H16",
        name="Loss of telemetry or link",
        cause="cable, radio or pen firmware failure",
        kind="link_loss",
        detection="stroke loop: no telemetry while running, or no reply within the link's retries",
        response="retract (best effort), latched fault",
        priority=Priority.HIGH,
        tests="test_hazards.py::test_hazard[H16]",
    ),
    Hazard(
        id="H17",
        name="Stroke-loop overrun (real-time mode)",
        cause="host too slow or descheduled",
        kind="overrun",
        detection="real-time loop: a stroke boundary served later than one stroke period",
        response="retract, motor off, latched fault",
        priority=Priority.HIGH,
        tests="test_hazards.py::test_hazard[H17]",
    ),
    Hazard(
        id="H18",
        name="Corrupt settings at boot",
        cause="power cut during a write, worn memory",
        kind="settings_corrupt",
        detection="boot: the newest store image is not provably in force (blank, corrupt, rolled back to an older "
        "image, or the commit record damaged); every damaged byte gives one of these alarms, never silence",
        response="alarm; arming refused until the alarm is acknowledged",
        priority=Priority.MEDIUM,
        tests="test_hazards.py::test_hazard[H18]",
    ),
    Hazard(
        id="H19",
        name="Session time exceeded",
        cause="plan or operator runs past the session maximum",
        kind="session_time",
        detection="stroke loop: session stroking time reaches session.max_minutes",
        response="stop at the limit (retract), alarm; no resume",
        priority=Priority.MEDIUM,
        tests="test_hazards.py::test_hazard[H19]",
    ),
    Hazard(
        id="H20",
        name="Settings store cannot be written",
        cause="worn flash, a store file that became unwritable",
        kind="store_write",
        detection=(
            "the pen cannot record a cartridge's first use (single-use lockout): it refuses to stroke (NAK STORE)"
        ),
        response="the pen retracts itself; latched fault; a settings commit is refused and the old settings stay",
        priority=Priority.HIGH,
        tests="test_hazards.py::test_hazard[H20]",
    ),
    Hazard(
        id="H21",
        name="Stroke-rate sag (rotary drive)",
        cause="the speed loop runs out of voltage: thick skin at a high rate, a tired battery",
        kind="rate_sag",
        detection="per stroke: voltage saturated and 1/period below the rate by more than frequency.tolerance_pct",
        response="retract, motor off, latched fault",
        priority=Priority.HIGH,
        tests="test_hazards.py::test_hazard[H21]",
    ),
    Hazard(
        id="H22",
        name="Depth stop not where commanded (rotary drive)",
        cause="the stop's lead screw seizes or slips",
        kind="stop_position",
        detection="per stroke: the stop's encoder (depth target) reads more than 0.1 mm beyond the command",
        response="retract, motor off, latched fault",
        priority=Priority.HIGH,
        tests="test_hazards.py::test_hazard[H22]",
    ),
    Hazard(
        id="H23",
        name="Cam wear (rotary drive)",
        cause="the cam and its follower wear: the stroke's amplitude shrinks",
        kind="amplitude_loss",
        detection="mean depth error over 64 strokes below twice depth.drift_tolerance_mm (-0.2 mm)",
        response="retract, motor off, latched fault",
        priority=Priority.HIGH,
        tests="test_hazards.py::test_hazard[H23]",
    ),
    Hazard(
        id="H24",
        name="Motor over-speed after a lost load (rotary drive)",
        cause="the carriage comes off the cam; the speed loop drives an unloaded motor",
        kind="over_speed",
        detection="per stroke: no skin contact and 1/period above the rate by more than half frequency.tolerance_pct",
        response="retract, motor off, latched fault",
        priority=Priority.HIGH,
        tests="test_hazards.py::test_hazard[H24]",
    ),
)
BY_KIND: dict[str, Hazard] = {h.kind: h for h in HAZARDS}


def priority_of(kind: str) -> Priority:
    return BY_KIND[kind].priority if kind in BY_KIND else Priority.HIGH
