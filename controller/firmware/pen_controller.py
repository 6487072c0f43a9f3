"""The pen firmware: modes, guards, the stroke loop and fault handling, over one backend.

This is the object a session runner, a test or a person at a Python prompt
drives. Each public method is one operator action and maps to one state-machine
trigger; guards decide whether it is allowed and every refusal raises
:class:`~hal.errors.CommandRefusedError` with all the reasons.
"""

from __future__ import annotations

import contextlib
import math

from controller.firmware.alarms import STORE_ALARMS, AlarmLog, FaultRecord
from controller.firmware.clock import Clock, SimClock
from controller.firmware.guards import (
    Refusal,
    acknowledge_problems,
    cause_present,
    depth_limit_now,
    pen_refusals,
    self_test_problems,
    target_problems,
)
from controller.firmware.hazards import Priority, priority_of
from controller.firmware.limits import DepthLimit, FirmwareLimits
from controller.firmware.session_time import SessionTime
from controller.firmware.state_machine import Mode, PenStateMachine, TransitionRecord, Trigger
from controller.firmware.stroke_loop import DEFAULT_BATCH_STROKES, StrokeCounters, StrokeLoop
from controller.firmware.supervisor import Supervisor, Violation
from controller.firmware.target import Target
from hal.backend import PenBackend, PenIdentity, PenStatus, SettingsPort, StrokeCommand
from hal.errors import CommandRefusedError, PenError
from hal.protocol import Alarm
from hal.settings import SettingValue
from hal.telemetry import Telemetry


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
        self.settings_in_force: dict[str, SettingValue] | None = None
        """The pen's settings as last read for the limits (None: fixed limits, or a pen without settings)."""
        self.supervisor = Supervisor(self.limits)
        self.loop = StrokeLoop(backend=backend, supervisor=self.supervisor, batch_strokes=batch_strokes)
        self.faults: list[FaultRecord] = []
        self.target: Target | None = None
        self.identity: PenIdentity | None = None
        self._latched: list[FaultRecord] = []
        """Faults latched and not yet cleared: clearing needs every one's cause gone."""
        self.alarms = AlarmLog()
        self.session = SessionTime()
        """Stroking time so far, for the session maximum."""
        self._armed_cartridge: int | None = None
        self._running_zone: str | None = None
        self._guard_alarms: list[Refusal] = []
        self.anaesthetic_ready_s: float | None = None
        """Clock time from which arming is allowed (topical anaesthetic needs time to work)."""
        self.machine = PenStateMachine(
            now=self.clock.now,
            retract=self.backend.retract,
            guards={
                "arm": lambda: self._stroke_refusals(new_zone=True),
                "start": lambda: self._stroke_refusals(new_zone=True),
                "resume": lambda: self._stroke_refusals(new_zone=self._new_zone()),
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
        identity_max = self.identity.max_depth_mm if self.identity else math.inf
        return depth_limit_now(status or self.backend.status(), self.limits, identity_max, self.target)

    # --- operator actions -----------------------------------------------------
    def power_on(self) -> None:
        """Power on and run the self-test; a failed self-test latches a fault."""
        self.machine.fire(Trigger.POWER_ON)
        self.identity = self.backend.identify()
        self._load_limits()
        self._check_store()
        self._self_test()

    def _self_test(self) -> None:
        problems = self_test_problems(self.backend.status(), self.limits, [f.kind for f in self._latched])
        if problems:
            self._latch(
                FaultRecord(
                    kind="self_test",
                    t_s=self.clock.now(),
                    stroke=self.counters.strokes,
                    value=0.0,
                    limit=0.0,
                    message="; ".join(problems),
                )
            )
        else:
            self.machine.fire(Trigger.SELF_TEST_PASSED)

    def _check_store(self) -> None:
        """A blank or corrupt settings store means factory defaults are in force: say so, block arming."""
        backend = self.backend
        if not isinstance(backend, SettingsPort):
            return
        for code in backend.read_alarms():
            if code in STORE_ALARMS:
                self.alarms.raise_alarm(
                    self.clock.now(), "settings_corrupt", f"settings store {STORE_ALARMS[Alarm(code)]}"
                )

    def select(self, target: Target) -> None:
        """Set depth and rate; while running it takes effect at the next stroke boundary.

        Refused (nothing changes) if the depth or rate breaks a limit that applies.
        """
        if self.state == "running" and target.zone != self._running_zone:
            raise CommandRefusedError(
                "select",
                self.state,
                ["pause before moving to another zone (a new zone is checked like arming: battery, alarms, cartridge)"],
            )
        self._load_limits()
        previous = self.target
        self.target = target
        problems = self._target_problems(self.backend.status())
        if problems:
            self.target = previous
            raise CommandRefusedError("select", self.state, problems)
        self.supervisor.new_command()
        if self.state == "running":
            self.backend.apply(self._command())

    def arm(self) -> None:
        self._fire_guarded(Trigger.ARM)

    def disarm(self) -> None:
        self.machine.fire(Trigger.DISARM)

    def start(self) -> None:
        self._fire_guarded(Trigger.START)
        self._begin_stroking()

    def pause(self) -> None:
        self.machine.fire(Trigger.PAUSE)

    def resume(self) -> None:
        self._fire_guarded(Trigger.RESUME)
        self._begin_stroking()

    def _begin_stroking(self) -> None:
        status = self.backend.status()
        self._armed_cartridge = status.cartridge.cartridge_id if status.cartridge else None
        self._running_zone = self.target.zone if self.target else None
        self.supervisor.new_command()
        self.backend.apply(self._command())

    def _new_zone(self) -> bool:
        return self.target is None or self.target.zone != self._running_zone

    def _fire_guarded(self, trigger: Trigger) -> None:
        """Fire a guarded trigger; a refusal for a hazard (battery low, cartridge) also raises its alarm."""
        self._guard_alarms = []
        self._load_limits()  # a setting committed since the last mode change governs from now on
        try:
            self.machine.fire(trigger)
        except CommandRefusedError:
            for refusal in self._guard_alarms:
                assert refusal.alarm is not None
                self.alarms.raise_alarm(self.clock.now(), refusal.alarm, refusal.reason, refusal.value, refusal.limit)
            raise

    def stop(self) -> None:
        self.machine.fire(Trigger.STOP)

    def estop(self) -> None:
        """Emergency stop from any powered state; pressing it again changes nothing."""
        if self.state != "estop":
            self.machine.fire(Trigger.ESTOP, reason="emergency stop")

    def release(self) -> None:
        """Release the emergency stop: the pen runs its self-test again (a latched fault latches again)."""
        self.machine.fire(Trigger.RELEASE)
        self._self_test()

    def clear(self) -> None:
        """Clear the latched faults; refused while the cause of any of them is still present."""
        kinds = [f.kind for f in self._latched]
        self.machine.fire(Trigger.CLEAR, reason=", ".join(kinds))
        for kind in kinds:
            self.alarms.resolve(kind)
        self._latched = []

    def acknowledge(self, kind: str) -> None:
        """The operator acknowledges a medium or low alarm; refused while its cause is still present."""
        problems = acknowledge_problems(kind, self.backend.status(), self.limits)
        if problems:
            raise CommandRefusedError("acknowledge", self.state, problems)
        if kind == "settings_corrupt" and isinstance(self.backend, SettingsPort):
            for code in STORE_ALARMS:
                if code in self.backend.read_alarms():
                    self.backend.clear_alarm(code)
        self.alarms.resolve(kind)

    def anaesthetic_applied(self, minutes_ago: float) -> float:
        """Record when the numbing cream went on; return the seconds still to wait before arming."""
        remaining = max(0.0, self.limits.anaesthetic_wait_s - 60.0 * minutes_ago)
        self.anaesthetic_ready_s = self.clock.now() + remaining
        return remaining

    def fault(self, kind: str, message: str, value: float = 0.0, limit: float = 0.0) -> None:
        """Latch a fault found outside the stroke loop (e.g. the real-time pacer's overrun check)."""
        self._latch(
            FaultRecord(
                kind=kind, t_s=self.clock.now(), stroke=self.counters.strokes, value=value, limit=limit, message=message
            )
        )

    def power_off(self) -> None:
        try:
            self.machine.fire(Trigger.POWER_OFF)
        except CommandRefusedError:
            raise
        except PenError as exc:
            self.machine.force(Trigger.POWER_OFF, Mode.OFF, f"pen unreachable: {exc}")

    def run(self, strokes: int) -> Telemetry:
        """Stroke until ``strokes`` are done or a fault stops the pen; return what was done.

        Strokes stop at the session maximum: the pen retracts, a medium alarm is raised and the
        session cannot be resumed.
        """
        if self.state != "running" or self.target is None:
            raise CommandRefusedError("run", self.state, ["strokes run only in state running"])
        allowed = self.session.strokes_left(self.limits.session_max_s, self.target.frequency_hz)
        if allowed <= 0:
            self._session_over()
            return self.loop.empty()
        try:
            status = self.backend.status()  # once per call: over a link each read is a round trip
            needles = status.cartridge.needles if status.cartridge else 0
            tel, violation, findings = self.loop.run(
                min(strokes, allowed),
                self.depth_limit(status),
                self.target.frequency_hz,
                needles,
                self._armed_cartridge,
            )
        except PenError as exc:
            self.fault("link_loss", f"lost the pen: {exc}")
            return self.loop.empty()
        if len(tel):
            self.session.add(tel)
            self.clock_observe(float(tel["t_s"][-1] + tel["period_s"][-1]))
        for finding in findings:
            self.alarms.raise_alarm(
                finding.t_s, finding.kind, finding.message, finding.value, finding.limit, finding.stroke
            )
        if violation is not None:
            self._latch_violation(violation, len(tel) > 0)
        elif len(tel) < strokes and allowed <= len(tel):
            self._session_over()
        return tel

    def _session_over(self) -> None:
        self.alarms.raise_alarm(
            self.clock.now(),
            "session_time",
            f"session maximum of {self.limits.session_max_s / 60:.0f} min reached: stopped",
        )
        if self.state == "running":
            self.machine.fire(Trigger.PAUSE, reason="session_time")

    def _latch_violation(self, violation: Violation, had_strokes: bool) -> None:
        self._latch(
            FaultRecord(
                kind=violation.kind,
                t_s=violation.t_s if had_strokes else self.clock.now(),
                stroke=violation.stroke,
                value=violation.value,
                limit=violation.limit,
                message=violation.message,
            )
        )

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
            if isinstance(backend, SettingsPort):
                self.settings_in_force = dict(backend.read_settings())
                limits = FirmwareLimits.from_settings(self.settings_in_force)
            else:
                limits = FirmwareLimits()
        ident = self.identity
        rates = (ident.min_frequency_hz, ident.max_frequency_hz) if ident else (0.0, math.inf)
        limits = limits.narrowed(self._pen_max_override, *rates)
        self.limits = limits
        self.supervisor.limits = limits

    def _latch(self, fault: FaultRecord) -> None:
        """Latch a fault: retract and disable the motor (the transition's before-callback), raise the alarm."""
        self.faults.append(fault)
        if fault.kind not in [f.kind for f in self._latched]:
            self._latched.append(fault)
        if priority_of(fault.kind) is Priority.HIGH or fault.kind == "self_test":
            self.alarms.raise_alarm(fault.t_s, fault.kind, fault.message, fault.value, fault.limit, fault.stroke)
        if self.state in ("fault", "estop", "off"):
            with contextlib.suppress(PenError):
                self.backend.retract()
            return
        try:
            self.machine.fire(Trigger.FAULT, reason=f"{fault.kind}: {fault.message}")
        except PenError:
            # The pen cannot be reached to retract (link lost): the fault latches all the same.
            self.machine.force(Trigger.FAULT, Mode.FAULT, f"{fault.kind}: {fault.message}")

    def _command(self) -> StrokeCommand:
        assert self.target is not None
        return StrokeCommand(depth_mm=self.target.depth_mm, frequency_hz=self.target.frequency_hz, motor_enabled=True)

    def _target_problems(self, status: PenStatus) -> list[str]:
        target = self.target
        if target is None:
            return ["no depth and rate selected"]
        return target_problems(target.depth_mm, target.frequency_hz, self.depth_limit(status), self.limits)

    def _stroke_refusals(self, new_zone: bool) -> list[str]:
        """Why the needles may not move now (empty: they may). Hazard refusals also note their alarm."""
        status = self.backend.status()
        lim = self.limits
        problems = []
        for refusal in pen_refusals(status, lim, new_zone):
            problems.append(refusal.reason)
            if refusal.alarm:
                self._guard_alarms.append(refusal)
        problems += self._target_problems(status)
        for record in self.alarms.active(Priority.HIGH):
            problems.append(f"unresolved {record.priority} alarm {record.kind}: {record.message}")
        if new_zone:
            for record in self.alarms.active(Priority.MEDIUM):
                problems.append(f"unresolved {record.priority} alarm {record.kind}: {record.message}")
        if self.session.reached(lim.session_max_s):
            problems.append("the session maximum has been reached")
        ready = self.anaesthetic_ready_s
        if ready is not None and self.clock.now() < ready:
            problems.append(
                f"topical anaesthetic applied too recently: {(ready - self.clock.now()) / 60:.1f} min "
                f"of the {lim.anaesthetic_wait_s / 60:.0f} min wait left"
            )
        return problems

    def _clear_refusals(self) -> list[str]:
        """Why the latched faults may not be cleared yet (a cause is still there)."""
        try:
            status = self.backend.status()
        except PenError as exc:
            return [f"the pen does not answer: {exc}"]
        problems = []
        if not status.tip_mm < 0.0:
            problems.append(f"needles still out ({status.tip_mm:.2f} mm)")
        for fault in self._latched:
            problems += cause_present(fault.kind, status, self.limits, self._armed_cartridge)
        return problems
