"""The served pen's power-on clock: wall time, because a real pen's clock runs while it sits idle.

Only ``penctl serve`` uses it: the watchdog and the service-unlock expiry of a virtual pen on a
pty or TCP port must count the seconds that pass between requests, which pen (simulation) time
does not. Everything else in sim/ runs on pen time and never reads the wall clock. The served
pen's line rate (``penctl serve --baud N``, :class:`WireLine`) is wall time too, so it lives here.
"""

from __future__ import annotations

import time


class PowerOnClock:
    """Seconds since the pen was powered on, from the host's monotonic counter."""

    def __init__(self) -> None:
        self._start = time.monotonic()

    def __call__(self) -> float:
        return time.monotonic() - self._start


BITS_PER_BYTE = 10
"""A UART byte on the wire: start bit, 8 data bits, stop bit (8N1)."""


class WireLine:
    """The served pen's serial line: bytes move at ``baud`` (10 bits each), or at once when ``baud`` is None.

    A socket or pty moves a whole frame in microseconds; a real pen's UART takes 10 bits per byte.
    So that link timings measured against ``penctl serve --baud N`` mean something, received bytes
    are handed to the pen only when their last bit would have arrived, and the pen's replies are
    released in small chunks as they would leave the wire. Both directions are queues, not sleeps,
    so the serving loop stays responsive: an e-stop byte arriving during a long reply is still
    acted on at its own arrival time (the line is full duplex, like a UART).
    """

    def __init__(self, baud: int | None = None) -> None:
        self.baud = baud
        self.byte_s = BITS_PER_BYTE / baud if baud else 0.0
        self.chunk = max(1, (baud or 0) // BITS_PER_BYTE // 1000)
        """Bytes moved as one step: about a millisecond's worth."""
        self._inbound: list[tuple[float, bytes]] = []
        self._outbound: list[tuple[float, bytes]] = []
        self._rx_free = self._tx_free = 0.0

    def received(self, data: bytes) -> None:
        """Bytes the transport delivered now; they reach the pen at their wire arrival times."""
        self._rx_free = self._schedule(self._inbound, data, self._rx_free)

    def send(self, data: bytes) -> None:
        """Bytes the pen sends; they leave at the wire rate, after whatever is still queued."""
        self._tx_free = self._schedule(self._outbound, data, self._tx_free)

    def arrived(self) -> bytes:
        """The received bytes whose last bit has arrived by now."""
        return self._due(self._inbound)

    def sendable(self) -> bytes:
        """The pen's bytes that have left the wire by now: write them to the transport."""
        return self._due(self._outbound)

    def wait_s(self, longest: float) -> float:
        """How long the serving loop may block before a queued byte falls due (at most ``longest``)."""
        pending = [q[0][0] for q in (self._inbound, self._outbound) if q]
        return max(0.0, min([longest, *(t - time.monotonic() for t in pending)]))

    def drop(self) -> None:
        """The host went away: nothing queued either way is delivered."""
        self._inbound.clear()
        self._outbound.clear()

    def _schedule(self, queue: list[tuple[float, bytes]], data: bytes, free: float) -> float:
        if not data:
            return free
        if not self.baud:
            queue.append((0.0, data))
            return free
        due = max(time.monotonic(), free)
        for start in range(0, len(data), self.chunk):
            part = data[start : start + self.chunk]
            due += len(part) * self.byte_s
            queue.append((due, part))
        return due

    @staticmethod
    def _due(queue: list[tuple[float, bytes]]) -> bytes:
        now = time.monotonic()
        count = 0
        while count < len(queue) and queue[count][0] <= now:
            count += 1
        out = b"".join(part for _, part in queue[:count])
        del queue[:count]
        return out
