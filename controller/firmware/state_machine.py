"""The pen's modes and the only ways between them, on the ``transitions`` library.

::

    off -power_on-> self_test -self_test_passed-> idle -arm-> ready -start-> running
    running -pause-> paused -resume-> running ; running/paused/ready -stop-> idle
    ready -disarm-> idle ; any powered state -fault-> fault (latched) -clear-> idle
    any powered state -estop-> estop -release-> self_test ; any powered state -power_off-> off

Transitions are declared as data and ``auto_transitions`` is off, so no
``to_<state>()`` shortcut can skip a guard. Every trigger goes through
:meth:`PenStateMachine.fire`, which raises :class:`~hal.errors.CommandRefusedError`
naming the trigger, the state and every reason when the trigger is not allowed
or a guard says no: nothing is ever skipped silently. Triggers that stop the
needles (fault, estop, pause, stop, disarm, power_off) retract in a ``before``
callback, so the needles are out before the state changes.

A trigger costs microseconds, so the stroke loop fires them only on mode
changes, never per stroke.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from transitions import EventData, Machine

from hal.errors import CommandRefusedError


class Mode(StrEnum):
    """The pen's modes: the states of the machine."""

    OFF = "off"
    SELF_TEST = "self_test"
    IDLE = "idle"
    READY = "ready"
    RUNNING = "running"
    PAUSED = "paused"
    FAULT = "fault"
    ESTOP = "estop"


class Trigger(StrEnum):
    """The events that move the pen between modes; :data:`TRANSITIONS` says from where to where."""

    POWER_ON = "power_on"
    SELF_TEST_PASSED = "self_test_passed"
    ARM = "arm"
    DISARM = "disarm"
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"
    FAULT = "fault"
    CLEAR = "clear"
    ESTOP = "estop"
    RELEASE = "release"
    POWER_OFF = "power_off"


STATES: tuple[str, ...] = tuple(m.value for m in Mode)
POWERED = tuple(s for s in STATES if s != Mode.OFF)
FAULTABLE = (Mode.SELF_TEST, Mode.IDLE, Mode.READY, Mode.RUNNING, Mode.PAUSED)
"""States a fault can latch from (fault itself stays latched; estop outranks it)."""
RETRACT = "_retract_needles"
"""The ``before`` callback of every trigger that stops the needles."""

TRANSITIONS: tuple[dict[str, object], ...] = (
    {"trigger": Trigger.POWER_ON, "source": Mode.OFF, "dest": Mode.SELF_TEST},
    {"trigger": Trigger.SELF_TEST_PASSED, "source": Mode.SELF_TEST, "dest": Mode.IDLE},
    {"trigger": Trigger.ARM, "source": Mode.IDLE, "dest": Mode.READY},
    {"trigger": Trigger.DISARM, "source": Mode.READY, "dest": Mode.IDLE, "before": RETRACT},
    {"trigger": Trigger.START, "source": Mode.READY, "dest": Mode.RUNNING},
    {"trigger": Trigger.PAUSE, "source": Mode.RUNNING, "dest": Mode.PAUSED, "before": RETRACT},
    {"trigger": Trigger.RESUME, "source": Mode.PAUSED, "dest": Mode.RUNNING},
    {
        "trigger": Trigger.STOP,
        "source": [Mode.RUNNING, Mode.PAUSED, Mode.READY],
        "dest": Mode.IDLE,
        "before": RETRACT,
    },
    {"trigger": Trigger.FAULT, "source": list(FAULTABLE), "dest": Mode.FAULT, "before": RETRACT},
    {"trigger": Trigger.CLEAR, "source": Mode.FAULT, "dest": Mode.IDLE},
    {
        "trigger": Trigger.ESTOP,
        "source": [s for s in POWERED if s != Mode.ESTOP],
        "dest": Mode.ESTOP,
        "before": RETRACT,
    },
    {"trigger": Trigger.RELEASE, "source": Mode.ESTOP, "dest": Mode.SELF_TEST},
    {"trigger": Trigger.POWER_OFF, "source": list(POWERED), "dest": Mode.OFF, "before": RETRACT},
)
TRIGGERS = tuple(dict.fromkeys(str(t["trigger"]) for t in TRANSITIONS))


