"""Alarms: raised once per condition, with priority, time, stroke and values; acknowledged by the operator.

A high-priority alarm goes with a latched fault (the state machine holds the
pen); medium and low ones do not stop the stroke but are kept until resolved or
acknowledged, and medium ones block starting anything new (see the hazard table).
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.firmware.hazards import BY_KIND, Priority, priority_of
from hal.protocol import Alarm


@dataclass(kw_only=True)
class AlarmRecord:
    t_s: float
    kind: str
    hazard: str
    priority: Priority
    message: str
    value: float = 0.0
    limit: float = 0.0
    stroke: int = -1
    active: bool = True


class AlarmLog:
    """Every alarm raised in a session, and which are still active."""

    def __init__(self) -> None:
        self.records: list[AlarmRecord] = []

    def raise_alarm(
        self, t_s: float, kind: str, message: str, value: float = 0.0, limit: float = 0.0, stroke: int = -1
    ) -> AlarmRecord | None:
        """Record an alarm unless one of the same kind is still active (no alarm floods)."""
        if self.is_active(kind):
            return None
        hazard = BY_KIND[kind].id if kind in BY_KIND else "-"
        record = AlarmRecord(
            t_s=t_s,
            kind=kind,
            hazard=hazard,
            priority=priority_of(kind),
            message=message,
            value=value,
            limit=limit,
            stroke=stroke,
        )
        self.records.append(record)
        return record

    def is_active(self, kind: str) -> bool:
        return any(r.active and r.kind == kind for r in self.records)

    def active(self, priority: Priority | None = None) -> list[AlarmRecord]:
        return [r for r in self.records if r.active and (priority is None or r.priority == priority)]

    def resolve(self, kind: str) -> None:
        """The condition is gone and the operator acknowledged it."""
        for r in self.records:
            if r.kind == kind:
                r.active = False


@dataclass(kw_only=True, frozen=True)
class FaultRecord:
    """A latched fault: what, when, on which stroke, and the values seen."""

    kind: str
    t_s: float
    stroke: int
    value: float
    limit: float
    message: str


STORE_ALARMS = {
    Alarm.STORE_BLANK: "blank at boot: factory defaults in force",
    Alarm.STORE_CORRUPT: "corrupt at boot: factory defaults in force",
    Alarm.STORE_ROLLED_BACK: "unreadable in its newest image: an older image is in force",
    Alarm.STORE_DAMAGED: "damaged (commit record unreadable): the newest intact image is in force, unproven",
}
"""Store alarms that block arming until the operator has acknowledged them."""
