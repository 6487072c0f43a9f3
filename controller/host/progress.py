"""A progress bar on stderr for runs that last longer than about a second: tqdm, drawn only on a terminal.

This is user interface, not firmware. ``disable=None`` makes tqdm draw only when
its stream is a terminal (redrawn frames would be noise in a log or a pipe), and
``delay`` keeps short runs free of a bar.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from tqdm import tqdm

SHOW_AFTER_S = 1.0


class ProgressBar:
    """Call with (done, total) strokes (or ``unit``s); a tqdm bar on ``stream`` (default stderr)."""

    def __init__(
        self, label: str, stream: TextIO | None = None, delay_s: float = SHOW_AFTER_S, unit: str = "stroke"
    ) -> None:
        self.label = label
        self.unit = unit
        self.stream = stream or sys.stderr
        self.delay_s = delay_s
        self._bar: tqdm[Any] | None = None

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            self._bar = tqdm(
                total=total,
                desc=self.label,
                unit=self.unit,
                file=self.stream,
                disable=None,
                delay=self.delay_s,
                leave=False,
                dynamic_ncols=True,
            )
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
