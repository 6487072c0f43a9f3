"""Time for the firmware logic, injected so a simulation is deterministic.

The firmware never reads the wall clock or sleeps: every timeout and timestamp
comes from a :class:`Clock`. In simulation the :class:`SimClock` follows pen
time as the stroke loop consumes telemetry, so two runs with the same seed give
the same timestamps bit for bit. The wall-clock pacer for real pens lives here
too, and only here.
"""

from __future__ import annotations

import time
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


class WallClock:
    """Real time for real pens: seconds since construction, from the host's monotonic counter."""

    def __init__(self) -> None:
        self._start = time.perf_counter()

    def now(self) -> float:
        return time.perf_counter() - self._start


class Pacer:
    """Paces a loop to stroke boundaries on the wall clock and measures how late each one is served.

    It sleeps until shortly before the boundary and spins for the rest, because
    a plain sleep on a shared machine wakes up to a scheduler tick late.
    """

    SPIN_S = 0.0003

    def __init__(self, period_s: float, clock: WallClock | None = None) -> None:
        self.period_s = period_s
        self.clock = clock or WallClock()
        self._origin = self.clock.now()

    def wait_for_boundary(self, k: int) -> float:
        """Block until stroke boundary ``k``; return how late (seconds) it is served."""
        target = self._origin + k * self.period_s
        remaining = target - self.clock.now()
        if remaining > self.SPIN_S:
            time.sleep(remaining - self.SPIN_S)
        while self.clock.now() < target:
            pass
        return self.clock.now() - target
