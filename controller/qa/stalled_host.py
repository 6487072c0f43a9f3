"""A host that misses stroke boundaries: the slow-host hazard (H17) provoked from outside the pen."""

from __future__ import annotations

from controller.host.clock import HostClock
from hal.backend import PenBackend, PenIdentity, PenStatus, StrokeCommand
from hal.telemetry import Telemetry


class StalledHost:
    """A pen seen through a host that is descheduled once: read ``stall_at`` is served ``stall_s`` late.

    The stall is the host's, not the pen's, so it is modelled here, around the
    backend, rather than inside the simulator.
    """

    def __init__(self, pen: PenBackend, *, stall_at: int, stall_s: float, clock: HostClock) -> None:
        self.pen, self.stall_at, self.stall_s = pen, stall_at, stall_s
        self.name, self.speculative, self.simulated = pen.name, pen.speculative, pen.simulated
        self.reads = 0
        self.clock = clock

    def read_strokes(self, max_strokes: int) -> Telemetry:
        self.reads += 1
        if self.reads == self.stall_at:
            self.clock.wait_until(self.clock.now() + self.stall_s)
        return self.pen.read_strokes(max_strokes)

    def identify(self) -> PenIdentity:
        return self.pen.identify()

    def status(self) -> PenStatus:
        return self.pen.status()

    def apply(self, command: StrokeCommand) -> None:
        self.pen.apply(command)

    def discard_after(self, keep: int) -> None:
        self.pen.discard_after(keep)

    def retract(self) -> None:
        self.pen.retract()

    def close(self) -> None:
        self.pen.close()
