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


@dataclass(frozen=True)
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
        "H01",
        "Over-depth command",
        "operator or plan asks for more than a limit allows",
        "depth_command",
        "guard on select/arm: depth > smallest of pen (depth.max_mm), cartridge and zone maximum",
        "command refused with the owner of the limit named; nothing changes",
        Priority.LOW,
        "test_state_machine.py::test_depth_beyond_the_smallest_limit_is_refused_and_names_its_owner",
    ),
    Hazard(
        "H02",
        "Over-depth reach",
        "cartridge seated too deep, servo overshoot",
        "over_depth",
        "per stroke: depth reached > applicable limit + depth.over_depth_margin_mm (0.05 mm)",
        "retract, motor off, latched fault",
        Priority.HIGH,
        "test_hazards.py::test_hazard[H02]",
    ),
    Hazard(
        "H03",
        "Depth drift from the command",
        "worn cartridge seat, drifting depth sensor",
        "depth_drift",
        "mean (reached - target) over 64 strokes beyond depth.drift_tolerance_mm (0.1 mm)",
        "alarm; the zone finishes; no new zone until acknowledged",
        Priority.MEDIUM,
        "test_hazards.py::test_hazard[H03]",
    ),
    Hazard(
        "H04",
        "Depth not reachable at this rate",
        "deep strokes at a high rate exceed the actuator",
        "depth_envelope",
        "per stroke: planner target < command - 0.05 mm (the stroke was shortened)",
        "alarm and report; every such stroke flagged 'shortfall'",
        Priority.LOW,
        "test_hazards.py::test_hazard[H04]",
    ),
    Hazard(
        "H05",
        "Stroke-rate deviation",
        "stroke timer drift, motor fault",
        "stroke_rate",
        "per stroke: |1/period - rate| > frequency.tolerance_pct (2 %) of the rate",
        "retract, motor off, latched fault",
        Priority.HIGH,
        "test_hazards.py::test_hazard[H05]",
    ),
    Hazard(
        "H06",
        "Needles not retracting",
        "broken return path, drive fault",
        "not_retracted",
        "per stroke: tip in front of -0.05 mm at the end of the stroke",
        "retract, motor off, latched fault",
        Priority.HIGH,
        "test_hazards.py::test_hazard[H06]",
    ),
    Hazard(
        "H07",
        "Motor stall",
        "jammed carriage (debris, bent needle)",
        "stall",
        "per stroke: current limited and depth short of the target by 0.3 mm or half the target",
        "retract, motor off, latched fault",
        Priority.HIGH,
        "test_hazards.py::test_hazard[H07]",
    ),
    Hazard(
        "H08",
        "Over-current",
        "failed current sensor, shorted winding",
        "overcurrent",
        "per stroke: peak coil current > drive.overcurrent_a (1.7 A)",
        "retract, motor off, latched fault",
        Priority.HIGH,
        "test_hazards.py::test_hazard[H08]",
    ),
    Hazard(
        "H09",
        "Motor over-temperature",
        "long deep sessions, shorted turn, blocked vent",
        "over_temperature",
        "per stroke: winding > thermal.motor_limit_c (60 degC); clears below thermal.motor_clear_c",
        "retract, motor off, latched fault",
        Priority.HIGH,
        "test_hazards.py::test_hazard[H09]",
    ),
    Hazard(
        "H10",
        "Battery over-temperature",
        "cell internal short",
        "battery_overheat",
        "per stroke: cell > thermal.battery_limit_c (55 degC)",
        "retract, motor off, latched fault",
        Priority.HIGH,
        "test_hazards.py::test_hazard[H10]",
    ),
    Hazard(
        "H11",
        "Battery low",
        "battery depletion during treatment",
        "battery_low",
        "per stroke: loaded battery < battery.low_v (3.45 V); also checked before each zone",
        "alarm; the zone finishes; no new zone",
        Priority.MEDIUM,
        "test_hazards.py::test_hazard[H11]",
    ),
    Hazard(
        "H12",
        "Battery critical",
        "battery depletion, failing cell",
        "battery_critical",
        "per stroke: loaded battery < battery.critical_v (3.2 V); also at self-test",
        "retract, motor off, latched fault",
        Priority.HIGH,
        "test_hazards.py::test_hazard[H12]",
    ),
    Hazard(
        "H13",
        "Cartridge removed or changed mid-treatment",
        "cartridge pulled or swapped",
        "cartridge_changed",
        "per stroke: cartridge id differs from the one armed (0: removed)",
        "retract, motor off, latched fault",
        Priority.HIGH,
        "test_hazards.py::test_hazard[H13]",
    ),
    Hazard(
        "H14",
        "Cartridge unrecognised",
        "no or unreadable id chip",
        "cartridge_unrecognised",
        "guard on arm: no cartridge, id 0 or no needles",
        "arming refused; alarm",
        Priority.MEDIUM,
        "test_hazards.py::test_hazard[H14]",
    ),
    Hazard(
        "H15",
        "Cartridge re-used (cross-contamination)",
        "a used single-use cartridge attached again",
        "cartridge_reused",
        "guard on arm: the pen's store lists the id as used (kept over power cycles)",
        "arming refused; alarm",
        Priority.MEDIUM,
        "test_hazards.py::test_hazard[H15]",
    ),
    Hazard(
        "H16",
        "Loss of telemetry or link",
        "cable, radio or pen firmware failure",
        "link_loss",
        "stroke loop: no telemetry while running, or no reply within the link's retries",
        "retract (best effort), latched fault",
        Priority.HIGH,
        "test_hazards.py::test_hazard[H16]",
    ),
    Hazard(
        "H17",
        "Stroke-loop overrun (real-time mode)",
        "host too slow or descheduled",
        "overrun",
        "real-time loop: a stroke boundary served later than one stroke period",
        "retract, motor off, latched fault",
        Priority.HIGH,
        "test_hazards.py::test_hazard[H17]",
    ),
    Hazard(
        "H18",
        "Corrupt settings at boot",
        "power cut during a write, worn memory",
        "settings_corrupt",
        "boot: the newest store image is not provably in force (blank, corrupt, rolled back to an older "
        "image, or the commit record damaged); every damaged byte gives one of these alarms, never silence",
        "alarm; arming refused until the alarm is acknowledged",
        Priority.MEDIUM,
        "test_hazards.py::test_hazard[H18]",
    ),
    Hazard(
        "H19",
        "Session time exceeded",
        "plan or operator runs past the session maximum",
        "session_time",
        "stroke loop: session stroking time reaches session.max_minutes",
        "stop at the limit (retract), alarm; no resume",
        Priority.MEDIUM,
        "test_hazards.py::test_hazard[H19]",
    ),
    Hazard(
        "H20",
        "Settings store cannot be written",
        "worn flash, a store file that became unwritable",
        "store_write",
        "the pen cannot record a cartridge's first use (single-use lockout): it refuses to stroke (NAK STORE)",
        "the pen retracts itself; latched fault; a settings commit is refused and the old settings stay",
        Priority.HIGH,
        "test_hazards.py::test_hazard[H20]",
    ),
)
BY_KIND: dict[str, Hazard] = {h.kind: h for h in HAZARDS}


def priority_of(kind: str) -> Priority:
    return BY_KIND[kind].priority if kind in BY_KIND else Priority.HIGH