@dataclass(kw_only=True, frozen=True)
class TransitionRecord:
    """One line of the state-transition log."""

    t_s: float
    trigger: str
    source: str
    dest: str
    reason: str


Guard = Callable[[], list[str]]
"""Returns the reasons a trigger must be refused now; empty means allowed."""


class PenStateMachine:
    """The pen's mode, its allowed transitions, their guards and the transition log.

    It is its own ``transitions`` model: the library keeps :attr:`state` on it and
    calls the callbacks the table names (guard, retract, record) on it.
    """

    state: str

    def __init__(
        self,
        now: Callable[[], float],
        retract: Callable[[], None],
        guards: Mapping[str, Guard] | None = None,
    ) -> None:
        self._now = now
        self._retract = retract
        self._guards = dict(guards or {})
        self._refusals: list[str] = []
        self._reason = ""
        self.log: list[TransitionRecord] = []
        self._machine = Machine(
            model=self,
            states=list(STATES),
            transitions=[dict(_plain(t), conditions="_guards_pass") for t in TRANSITIONS],
            initial="off",
            auto_transitions=False,
            send_event=True,
            after_state_change="_record",
            model_attribute="state",
        )

    def allowed(self) -> list[str]:
        """Triggers defined from the current state (guards not evaluated)."""
        return [t for t in TRIGGERS if t in self._machine.get_triggers(self.state)]

    def fire(self, trigger: str, reason: str = "") -> None:
        """Fire ``trigger`` (a :class:`Trigger`; any other name is refused as no such trigger)."""
        state = self.state
        if trigger not in self._machine.get_triggers(state):
            sources = sorted({s for t in TRANSITIONS if t["trigger"] == trigger for s in _as_list(t["source"])})
            why = f"allowed only from {', '.join(sources)}" if sources else "no such trigger"
            raise CommandRefusedError(trigger, state, [why])
        self._refusals = []
        self._reason = reason
        if not self._machine.events[trigger].trigger(self):
            raise CommandRefusedError(trigger, state, self._refusals or ["guard refused"])

    def force(self, trigger: Trigger, dest: Mode, reason: str) -> None:
        """Take a stopping transition whose retract callback failed (the pen is unreachable).

        The before-callback raised, so ``transitions`` left the state as it was; but the firmware
        must not go on believing the pen runs. Only fault and off may be forced; the log records it.
        """
        if dest not in (Mode.FAULT, Mode.OFF):
            raise ValueError(f"only fault and off can be forced, not {dest}")
        source = self.state
        self.state = dest.value  # a plain string, as transitions keeps it: it names an Enum state by member name
        self.log.append(
            TransitionRecord(
                t_s=self._now(),
                trigger=trigger.value,
                source=source,
                dest=dest.value,
                reason=reason + " (retract failed)",
            )
        )

    def _retract_needles(self, event: EventData) -> None:
        self._retract()

    def _guards_pass(self, event: EventData) -> bool:
        guard = self._guards.get(event.event.name)
        self._refusals = guard() if guard else []
        return not self._refusals

    def _record(self, event: EventData) -> None:
        assert event.transition is not None
        self.log.append(
            TransitionRecord(
                t_s=self._now(),
                trigger=event.event.name,
                source=event.transition.source,
                dest=event.transition.dest or event.transition.source,
                reason=self._reason,
            )
        )


def _plain(transition: dict[str, object]) -> dict[str, object]:
    """The table with plain strings: ``transitions`` names Enum states by member name ("OFF"), not value."""
    return {k: [str(s) for s in v] if isinstance(v, list) else str(v) for k, v in transition.items()}


def _as_list(source: object) -> list[str]:
    return [str(s) for s in source] if isinstance(source, list) else [str(source)]
