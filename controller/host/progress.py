"""A progress bar on stderr (a terminal only) for runs that last longer than about a second.

This is user interface, not firmware: it reads the host's monotonic clock only
to decide whether a run is long enough to deserve a bar and how often to redraw.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

SHOW_AFTER_S = 1.0
WIDTH = 30


class ProgressBar:
    """Call with (done, total); draws nothing for the first second, then a bar."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self.shown = False
        self.enabled = self.stream.isatty()
        """Only a terminal gets a bar: redrawn frames would be noise in a log or a pipe."""

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or (not self.shown and time.monotonic() - self.started < SHOW_AFTER_S):
            return
        self.shown = True
        fraction = done / total if total else 1.0
        filled = int(WIDTH * fraction)
        self.stream.write(
            f"\r{self.label} [{'#' * filled}{'.' * (WIDTH - filled)}] {fraction:6.1%} {done}/{total} strokes"
        )
        self.stream.flush()

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()
