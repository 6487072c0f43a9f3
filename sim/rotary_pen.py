"""The simulated pen with the rotary drive: a DC motor and cam under a speed loop, and a positioned depth stop.

:class:`RotaryPen` is a :class:`~sim.pen.SimulatedPen` whose strokes are revolutions of the cam: it keeps the
pen's sensors, time, faults and batching contract (a batch gives exactly the result of one stroke at a time,
:meth:`discard_after` rewinds it) and replaces the stroke physics. The stroke rate is whatever the motor
manages, so a revolution's length in ticks comes out of the model; the depth is where the stop sits.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from hal.telemetry import StrokeFlag, Telemetry, empty_telemetry
from sim.actuator import ServoGains, VoiceCoilParams
from sim.pen import NOISE_PER_STROKE, SENSOR_NOISE_MM, SHORTFALL_TOLERANCE_MM, PenState, SimulatedPen, _Batch
from sim.rotary_batch import RotaryBatch, RotaryCarried, RotaryResults
from sim.rotary_drive import RotaryDrive
from sim.rotary_kernel import run_rotary_kernel
from sim.rotary_reference import run_rotary_reference

ROTARY_MODELS: dict[str, Callable[[RotaryBatch], RotaryResults]] = {
    "kernel": run_rotary_kernel,
    "reference": run_rotary_reference,
}
NO_BUDGET = 2**62
STOP_SETTLED_M = 5e-6
"""The stop's encoder within this of its target counts as settled."""
FAR_M = 1.0
"""A skin surface this far away is no skin: the motor spins up in the air."""


@dataclass(kw_only=True)
class RotaryState(PenState):
    """The pen's carried state plus the rotor, the speed loop and the depth stop."""

    theta_rad: float = 0.0
    omega_rad_s: float = 0.0
    integral_v: float = 0.0
    nut_m: float = 0.0
    stop_m: float = 0.0
    wear_m: float = 0.0
    spun_to_rad_s: float = 0.0
    """The speed the loop was last brought up to; a new speed spins up again, off the skin."""


