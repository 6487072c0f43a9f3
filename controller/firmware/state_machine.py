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

from transitions import EventData, Machine

from hal.errors import CommandRefusedError

STATES = ("off", "self_test", "idle", "ready", "running", "paused", "fault", "estop")
POWERED = tuple(s for s in STATES if s != "off")
FAULTABLE = ("self_test", "idle", "ready", "running", "paused")
"""States a fault can latch from (fault itself stays latched; estop outranks it)."""

TRANSITIONS: tuple[dict[str, object], ...] = (
    {"trigger": "power_on", "source": "off", "dest": "self_test"},
    {"trigger": "self_test_passed", "source": "self_test", "dest": "idle"},
    {"trigger": "arm", "source": "idle", "dest": "ready"},
    {"trigger": "disarm", "source": "ready", "dest": "idle", "before": "retract"},
    {"trigger": "start", "source": "ready", "dest": "running"},
    {"trigger": "pause", "source": "running", "dest": "paused", "before": "retract"},
    {"trigger": "resume", "source": "paused", "dest": "running"},
    {"trigger": "stop", "source": ["running", "paused", "ready"], "dest": "idle", "before": "retract"},
    {"trigger": "fault", "source": list(FAULTABLE), "dest": "fault", "before": "retract"},
    {"trigger": "clear", "source": "fault", "dest": "idle"},
    {"trigger": "estop", "source": [s for s in POWERED if s != "estop"], "dest": "estop", "before": "retract"},
    {"trigger": "release", "source": "estop", "dest": "self_test"},
    {"trigger": "power_off", "source": list(POWERED), "dest": "off", "before": "retract"},
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


class _Model:
    """The object ``transitions`` decorates; it holds only the state."""

    state: str


class PenStateMachine:
    """The pen's mode, its allowed transitions, their guards and the transition log."""

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
        self._model = _Model()
        self._machine = Machine(
            model=self._model,
            states=list(STATES),
            transitions=[dict(t, conditions="guards_pass") for t in TRANSITIONS],
            initial="off",
            auto_transitions=False,
            send_event=True,
            after_state_change="record",
            model_attribute="state",
        )
        # Callbacks named in the table resolve on the model; point them here.
        self._model.guards_pass = self._guards_pass  # type: ignore[attr-defined]
        self._model.retract = lambda event: self._retract()  # type: ignore[attr-defined]
        self._model.record = self._record  # type: ignore[attr-defined]

    @property
    def state(self) -> str:
        return self._model.state

    def allowed(self) -> list[str]:
        """Triggers defined from the current state (guards not evaluated)."""
        return [t for t in TRIGGERS if t in self._machine.get_triggers(self.state)]

    def fire(self, trigger: str, reason: str = "") -> None:
        """Fire ``trigger``; raise :class:`CommandRefusedError` if it is invalid or refused."""
        state = self.state
        if trigger not in self._machine.get_triggers(state):
            sources = sorted({s for t in TRANSITIONS if t["trigger"] == trigger for s in _as_list(t["source"])})
            why = f"allowed only from {', '.join(sources)}" if sources else "no such trigger"
            raise CommandRefusedError(trigger, state, [why])
        self._refusals = []
        self._reason = reason
        if not self._model.trigger(trigger):  # type: ignore[attr-defined]
            raise CommandRefusedError(trigger, state, self._refusals or ["guard refused"])

    def force(self, trigger: str, dest: str, reason: str) -> None:
        """Take a stopping transition whose retract callback failed (the pen is unreachable).

        The before-callback raised, so ``transitions`` left the state as it was; but the firmware
        must not go on believing the pen runs. Only fault and off may be forced; the log records it.
        """
        if dest not in ("fault", "off"):
            raise ValueError(f"only fault and off can be forced, not {dest}")
        source = self.state
        self._model.state = dest
        self.log.append(
            TransitionRecord(
                t_s=self._now(), trigger=trigger, source=source, dest=dest, reason=reason + " (retract failed)"
            )
        )

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


def _as_list(source: object) -> list[str]:
    return [str(s) for s in source] if isinstance(source, list) else [str(source)]
