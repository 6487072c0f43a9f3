"""The pen firmware: modes, guards, the stroke loop and fault handling, over one backend.

This is the object a session runner, a test or a person at a Python prompt
drives. Each public method is one operator action and maps to one state-machine
trigger; guards decide whether it is allowed and every refusal raises
:class:`~hal.errors.CommandRefusedError` with all the reasons.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NoReturn

from controller.clock import Clock, SimClock
from controller.limits import DepthLimit, FirmwareLimits, applicable_depth_limit
from controller.state_machine import PenStateMachine, TransitionRecord
from controller.stroke_loop import DEFAULT_BATCH_STROKES, StrokeCounters, StrokeLoop
from controller.supervisor import Supervisor
from hal.backend import PenBackend, PenIdentity, PenStatus, SettingsPort, StrokeCommand
from hal.errors import CommandRefusedError
from hal.telemetry import Telemetry


@dataclass(frozen=True)
class Target:
    """What the operator asked for: depth and rate, and the zone's own maximum."""

    depth_mm: float
    frequency_hz: float
    zone_max_mm: float | None = None
    zone: str = "zone"


@dataclass(frozen=True)
class FaultRecord:
    """A latched fault: what, when, on which stroke, and the values seen."""

    kind: str
    t_s: float
    stroke: int
    value: float
    limit: float
    message: str


