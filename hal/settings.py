"""The pen's settings: one schema shared by the host and the pen.

Every setting has a numeric id (what travels on the wire and in the store), a
dotted key (what people type), a type, a unit, a range, a factory default and an
access level. Like grblHAL's setting metadata, the schema is data that both
sides enumerate; the pen validates every write against it again and never
trusts the host. Cross-setting rules (a minimum below its maximum, a clear
threshold below its trip threshold) are checked on the whole block.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

SettingValue = float | int | bool | str
Kind = Literal["float", "int", "bool", "str"]
Access = Literal["user", "service", "factory"]
ACCESS_LEVELS: tuple[Access, ...] = ("user", "service", "factory")
SCHEMA_VERSION = 2


@dataclass(kw_only=True, frozen=True)
class Setting:
    """One setting's metadata."""

    id: int
    key: str
    kind: Kind
    unit: str
    low: float
    high: float
    default: SettingValue
    access: Access
    description: str

    def expected(self) -> str:
        """What a valid value looks like, for error messages."""
        if self.kind == "bool":
            return "true or false"
        if self.kind == "str":
            return f"text of {int(self.low)} to {int(self.high)} printable ASCII characters"
        what = "a whole number" if self.kind == "int" else "a number"
        return f"{what} from {self.low:g} to {self.high:g}{' ' + self.unit if self.unit else ''}"

    def check(self, value: object) -> str | None:
        """None if ``value`` is valid for this setting, else what was expected."""
        if self.kind == "bool":
            return None if isinstance(value, bool) else self.expected()
        if self.kind == "str":
            ok = (
                isinstance(value, str)
                and self.low <= len(value) <= self.high
                and value.isascii()
                and (value.isprintable())
            )
            return None if ok else self.expected()
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return self.expected()
        if self.kind == "int" and not isinstance(value, int):
            return self.expected()
        if isinstance(value, int) and abs(value) > 2**53:
            return self.expected()
        if not math.isfinite(value) or not self.low <= value <= self.high:
            return self.expected()
        return None

    def parse(self, text: str) -> SettingValue:
        """Parse command-line text (``KEY=VALUE``); raises ValueError with what was expected."""
        try:
            if self.kind == "bool":
                value: SettingValue = {"true": True, "false": False, "1": True, "0": False}[text.strip().lower()]
            elif self.kind == "int":
                value = int(text, 10)
            elif self.kind == "float":
                value = float(text)
            else:
                value = text
        except (KeyError, ValueError):
            raise ValueError(self.expected()) from None
        problem = self.check(value)
        if problem:
            raise ValueError(problem)
        return value


def _s(
    id: int,
    key: str,
    kind: Kind,
    unit: str,
    low: float,
    high: float,
    default: SettingValue,
    access: Access,
    description: str,
) -> Setting:
    return Setting(
        id=id,
        key=key,
        kind=kind,
        unit=unit,
        low=low,
        high=high,
        default=default,
        access=access,
        description=description,
    )


