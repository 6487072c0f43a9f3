"""The wall clock that paces a real pen: the only place in ``controller`` that reads it or sleeps.

A real pen strokes in real time, so the host must serve each stroke boundary
before the next one. The firmware's own time stays the injected
:class:`controller.firmware.clock.Clock`; this module satisfies that protocol with
the host's monotonic counter.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol


class HostClock(Protocol):
    """What paces the host: a time in seconds and a way to wait for one."""

    def now(self) -> float: ...

    def wait_until(self, t_s: float) -> None: ...


class WallClock:
    """Real time for real pens: seconds since construction, from the host's monotonic counter."""

    def __init__(self) -> None:
        self._start = time.perf_counter()

    SPIN_S = 0.0003

    def now(self) -> float:
        return time.perf_counter() - self._start

    def wait_until(self, t_s: float) -> None:
        """Sleep until shortly before ``t_s``, then spin: a plain sleep on a shared machine wakes a tick late."""
        remaining = t_s - self.now()
        if remaining > self.SPIN_S:
            time.sleep(remaining - self.SPIN_S)
        while self.now() < t_s:
            pass


class SteppedHostClock:
    """A host's time that moves only when it waits: a host stall replayed the same to the nanosecond every run.

    Integer nanoseconds, so the hazard campaign's overrun figure is the same on
    any machine, loaded or not, and a dossier built from it is byte-identical.
    """

    def __init__(self) -> None:
        self._ns = 0

    def now(self) -> float:
        return self._ns / 1e9

    def wait_until(self, t_s: float) -> None:
        self._ns = max(self._ns, round(t_s * 1e9))


class Pacer:
    """Paces a loop to stroke boundaries on a host clock and measures how late each one is served."""

    def __init__(self, period_s: float, clock: HostClock | None = None) -> None:
        self.period_s = period_s
        self.clock = clock or WallClock()
        self._origin = self.clock.now()

    def wait_for_boundary(self, k: int) -> float:
        """Block until stroke boundary ``k``; return how late (seconds) it is served."""
        target = self._origin + k * self.period_s
        self.clock.wait_until(target)
        return self.clock.now() - target


def call_later(delay_s: float, function: Callable[[], object], name: str) -> None:
    """Call ``function`` from a daemon thread after ``delay_s`` seconds of wall time (Ctrl-C's redelivery)."""
    timer = threading.Timer(delay_s, function)
    timer.name = name
    timer.daemon = True
    timer.start()