class PenController:
    """Firmware logic for one pen; see the module docstring."""

    def __init__(
        self,
        backend: PenBackend,
        clock: Clock | None = None,
        limits: FirmwareLimits | None = None,
        batch_strokes: int = DEFAULT_BATCH_STROKES,
        pen_max_depth_mm: float | None = None,
    ) -> None:
        """``limits`` fixes the limits; without it they are read from the pen's settings at power-on.

        ``pen_max_depth_mm`` can only lower the pen's own depth maximum (a plan's [pen] table).
        """
        self.backend = backend
        self.clock: Clock = clock or SimClock()
        self._fixed_limits = limits
        self._pen_max_override = pen_max_depth_mm
        self.limits = limits or FirmwareLimits()
        self.supervisor = Supervisor(self.limits)
        self.loop = StrokeLoop(backend, self.supervisor, batch_strokes)
        self.faults: list[FaultRecord] = []
        self.target: Target | None = None
        self.identity: PenIdentity | None = None
        self._active_fault: FaultRecord | None = None
        self.machine = PenStateMachine(
            now=self.clock.now,
            retract=self.backend.retract,
            guards={
                "arm": lambda: self._stroke_refusals(new_zone=True),
                "start": lambda: self._stroke_refusals(new_zone=True),
                "resume": lambda: self._stroke_refusals(new_zone=False),
                "clear": self._clear_refusals,
            },
        )

    # --- read-only views ------------------------------------------------------
    @property
    def state(self) -> str:
        return self.machine.state

    @property
    def log(self) -> list[TransitionRecord]:
        return self.machine.log

    @property
    def counters(self) -> StrokeCounters:
        return self.loop.counters

    def depth_limit(self, status: PenStatus | None = None) -> DepthLimit:
        """The applicable depth limit now: smallest of pen, cartridge and zone."""
        status = status or self.backend.status()
        cartridge = status.cartridge.max_depth_mm if status.cartridge else None
        pen_max = min(self.limits.pen_max_depth_mm, self.identity.max_depth_mm if self.identity else float("inf"))
        zone = self.target.zone_max_mm if self.target else None
        return applicable_depth_limit(pen_max, cartridge, zone, f"zone {self.target.zone}" if self.target else "zone")

    # --- operator actions -----------------------------------------------------
    def power_on(self) -> None:
        """Power on and run the self-test; a failed self-test latches a fault."""
        self.machine.fire("power_on")
        self.identity = self.backend.identify()
        self._load_limits()
        problems = self._self_test_problems(self.backend.status())
        if problems:
            self._latch(
                FaultRecord("self_test", self.clock.now(), self.counters.strokes, 0.0, 0.0, "; ".join(problems))
            )
        else:
            self.machine.fire("self_test_passed")

    def select(self, target: Target) -> None:
        """Set depth and rate; while running it takes effect at the next stroke boundary.

        Refused (nothing changes) if the depth or rate breaks a limit that applies.
        """
        previous = self.target
        self.target = target
        problems = self._target_problems(self.backend.status())
        if problems:
            self.target = previous
            raise_refused("select", self.state, problems)
        if self.state == "running":
            self.backend.apply(self._command())

    def arm(self) -> None:
        self.machine.fire("arm")

    def disarm(self) -> None:
        self.machine.fire("disarm")

    def start(self) -> None:
        self.machine.fire("start")
        self.backend.apply(self._command())

    def pause(self) -> None:
        self.machine.fire("pause")

    def resume(self) -> None:
        self.machine.fire("resume")
        self.backend.apply(self._command())

    def stop(self) -> None:
        self.machine.fire("stop")

    def estop(self) -> None:
        """Emergency stop from any powered state; pressing it again changes nothing."""
        if self.state != "estop":
            self.machine.fire("estop", reason="emergency stop")

    def release(self) -> None:
        """Release the emergency stop: the pen runs its self-test again."""
        self.machine.fire("release")
        problems = self._self_test_problems(self.backend.status())
        if problems:
            self._latch(
                FaultRecord("self_test", self.clock.now(), self.counters.strokes, 0.0, 0.0, "; ".join(problems))
            )
        else:
            self.machine.fire("self_test_passed")

    def clear(self) -> None:
        """Clear the latched fault; refused while its cause is still present."""
        self.machine.fire("clear", reason=self._active_fault.kind if self._active_fault else "")
        self._active_fault = None

    def power_off(self) -> None:
        self.machine.fire("power_off")

    def run(self, strokes: int) -> Telemetry:
        """Stroke until ``strokes`` are done or a fault stops the pen; return what was done."""
        if self.state != "running" or self.target is None:
            raise_refused("run", self.state, ["strokes run only in state running"])
        tel, violation = self.loop.run(strokes, self.depth_limit(), self.target.frequency_hz, self._needles())
        if len(tel):
            self.clock_observe(float(tel["t_s"][-1] + tel["period_s"][-1]))
        if violation is not None:
            self._latch(
                FaultRecord(
                    violation.kind,
                    violation.t_s if len(tel) else self.clock.now(),
                    violation.stroke,
                    violation.value,
                    violation.limit,
                    violation.message,
                )
            )
        return tel

    def clock_observe(self, pen_time_s: float) -> None:
        """Let a simulated clock follow pen time (a wall clock ignores this)."""
        if isinstance(self.clock, SimClock):
            self.clock.advance_to(max(pen_time_s, self.clock.now()))

    # --- guards ---------------------------------------------------------------
    def _load_limits(self) -> None:
        """The limits in force: fixed ones, or the pen's settings, lowered by the plan's pen maximum."""
        limits = self._fixed_limits
        if limits is None:
            backend = self.backend
            limits = (
                FirmwareLimits.from_settings(backend.read_settings())
                if isinstance(backend, SettingsPort)
                else FirmwareLimits()
            )
        if self._pen_max_override is not None and self._pen_max_override < limits.pen_max_depth_mm:
            limits = replace(limits, pen_max_depth_mm=self._pen_max_override)
        self.limits = limits
        self.supervisor.limits = limits

    def _latch(self, fault: FaultRecord) -> None:
        self.faults.append(fault)
        self._active_fault = fault
        self.machine.fire("fault", reason=f"{fault.kind}: {fault.message}")

    def _needles(self) -> int:
        cartridge = self.backend.status().cartridge
        return cartridge.needles if cartridge else 0

    def _command(self) -> StrokeCommand:
        assert self.target is not None
        return StrokeCommand(self.target.depth_mm, self.target.frequency_hz, motor_enabled=True)

    def _self_test_problems(self, status: PenStatus) -> list[str]:
        lim = self.limits
        problems = []
        if status.battery_v < lim.battery_critical_v:
            problems.append(f"battery {status.battery_v:.2f} V below critical {lim.battery_critical_v:.2f} V")
        if status.motor_temp_c > lim.motor_temp_limit_c:
            problems.append(f"motor {status.motor_temp_c:.1f} degC above {lim.motor_temp_limit_c:.1f} degC")
        if status.tip_mm > 0.0:
            problems.append(f"needles not retracted at power-on ({status.tip_mm:.2f} mm)")
        return problems

    def _target_problems(self, status: PenStatus) -> list[str]:
        target = self.target
        if target is None:
            return ["no depth and rate selected"]
        lim = self.limits
        problems = []
        limit = self.depth_limit(status)
        if not 0.0 < target.depth_mm <= limit.depth_mm:
            problems.append(
                f"depth {target.depth_mm} mm is outside 0 < depth <= {limit.depth_mm} mm (the {limit.owner} limit)"
            )
        if not lim.min_frequency_hz <= target.frequency_hz <= lim.max_frequency_hz:
            problems.append(
                f"stroke rate {target.frequency_hz} Hz is outside {lim.min_frequency_hz}-{lim.max_frequency_hz} Hz"
            )
        return problems

    def _stroke_refusals(self, new_zone: bool) -> list[str]:
        """Why the needles may not move now (empty: they may)."""
        status = self.backend.status()
        lim = self.limits
        problems = []
        cartridge = status.cartridge
        if cartridge is None:
            problems.append("no cartridge attached")
        elif cartridge.cartridge_id == 0 or cartridge.needles <= 0:
            problems.append("cartridge not recognised")
        problems += self._target_problems(status)
        floor = lim.battery_arm_v if new_zone else lim.battery_critical_v
        if status.battery_v < floor:
            problems.append(
                f"battery {status.battery_v:.2f} V below {floor:.2f} V"
                + (" (battery low: no new zone)" if new_zone else "")
            )
        if status.motor_temp_c > lim.motor_temp_limit_c:
            problems.append(f"motor {status.motor_temp_c:.1f} degC above {lim.motor_temp_limit_c:.1f} degC")
        return problems

    def _clear_refusals(self) -> list[str]:
        """Why the latched fault may not be cleared yet (its cause is still there)."""
        fault = self._active_fault
        status = self.backend.status()
        lim = self.limits
        problems = []
        if status.tip_mm > 0.0:
            problems.append(f"needles still out ({status.tip_mm:.2f} mm)")
        if fault is None:
            return problems
        if fault.kind == "over_temperature" and status.motor_temp_c > lim.motor_temp_clear_c:
            problems.append(f"motor still {status.motor_temp_c:.1f} degC, must cool to {lim.motor_temp_clear_c:.1f}")
        if fault.kind in ("battery_critical", "self_test") and status.battery_v < lim.battery_critical_v:
            problems.append(f"battery still {status.battery_v:.2f} V")
        return problems


def raise_refused(trigger: str, state: str, reasons: list[str]) -> NoReturn:
    """Raise the refusal error (a function so call sites read as one statement)."""
    raise CommandRefusedError(trigger, state, reasons)