SETTINGS: tuple[Setting, ...] = (
    _s(1, "depth.max_mm", "float", "mm", 0.1, 2.5, 2.5, "user", "Pen depth maximum; plans may only go lower."),
    _s(2, "depth.step_mm", "float", "mm", 0.01, 0.5, 0.05, "user", "Depth adjustment step of the keypad."),
    _s(
        3,
        "depth.calibration_offset_mm",
        "float",
        "mm",
        -0.2,
        0.2,
        0.0,
        "factory",
        "Zero-point correction of the depth sensor, set at end-of-line calibration.",
    ),
    _s(
        4,
        "depth.over_depth_margin_mm",
        "float",
        "mm",
        0.01,
        0.2,
        0.05,
        "service",
        "How far a stroke may pass the applicable limit before it is an over-depth fault.",
    ),
    _s(5, "frequency.min_hz", "float", "Hz", 25.0, 150.0, 25.0, "service", "Lowest stroke rate accepted."),
    _s(6, "frequency.max_hz", "float", "Hz", 25.0, 150.0, 150.0, "service", "Highest stroke rate accepted."),
    _s(
        7,
        "frequency.tolerance_pct",
        "float",
        "%",
        0.5,
        10.0,
        2.0,
        "service",
        "Largest stroke-rate deviation before it is a fault.",
    ),
    _s(
        8,
        "servo.position_gain_n_per_m",
        "float",
        "N/m",
        10_000.0,
        300_000.0,
        120_000.0,
        "factory",
        "Position gain of the actuator servo.",
    ),
    _s(
        9,
        "servo.velocity_gain_ns_per_m",
        "float",
        "N s/m",
        1.0,
        100.0,
        37.0,
        "factory",
        "Velocity (damping) gain of the actuator servo.",
    ),
    _s(10, "servo.current_gain_v_per_a", "float", "V/A", 0.5, 8.0, 4.0, "factory", "Current-loop gain."),
    _s(11, "drive.current_limit_a", "float", "A", 0.2, 2.0, 1.6, "service", "Coil current limit of the drive."),
    _s(
        12,
        "drive.overcurrent_a",
        "float",
        "A",
        0.2,
        2.5,
        1.7,
        "service",
        "Coil current that means the drive lost control (stall, short): a fault.",
    ),
    _s(13, "thermal.motor_limit_c", "float", "degC", 40.0, 80.0, 60.0, "service", "Winding over-temperature trip."),
    _s(
        14,
        "thermal.motor_clear_c",
        "float",
        "degC",
        30.0,
        75.0,
        55.0,
        "service",
        "The winding must cool to this before an over-temperature fault may be cleared.",
    ),
    _s(15, "battery.low_v", "float", "V", 3.0, 3.8, 3.45, "service", "Below this no new zone is started."),
    _s(16, "battery.critical_v", "float", "V", 2.9, 3.6, 3.2, "service", "Below this the drive stops at once."),
    _s(
        17,
        "session.max_minutes",
        "int",
        "min",
        1,
        60,
        60,
        "user",
        "Longest stroking time of a session (treatment texts: sessions of 30-60 min; a pen may only shorten it).",
    ),
    _s(
        18,
        "watchdog.timeout_ms",
        "int",
        "ms",
        50,
        5000,
        500,
        "service",
        "With the motor on: time without an accepted request after which the pen retracts and faults.",
    ),
    _s(19, "cartridge.max_uses", "int", "", 1, 1, 1, "factory", "Uses of a cartridge before lockout (single-use)."),
    _s(20, "pen.serial_number", "str", "", 6, 24, "MN1-000000", "factory", "Handpiece serial number."),
    _s(
        21,
        "telemetry.batch_max",
        "int",
        "strokes",
        1,
        1024,
        256,
        "user",
        "Most stroke records the pen sends in one telemetry frame.",
    ),
    _s(
        22,
        "patient.min_age_years",
        "int",
        "years",
        18,
        99,
        18,
        "service",
        "Youngest patient a plan may treat (clinic texts: 18; FDA labelling: 22): a pen may only raise it.",
    ),
    _s(
        23,
        "anaesthetic.wait_min",
        "int",
        "min",
        15,
        19,
        15,
        "user",
        "Minutes between topical anaesthetic and arming (treatment texts: applied 15-20 min before; only longer).",
    ),
    _s(24, "alarm.volume", "int", "", 0, 10, 5, "user", "Alarm loudness (0 = silent except high priority)."),
    _s(25, "service.unlock_timeout_s", "int", "s", 30, 3600, 600, "factory", "How long a service unlock lasts."),
    _s(26, "thermal.battery_limit_c", "float", "degC", 40.0, 70.0, 55.0, "service", "Cell over-temperature trip."),
    _s(
        27,
        "depth.drift_tolerance_mm",
        "float",
        "mm",
        0.02,
        0.5,
        0.1,
        "service",
        "Largest mean depth error over 64 strokes before a depth-drift alarm.",
    ),
    _s(
        28,
        "service.max_unlock_failures",
        "int",
        "",
        1,
        10,
        3,
        "factory",
        "Wrong unlock answers in a row (kept in the store) before the pen locks service access.",
    ),
    _s(
        29,
        "session.max_total_minutes",
        "int",
        "min",
        10,
        60,
        60,
        "user",
        "Longest whole session: preparation, anaesthetic wait, stroking and pauses (treatment texts: up to 60 min).",
    ),
    _s(
        30,
        "session.advised_total_minutes",
        "int",
        "min",
        10,
        60,
        45,
        "user",
        "Whole session beyond which a plan gets a caution (one clinic: preparation and procedure 30-45 min).",
    ),
    _s(
        31,
        "anaesthetic.max_age_min",
        "int",
        "min",
        15,
        20,
        20,
        "user",
        "Oldest topical anaesthetic application accepted at the start (treatment texts: 15-20 min before).",
    ),
)
BY_KEY: dict[str, Setting] = {s.key: s for s in SETTINGS}
BY_ID: dict[int, Setting] = {s.id: s for s in SETTINGS}

