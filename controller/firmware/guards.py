"""Why the pen must not do something now: the checks behind self-test, select and clear.

Pure functions of the pen's status and the limits in force, so each reads as the rule it is and
a test can hold it without a pen. The controller turns a non-empty list into a refusal that names
every reason (hal.errors.CommandRefusedError).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from controller.firmware.limits import DepthLimit, FirmwareLimits, applicable_depth_limit
from controller.firmware.target import Target
from hal.backend import PenStatus


def self_test_problems(status: PenStatus, limits: FirmwareLimits, latched: list[str]) -> list[str]:
    """What fails the power-on self-test (a latched fault, a dead battery, a hot motor, needles out)."""
    problems = [f"fault {kind} still latched: clear it first" for kind in latched]
    if status.battery_v < limits.battery_critical_v:
        problems.append(f"battery {status.battery_v:.2f} V below critical {limits.battery_critical_v:.2f} V")
    if status.motor_temp_c > limits.motor_temp_limit_c:
        problems.append(f"motor {status.motor_temp_c:.1f} degC above {limits.motor_temp_limit_c:.1f} degC")
    if status.tip_mm > 0.0:
        problems.append(f"needles not retracted at power-on ({status.tip_mm:.2f} mm)")
    return problems


def target_problems(depth_mm: float, frequency_hz: float, depth: DepthLimit, limits: FirmwareLimits) -> list[str]:
    """What is wrong with a depth and rate under the depth limit and the rate range in force."""
    problems = []
    if not 0.0 < depth_mm <= depth.depth_mm:
        problems.append(f"depth {depth_mm} mm is outside 0 < depth <= {depth.depth_mm} mm (the {depth.owner} limit)")
    if not limits.min_frequency_hz <= frequency_hz <= limits.max_frequency_hz:
        problems.append(
            f"stroke rate {frequency_hz} Hz is outside {limits.min_frequency_hz}-{limits.max_frequency_hz} Hz"
        )
    return problems


def cause_present(kind: str, status: PenStatus, limits: FirmwareLimits, armed_cartridge: int | None) -> list[str]:
    """Why a latched fault of ``kind`` may not be cleared yet: its cause is still there."""
    problems: list[str] = []
    if kind == "over_temperature" and status.motor_temp_c > limits.motor_temp_clear_c:
        problems.append(f"motor still {status.motor_temp_c:.1f} degC, must cool to {limits.motor_temp_clear_c:.1f}")
    cell_clear_c = limits.battery_temp_limit_c - 5.0
    if kind == "battery_overheat" and status.battery_temp_c > cell_clear_c:
        problems.append(f"battery still {status.battery_temp_c:.1f} degC, must cool to {cell_clear_c:.1f}")
    if kind in ("battery_critical", "self_test") and status.battery_v < limits.battery_critical_v:
        problems.append(f"battery still {status.battery_v:.2f} V")
    if kind == "cartridge_changed" and (status.cartridge is None or status.cartridge.cartridge_id != armed_cartridge):
        problems.append("the cartridge that was armed is not attached")
    return problems


@dataclass(kw_only=True, frozen=True)
class Refusal:
    """One reason the needles may not move now, and the alarm it raises (None: a plain refusal)."""

    reason: str
    alarm: str | None = None
    value: float = 0.0
    """What was seen (volts, degrees), for the alarm record."""
    limit: float = 0.0


def pen_refusals(status: PenStatus, limits: FirmwareLimits, new_zone: bool) -> list[Refusal]:
    """What in the pen itself forbids stroking: the cartridge, the battery, the temperatures.

    A new zone asks more of the battery (the arming floor) than carrying on does (the critical floor).
    """
    refusals = []
    cartridge = status.cartridge
    if cartridge is None or cartridge.cartridge_id == 0 or cartridge.needles <= 0:
        why = "no cartridge attached" if cartridge is None else "cartridge not recognised"
        refusals.append(Refusal(reason=why, alarm="cartridge_unrecognised"))
    elif not 0.0 < cartridge.max_depth_mm < math.inf:
        refusals.append(Refusal(reason="cartridge not recognised", alarm="cartridge_unrecognised"))
    elif cartridge.locked:
        why = f"cartridge {cartridge.cartridge_id} was already used: single-use cartridges are locked out"
        refusals.append(Refusal(reason=why, alarm="cartridge_reused"))
    floor = limits.battery_arm_v if new_zone else limits.battery_critical_v
    if status.battery_v < floor:
        why = f"battery {status.battery_v:.2f} V below {floor:.2f} V" + (
            " (battery low: no new zone)" if new_zone else ""
        )
        refusals.append(Refusal(reason=why, alarm="battery_low" if new_zone else None))
    if status.motor_temp_c > limits.motor_temp_limit_c:
        refusals.append(
            Refusal(reason=f"motor {status.motor_temp_c:.1f} degC above {limits.motor_temp_limit_c:.1f} degC")
        )
    if status.battery_temp_c > limits.battery_temp_limit_c:
        why = f"battery {status.battery_temp_c:.1f} degC above {limits.battery_temp_limit_c:.1f} degC"
        refusals.append(Refusal(reason=why))
    return refusals


def depth_limit_now(
    status: PenStatus, limits: FirmwareLimits, identity_max_mm: float, target: Target | None
) -> DepthLimit:
    """The applicable depth limit: the smallest of the pen's, the cartridge's, the zone's and the pen's own report."""
    cartridge = status.cartridge.max_depth_mm if status.cartridge else None
    if cartridge is not None and not math.isfinite(cartridge):
        cartridge = 0.0  # an unreadable rating allows no depth at all
    pen_max = min(limits.pen_max_depth_mm, identity_max_mm)
    zone = target.zone_max_mm if target else None
    limit = applicable_depth_limit(pen_max, cartridge, zone, f"zone {target.zone}" if target else "zone")
    reported = status.pen_depth_limit_mm
    if reported is not None and status.cartridge is not None and reported < limit.depth_mm:
        # The pen's own limit (its settings and the cartridge it reads) binds too: the lower one wins.
        return DepthLimit(depth_mm=reported, owner="pen's own")
    return limit


def acknowledge_problems(kind: str, status: PenStatus, limits: FirmwareLimits) -> list[str]:
    """Why the operator may not acknowledge alarm ``kind`` yet: its cause is still there."""
    if kind == "battery_low" and status.battery_v < limits.battery_arm_v:
        return [f"battery still {status.battery_v:.2f} V"]
    if kind == "session_time":
        return ["the session maximum has been reached; start a new session"]
    return []
