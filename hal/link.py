"""The host's end of the pen link: one request at a time, acknowledged, retransmitted, counted.

Every request carries a sequence number; the pen's reply echoes it. A reply
that does not arrive within the timeout makes the host send the same request
again with the same sequence number (the pen recognises the duplicate and
resends its cached reply without acting twice), doubling the timeout each time,
up to a bounded number of retries. Replies with another sequence number are
stale duplicates and are dropped. Link statistics are kept so that a field
problem can be diagnosed from the numbers.
"""

from __future__ import annotations

import os
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from hal.errors import PenOperationError, PenRefusedError, PenTimeoutError
from hal.protocol import ESTOP, Frame, FrameDecoder, Msg, encode_frame, unpack_nak
from hal.settings import BY_ID


class BytePort(Protocol):
    """What the link needs of a port: pyserial's ``Serial`` has it, and so do test doubles."""

    def write(self, data: bytes) -> int | None: ...

    def read(self, size: int = 1) -> bytes: ...


@dataclass(kw_only=True)
class LinkStats:
    requests: int = 0
    round_trips: int = 0
    """Request transmissions, retransmissions included."""
    retransmits: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    stale_replies: int = 0
    events: int = 0


@dataclass(kw_only=True)
class Link:
    """Request/reply over a byte port; see the module docstring."""

    port: BytePort
    timeout_s: float = 0.25
    retries: int = 6
    max_timeout_s: float = 2.0
    stats: LinkStats = field(default_factory=LinkStats)
    decoder: FrameDecoder = field(default_factory=FrameDecoder)
    events: list[bytes] = field(default_factory=list)
    _seq: int = 0
    _inbox: deque[Frame] = field(default_factory=deque)

    def request(self, msg: Msg, payload: bytes = b"", expect: Msg = Msg.ACK) -> bytes:
        """Send ``msg`` and return the payload of the ``expect`` reply.

        Raises :class:`PenRefusedError` on NAK and :class:`PenTimeoutError` when
        no reply came after every retry.
        """
        self._seq = (self._seq + 1) & 0xFF
        frame = encode_frame(self._seq, msg, payload)
        self.stats.requests += 1
        timeout = self.timeout_s
        for attempt in range(self.retries + 1):
            if attempt:
                self.stats.retransmits += 1
            self._write(frame)
            self.stats.round_trips += 1
            self.stats.bytes_sent += len(frame)
            reply = self._await(self._seq, timeout)
            if reply is not None:
                kind, body = reply
                if kind == Msg.NAK:
                    code, setting_id, message = unpack_nak(body)
                    setting = BY_ID.get(setting_id)
                    raise PenRefusedError(code, setting.key if setting else "", message)
                if kind == msg and expect != msg:
                    raise PenOperationError(
                        f"the port echoes what it is sent ({msg.name} came back as it was sent): it is a "
                        "loopback (such as loop://), not a pen; nothing that speaks the pen protocol is there"
                    )
                if kind != expect:
                    raise PenOperationError(
                        f"pen answered {Msg(kind).name if kind in Msg._value2member_map_ else kind}"
                        f" to {msg.name}, expected {expect.name}"
                    )
                return body
            timeout = min(2 * timeout, self.max_timeout_s)
        raise PenTimeoutError(f"no reply to {msg.name} after {self.retries + 1} attempts")

    def estop(self) -> None:
        """Send the realtime e-stop byte: the pen acts on it at once, even mid-frame."""
        self._write(bytes([ESTOP]))
        self.stats.bytes_sent += 1

    def _write(self, data: bytes) -> None:
        try:
            self.port.write(data)
        except OSError as exc:  # pyserial's SerialException is an OSError too
            raise PenOperationError(f"the link failed while sending: {_reason(exc)}") from exc

    def _read(self) -> bytes:
        try:
            data: bytes = self.port.read(max(1, getattr(self.port, "in_waiting", 0)))
        except OSError as exc:
            raise PenOperationError(f"the link failed while receiving: {_reason(exc)}") from exc
        return data

    def _await(self, seq: int, timeout: float) -> tuple[int, bytes] | None:
        deadline = time.monotonic() + timeout
        while True:
            while self._inbox:
                item = self._inbox.popleft()
                if item.type == Msg.EVENT:
                    self.stats.events += 1
                    self.events.append(item.payload)
                elif item.seq == seq:
                    return item.type, item.payload
                else:
                    self.stats.stale_replies += 1
            if time.monotonic() >= deadline:
                return None
            data = self._read()
            if data:
                self.stats.bytes_received += len(data)
                self._inbox.extend(item for item in self.decoder.feed(data) if not isinstance(item, int))


def _reason(exc: OSError) -> str:
    """The reason alone: pyserial repeats the port and the errno number inside its messages."""
    return os.strerror(exc.errno) if isinstance(exc.errno, int) else str(exc)
