"""A lossy in-memory link between the host and a virtual pen, for fault-injection tests.

Bytes in both directions pass through a channel that, at set rates, drops a
byte, corrupts it (replaces it with another value), duplicates it, or holds a
whole chunk back until later (so it arrives after the host has retransmitted).
All randomness comes from a seeded generator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.virtual_pen import VirtualPen


@dataclass
class Faults:
    drop: float = 0.0
    corrupt: float = 0.0
    duplicate: float = 0.0
    delay: float = 0.0
    """Chance that a whole reply chunk is held back until after the host's next write."""


@dataclass
class FaultyLink:
    """Host-side port double (``write``, ``read``, ``in_waiting``, ``close``)."""

    pen: VirtualPen
    faults: Faults
    rng: np.random.Generator
    _inbox: bytearray = field(default_factory=bytearray)
    _held: list[bytes] = field(default_factory=list)
    mangled_bytes: int = 0

    def mangle(self, data: bytes) -> bytes:
        f = self.faults
        out = bytearray()
        for b in data:
            r = self.rng.random()
            if r < f.drop:
                self.mangled_bytes += 1
                continue
            if r < f.drop + f.corrupt:
                self.mangled_bytes += 1
                out.append((b + int(self.rng.integers(1, 256))) & 0xFF)
                continue
            out.append(b)
            if r < f.drop + f.corrupt + f.duplicate:
                self.mangled_bytes += 1
                out.append(b)
        return bytes(out)

    def write(self, data: bytes) -> int:
        for chunk in self._held:
            self._inbox += chunk
        self._held.clear()
        reply = self.mangle(self.pen.feed(self.mangle(data)))
        if self.rng.random() < self.faults.delay:
            self._held.append(reply)
        else:
            self._inbox += reply
        return len(data)

    @property
    def in_waiting(self) -> int:
        return len(self._inbox)

    def read(self, size: int = 1) -> bytes:
        out = bytes(self._inbox[:size])
        del self._inbox[:size]
        return out

    def close(self) -> None:
        pass
