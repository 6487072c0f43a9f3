"""A treatment pass: a validated plan run zone by zone on a pen, with coverage per zone.

The runner is the operator: it places the pen on each zone's skin, selects depth
and rate, arms and starts (first zone) or resumes (later zones), lets the pen
stroke for the zone's planned strokes, pauses to move on, and stops at the end.
A fault or a refusal ends the pass where it happened; the result says which and
keeps everything done up to then.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from controller.firmware.alarms import AlarmRecord, FaultRecord
from controller.firmware.limits import DepthLimit, FirmwareLimits
from controller.firmware.pen_controller import PenController
from controller.firmware.state_machine import TransitionRecord
from controller.firmware.target import Target
from controller.treatment.coverage import DensityMap, RasterPath, density_map, needle_pattern
from controller.treatment.gauge import gauged, reading_error_mm
from controller.treatment.plan import Plan, PlannedFault, Zone
from controller.treatment.session_checks import whole_session_minutes
from controller.treatment.verdict import DEPTH_ACCURACY_MM, ZoneVerdict, judge_zone, pass_outcome
from hal.backend import PenBackend, PenIdentity, SimulatedWorld
from hal.errors import CommandRefusedError, InputError, PenError, PenRefusedError
from hal.registry import open_backend
from hal.settings import SettingValue
from hal.telemetry import StrokeFlag, Telemetry, empty_telemetry

Progress = Callable[[int, int], None]
"""Called with (strokes done, strokes planned) as the pass advances."""
CHUNK_STROKES = 4096
"""Strokes per progress update; chunking does not change results."""


@dataclass(kw_only=True)
class ZoneResult:
    """What happened in one zone."""

    index: int
    zone: Zone
    planned_strokes: int
    depth_limit: DepthLimit | None
    telemetry: Telemetry = field(default_factory=empty_telemetry)
    started_s: float = 0.0
    ended_s: float = 0.0
    density: DensityMap | None = None
    completed: bool = False
    refusal: str | None = None
    pen_reading_mm: np.ndarray | None = None
    """The pen's own protrusion readings, kept where a bench gauge's differ (controller/treatment/gauge.py);
    ``telemetry`` then carries the gauge's."""


@dataclass(kw_only=True)
class SessionResult:
    """A whole pass: per zone, faults, the transition log and how it ended."""

    plan: Plan
    seed: int
    identity: PenIdentity | None
    zones: list[ZoneResult]
    faults: list[FaultRecord]
    transitions: list[TransitionRecord]
    outcome: str
    """'fault', 'refused' (a guard said no) or 'stopped' (e.g. the session maximum) when the pen did not finish;
    else the first failed check of the zones' verdicts ('short', 'over', 'shallow', 'off_rate', 'off_density'),
    or 'completed' (verdict.OUTCOMES)."""
    needles: int
    alarms: list[AlarmRecord] = field(default_factory=list)
    anaesthetic_wait_s: float = 0.0
    """How long the pass waited before arming for the topical anaesthetic to work."""
    final_state: str = "off"
    """The controller's state when the pass ended, before power-off."""
    faults_injected: tuple[PlannedFault, ...] = ()
    final_tip_mm: float | None = None
    """Where the needle tips were when the pass ended (negative: retracted); None if the pen was unreachable."""
    pen_outcome: str = "completed"
    """How the pen ended the pass, before any verdict: 'completed' (every zone's strokes), 'fault', 'refused' or
    'stopped'. A fault campaign judges this: whether the pen finished, not whether the plan was clinically sound."""
    verdicts: list[ZoneVerdict] = field(default_factory=list)
    """Per zone: depth, tissue, rate and density judged (controller/treatment/verdict.py)."""
    limits: FirmwareLimits = field(default_factory=FirmwareLimits)
    """The limits in force at the end of the pass: the pen's own settings, lowered by the plan's pen maximum."""
    pen_settings: dict[str, SettingValue] | None = None
    """The pen's settings as it reported them (None: a pen without a settings store)."""
    simulated_world: bool = False
    """True when the pen was a simulator whose world (seed, battery, cartridge, skin) the plan set."""
    in_process: bool = False
    """True when the pen was the in-process simulator (no link): then the report can be rerun from itself."""

    @property
    def ran(self) -> bool:
        """Whether any needle stroke happened: nothing clinical is said of a session that never ran."""
        return any(len(z.telemetry) for z in self.zones)


def planned_strokes(zone: Zone, field_diameter_mm: float) -> int:
    """Strokes the zone takes (see :meth:`Zone.strokes`)."""
    return zone.strokes(field_diameter_mm)


