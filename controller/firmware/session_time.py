"""A session's stroking time, counted in whole ticks of the pen's stroke timer against the session maximum.

The pen strokes for a whole number of timer ticks each time; adding float periods instead lets a 60-minute
session drift (432,000 strokes at 120 Hz summed as float32 come to 3,600.0002 s, one stroke short of the
limit). In ticks the arithmetic is exact, so the maximum holds to the stroke.

The rule at the maximum: no stroke starts once the stroking time has reached it, and one that starts before
it is finished. A crystal-timed voice-coil pen's strokes are exactly their nominal period, so a zone planned
to end at the maximum ends there; a rotary pen's revolutions are as long as its speed loop makes them (a few
ticks more at first skin contact), and counting whole nominal periods would cut its last stroke.
"""

from __future__ import annotations

from dataclasses import dataclass

from hal.telemetry import PEN_TICK_HZ, Telemetry, period_ticks


@dataclass(kw_only=True)
class SessionTime:
    ticks: int = 0

    @property
    def seconds(self) -> float:
        return self.ticks / PEN_TICK_HZ

    def strokes_left(self, max_s: float, frequency_hz: float) -> int:
        """Strokes at ``frequency_hz`` that start before a session maximum of ``max_s`` is reached."""
        period = max(2, round(PEN_TICK_HZ / frequency_hz))  # the pen's timer counts whole ticks
        return max(0, -((self.ticks - self._max_ticks(max_s)) // period))

    def add(self, tel: Telemetry) -> None:
        self.ticks += int(period_ticks(tel).sum())

    def reached(self, max_s: float) -> bool:
        return self.ticks >= self._max_ticks(max_s)

    @staticmethod
    def _max_ticks(max_s: float) -> int:
        return round(max_s * PEN_TICK_HZ)
