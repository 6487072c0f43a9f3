"""Why the pen must not do something now: the checks behind self-test, select and clear.

Pure functions of the pen's status and the limits in force, so each reads as the rule it is and
a test can hold it without a pen. The controller turns a non-empty list into a refusal that names
every reason (hal.errors.CommandRefusedError).
"""

from __future__ import annotations

from controller.firmware.limits import DepthLimit, FirmwareLimits
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
