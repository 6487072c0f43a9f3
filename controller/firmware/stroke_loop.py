"""The timing-critical path: strokes in, checked and counted telemetry out.

Per batch the loop asks the pen for strokes, has the supervisor check them, cuts
the batch at the first violation (rewinding a speculative backend, so the pen
did exactly the strokes up to and including that one), counts strokes and
punctures, and keeps the telemetry. It fires no state-machine trigger: it
returns the violation and the caller changes mode, once.

Commands reach the pen only between batches, so they take effect on a stroke
boundary; a batch never spans two commands.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from controller.firmware.limits import DepthLimit
from controller.firmware.supervisor import Supervisor, Violation
from hal.backend import PenBackend
from hal.errors import PenError, PenRefusedError
from hal.protocol import ErrorCode
from hal.telemetry import StrokeFlag, Telemetry, empty_telemetry

REFUSAL_FAULTS: dict[int, str] = {
    ErrorCode.NO_CARTRIDGE: "cartridge_changed",
    ErrorCode.CARTRIDGE_LOCKED: "cartridge_changed",
    ErrorCode.STORE: "store_write",
}
"""The fault a pen's refusal to go on stroking latches, by the pen's reason."""

DEFAULT_BATCH_STROKES = 2048
"""Strokes asked for at once from a speculative backend (about 17 s at 120 Hz)."""


@dataclass(kw_only=True)
class StrokeCounters:
    """Running totals since power-on."""

    strokes: int = 0
    punctures: int = 0
    batches: int = 0


@dataclass(kw_only=True)
class StrokeLoop:
    """Runs strokes through the supervisor; see the module docstring."""

    backend: PenBackend
    supervisor: Supervisor
    batch_strokes: int = DEFAULT_BATCH_STROKES
    counters: StrokeCounters = field(default_factory=StrokeCounters)

    def empty(self) -> Telemetry:
        return empty_telemetry()

    def run(
        self, strokes: int, depth: DepthLimit, frequency_hz: float, needles: int, cartridge_id: int | None = None
    ) -> tuple[Telemetry, Violation | None, list[Violation]]:
        """Perform up to ``strokes`` strokes; stop at the first violation.

        Returns the telemetry of the strokes the pen really did and the
        violation that stopped it, if any. An empty batch from the pen ends the
        run with a ``link_loss`` violation: a pen that was told to stroke and
        reports nothing cannot be trusted to be safe.
        """
        batches: list[Telemetry] = []
        findings: dict[str, Violation] = {}
        remaining = strokes
        violation: Violation | None = None
        backend = self.backend
        while remaining > 0:
            try:
                tel = backend.read_strokes(min(self.batch_strokes, remaining) if backend.speculative else remaining)
            except PenError as exc:
                # The pen stopped itself or cannot be reached: what was done so far stands.
                violation = self._pen_stopped(exc, batches)
                break
            if len(tel) == 0:
                last = batches[-1][-1] if batches else None
                silent_from = float(last["t_s"] + last["period_s"]) if last is not None else float("nan")
                violation = Violation(
                    kind="link_loss",
                    position=0,
                    stroke=self.counters.strokes,
                    t_s=silent_from,
                    value=0.0,
                    limit=0.0,
                    message="the pen reported no strokes while running",
                )
                break
            violation, found = self.supervisor.inspect(tel, depth, frequency_hz, cartridge_id)
            for finding in found:
                findings.setdefault(finding.kind, finding)
            if violation is not None and backend.speculative:
                # The simulator ran ahead: rewind it to the stroke that broke the limit. If the rewind
                # itself fails, those strokes stand as done (as with a real pen, whose strokes happened).
                keep = violation.position + 1
                if keep < len(tel):
                    try:
                        backend.discard_after(keep)
                        tel = tel[:keep]
                    except PenError:
                        pass
            self._count(tel, needles)
            batches.append(tel)
            remaining -= len(tel)
            if violation is not None:
                break
        found_list = list(findings.values())
        if not batches:
            return empty_telemetry(), violation, found_list
        return (batches[0] if len(batches) == 1 else np.concatenate(batches)), violation, found_list

    def _pen_stopped(self, exc: PenError, batches: list[Telemetry]) -> Violation:
        last = batches[-1][-1] if batches else None
        at = float(last["t_s"] + last["period_s"]) if last is not None else float("nan")
        if isinstance(exc, PenRefusedError):
            kind = REFUSAL_FAULTS.get(exc.code, "pen_refused")
            message = f"the pen stopped itself: {exc}"
        else:
            kind, message = "link_loss", f"lost the pen: {exc}"
        return Violation(
            kind=kind, position=0, stroke=self.counters.strokes, t_s=at, value=0.0, limit=0.0, message=message
        )

    def _count(self, tel: Telemetry, needles: int) -> None:
        c = self.counters
        c.strokes += len(tel)
        c.punctures += int(np.count_nonzero(tel["flags"] & StrokeFlag.PUNCTURED)) * needles
        c.batches += 1
