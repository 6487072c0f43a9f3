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


def call_later(delay_s: float, function: Callable[[], object], name: str) -> None:
    """Call ``function`` from a daemon thread after ``delay_s`` seconds of wall time (Ctrl-C's redelivery)."""
    timer = threading.Timer(delay_s, function)
    timer.name = name
    timer.daemon = True
    timer.start()
