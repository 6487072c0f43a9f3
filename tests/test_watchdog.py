"""The watchdog's one rule, swept over every refusal code: only a request the pen accepted feeds it.

With the motor on, a host resends one refused frame every 100 ms for 1.8 s (identical, so a
retransmission of a refused request, and with a fresh sequence number each time). For every NAK
code of docs/protocol.md the pen must retract within ``watchdog.timeout_ms`` and say so with a
fault EVENT. Codes a running pen can really be driven to (UNKNOWN_TYPE, BAD_PAYLOAD, VERSION,
SETTING_UNKNOWN, BUSY, COMMAND_RANGE, AUTH_FAILED, AUTH_LOCKED, NO_KEY) are produced by real
requests; every code is also produced by a handler that refuses with it, so no code escapes the
rule. A retransmitted accepted request does feed it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest

from hal.errors import PenRefusedError
from hal.messages import encode
from hal.protocol import ErrorCode, EventKind, Frame, FrameDecoder, Msg, encode_frame, pack_settings
from sim.backend import SimBackend
from sim.factories import DEFAULT_CARTRIDGE
from sim.virtual_pen import VirtualPen

KEY = bytes(range(32))
PERIOD_S = 0.1
TIMEOUT_S = 0.5
"""watchdog.timeout_ms at its default."""


class Host:
    """A host on an in-memory line to a virtual pen whose power-on clock the test moves."""

    def __init__(self, key: bytes | None = KEY) -> None:
        self.now = 0.0
        self.sim = SimBackend(cartridge=DEFAULT_CARTRIDGE, service_key=key)
        self.pen = VirtualPen(self.sim, clock=lambda: self.now)
        self.decoder = FrameDecoder()
        self.seq = 0
        self.events: list[Frame] = []

    def send(self, msg: int, payload: bytes = b"", seq: int | None = None) -> Frame:
        """Send one frame; return the pen's reply to it (events go to ``self.events``)."""
        if seq is None:
            self.seq = (self.seq + 1) & 0xFF
            seq = self.seq
        return self.raw(encode_frame(seq, msg, payload))

    def raw(self, frame: bytes) -> Frame:
        replies = [f for f in self.decoder.feed(self.pen.feed(frame)) if isinstance(f, Frame)]
        self.events += [f for f in replies if f.type == Msg.EVENT]
        (reply,) = [f for f in replies if f.type != Msg.EVENT]
        return reply

    def tick(self, seconds: float) -> None:
        self.now += seconds
        self.events += [f for f in self.decoder.feed(self.pen.poll()) if isinstance(f, Frame)]

    def motor_on(self) -> None:
        assert self.send(Msg.HELLO, b"\x01").type == Msg.HELLO_REPLY
        command = encode(Msg.COMMAND, depth_mm=1.0, frequency_hz=100.0, motor_enabled=True)
        assert self.send(Msg.COMMAND, command).type == Msg.ACK
        assert self.send(Msg.READ_STROKES, struct.pack("<I", 5)).type == Msg.TELEMETRY
        self.events.clear()

    @property
    def running(self) -> bool:
        return bool(self.sim.pen.command.motor_enabled)


def _nak_code(reply: Frame) -> int:
    assert reply.type == Msg.NAK, reply
    return reply.payload[0]


def _wrong_unlock(host: Host) -> bytes:
    return encode(Msg.SERVICE_UNLOCK, level="service", answer=bytes(32))


def _challenge_then_wrong(host: Host) -> tuple[int, bytes]:
    assert host.send(Msg.SERVICE_CHALLENGE).type == Msg.CHALLENGE
    return Msg.SERVICE_UNLOCK, _wrong_unlock(host)


def _locked_out(host: Host) -> tuple[int, bytes]:
    for _ in range(3):
        host.send(Msg.SERVICE_CHALLENGE)
        host.send(Msg.SERVICE_UNLOCK, _wrong_unlock(host))
    return Msg.SERVICE_CHALLENGE, b""