CROSS_RULES: tuple[tuple[str, str, str], ...] = (
    ("frequency.min_hz", "frequency.max_hz", "frequency.min_hz must not exceed frequency.max_hz"),
    ("thermal.motor_clear_c", "thermal.motor_limit_c", "thermal.motor_clear_c must be below thermal.motor_limit_c"),
    ("battery.critical_v", "battery.low_v", "battery.critical_v must be below battery.low_v"),
    ("drive.current_limit_a", "drive.overcurrent_a", "drive.current_limit_a must be below drive.overcurrent_a"),
    (
        "session.advised_total_minutes",
        "session.max_total_minutes",
        "session.advised_total_minutes must be below session.max_total_minutes",
    ),
    ("anaesthetic.wait_min", "anaesthetic.max_age_min", "anaesthetic.wait_min must be below anaesthetic.max_age_min"),
)
"""(lower key, upper key, message): the lower must stay below (or, for min/max, at most) the upper."""


def defaults() -> dict[str, SettingValue]:
    """Every setting at its factory default."""
    return {s.key: s.default for s in SETTINGS}


@dataclass(kw_only=True, frozen=True)
class SettingProblem:
    """Why one key cannot take a value."""

    key: str
    reason: str

    def __str__(self) -> str:
        return f"{self.key}: {self.reason}"


def validate_block(values: Mapping[str, SettingValue]) -> list[SettingProblem]:
    """Every problem with a complete block of settings (empty: the block is valid)."""
    problems = []
    for key in values:
        if key not in BY_KEY:
            problems.append(SettingProblem(key=key, reason="no such setting"))
    for setting in SETTINGS:
        if setting.key not in values:
            problems.append(SettingProblem(key=setting.key, reason="missing"))
            continue
        why = setting.check(values[setting.key])
        if why:
            problems.append(SettingProblem(key=setting.key, reason=f"expected {why}, got {values[setting.key]!r}"))
    if problems:
        return problems
    for lower, upper, message in CROSS_RULES:
        lo, hi = values[lower], values[upper]
        assert isinstance(lo, (int, float)) and isinstance(hi, (int, float))
        bad = lo > hi if lower == "frequency.min_hz" else lo >= hi
        if bad:
            problems.append(SettingProblem(key=lower, reason=f"{message} ({lo:g} vs {hi:g})"))
    return problems


def merged(base: Mapping[str, SettingValue], changes: Mapping[str, SettingValue]) -> dict[str, SettingValue]:
    """``base`` with ``changes`` applied (a new dict)."""
    block = dict(base)
    block.update(changes)
    return block
