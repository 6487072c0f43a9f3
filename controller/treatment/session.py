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
from controller.firmware.limits import DepthLimit
from controller.firmware.pen_controller import PenController
from controller.firmware.state_machine import TransitionRecord
from controller.firmware.target import Target
from controller.treatment.coverage import DensityMap, RasterPath, density_map, needle_pattern
from controller.treatment.plan import Plan, PlannedFault, Zone
from hal.backend import PenBackend, PenIdentity, SimulatedWorld
from hal.errors import CommandRefusedError, InputError, PenError, PenRefusedError
from hal.registry import open_backend
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
    """'completed', 'fault', 'refused' (a guard said no) or 'stopped' (e.g. the session maximum)."""
    needles: int
    alarms: list[AlarmRecord] = field(default_factory=list)
    anaesthetic_wait_s: float = 0.0
    """How long the pass waited before arming for the topical anaesthetic to work."""
    final_state: str = "off"
    """The controller's state when the pass ended, before power-off."""
    faults_injected: tuple[PlannedFault, ...] = ()
    final_tip_mm: float | None = None
    """Where the needle tips were when the pass ended (negative: retracted); None if the pen was unreachable."""


def planned_strokes(zone: Zone, field_diameter_mm: float) -> int:
    """Strokes the zone takes: its duration, or its passes over the raster at the travel speed."""
    return max(1, round(zone.seconds(field_diameter_mm) * zone.frequency_hz))


def _session_refusal(plan: Plan, ctl: PenController) -> str | None:
    """Rules the pen's own settings decide: session length and the patient's minimum age."""
    lim = ctl.limits
    if plan.planned_seconds() > lim.session_max_s:
        return (
            f"planned session of {plan.planned_seconds() / 60:.1f} min exceeds the pen's session maximum "
            f"of {lim.session_max_s / 60:.0f} min (session.max_minutes)"
        )
    if plan.patient is not None and plan.patient.age < lim.min_patient_age_years:
        return (
            f"patient aged {plan.patient.age} is under the pen's minimum of {lim.min_patient_age_years} "
            "(patient.min_age_years)"
        )
    return None


def open_sim_backend() -> PenBackend:
    """An in-process simulated pen; the session resets its world from the plan and seed."""
    return open_backend("sim")


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
    coverage_seed = np.random.SeedSequence(seed).spawn(2)[1]
    backend = backend or open_sim_backend()
    world = backend if backend.simulated and isinstance(backend, SimulatedWorld) else None
    if world is not None:
        world.reset_world(
            seed,
            plan.cartridge,
            plan.pen.battery_soc,
        )
        for fault in faults:
            world.inject_fault(fault.at_s, fault.kind, fault.value)
    elif faults:
        raise InputError(plan.source, "fault", "a simulated pen (faults are injected only into simulators)")
    ctl = PenController(backend, pen_max_depth_mm=plan.pen.max_depth_mm)
    field_mm = plan.cartridge.field_diameter_mm
    pattern = needle_pattern(plan.cartridge.needles, field_mm)
    zone_seeds = coverage_seed.spawn(len(plan.zones))
    results = [
        ZoneResult(index=k, zone=z, planned_strokes=planned_strokes(z, field_mm), depth_limit=None)
        for k, z in enumerate(plan.zones)
    ]
    total = sum(r.planned_strokes for r in results)
    done = 0
    outcome = "completed"
    anaesthetic_wait = 0.0
    try:
        ctl.power_on()
        refusal = _session_refusal(plan, ctl)
        if refusal:
            results[0].refusal = refusal
            outcome = "refused"
        patient = plan.patient
        if not refusal and patient is not None and patient.anaesthetic_applied is not None and plan.start:
            minutes_ago = (plan.start - patient.anaesthetic_applied).total_seconds() / 60.0
            anaesthetic_wait = ctl.anaesthetic_applied(minutes_ago)
            if anaesthetic_wait > 0 and world is not None:
                world.wait(anaesthetic_wait)  # the operator waits; the arming guard holds until then
                ctl.clock_observe(backend.status().time_s)
        for result, zone_seed in zip(results if not refusal else [], zone_seeds, strict=False):
            zone = result.zone
            if ctl.state == "fault":
                outcome = "fault"
                break
            if world is not None:
                world.set_skin(zone.skin)
            try:
                ctl.select(
                    Target(
                        depth_mm=zone.depth_mm,
                        frequency_hz=zone.frequency_hz,
                        zone_max_mm=zone.max_depth_mm,
                        zone=zone.area,
                    )
                )
                result.depth_limit = ctl.depth_limit()
                if ctl.state == "idle":
                    ctl.arm()
                    ctl.start()
                else:
                    ctl.resume()
            except (CommandRefusedError, PenRefusedError) as exc:
                result.refusal = str(exc)
                outcome = "refused"
                break
            result.started_s = ctl.clock.now()
            parts: list[Telemetry] = []
            strokes = 0
            while strokes < result.planned_strokes and ctl.state == "running":
                tel = ctl.run(min(CHUNK_STROKES, result.planned_strokes - strokes))
                if len(tel) == 0:
                    break
                parts.append(tel)
                strokes += len(tel)
                done += len(tel)
                if progress:
                    progress(done, total)
            result.telemetry = np.concatenate(parts) if parts else empty_telemetry()
            result.ended_s = ctl.clock.now()
            result.completed = strokes == result.planned_strokes and ctl.state == "running"
            tel = result.telemetry
            if len(tel):
                result.density = density_map(
                    RasterPath.for_area(zone.area_cm2, field_mm),
                    zone.speed_mm_s,
                    tel["t_s"].astype(np.float64) - float(tel["t_s"][0]),
                    (tel["flags"] & StrokeFlag.CONTACT).astype(bool),
                    pattern,
                    np.random.default_rng(zone_seed),
                )
            if ctl.state != "running":
                outcome = "fault" if ctl.state in ("fault", "estop") else "stopped"
                break
            ctl.pause()
            if world is not None:
                world.wait(zone.pause_s)
                ctl.clock_observe(backend.status().time_s)
        if outcome == "completed" and ctl.state == "paused":
            ctl.stop()
    finally:
        final_state = ctl.state
        try:
            final_tip: float | None = backend.status().tip_mm
        except PenError:
            final_tip = None
        if ctl.state != "off":
            ctl.power_off()
        backend.close()
    return SessionResult(
        plan=plan,
        seed=seed,
        identity=ctl.identity,
        zones=results,
        faults=ctl.faults,
        transitions=ctl.log,
        outcome=outcome,
        needles=plan.cartridge.needles,
        alarms=ctl.alarms.records,
        anaesthetic_wait_s=anaesthetic_wait,
        final_state=final_state,
        faults_injected=faults,
        final_tip_mm=final_tip,
    )
