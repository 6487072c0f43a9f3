"""``penctl faults``: one scenario per hazard of the table, checked against what the table promises.

Each scenario provokes its hazard on a simulated pen (an injected hardware
fault, a bad cartridge, a corrupt store, a slow host, a long session) and
checks the firmware's answer: the condition detected, with the table's
priority; for high priority, no stroke after the one in which it showed, the
needles retracted and the fault latched; for medium, what was running finished
and nothing new started; for low, reported and nothing stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from controller.firmware.hazards import BY_KIND, HAZARDS, Hazard, Priority
from controller.firmware.limits import FirmwareLimits
from controller.firmware.pen_controller import PenController
from controller.firmware.target import Target
from controller.host.clock import Pacer
from controller.host.realtime import run_paced
from controller.qa.stalled_host import StalledHost
from controller.treatment.fault_outcome import FaultOutcome, fault_outcomes
from controller.treatment.plan import Plan, PlannedFault, parse_plan
from controller.treatment.session import SessionResult, run_session
from hal.backend import CartridgeInfo
from hal.errors import CommandRefusedError
from sim.factories import Flash, SimBackend, StoreCondition, build_simulated_pen, new_store

SEED = 7
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
    text = '[plan]\nname = "fault scenario"\n[cartridge]\nid = 424242\nneedles = 12\nmax_depth_mm = 2.5\n'
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


def _sim(
    *, cartridge: CartridgeInfo | None = CARTRIDGE, store: Flash | StoreCondition = StoreCondition.FACTORY
) -> SimBackend:
    return build_simulated_pen(cartridge=cartridge, store=store)


def _judge_injected(hazard: Hazard, result: SessionResult, outcome: FaultOutcome) -> tuple[bool, str]:
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
    ok = result.outcome == "completed"
    return ok, "reported, pass completed" if ok else f"pass ended {result.outcome}"


def injected(
    kind: str,
    fault: str,
    value: float | None = None,
    zones: tuple[tuple[str, float, float, float], ...] = (ONE_ZONE,),
    at_s: float = 5.0,
) -> Callable[[Hazard], ScenarioResult]:
    def scenario(hazard: Hazard) -> ScenarioResult:
        result = run_session(plan(*zones), seed=SEED, faults=(PlannedFault(at_s=at_s, kind=fault, value=value),))
        outcome = fault_outcomes(result)[0]
        handled, detail = _judge_injected(hazard, result, outcome)
        return ScenarioResult(
            hazard=hazard.id,
            name=hazard.name,
            scenario=f"inject {fault} at {at_s:g} s",
            expected=hazard.kind,
            priority=str(hazard.priority),
            detected=outcome.detected,
            latency_ms=outcome.latency_ms,
            latency_strokes=outcome.latency_strokes,
            max_depth_after_onset_mm=outcome.max_depth_after_onset_mm,
            final_state=result.final_state,
            handled=handled,
            detail=detail,
        )

    return scenario


def _result(
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


def depth_command(hazard: Hazard) -> ScenarioResult:
    ctl = PenController(_sim())
    ctl.power_on()
    try:
        ctl.select(Target(depth_mm=2.0, frequency_hz=120.0, zone_max_mm=1.0, zone="cheeks"))
    except CommandRefusedError as exc:
        ok = "zone cheeks limit" in str(exc) and ctl.target is None
        return _result(hazard, "select 2.0 mm on the cheeks (max 1.0 mm)", "depth_command", ctl.state, ok, str(exc))
    return _result(hazard, "select 2.0 mm on the cheeks", None, ctl.state, False, "accepted")


def envelope(hazard: Hazard) -> ScenarioResult:
    result = run_session(plan(("abdomen", 2.5, 150.0, 5.0)), seed=SEED)
    kinds = [a.kind for a in result.alarms]
    ok = "depth_envelope" in kinds and result.outcome == "short" and all(z.completed for z in result.zones)
    return _result(
        hazard,
        "2.5 mm at 150 Hz on the abdomen",
        kinds[0] if kinds else None,
        result.final_state,
        ok,
        "reported; every stroke done; the pass ends 'short'" if ok else f"alarms {kinds}, outcome {result.outcome}",
    )


def _arm_refusal(hazard: Hazard, ctl: PenController, scenario: str) -> ScenarioResult:
    ctl.select(Target(depth_mm=1.0, frequency_hz=120.0, zone_max_mm=1.0, zone="cheeks"))
    try:
        ctl.arm()
    except CommandRefusedError as exc:
        active = [a.kind for a in ctl.alarms.active()]
        ok = hazard.kind in active and ctl.state == "idle"
        return _result(hazard, scenario, active[0] if active else None, ctl.state, ok, str(exc))
    return _result(hazard, scenario, None, ctl.state, False, "armed")


def unrecognised(hazard: Hazard) -> ScenarioResult:
    ctl = PenController(_sim(cartridge=None))
    ctl.power_on()
    return _arm_refusal(hazard, ctl, "arm with no cartridge attached")


def reused(hazard: Hazard) -> ScenarioResult:
    store = new_store()
    first = run_session(plan(("cheeks", 1.0, 120.0, 2.0)), seed=SEED, backend=_sim(store=store))
    again = _sim(store=store)  # a new power-on of the same pen: the store remembers the cartridge
    again.reset_world(SEED, CARTRIDGE, 0.9)
    ctl = PenController(again)
    ctl.power_on()
    result = _arm_refusal(hazard, ctl, "re-attach a used cartridge after a power cycle")
    result.handled = result.handled and first.outcome == "completed"
    return result


def corrupt_store(hazard: Hazard) -> ScenarioResult:
    ctl = PenController(_sim(store=StoreCondition.CORRUPT))
    ctl.power_on()
    result = _arm_refusal(hazard, ctl, "boot with a corrupt settings store")
    ctl.acknowledge("settings_corrupt")
    ctl.arm()
    result.handled = result.handled and ctl.state == "ready"
    return result


def overrun(hazard: Hazard) -> ScenarioResult:
    pen = _sim()
    backend = StalledHost(pen, stall_at=20, stall_s=3.0 / 150.0)  # descheduled for 3 stroke periods
    ctl = PenController(backend, batch_strokes=1)
    ctl.power_on()
    ctl.select(Target(depth_mm=1.0, frequency_hz=150.0, zone_max_mm=1.0, zone="cheeks"))
    ctl.arm()
    ctl.start()
    run_paced(ctl, 60, Pacer(1.0 / 150.0))
    kinds = [f.kind for f in ctl.faults]
    ok = kinds == ["overrun"] and ctl.state == "fault" and backend.status().tip_mm < 0
    return _result(
        hazard,
        "real-time loop at 150 Hz, host stalls for 3 periods",
        kinds[0] if kinds else None,
        ctl.state,
        ok,
        ctl.faults[0].message if ctl.faults else "no fault",
    )


def session_time(hazard: Hazard) -> ScenarioResult:
    ctl = PenController(_sim(), limits=replace(FirmwareLimits(), session_max_s=10.0))
    ctl.power_on()
    ctl.select(Target(depth_mm=1.0, frequency_hz=120.0, zone_max_mm=1.0, zone="cheeks"))
    ctl.arm()
    ctl.start()
    tel = ctl.run(120 * 20)
    stopped_at = float(tel["t_s"][-1] + tel["period_s"][-1]) if len(tel) else 0.0
    refused = False
    try:
        ctl.resume()
    except CommandRefusedError:
        refused = True
    ok = ctl.alarms.is_active("session_time") and abs(stopped_at - 10.0) < 0.01 and refused
    return _result(
        hazard,
        "20 s of strokes with a 10 s session maximum",
        "session_time" if ctl.alarms.is_active("session_time") else None,
        ctl.state,
        ok,
        f"stopped at {stopped_at:.3f} s; resume refused" if ok else "not stopped at the maximum",
    )


def store_write(hazard: Hazard) -> ScenarioResult:
    result = run_session(plan(ONE_ZONE), seed=SEED, backend=_sim(store=StoreCondition.WORN))
    kinds = [f.kind for f in result.faults]
    strokes = sum(len(z.telemetry) for z in result.zones)
    tip = result.final_tip_mm
    ok = kinds == ["store_write"] and result.final_state == "fault" and tip is not None and tip < 0
    return _result(
        hazard,
        "the store stops accepting writes; the pen must record the cartridge's first use",
        kinds[0] if kinds else None,
        result.final_state,
        ok,
        f"stopped after the first batch ({strokes} strokes), needles at {tip} mm: "
        f"{result.faults[0].message if result.faults else 'no fault'}",
    )


SCENARIOS: dict[str, Callable[[Hazard], ScenarioResult]] = {
    "H01": depth_command,
    "H02": injected("over_depth", "depth_overshoot"),
    "H03": injected("depth_drift", "depth_drift", zones=TWO_ZONES),
    "H04": envelope,
    "H05": injected("stroke_rate", "rate_deviation"),
    "H06": injected("not_retracted", "retract_failure"),
    "H07": injected("stall", "stall"),
    # Without its sensor the current loop runs open and drives about three times the demand: a hard stroke
    # (1.5 mm at 150 Hz) shows it; at gentle settings the position loop absorbs it (docs/hazards.md).
    "H08": injected("overcurrent", "current_sense", zones=(("abdomen", 1.5, 150.0, 20.0),)),
    "H09": injected("over_temperature", "motor_overheat", zones=(("cheeks", 1.0, 120.0, 120.0),)),
    "H10": injected("battery_overheat", "battery_overheat", zones=(("cheeks", 1.0, 120.0, 120.0),)),
    "H11": injected("battery_low", "battery_drain", 0.11, zones=TWO_ZONES),
    "H12": injected("battery_critical", "battery_drain", 0.02),
    "H13": injected("cartridge_changed", "cartridge_removed"),
    "H14": unrecognised,
    "H15": reused,
    "H16": injected("link_loss", "link_loss"),
    "H17": overrun,
    "H18": corrupt_store,
    "H19": session_time,
    "H20": store_write,
}


def run_scenario(hazard_id: str) -> ScenarioResult:
    hazard = next(h for h in HAZARDS if h.id == hazard_id)
    return SCENARIOS[hazard_id](hazard)


def run_campaign() -> list[ScenarioResult]:
    assert set(SCENARIOS) == {h.id for h in HAZARDS}, "every hazard needs a scenario"
    assert all(BY_KIND[h.kind] is h for h in HAZARDS)
    return [run_scenario(h.id) for h in HAZARDS]


def format_table(results: list[ScenarioResult]) -> str:
    head = f"{'id':<4} {'hazard':<44} {'priority':<8} {'detected':<22} {'latency':>14}  {'final':<7} result"
    lines = [head]
    for r in results:
        latency = "-" if r.latency_ms is None else f"{r.latency_ms:7.2f} ms/{r.latency_strokes}"
        verdict = "handled" if r.handled else "NOT HANDLED"
        lines.append(
            f"{r.hazard:<4} {r.name[:44]:<44} {r.priority:<8} {r.detected!s:<22} {latency:>14}  "
            f"{r.final_state:<7} {verdict}: {r.detail}"
        )
    handled = sum(r.handled for r in results)
    lines.append(f"{handled} of {len(results)} hazards handled as docs/hazards.md promises")
    return "\n".join(lines)


def as_json(results: list[ScenarioResult]) -> list[dict[str, Any]]:
    return [asdict(r) for r in results]
