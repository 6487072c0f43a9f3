"""Real-time mode: the stroke loop paced by the wall clock, one stroke per boundary.

With a real pen the strokes happen in real time and the host must serve every
stroke boundary (apply pending commands, read and check telemetry) before the
next one. This runs the same controller that way and records, per stroke, how
late the boundary was served, which is the figure that says whether the host
keeps up at 150 Hz.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from controller.firmware.pen_controller import PenController
from controller.host.clock import Pacer


@dataclass(frozen=True)
class Lateness:
    """Stroke-boundary lateness in seconds, one element per stroke."""

    seconds: NDArray[np.float64]

    def percentile_us(self, q: float) -> float:
        return float(np.percentile(self.seconds, q) * 1e6)

    def overruns(self, period_s: float) -> int:
        """Boundaries served more than a period late."""
        return int(np.count_nonzero(self.seconds > period_s))


def run_paced(controller: PenController, strokes: int, pacer: Pacer, stop_on_overrun: bool = True) -> Lateness:
    """Run ``strokes`` strokes, one per wall-clock boundary; stop early on a fault.

    A boundary served more than a period late is an overrun (hazard H17): the pen is faulted and
    the run stops, unless ``stop_on_overrun`` is False (measurement only, as ``penctl bench`` does).
    """
    late = np.zeros(strokes)
    done = 0
    for k in range(strokes):
        late[k] = pacer.wait_for_boundary(k)
        done = k + 1
        if late[k] > pacer.period_s and stop_on_overrun:
            # A boundary served more than a period late: strokes went unsupervised. Stop.
            controller.fault(
                "overrun",
                f"stroke boundary {k} served {late[k] * 1e3:.2f} ms late (period {pacer.period_s * 1e3:.2f} ms)",
                late[k],
                pacer.period_s,
            )
            break
        if len(controller.run(1)) == 0 or controller.state != "running":
            break
    return Lateness(late[:done])