class RotaryPen(SimulatedPen):
    """A pen whose needles are driven by a DC motor and an eccentric cam (see module docstring)."""

    def __init__(self, *args: Any, drive: RotaryDrive | None = None, **kwargs: Any) -> None:
        model = kwargs.pop("model", "kernel")
        super().__init__(*args, **kwargs)
        if model not in ROTARY_MODELS:
            raise ValueError(f"unknown stroke model {model!r} (known: {', '.join(ROTARY_MODELS)})")
        self._rotary_model = ROTARY_MODELS[model]
        self.drive = drive or RotaryDrive()
        if kwargs.get("thermal") is None:  # the motor's own winding, not the voice coil's
            motor = self.drive.motor
            self.thermal = replace(
                self.thermal,
                resistance_k_per_w=motor.thermal_resistance_k_per_w,
                time_constant_s=motor.thermal_time_constant_s,
            )
        self.drive = replace(self.drive, motor=replace(self.drive.motor, current_limit_a=self.design.current_limit_a))
        old = self.state
        self.state = RotaryState(
            motor_temp_c=old.motor_temp_c, battery_temp_c=old.battery_temp_c, charge_used_c=old.charge_used_c
        )
        self.state.x_m = self._bottom_m()

    def configure(self, design: VoiceCoilParams, servo: ServoGains) -> None:
        """New drive settings: the motor's current limit follows ``drive.current_limit_a``."""
        super().configure(design, servo)
        self.drive = replace(self.drive, motor=replace(self.drive.motor, current_limit_a=design.current_limit_a))

    @property
    def rotary(self) -> RotaryState:
        assert isinstance(self.state, RotaryState)
        return self.state

    def _bottom_m(self) -> float:
        """The tip position at the cam's bottom dead centre: behind the stop by the full stroke."""
        return self.rotary.stop_m - 2.0 * self.drive.cam.eccentricity_mm * 1e-3

    def retract(self) -> None:
        """Brake the motor and turn the cam to its index (bottom dead centre): the needles are fully in."""
        self.command = replace(self.command, motor_enabled=False)
        s = self.rotary
        stuck = self.faults.back_stop_mm
        s.x_m = max(self._bottom_m(), stuck * 1e-3 if stuck is not None else -math.inf)
        s.theta_rad = s.omega_rad_s = s.integral_v = s.v_m_s = s.coil_a = s.battery_a = 0.0
        s.spun_to_rad_s = 0.0
        self._last = None

    def _carried(self) -> RotaryCarried:
        s = self.rotary
        return RotaryCarried(
            s.theta_rad, s.omega_rad_s, s.coil_a, s.integral_v, s.x_m, s.v_m_s, s.battery_a, s.motor_temp_c,
            s.charge_used_c, s.battery_temp_c, s.nut_m, s.stop_m, s.wear_m,
        )  # fmt: skip

    def _restore(self, c: RotaryCarried) -> None:
        s = self.rotary
        s.theta_rad, s.omega_rad_s, s.coil_a, s.integral_v, s.x_m, s.v_m_s, s.battery_a = c[:7]
        s.motor_temp_c, s.charge_used_c, s.battery_temp_c, s.nut_m, s.stop_m, s.wear_m = c[7:]

    def _stop_target_m(self) -> float:
        """Where the stop is sent for the commanded depth: within its travel, plus the factory calibration."""
        stop = self.drive.stop
        return (min(max(self.command.depth_mm, stop.min_mm), stop.max_mm) + self.drive.calibration_mm()) * 1e-3

    def _batch(self, skin: tuple[np.ndarray, np.ndarray, float, np.ndarray], budget: int) -> RotaryBatch:
        """The physics of the next revolutions with the current command and faults on ``skin``."""
        stiffness, tent, puncture, surface = skin
        f, cmd, stop = self.faults, self.command, self.drive.stop
        nominal = self.ticks_per_stroke(cmd.frequency_hz)
        front = self.faults.front_stop_mm
        back = self.faults.back_stop_mm
        return RotaryBatch(
            drive=self.drive,
            dt=self.dt,
            omega_ref_rad_s=2.0 * math.pi * cmd.frequency_hz / f.period_factor,
            stop_target_m=self._stop_target_m(),
            stiffness_n_per_m=stiffness,
            tent_n_per_m=tent,
            puncture_n=puncture,
            surface_m=surface,
            skin_stiffening_m=self.skin.stiffening_mm * 1e-3,
            skin_damping_ns_per_m=self.skin.damping_ns_per_m * (self.cartridge.needles if self.cartridge else 0),
            start=self._carried(),
            thermal=self.thermal,
            battery=self.battery,
            max_ticks=round(nominal * self.drive.stall_periods),
            tick_budget=budget,
            front_stop_m=(stop.max_mm + 0.5 if front is None else front) * 1e-3,
            back_stop_m=-1.0 if back is None else back * 1e-3,
            current_sense_ok=f.current_sense_ok,
            load_lost=f.load_lost,
            stop_jam_m=math.nan if f.stop_jam_mm is None else f.stop_jam_mm * 1e-3,
            wear_m_per_stroke=f.cam_wear_mm_per_stroke * 1e-3,
            winding_fault_heat_w=f.winding_heat_w,
            battery_fault_heat_w=f.battery_heat_w,
        )

    def _spin_up(self) -> None:
        """Bring the motor to the commanded speed off the skin (as the instructions for use say), uncounted."""
        omega = 2.0 * math.pi * self.command.frequency_hz / self.faults.period_factor
        if self.rotary.spun_to_rad_s == omega and abs(self.rotary.nut_m - self._stop_target_m()) <= STOP_SETTLED_M:
            return
        n = max(1, math.ceil(self.drive.spin_up_s * self.command.frequency_hz))
        air = (np.zeros(n), np.ones(n), 0.0, np.full(n, FAR_M))
        start = self.state.ticks
        while True:  # spin up, and wait for the stop to settle: a seized stop is given up on after a while
            batch = self._batch(air, NO_BUDGET)
            results = self._rotary_model(batch)
            self._restore(results.state_after(results.done - 1))
            self.state.ticks += int(results.ticks[: results.done].sum())
            settled = abs(self.rotary.nut_m - batch.stop_target_m) <= STOP_SETTLED_M
            if settled or (self.state.ticks - start) * self.dt >= self.drive.stop_wait_s:
                break
        self.rotary.spun_to_rad_s = omega

    def _skin_sample(self, noise: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray, float, np.ndarray], np.ndarray]:
        """Each stroke's tissue and surface, as the voice-coil pen draws them: (physics skin, sensed surface)."""
        skin, needles = self.skin, self.cartridge.needles if self.cartridge else 0
        tissue = np.exp(skin.variability * noise[:, 0] - 0.5 * skin.variability**2)
        field_mm = self.cartridge.field_diameter_mm if self.cartridge else 3.5
        sensed = skin.surface_jitter_mm * 1e-3 * noise[:, 1] - self.faults.protrusion_mm * 1e-3
        surface = sensed - self.build.depth_bias_mm * 1e-3
        stiffness = skin.stiffness_n_per_m * needles * tissue
        tent = skin.tent_stiffness_n_per_m(field_mm) * tissue
        return (stiffness, tent, needles * skin.insertion_force_n, surface), sensed

    def run(self, strokes: int) -> Telemetry:
        """Perform up to ``strokes`` revolutions with the current command; return their telemetry."""
        cmd = self.command
        self.activate_due_faults()
        if strokes <= 0 or not cmd.motor_enabled or self.faults.link_lost:
            self._last = None
            return empty_telemetry()
        self._spin_up()
        budget = NO_BUDGET
        if self.pending_faults:
            budget = max(1, round(self.pending_faults[0].at_s / self.dt) - self.state.ticks)
        start = copy.deepcopy(self.state)
        rng_state = self.rng.bit_generator.state
        noise = self.rng.standard_normal((strokes, NOISE_PER_STROKE))
        skin, sensed = self._skin_sample(noise)
        results = self._rotary_model(self._batch(skin, budget))
        done = results.done
        if done < strokes:  # the batch ended at a fault's onset: give back the noise it did not use
            self.rng.bit_generator.state = rng_state
            noise = self.rng.standard_normal((done, NOISE_PER_STROKE))
        tel = self._telemetry(start, results, sensed[:done], noise[:done])
        self._last = _Batch(start=start, rng_state=rng_state, ticks_per_stroke=0, results=results)  # type: ignore[arg-type]
        self._commit(done)
        return tel

    def _telemetry(self, start: PenState, r: RotaryResults, sensed: np.ndarray, noise: np.ndarray) -> Telemetry:
        n, cmd = len(sensed), self.command
        needles = self.cartridge.needles if self.cartridge else 0
        peak = r.peak_m[:n]
        contact = (peak > sensed - self.build.depth_bias_mm * 1e-3) & (needles > 0)
        depth = np.where(
            contact, np.maximum(np.maximum(peak - sensed, 0.0) * 1e3 + SENSOR_NOISE_MM * noise[:, 2], 0.0), 0.0
        )
        ticks = r.ticks[:n]
        end_mm = r.state[:n, 4] * 1e3
        tel = empty_telemetry(n)
        tel["index"] = start.stroke_index + np.arange(n)
        tel["t_s"] = (start.ticks + np.concatenate(([0], np.cumsum(ticks)[:-1]))) * self.dt if n else 0.0
        tel["depth_cmd_mm"] = cmd.depth_mm
        tel["depth_target_mm"] = r.encoder_m[:n] * 1e3 - self.drive.calibration_mm()
        tel["depth_mm"] = depth
        tel["penetration_mm"] = np.where(contact, r.penetration_m[:n] * 1e3, 0.0)
        tel["load_n"] = np.where(contact, r.load_n[:n], 0.0)
        tel["period_s"] = ticks * self.dt
        tel["current_a"] = r.current_peak_a[:n]
        tel["motor_temp_c"] = r.state[:n, 7]
        tel["battery_v"] = r.battery_min_v[:n]
        tel["battery_temp_c"] = r.state[:n, 9]
        tel["end_mm"] = end_mm
        tel["cartridge_id"] = self.cartridge.cartridge_id if self.cartridge else 0
        tel["flags"] = (
            contact * StrokeFlag.CONTACT
            | (contact & (r.penetration_m[:n] > 0.0)) * StrokeFlag.PUNCTURED
            | r.current_limited[:n] * StrokeFlag.CURRENT_LIMITED
            | r.voltage_saturated[:n] * StrokeFlag.VOLTAGE_SATURATED
            | (end_mm > self.coil.retract_threshold_mm) * StrokeFlag.NOT_RETRACTED
            | (depth < cmd.depth_mm - SHORTFALL_TOLERANCE_MM) * StrokeFlag.SHORTFALL
        )
        return tel

    def _strokes_in(self, last: _Batch) -> int:
        return self._results(last).done

    @staticmethod
    def _results(last: _Batch) -> RotaryResults:
        results: Any = last.results
        assert isinstance(results, RotaryResults)
        return results

    def _commit(self, keep: int) -> None:
        last = self._last
        assert last is not None
        r = self._results(last)
        if keep > 0:
            self._restore(r.state_after(keep - 1))
        s = self.state
        s.ticks = last.start.ticks + int(r.ticks[:keep].sum())
        s.stroke_index = last.start.stroke_index + keep
        if self.cartridge is not None:
            cid = self.cartridge.cartridge_id
            s.cartridge_strokes[cid] = last.start.cartridge_strokes.get(cid, 0) + keep