def _session_refusal(plan: Plan, ctl: PenController) -> str | None:
    """Rules the pen's own settings decide: session length (strokes, and the whole session) and the minimum age."""
    lim = ctl.limits
    if plan.planned_seconds() > lim.session_max_s:
        return (
            f"planned session of {plan.planned_seconds():.2f} s exceeds the pen's session maximum "
            f"of {lim.session_max_s / 60:.0f} min (session.max_minutes)"
        )
    whole_s = 60.0 * whole_session_minutes(plan)
    if whole_s > lim.session_total_max_s:
        return (
            f"whole session of {whole_s / 60:.1f} min (preparation, anaesthetic, strokes and pauses) exceeds the "
            f"pen's maximum of {lim.session_total_max_s / 60:.0f} min (session.max_total_minutes)"
        )
    if plan.patient is not None and plan.patient.age < lim.min_patient_age_years:
        return (
            f"patient aged {plan.patient.age} is under the pen's minimum of {lim.min_patient_age_years} "
            "(patient.min_age_years)"
        )
    return None


def open_sim_backend(drive: str = "voice_coil") -> PenBackend:
    """An in-process simulated pen with ``drive``; the session resets its world from the plan and seed."""
    return open_backend("sim", drive=drive)


@dataclass(kw_only=True)
class _Pass:
    """The runner's working state: the pen, its simulated world if any, and how far the pass got."""

    ctl: PenController
    backend: PenBackend
    world: SimulatedWorld | None
    progress: Progress | None
    total: int
    done: int = 0


def run_session(
    plan: Plan,
    seed: int = 0,
    progress: Progress | None = None,
    backend: PenBackend | None = None,
    faults: tuple[PlannedFault, ...] = (),
) -> SessionResult:
    """Run ``plan`` on ``backend`` (default: a simulated pen seeded from ``seed``).

    ``faults`` (added to the plan's own ``[[fault]]`` tables) are injected into a simulated pen.
    """
    faults = plan.faults + tuple(faults)
    backend = backend or open_sim_backend(plan.pen.drive)
    world = _prepare_world(backend, plan, seed, faults)
    field_mm = plan.cartridge.field_diameter_mm
    results = [
        ZoneResult(index=k, zone=z, planned_strokes=planned_strokes(z, field_mm), depth_limit=None)
        for k, z in enumerate(plan.zones)
    ]
    ctl = PenController(backend, pen_max_depth_mm=plan.pen.max_depth_mm)
    run = _Pass(ctl=ctl, backend=backend, world=world, progress=progress, total=sum(r.planned_strokes for r in results))
    anaesthetic_wait = 0.0
    if progress:
        progress(0, run.total)  # the bar's clock starts with the pass, not at its first chunk
    try:
        ctl.power_on()
        refusal = _session_refusal(plan, ctl)
        if refusal:
            results[0].refusal = refusal
            outcome = "refused"
        else:
            anaesthetic_wait = _wait_for_anaesthetic(run, plan)
            outcome = _run_zones(run, plan, results, np.random.SeedSequence(seed).spawn(2)[1])
    finally:
        final_state, final_tip = ctl.state, _tip_or_none(backend)
        if ctl.state != "off":
            ctl.power_off()
        backend.close()
    error = reading_error_mm(world is not None, ctl.settings_in_force)
    if error:
        for r in results:
            r.pen_reading_mm, r.telemetry = r.telemetry["depth_mm"].copy(), gauged(r.telemetry, error)
    verdicts = [judge_zone(r, ctl.limits.stroke_rate_tolerance) for r in results]
    return SessionResult(
        plan=plan,
        seed=seed,
        identity=ctl.identity,
        zones=results,
        faults=ctl.faults,
        transitions=ctl.log,
        outcome=pass_outcome(outcome, verdicts),
        needles=plan.cartridge.needles,
        alarms=ctl.alarms.records,
        anaesthetic_wait_s=anaesthetic_wait,
        final_state=final_state,
        faults_injected=faults,
        final_tip_mm=final_tip,
        pen_outcome=outcome,
        verdicts=verdicts,
        limits=ctl.limits,
        pen_settings=ctl.settings_in_force,
        simulated_world=world is not None,
        in_process=backend.name == "sim",
    )


def _prepare_world(
    backend: PenBackend, plan: Plan, seed: int, faults: tuple[PlannedFault, ...]
) -> SimulatedWorld | None:
    """Tell a simulated pen the plan's cartridge, battery and faults; a real pen is refused faults."""
    world = backend if backend.simulated and isinstance(backend, SimulatedWorld) else None
    if world is None:
        if faults:
            raise InputError(plan.source, "fault", "a simulated pen (faults are injected only into simulators)")
        return None
    world.reset_world(seed, plan.cartridge, plan.pen.battery_soc)
    for fault in faults:
        world.inject_fault(fault.at_s, fault.kind, fault.value)
    return world