REAL: dict[ErrorCode, Callable[[Host], tuple[int, bytes]]] = {
    ErrorCode.UNKNOWN_TYPE: lambda h: (0x3F, b""),
    ErrorCode.BAD_PAYLOAD: lambda h: (Msg.READ_STROKES, b"\x01"),
    ErrorCode.VERSION: lambda h: (Msg.HELLO, b"\x02"),
    ErrorCode.SETTING_UNKNOWN: lambda h: (Msg.SETTINGS_WRITE, struct.pack("<HHd", 1, 999, 1.0)),
    ErrorCode.BUSY: lambda h: (Msg.SETTINGS_WRITE, pack_settings({"depth.max_mm": 2.0})),
    ErrorCode.COMMAND_RANGE: lambda h: (
        Msg.COMMAND,
        encode(Msg.COMMAND, depth_mm=9.0, frequency_hz=100.0, motor_enabled=True),
    ),
    ErrorCode.AUTH_FAILED: _challenge_then_wrong,
    ErrorCode.AUTH_LOCKED: _locked_out,
    ErrorCode.NO_KEY: lambda h: (Msg.SERVICE_UNLOCK, _wrong_unlock(h)),
}


def _starve(host: Host, msg: int, payload: bytes, fresh_seq: bool) -> float | None:
    """Resend the frame every PERIOD_S for 1.8 s; how long the motor ran on (None: all the time)."""
    start = host.now
    seq = host.seq = (host.seq + 1) & 0xFF
    for _ in range(18):
        host.send(msg, payload, seq=None if fresh_seq else seq)
        host.tick(PERIOD_S)
        if not host.running:
            return host.now - start
    return None


def _assert_retracted_in_time(host: Host, stopped_at: float | None, what: str) -> None:
    assert stopped_at is not None, f"{what}: the motor ran on for 1.8 s"
    assert stopped_at <= TIMEOUT_S + PERIOD_S + 1e-9, f"{what}: stopped only at {stopped_at:.1f} s"
    assert [e for e in host.events if e.payload[0] == EventKind.FAULT], f"{what}: no fault EVENT"
    assert host.sim.pen.state.x_m < 0, f"{what}: needles not retracted"


@pytest.mark.parametrize("fresh_seq", [False, True], ids=["retransmitted", "fresh-seq"])
@pytest.mark.parametrize("code", list(REAL), ids=[c.name for c in REAL])
def test_a_refused_request_made_for_real_never_feeds_the_watchdog(code: ErrorCode, fresh_seq: bool) -> None:
    host = Host(key=None if code == ErrorCode.NO_KEY else KEY)
    host.motor_on()
    msg, payload = REAL[code](host)
    host.tick(0.0)
    assert host.running, "the set-up itself kept the motor on"
    first = host.send(msg, payload)
    assert _nak_code(first) == code, first.payload
    _assert_retracted_in_time(host, _starve(host, msg, payload, fresh_seq), code.name)


@pytest.mark.parametrize("code", list(ErrorCode), ids=[c.name for c in ErrorCode])
def test_every_refusal_code_leaves_the_watchdog_unfed(code: ErrorCode) -> None:
    host = Host()
    host.motor_on()

    def refuse(_fields: object) -> tuple[int, bytes]:
        if code == ErrorCode.INTERNAL:
            raise RuntimeError("a handler that fails inside the pen")
        raise PenRefusedError(code, "", f"refused with {code.name}")

    host.pen.handlers[Msg.STATUS] = refuse
    assert _nak_code(host.send(Msg.STATUS)) == code
    _assert_retracted_in_time(host, _starve(host, Msg.STATUS, b"", fresh_seq=False), code.name)


def test_a_retransmitted_accepted_request_feeds_the_watchdog() -> None:
    host = Host()
    host.motor_on()
    seq = host.seq = host.seq + 1
    for _ in range(18):
        assert host.send(Msg.STATUS, seq=seq).type == Msg.STATUS_REPLY
        host.tick(PERIOD_S)
    assert host.running and not host.events
    assert host.pen.stats.duplicates == 17


def test_accepted_requests_between_refused_ones_keep_it_fed_and_the_refused_alone_do_not() -> None:
    host = Host()
    host.motor_on()
    for k in range(18):
        host.send(0x3F) if k % 2 else host.send(Msg.STATUS)
        host.tick(PERIOD_S)
    assert host.running, "a STATUS every 200 ms is a supervising host"
    _assert_retracted_in_time(host, _starve(host, 0x3F, b"", fresh_seq=True), "unknown types alone")
