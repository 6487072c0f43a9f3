"""What every fault-campaign scenario is built from: the plan, the simulated pen, running a pass with a fault
injected, and judging the firmware's answer against the hazard table's row (controller/firmware/hazards.py).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from controller.firmware.hazards import Hazard, Priority
from controller.firmware.limits import FirmwareLimits
from controller.treatment.fault_outcome import FaultOutcome, all_telemetry, fault_outcomes
from controller.treatment.plan import Plan, PlannedFault, parse_plan
from controller.treatment.session import SessionResult, run_session
from hal.backend import CartridgeInfo
from sim.factories import Flash, SimBackend, StoreCondition, build_simulated_pen

SEED = 7
DRIVE: ContextVar[str] = ContextVar("DRIVE", default="voice_coil")
"""The simulated pen's drive the campaign runs on (``penctl faults --drive``)."""
ZONE = """
[[zone]]
area = "{area}"
depth_mm = {depth}
frequency_hz = {hz}
area_cm2 = 20
speed_mm_s = 150
duration_s = {seconds}
"""


def plan(*zones: tuple[str, float, float, float], extra: str = "") -> Plan:
    """A plan of ``(area, depth, rate, seconds)`` zones on a 12-needle, 2.5 mm cartridge."""
    text = f'[plan]\nname = "fault scenario"\n[pen]\ndrive = "{DRIVE.get()}"\n'
    text += "[cartridge]\nid = 424242\nneedles = 12\nmax_depth_mm = 2.5\n"
    text += "".join(ZONE.format(area=a, depth=d, hz=f, seconds=s) for a, d, f, s in zones) + extra
    return parse_plan(text.encode(), "<fault scenario>")


ONE_ZONE = ("cheeks", 1.0, 120.0, 20.0)
TWO_ZONES = (ONE_ZONE, ("forehead", 0.5, 120.0, 10.0))


@dataclass(kw_only=True)
class ScenarioResult:
    hazard: str
    name: str
    scenario: str
    expected: str
    priority: str
    detected: str | None = None
    latency_ms: float | None = None
    latency_strokes: int | None = None
    max_depth_after_onset_mm: float | None = None
    final_state: str = ""
    handled: bool = False
    detail: str = ""


CARTRIDGE = CartridgeInfo(cartridge_id=424242)


def sim_pen(
    *, cartridge: CartridgeInfo | None = CARTRIDGE, store: Flash | StoreCondition = StoreCondition.FACTORY
) -> SimBackend:
    return build_simulated_pen(cartridge=cartridge, store=store, drive=DRIVE.get())


def judge_injected(hazard: Hazard, result: SessionResult, outcome: FaultOutcome) -> tuple[bool, str]:
    """Did the firmware do what the hazard's row promises for this injected fault?"""
    if outcome.detected != hazard.kind:
        return False, f"detected {outcome.detected!r}, expected {hazard.kind!r}"
    if hazard.priority is Priority.HIGH:
        checks = {
            "fault latched": result.final_state == "fault",
            "no stroke after detection": outcome.strokes_after_detection == 0,
            "needles retracted": outcome.final_tip_mm is None or outcome.final_tip_mm < 0.0,
        }
        if hazard.kind == "not_retracted":
            # The carriage is stuck out: the pen cannot pull the needles back, so what it must do is stop
            # driving them and refuse to clear the fault while they are out.
            del checks["needles retracted"]
            checks["motor off"] = result.final_state == "fault"
        elif hazard.kind != "link_loss":
            checks["needles retracted"] = outcome.final_tip_mm is not None and outcome.final_tip_mm < 0.0
        failed = [k for k, ok in checks.items() if not ok]
        return not failed, "; ".join(f"not {k}" for k in failed) or "retracted at the stroke it showed; latched"
    if hazard.priority is Priority.MEDIUM:
        first, rest = result.zones[0], result.zones[1:]
        ok = first.completed and all(not z.completed and len(z.telemetry) == 0 for z in rest) and bool(rest)
        return ok, "zone finished, next zone refused" if ok else "medium response not as promised"
    ok = result.pen_outcome == "completed"
    return ok, "reported, pass completed" if ok else f"pass ended {result.pen_outcome}"