def _wait_for_anaesthetic(run: _Pass, plan: Plan) -> float:
    """Record the topical anaesthetic; a simulated operator waits out what is left of its wait."""
    patient = plan.patient
    if patient is None or patient.anaesthetic_applied is None or not plan.start:
        return 0.0
    minutes_ago = (plan.start - patient.anaesthetic_applied).total_seconds() / 60.0
    wait = run.ctl.anaesthetic_applied(minutes_ago)
    if wait > 0 and run.world is not None:
        run.world.wait(wait)  # the operator waits; the arming guard holds until then
        run.ctl.clock_observe(run.backend.status().time_s)
    return wait


def _run_zones(run: _Pass, plan: Plan, results: list[ZoneResult], coverage_seed: np.random.SeedSequence) -> str:
    """Every zone in turn; how the pen ended the pass: completed (every zone's strokes), fault, refused or stopped."""
    ctl = run.ctl
    for result, zone_seed in zip(results, coverage_seed.spawn(len(results)), strict=True):
        if ctl.state == "fault":
            return "fault"
        refusal = _begin_zone(run, result)
        if refusal:
            result.refusal = refusal
            return "refused"
        _stroke_zone(run, result)
        result.density = _density(result, plan, zone_seed)
        if ctl.state != "running":
            return "fault" if ctl.state in ("fault", "estop") else "stopped"
        ctl.pause()
        if run.world is not None:
            run.world.wait(result.zone.pause_s)
            ctl.clock_observe(run.backend.status().time_s)
    if ctl.state == "paused":
        ctl.stop()
    return "completed"


def _begin_zone(run: _Pass, result: ZoneResult) -> str | None:
    """Place the pen on the zone's skin, select its depth and rate, and stroke; why not, if refused."""
    zone, ctl = result.zone, run.ctl
    if run.world is not None:
        run.world.set_skin(zone.skin)
    try:
        ctl.select(
            Target(
                depth_mm=zone.depth_mm, frequency_hz=zone.frequency_hz, zone_max_mm=zone.max_depth_mm, zone=zone.area
            )
        )
        result.depth_limit = ctl.depth_limit()
        if ctl.state == "idle":
            ctl.arm()
            ctl.start()
        else:
            ctl.resume()
    except (CommandRefusedError, PenRefusedError) as exc:
        return str(exc)
    return None


def _stroke_zone(run: _Pass, result: ZoneResult) -> None:
    """Stroke until the zone's planned strokes are done or the pen stops."""
    ctl = run.ctl
    result.started_s = ctl.clock.now()
    parts: list[Telemetry] = []
    strokes = 0
    while strokes < result.planned_strokes and ctl.state == "running":
        tel = ctl.run(min(CHUNK_STROKES, result.planned_strokes - strokes))
        if len(tel) == 0:
            break
        parts.append(tel)
        strokes += len(tel)
        run.done += len(tel)
        if run.progress:
            run.progress(run.done, run.total)
    result.telemetry = np.concatenate(parts) if parts else empty_telemetry()
    result.ended_s = ctl.clock.now()
    result.completed = strokes == result.planned_strokes and ctl.state == "running"


def _density(result: ZoneResult, plan: Plan, zone_seed: np.random.SeedSequence) -> DensityMap | None:
    tel = result.telemetry
    if not len(tel):
        return None
    field_mm = plan.cartridge.field_diameter_mm
    return density_map(
        RasterPath.for_area(result.zone.area_cm2, field_mm),
        result.zone.speed_mm_s,
        tel["t_s"].astype(np.float64) - float(tel["t_s"][0]),
        (tel["flags"] & StrokeFlag.PUNCTURED).astype(bool),
        needle_pattern(plan.cartridge.needles, field_mm),
        np.random.default_rng(zone_seed),
    )


def shortfall_mm(result: ZoneResult) -> float | None:
    """How far the zone's needles fell short of the command on average, if beyond the depth accuracy."""
    tel = result.telemetry
    if not len(tel):
        return None
    short = float((tel["depth_cmd_mm"].astype(np.float64) - tel["depth_mm"].astype(np.float64)).mean())
    return short if short > DEPTH_ACCURACY_MM else None


def _tip_or_none(backend: PenBackend) -> float | None:
    try:
        return backend.status().tip_mm
    except PenError:
        return None
