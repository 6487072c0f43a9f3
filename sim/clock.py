"""The served pen's power-on clock: wall time, because a real pen's clock runs while it sits idle.

Only ``penctl serve`` uses it: the watchdog and the service-unlock expiry of a virtual pen on a
pty or TCP port must count the seconds that pass between requests, which pen (simulation) time
does not. Everything else in sim/ runs on pen time and never reads the wall clock.
"""

from __future__ import annotations

import time


class PowerOnClock:
    """Seconds since the pen was powered on, from the host's monotonic counter."""

    def __init__(self) -> None:
        self._start = time.monotonic()

    def __call__(self) -> float:
        return time.monotonic() - self._start