Shown = Callable[[NDArray[np.void], float, FirmwareLimits], NDArray[np.bool_]]
"""Where a condition that a fault only causes shows in the telemetry, by the hazard table's own threshold."""


def rate_below_tolerance(tel: NDArray[np.void], hz: float, limits: FirmwareLimits) -> NDArray[np.bool_]:
    rate = 1.0 / tel["period_s"].astype(np.float64)
    return np.asarray(rate < (1.0 - limits.stroke_rate_tolerance) * hz)


def battery_below_arm(tel: NDArray[np.void], hz: float, limits: FirmwareLimits) -> NDArray[np.bool_]:
    return np.asarray(tel["battery_v"].astype(np.float64) < limits.battery_arm_v)


def inject_and_judge(
    hazard: Hazard,
    faults: tuple[PlannedFault, ...],
    zones: tuple[tuple[str, float, float, float], ...],
    label: str,
    shown: Shown | None = None,
) -> ScenarioResult:
    """Run a pass with ``faults`` planned and judge the first fault's outcome against the hazard's row.

    A drained cell is not yet a sagging rate: with ``shown``, latency counts from the first stroke at which
    the condition itself shows in the telemetry (the hazard's onset), and the detail says how long the
    fault took to cause it; without, from the fault's injection.
    """
    result = run_session(plan(*zones), seed=SEED, faults=faults)
    outcome = fault_outcomes(result)[0]
    handled, detail = judge_injected(hazard, result, outcome)
    scenario = scenario_result(hazard, label, outcome.detected, result.final_state, handled, detail)
    scenario.latency_ms, scenario.latency_strokes = outcome.latency_ms, outcome.latency_strokes
    scenario.max_depth_after_onset_mm = outcome.max_depth_after_onset_mm
    if shown is not None:
        _count_from_the_condition(scenario, result, outcome, shown, zones[0][2])
    return scenario


def _count_from_the_condition(
    scenario: ScenarioResult, result: SessionResult, outcome: FaultOutcome, shown: Shown, hz: float
) -> None:
    tel = all_telemetry(result)
    after = tel["t_s"].astype(np.float64) >= outcome.onset_s - 1e-9
    first = np.nonzero(after & shown(tel, hz, result.limits))[0]
    alarm = next((a for a in result.alarms if a.kind == outcome.detected and a.stroke >= 0), None)
    if not len(first) or alarm is None:
        scenario.detail += "; the condition never showed in the telemetry"
        return
    onset = tel[first[0]]
    scenario.latency_strokes = alarm.stroke - int(onset["index"]) + 1
    scenario.latency_ms = 1e3 * (alarm.t_s + float(onset["period_s"]) - float(onset["t_s"]))
    scenario.detail += (
        f"; the condition showed {float(onset['t_s']) - outcome.onset_s:.2f} s after the fault, "
        f"detected within {scenario.latency_strokes} stroke(s) of it"
    )


def injected(
    kind: str,
    fault: str,
    value: float | None = None,
    zones: tuple[tuple[str, float, float, float], ...] = (ONE_ZONE,),
    at_s: float = 5.0,
    shown: Shown | None = None,
) -> Callable[[Hazard], ScenarioResult]:
    """The scenario of a hazard provoked by one fault injected at ``at_s`` (``kind`` names the condition)."""

    def scenario(hazard: Hazard) -> ScenarioResult:
        faults = (PlannedFault(at_s=at_s, kind=fault, value=value),)
        return inject_and_judge(hazard, faults, zones, f"inject {fault} at {at_s:g} s", shown)

    return scenario


def scenario_result(
    hazard: Hazard, scenario: str, detected: str | None, state: str, handled: bool, detail: str
) -> ScenarioResult:
    return ScenarioResult(
        hazard=hazard.id,
        name=hazard.name,
        scenario=scenario,
        expected=hazard.kind,
        priority=str(hazard.priority),
        detected=detected,
        final_state=state,
        handled=handled,
        detail=detail,
    )
