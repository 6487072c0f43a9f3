"""Time for the firmware logic, injected so a simulation is deterministic.

The firmware never reads the wall clock or sleeps: every timeout and timestamp
comes from a :class:`Clock`. In simulation the :class:`SimClock` follows pen
time as the stroke loop consumes telemetry, so two runs with the same seed give
the same timestamps bit for bit. The wall clock that paces a real pen is host
tooling and lives in ``controller/host/clock.py``.
"""

from __future__ import annotations

from typing import Protocol


class Clock(Protocol):
    """A source of seconds since the session began."""

    def now(self) -> float:
        """Seconds since the clock started."""
        ...


class SimClock:
    """Simulated time: moves only when told, never backwards."""

    def __init__(self, start_s: float = 0.0) -> None:
        self._now = start_s

    def now(self) -> float:
        return self._now

    def advance_to(self, t_s: float) -> None:
        """Move to ``t_s``; a time in the past is a bug in the caller."""
        if t_s < self._now:
            raise ValueError(f"simulated time cannot go back from {self._now} s to {t_s} s")
        self._now = t_s
