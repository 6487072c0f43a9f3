"""The simulated pen hardware: actuator, skin, winding temperature, battery, cartridge.

:meth:`SimulatedPen.run` performs a batch of strokes with one command and returns
their telemetry. Strokes are stepped one after the other by the stroke model
(:mod:`sim.kernel`, or :mod:`sim.reference` when asked), so a batch gives exactly
the result of stepping one stroke at a time. :meth:`SimulatedPen.discard_after`
rewinds the end of the last batch, which lets the firmware's stroke loop act on
the stroke where a limit was broken even though the simulator ran ahead.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from hal.backend import CartridgeInfo, Skin, StrokeCommand
from hal.telemetry import PEN_TICK_HZ, StrokeFlag, Telemetry, empty_telemetry
from sim.actuator import DriveLimits, ServoGains, Trajectory, VoiceCoilParams
from sim.battery import BatteryParams, open_circuit_voltage
from sim.build import NOMINAL, PenBuild
from sim.faults import ActiveFaults, InjectedFault, start_fault
from sim.kernel import run_kernel
from sim.reference import coil_resistance, run_reference
from sim.stroke_batch import CarriedState, StrokeBatch, StrokeResults
from sim.thermal import ThermalParams, temperature_after
from sim.tissue import SkinType

MIN_PHYSICS_RATE_HZ = 20_000.0
SENSOR_NOISE_MM = 0.002
"""Standard deviation of the depth sensor's reading of each stroke's peak."""
SHORTFALL_TOLERANCE_MM = 0.05
"""A stroke whose peak misses the command by more than this gets the SHORTFALL flag."""
NOISE_PER_STROKE = 3
"""Standard normals drawn per stroke: skin stiffness, surface height, depth sensor."""


STROKE_MODELS: dict[str, Callable[[StrokeBatch], StrokeResults]] = {"kernel": run_kernel, "reference": run_reference}


@dataclass(kw_only=True)
class PenState:
    """Everything that carries over from one stroke to the next."""

    ticks: int = 0
    """Pen time in physics ticks: an integer, so batching cannot change a timestamp."""
    stroke_index: int = 0
    x_m: float = VoiceCoilParams().home_mm * 1e-3
    v_m_s: float = 0.0
    coil_a: float = 0.0
    battery_a: float = 0.0
    motor_temp_c: float = 25.0
    charge_used_c: float = 0.0
    battery_temp_c: float = 25.0
    cartridge_strokes: dict[int, int] = field(default_factory=dict)


@dataclass(kw_only=True)
class _Batch:
    """What :meth:`SimulatedPen.discard_after` needs to rewind the last batch."""

    start: PenState
    rng_state: Mapping[str, Any]
    ticks_per_stroke: int
    results: StrokeResults


class SimulatedPen:
    """A pen's hardware in NumPy; the backend in sim.backend puts the HAL contract on it."""

    def __init__(
        self,
        seed: int | np.random.SeedSequence = 0,
        cartridge: CartridgeInfo | None = None,
        battery_soc: float = 0.9,
        physics_rate_hz: float = PEN_TICK_HZ,
        coil: VoiceCoilParams | None = None,
        servo: ServoGains | None = None,
        thermal: ThermalParams | None = None,
        battery: BatteryParams | None = None,
        model: str = "kernel",
        build: PenBuild = NOMINAL,
    ) -> None:
        """``model`` picks the stroke model: "kernel" (compiled, the default) or "reference".

        ``coil`` is the actuator as designed (what the firmware plans with); ``build`` says how the one
        built differs from it, and how the day it is used on differs from a typical one (sim/build.py).
        """
        if physics_rate_hz < MIN_PHYSICS_RATE_HZ:
            raise ValueError(f"physics rate {physics_rate_hz} Hz is below {MIN_PHYSICS_RATE_HZ:.0f} Hz")
        if not 0.0 <= battery_soc <= 1.0:
            raise ValueError(f"battery state of charge {battery_soc} is outside 0..1")
        try:
            self._model = STROKE_MODELS[model]
        except KeyError:
            raise ValueError(f"unknown stroke model {model!r} (known: {', '.join(STROKE_MODELS)})") from None
        self.rng = np.random.default_rng(seed)
        self.build = build
        self.design = coil or VoiceCoilParams()
        self.coil = build.actuator(self.design)
        """The actuator as built: what the physics steps (the firmware only knows :attr:`design`)."""
        self.servo = servo or ServoGains()
        self.thermal = thermal or build.thermal()
        self.battery = battery or build.battery()
        self.dt = 1.0 / physics_rate_hz
        self.cartridge = cartridge
        self.skin: SkinType = build.skin(Skin.NORMAL)
        self.command = StrokeCommand(depth_mm=0.0, frequency_hz=100.0, motor_enabled=False)
        self.state = PenState(
            x_m=self.coil.home_mm * 1e-3,
            motor_temp_c=self.thermal.ambient_c,
            battery_temp_c=self.thermal.ambient_c,
            charge_used_c=(1.0 - battery_soc) * self.battery.capacity_c,
        )
        self._last: _Batch | None = None
        self.pending_faults: list[InjectedFault] = []
        self.started_faults: list[tuple[InjectedFault, float]] = []
        """Faults that have started, with the pen time of their first stroke boundary."""
        self.faults = ActiveFaults()
        self._trajectories: dict[tuple[float, int, DriveLimits], Trajectory] = {}

    def configure(self, design: VoiceCoilParams, servo: ServoGains) -> None:
        """New drive settings: the design changes (current limit, gains); the build's deviations stay."""
        self.design, self.servo = design, servo
        self.coil = self.build.actuator(design)

    # --- sensors -------------------------------------------------------------
    @property
    def time_s(self) -> float:
        return self.state.ticks * self.dt

    @property
    def battery_soc(self) -> float:
        return max(0.0, 1.0 - self.state.charge_used_c / self.battery.capacity_c)

    def battery_voltage(self) -> float:
        """Loaded battery voltage with the electronics idle."""
        ocv = open_circuit_voltage(self.battery_soc)
        return ocv - self.battery.internal_resistance_ohm * self.coil.idle_current_a

    def cartridge_strokes(self) -> int:
        if self.cartridge is None:
            return 0
        return self.state.cartridge_strokes.get(self.cartridge.cartridge_id, 0)

    def ticks_per_stroke(self, frequency_hz: float) -> int:
        """Stroke period in physics ticks: the pen's stroke timer counts whole ticks."""
        return max(2, round(1.0 / (frequency_hz * self.dt)))

    # --- actions -------------------------------------------------------------
    def retract(self) -> None:
        """Disable the drive and park the carriage at home, or as far back as a jammed carriage gets."""
        self.command = StrokeCommand(
            depth_mm=self.command.depth_mm, frequency_hz=self.command.frequency_hz, motor_enabled=False
        )
        stuck = self.faults.back_stop_mm
        self.state.x_m = max(self.coil.home_mm, stuck if stuck is not None else self.coil.home_mm) * 1e-3
        self.state.v_m_s = 0.0
        self.state.coil_a = 0.0
        self.state.battery_a = 0.0
        self._last = None

    def wait(self, seconds: float) -> None:
        """Let time pass with the motor still: the winding cools, the electronics draw idle current."""
        if not (math.isfinite(seconds) and seconds >= 0.0):
            raise ValueError(f"cannot wait {seconds} s: expected a finite, non-negative time")
        s = self.state
        self.activate_due_faults()
        s.motor_temp_c = temperature_after(self.thermal, s.motor_temp_c, self.faults.winding_heat_w, seconds)
        cell = ThermalParams(
            ambient_c=self.thermal.ambient_c,
            resistance_k_per_w=self.battery.thermal_resistance_k_per_w,
            time_constant_s=self.battery.thermal_time_constant_s,
        )
        s.battery_temp_c = temperature_after(cell, s.battery_temp_c, self.faults.battery_heat_w, seconds)
        s.charge_used_c += self.coil.idle_current_a * seconds
        s.ticks += round(seconds / self.dt)
        self._last = None

    def inject(self, *faults: InjectedFault) -> None:
        """Schedule faults (pen time); each starts at the first stroke boundary at or after its time."""
        for fault in faults:
            if not (math.isfinite(fault.at_s) and fault.at_s >= 0.0 and math.isfinite(fault.magnitude)):
                raise ValueError(
                    f"fault {fault.kind} at {fault.at_s} s, value {fault.magnitude}: expected finite "
                    "numbers and a time not before 0"
                )
        self.pending_faults = sorted([*self.pending_faults, *faults], key=lambda f: f.at_s)

    def run(self, strokes: int) -> Telemetry:
        """Perform up to ``strokes`` strokes with the current command; return their telemetry.

        A batch stops short at the next scheduled fault's onset, so a fault always starts on a
        batch boundary; the caller asks again for the rest.
        """
        cmd = self.command
        self.activate_due_faults()
        if strokes <= 0 or not cmd.motor_enabled or self.faults.link_lost:
            self._last = None
            return empty_telemetry()
        ticks = max(2, round(self.ticks_per_stroke(cmd.frequency_hz) * self.faults.period_factor))
        if self.pending_faults:
            due = round(self.pending_faults[0].at_s / self.dt)
            strokes = min(strokes, max(1, -(-(due - self.state.ticks) // ticks)))
        period = ticks * self.dt
        trajectory = self._trajectory(cmd.depth_mm, ticks)
        start = copy.deepcopy(self.state)
        rng_state = self.rng.bit_generator.state
        noise = self.rng.standard_normal((strokes, NOISE_PER_STROKE))
        skin = self.skin
        needles = self.cartridge.needles if self.cartridge else 0
        spread = skin.variability
        tissue = np.exp(spread * noise[:, 0] - 0.5 * spread * spread)  # this stroke's tissue, relative to typical
        stiffness = skin.stiffness_n_per_m * needles * tissue
        field_mm = self.cartridge.field_diameter_mm if self.cartridge else 3.5
        tent = skin.tent_stiffness_n_per_m(field_mm) * tissue
        # The skin surface as the pen's depth sensor knows it: jitter, less any extra protrusion it sees; the
        # needle tips meet it a bias further on, which the sensor cannot see (sim/build.py).
        sensed = skin.surface_jitter_mm * 1e-3 * noise[:, 1] - self.faults.protrusion_mm * 1e-3
        bias_m = self.build.depth_bias_mm * 1e-3
        surface = sensed - bias_m if bias_m else sensed
        batch = StrokeBatch(
            trajectory=trajectory,
            dt=self.dt,
            stiffness_n_per_m=stiffness,
            tent_n_per_m=tent,
            puncture_n=needles * skin.insertion_force_n,
            surface_m=surface,
            skin_stiffening_m=skin.stiffening_mm * 1e-3,
            skin_damping_ns_per_m=skin.damping_ns_per_m * needles,
            start=CarriedState(
                start.x_m,
                start.v_m_s,
                start.coil_a,
                start.battery_a,
                start.motor_temp_c,
                start.charge_used_c,
                start.battery_temp_c,
            ),
            coil=self._effective_coil(),
            design=self.design,
            servo=self.servo,
            thermal=self.thermal,
            battery=self.battery,
            current_sense_ok=self.faults.current_sense_ok,
            winding_fault_heat_w=self.faults.winding_heat_w,
            battery_fault_heat_w=self.faults.battery_heat_w,
        )
        outputs = self._model(batch)

        contact = (outputs.peak_m > surface) & (needles > 0)
        depth = np.maximum(outputs.peak_m - sensed, 0.0) * 1e3
        depth = np.where(contact, np.maximum(depth + SENSOR_NOISE_MM * noise[:, 2], 0.0), 0.0)
        flags = (
            contact * StrokeFlag.CONTACT
            | (contact & (outputs.penetration_m > 0.0)) * StrokeFlag.PUNCTURED
            | outputs.current_limited * StrokeFlag.CURRENT_LIMITED
            | outputs.voltage_saturated * StrokeFlag.VOLTAGE_SATURATED
            | (outputs.x_end * 1e3 > self.coil.retract_threshold_mm) * StrokeFlag.NOT_RETRACTED
            | (depth < cmd.depth_mm - SHORTFALL_TOLERANCE_MM) * StrokeFlag.SHORTFALL
        )
        tel = empty_telemetry(strokes)
        tel["index"] = start.stroke_index + np.arange(strokes)
        tel["t_s"] = (start.ticks + ticks * np.arange(strokes)) * self.dt
        tel["depth_cmd_mm"] = cmd.depth_mm
        tel["depth_target_mm"] = trajectory.target_mm
        tel["depth_mm"] = depth
        tel["penetration_mm"] = np.where(contact, outputs.penetration_m * 1e3, 0.0)
        tel["load_n"] = np.where(contact, outputs.load_n, 0.0)
        tel["period_s"] = period
        tel["current_a"] = outputs.current_peak_a
        tel["motor_temp_c"] = outputs.motor_temp_end_c
        tel["battery_v"] = outputs.battery_min_v
        tel["battery_temp_c"] = outputs.battery_temp_end_c
        tel["end_mm"] = outputs.x_end * 1e3
        tel["cartridge_id"] = self.cartridge.cartridge_id if self.cartridge else 0
        tel["flags"] = flags

        self._last = _Batch(start=start, rng_state=rng_state, ticks_per_stroke=ticks, results=outputs)
        self._commit(strokes)
        return tel

    def _effective_coil(self) -> VoiceCoilParams:
        f = self.faults
        if f.front_stop_mm is None and f.back_stop_mm is None:
            return self.coil
        return replace(
            self.coil,
            front_stop_mm=self.coil.front_stop_mm if f.front_stop_mm is None else f.front_stop_mm,
            back_stop_mm=self.coil.back_stop_mm if f.back_stop_mm is None else f.back_stop_mm,
        )

    def activate_due_faults(self) -> None:
        while self.pending_faults and round(self.pending_faults[0].at_s / self.dt) <= self.state.ticks:
            fault = self.pending_faults.pop(0)
            self.started_faults.append((fault, self.time_s))
            start_fault(fault, self)

    def discard_after(self, keep: int) -> None:
        """Rewind the last batch so that only its first ``keep`` strokes happened."""
        last = self._last
        if last is None:
            raise RuntimeError("no batch to rewind")
        done = self._strokes_in(last)
        if not 0 <= keep <= done:
            raise ValueError(f"keep={keep} is outside 0..{done}")
        self.rng.bit_generator.state = last.rng_state
        self.rng.standard_normal((keep, NOISE_PER_STROKE))
        self.state = copy.deepcopy(last.start)
        self._commit(keep)
        self._last = None

    # --- internals -----------------------------------------------------------
    def _strokes_in(self, last: _Batch) -> int:
        """How many strokes of the last batch happened (a drive that stops a batch early says so)."""
        return int(last.results.x_end.shape[0])

    def _commit(self, keep: int) -> None:
        """Make the state after stroke ``keep`` of the last batch the pen's state."""
        last = self._last
        assert last is not None
        s = self.state
        if keep > 0:
            after = last.results.state_after(keep - 1)
            s.x_m, s.v_m_s, s.coil_a, s.battery_a, s.motor_temp_c, s.charge_used_c, s.battery_temp_c = after
        s.ticks = last.start.ticks + keep * last.ticks_per_stroke
        s.stroke_index = last.start.stroke_index + keep
        if self.cartridge is not None:
            cid = self.cartridge.cartridge_id
            s.cartridge_strokes[cid] = last.start.cartridge_strokes.get(cid, 0) + keep

    def drive_limits(self) -> DriveLimits:
        """The stroke planner's envelope now: the battery as it reads idle, the winding as warm as it is.

        Both are rounded (20 mV, 5 degC) so that the plan, which they change slowly, is reused between batches.
        """
        battery_v = math.floor(self.battery_voltage() / 0.02) * 0.02
        temp_c = math.ceil(self.state.motor_temp_c / 5.0) * 5.0
        return DriveLimits.of(self.design, battery_v, coil_resistance(self.design, temp_c))

    def _trajectory(self, depth_mm: float, ticks: int) -> Trajectory:
        limits = self.drive_limits()
        key = (depth_mm, ticks, limits)
        trajectory = self._trajectories.get(key)
        if trajectory is None:
            trajectory = Trajectory.raised_cosine(self.design.home_mm, depth_mm, ticks, self.dt, limits)
            self._trajectories[key] = trajectory
        return trajectory
