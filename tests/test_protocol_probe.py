"""Black-box probe of the pen link protocol, written from docs/protocol.md alone.

Each test starts its own ``penctl serve --tcp 0`` subprocess, talks to it with the minimal client below
(standard library only) and stops it with SIGTERM.
"""

from __future__ import annotations

import binascii
import contextlib
import hashlib
import hmac
import math
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# ----------------------------------------------------------------------------------------------------------------------
# Protocol constants (docs/protocol.md)
# ----------------------------------------------------------------------------------------------------------------------

FLAG = 0x7E
ESC = 0x7D
ESTOP = 0x18
VERSION = 1

HELLO = 0x01
STATUS = 0x02
COMMAND = 0x03
READ_STROKES = 0x04
DISCARD_AFTER = 0x05
RETRACT = 0x06
SET_SKIN = 0x07
WAIT = 0x08
RESET_WORLD = 0x09
ESTOP_RELEASE = 0x0A
INJECT_FAULT = 0x0B
SETTINGS_READ = 0x10
SETTINGS_WRITE = 0x11
SETTINGS_COMMIT = 0x12
SETTINGS_ABORT = 0x13
SETTINGS_FACTORY = 0x14
ALARMS_READ = 0x15
ALARMS_CLEAR = 0x16
LINK_STATS = 0x17
SERVICE_CHALLENGE = 0x20
SERVICE_UNLOCK = 0x21

ACK = 0x80
NAK = 0x81
HELLO_REPLY = 0x82
STATUS_REPLY = 0x83
TELEMETRY = 0x84
SETTINGS_VALUES = 0x85
ALARMS = 0x86
CHALLENGE = 0x87
LINK_STATS_REPLY = 0x88
EVENT = 0xA0

REQUEST_TYPES = (
    HELLO,
    STATUS,
    COMMAND,
    READ_STROKES,
    DISCARD_AFTER,
    RETRACT,
    SET_SKIN,
    WAIT,
    RESET_WORLD,
    ESTOP_RELEASE,
    INJECT_FAULT,
    SETTINGS_READ,
    SETTINGS_WRITE,
    SETTINGS_COMMIT,
    SETTINGS_ABORT,
    SETTINGS_FACTORY,
    ALARMS_READ,
    ALARMS_CLEAR,
    LINK_STATS,
    SERVICE_CHALLENGE,
    SERVICE_UNLOCK,
)
# the data reply a request may get besides ACK / NAK
DATA_REPLY = {
    HELLO: HELLO_REPLY,
    STATUS: STATUS_REPLY,
    READ_STROKES: TELEMETRY,
    SETTINGS_READ: SETTINGS_VALUES,
    ALARMS_READ: ALARMS,
    SERVICE_CHALLENGE: CHALLENGE,
    LINK_STATS: LINK_STATS_REPLY,
}

# NAK codes
E_UNKNOWN_TYPE = 1
E_BAD_PAYLOAD = 2
E_VERSION = 3
E_SETTING_UNKNOWN = 4
E_SETTING_RANGE = 5
E_SETTING_RULE = 6
E_ACCESS = 7
E_NOTHING_STAGED = 8
E_BUSY = 9
E_ESTOP_LATCHED = 10
E_COMMAND_RANGE = 13
E_CARTRIDGE_LOCKED = 14
E_AUTH_FAILED = 15
E_AUTH_LOCKED = 16
E_NO_KEY = 17
E_NO_CARTRIDGE = 18
E_INTERNAL = 19

# settings ids (docs/settings.md)
S_DEPTH_MAX = 1
S_WATCHDOG_MS = 18
S_SERVO_GAIN = 8
S_BATCH_MAX = 21

CAP_SPECULATIVE = 0x01
CAP_SIMULATED_WORLD = 0x02

OVER_DEPTH_MARGIN = 0.05
TELEMETRY_RECORD = struct.Struct("<IdfffffffffffIH")
assert TELEMETRY_RECORD.size == 62

PENCTL = Path(sys.executable).with_name("penctl")


# ----------------------------------------------------------------------------------------------------------------------
# Framing
# ----------------------------------------------------------------------------------------------------------------------


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final XOR."""
    return binascii.crc_hqx(data, 0xFFFF)


def stuff(body: bytes) -> bytes:
    out = bytearray()
    for b in body:
        if b in (FLAG, ESC, ESTOP):
            out += bytes((ESC, b ^ 0x20))
        else:
            out.append(b)
    return bytes(out)


def unstuff(data: bytes) -> bytes | None:
    out = bytearray()
    it = iter(data)
    for b in it:
        if b == ESC:
            nxt = next(it, None)
            if nxt is None or (nxt ^ 0x20) not in (FLAG, ESC, ESTOP):
                return None
            out.append(nxt ^ 0x20)
        else:
            out.append(b)
    return bytes(out)


def raw_body(
    seq: int, mtype: int, payload: bytes, *, version: int = VERSION, length: int | None = None, crc: int | None = None
) -> bytes:
    head = struct.pack("<BBBH", version, seq & 0xFF, mtype, len(payload) if length is None else length)
    c = crc16(head + payload) if crc is None else crc
    return head + payload + struct.pack("<H", c)


def encode(seq: int, mtype: int, payload: bytes = b"", **kw: int) -> bytes:
    return bytes((FLAG,)) + stuff(raw_body(seq, mtype, payload, **kw)) + bytes((FLAG,))


@dataclass
class Frame:
    seq: int
    mtype: int
    payload: bytes


def decode_body(body: bytes) -> Frame | None:
    raw = unstuff(body)
    if raw is None or len(raw) < 7:
        return None
    version, seq, mtype, length = struct.unpack_from("<BBBH", raw)
    if version != VERSION or length != len(raw) - 7:
        return None
    (c,) = struct.unpack_from("<H", raw, len(raw) - 2)
    if crc16(raw[:-2]) != c:
        return None
    return Frame(seq, mtype, raw[5:-2])


class Reader:
    """Pulls fields off a payload."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> tuple[Any, ...]:
        st = struct.Struct("<" + fmt)
        vals = st.unpack_from(self.data, self.pos)
        self.pos += st.size
        return vals

    def u8(self) -> int:
        return int(self.take("B")[0])

    def u16(self) -> int:
        return int(self.take("H")[0])

    def u32(self) -> int:
        return int(self.take("I")[0])

    def i32(self) -> int:
        return int(self.take("i")[0])

    def f64(self) -> float:
        return float(self.take("d")[0])

    def string(self) -> str:
        n = self.u8()
        s = self.data[self.pos : self.pos + n]
        self.pos += n
        return s.decode("utf-8")

    def done(self) -> bool:
        return self.pos == len(self.data)


def pstr(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return bytes((len(b),)) + b


# ----------------------------------------------------------------------------------------------------------------------
# Payloads
# ----------------------------------------------------------------------------------------------------------------------


def p_command(depth: float, hz: float, enabled: int) -> bytes:
    return struct.pack("<ddB", depth, hz, enabled)


def p_reset_world(seed: int, cart: int, needles: int, max_depth: float, field_mm: float, soc: float) -> bytes:
    return struct.pack("<QIBddd", seed, cart, needles, max_depth, field_mm, soc)


def p_inject(at_s: float, value: float, kind: str | bytes) -> bytes:
    return struct.pack("<dd", at_s, value) + pstr(kind)


def p_settings(items: list[tuple[int, str, object]]) -> bytes:
    out = struct.pack("<H", len(items))
    for sid, kind, val in items:
        out += struct.pack("<H", sid)
        if kind == "f":
            out += struct.pack("<d", val)
        elif kind == "i":
            out += struct.pack("<i", val)
        elif kind == "b":
            out += struct.pack("<B", val)
        else:
            assert isinstance(val, str | bytes)
            out += pstr(val)
    return out


@dataclass
class Nak:
    error: int
    setting_id: int
    message: str


def parse_nak(payload: bytes) -> Nak:
    r = Reader(payload)
    nak = Nak(r.u8(), r.u16(), r.string())
    assert r.done(), payload
    return nak


@dataclass
class Hello:
    version: int
    schema: int
    caps: int
    max_depth_mm: float
    min_hz: float
    max_hz: float
    model: str
    firmware: str
    serial: str


def parse_hello(payload: bytes) -> Hello:
    r = Reader(payload)
    h = Hello(r.u8(), r.u16(), r.u32(), r.f64(), r.f64(), r.f64(), r.string(), r.string(), r.string())
    assert r.done(), payload
    return h


@dataclass
class Status:
    time_s: float
    battery_v: float
    battery_soc: float
    motor_temp_c: float
    battery_temp_c: float
    tip_mm: float
    estop_latched: int
    pen_depth_limit_mm: float
    cartridge_id: int
    needles: int
    max_depth_mm: float
    field_diameter_mm: float
    strokes_used: int
    locked: int


def parse_status(payload: bytes) -> Status:
    r = Reader(payload)
    s = Status(
        r.f64(), r.f64(), r.f64(), r.f64(), r.f64(), r.f64(), r.u8(), r.f64(), r.u32(), r.u8(), r.f64(), r.f64(),
        r.u32(), r.u8(),
    )  # fmt: skip
    assert r.done(), payload
    return s


@dataclass
class Stroke:
    index: int
    t_s: float
    depth_cmd_mm: float
    depth_target_mm: float
    depth_mm: float
    penetration_mm: float
    load_n: float
    period_s: float
    current_a: float
    motor_temp_c: float
    battery_v: float
    battery_temp_c: float
    end_mm: float
    cartridge_id: int
    flags: int


def parse_telemetry(payload: bytes) -> list[Stroke]:
    (count,) = struct.unpack_from("<H", payload)
    assert len(payload) == 2 + TELEMETRY_RECORD.size * count, (count, len(payload))
    out = []
    for i in range(count):
        vals = TELEMETRY_RECORD.unpack_from(payload, 2 + TELEMETRY_RECORD.size * i)
        out.append(Stroke(*vals))
    return out


@dataclass
class Event:
    kind: int
    time_s: float
    code: int
    message: str


def parse_event(payload: bytes) -> Event:
    r = Reader(payload)
    e = Event(r.u8(), r.f64(), r.u16(), r.string())
    assert r.done(), payload
    return e


LINK_FIELDS = ("frames", "bad_frames", "garbage_bytes", "estops", "duplicates", "naks", "events", "internal_errors")


def parse_link_stats(payload: bytes) -> dict[str, int]:
    assert len(payload) == 32, payload
    return dict(zip(LINK_FIELDS, struct.unpack("<8I", payload), strict=True))


def parse_settings(payload: bytes, types: dict[int, str]) -> dict[int, object]:
    r = Reader(payload)
    out: dict[int, object] = {}
    for _ in range(r.u16()):
        sid = r.u16()
        kind = types[sid]
        if kind == "f":
            out[sid] = r.f64()
        elif kind == "i":
            out[sid] = r.i32()
        elif kind == "b":
            out[sid] = r.u8()
        else:
            out[sid] = r.string()
    assert r.done()
    return out


# types of the 31 settings of docs/settings.md (schema 2)
SETTING_TYPES: dict[int, str] = {i: "f" for i in range(1, 32)}
SETTING_TYPES.update(
    {
        17: "i",
        18: "i",
        19: "i",
        20: "s",
        21: "i",
        22: "i",
        23: "i",
        24: "i",
        25: "i",
        28: "i",
        29: "i",
        30: "i",
        31: "i",
    }
)


def unlock_answer(key: bytes, nonce: bytes, level: int, serial: str) -> bytes:
    msg = b"penctl-unlock-v1|" + nonce + bytes((level,)) + serial.encode("ascii")
    return hmac.new(key, msg, hashlib.sha256).digest()


# ----------------------------------------------------------------------------------------------------------------------
# Client
# ----------------------------------------------------------------------------------------------------------------------


class PenTimeout(AssertionError):
    pass


@dataclass
class Client:
    sock: socket.socket
    seq: int = 0
    buf: bytearray = field(default_factory=bytearray)
    in_frame: bool = False
    events: list[Event] = field(default_factory=list)
    stale: list[Frame] = field(default_factory=list)

    @classmethod
    def connect(cls, port: int) -> Client:
        s = socket.create_connection(("127.0.0.1", port), timeout=5.0)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(s)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def next_seq(self) -> int:
        self.seq = (self.seq + 1) & 0xFF
        return self.seq

    def _read_frames(self, deadline: float) -> list[Frame]:
        """Read what arrives until the deadline or the first decoded frame(s)."""
        frames: list[Frame] = []
        while not frames:
            left = deadline - time.monotonic()
            if left <= 0:
                return frames
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                return frames
            if not data:
                raise ConnectionError("pen closed the connection")
            for b in data:
                if b == FLAG:
                    if self.in_frame and self.buf:
                        f = decode_body(bytes(self.buf))
                        assert f is not None, f"pen sent an invalid frame: {bytes(self.buf).hex(' ')}"
                        frames.append(f)
                    self.buf.clear()
                    self.in_frame = True
                elif self.in_frame:
                    self.buf.append(b)
        return frames

    def pump(self, seconds: float) -> list[Frame]:
        """Collect everything the pen sends for `seconds`; events go to self.events."""
        deadline = time.monotonic() + seconds
        got: list[Frame] = []
        while time.monotonic() < deadline:
            for f in self._read_frames(deadline):
                if f.mtype == EVENT:
                    self.events.append(parse_event(f.payload))
                else:
                    got.append(f)
        return got

    def wait_reply(self, seq: int, timeout: float = 10.0) -> Frame:
        deadline = time.monotonic() + timeout
        while True:
            frames = self._read_frames(deadline)
            if not frames and time.monotonic() >= deadline:
                raise PenTimeout(f"no reply to seq {seq} within {timeout} s")
            reply = None
            for f in frames:  # every frame of the read is kept: an event may follow the reply in one read
                if f.mtype == EVENT:
                    self.events.append(parse_event(f.payload))
                elif f.seq == seq and reply is None:
                    reply = f
                else:
                    self.stale.append(f)
            if reply is not None:
                return reply

    def request(self, mtype: int, payload: bytes = b"", timeout: float = 10.0) -> Frame:
        seq = self.next_seq()
        self.send_raw(encode(seq, mtype, payload))
        return self.wait_reply(seq, timeout)

    def ack(self, mtype: int, payload: bytes = b"") -> None:
        f = self.request(mtype, payload)
        detail = parse_nak(f.payload) if f.mtype == NAK else f.mtype
        assert f.mtype == ACK, f"request 0x{mtype:02x} {payload.hex()} not acknowledged: {detail}"

    def nak(self, mtype: int, payload: bytes = b"") -> Nak:
        f = self.request(mtype, payload)
        assert f.mtype == NAK, f"request 0x{mtype:02x} {payload.hex()} not refused: got 0x{f.mtype:02x}"
        return parse_nak(f.payload)

    def hello(self) -> Hello:
        f = self.request(HELLO, b"\x01")
        assert f.mtype == HELLO_REPLY, f
        return parse_hello(f.payload)

    def status(self) -> Status:
        f = self.request(STATUS)
        assert f.mtype == STATUS_REPLY, f
        return parse_status(f.payload)

    def strokes(self, n: int) -> list[Stroke]:
        f = self.request(READ_STROKES, struct.pack("<I", n), timeout=20.0)
        assert f.mtype == TELEMETRY, (f, parse_nak(f.payload) if f.mtype == NAK else None)
        return parse_telemetry(f.payload)

    def link_stats(self) -> dict[str, int]:
        f = self.request(LINK_STATS)
        assert f.mtype == LINK_STATS_REPLY, f
        return parse_link_stats(f.payload)

    def settings(self) -> dict[int, object]:
        f = self.request(SETTINGS_READ)
        assert f.mtype == SETTINGS_VALUES, f
        return parse_settings(f.payload, SETTING_TYPES)

    def clear_alarms(self) -> None:
        f = self.request(ALARMS_READ)
        assert f.mtype == ALARMS, f
        (count,) = struct.unpack_from("<H", f.payload)
        assert len(f.payload) == 2 + 2 * count
        for code in struct.unpack_from(f"<{count}H", f.payload, 2):
            self.ack(ALARMS_CLEAR, struct.pack("<H", code))

    def fresh_world(self, cart: int, max_depth: float = 2.0, seed: int = 1) -> None:
        self.ack(RESET_WORLD, p_reset_world(seed, cart, 12, max_depth, 3.5, 0.9))
        self.clear_alarms()


# ----------------------------------------------------------------------------------------------------------------------
# Server fixture
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class Pen:
    proc: subprocess.Popen[str]
    port: int
    clients: list[Client] = field(default_factory=list)

    def connect(self, hello: bool = True) -> Client:
        """A new host; with ``hello``, handshaken. The pen refuses a HELLO with BUSY until it has seen the
        previous host's connection close, which on a loaded machine may take a moment: the new host retries,
        as a real one would, for up to 10 s."""
        deadline = time.monotonic() + 10.0
        while True:
            c = Client.connect(self.port)
            self.clients.append(c)
            if not hello:
                return c
            f = c.request(HELLO, b"\x01")
            if f.mtype == HELLO_REPLY:
                return c
            assert f.mtype == NAK and parse_nak(f.payload).error == E_BUSY, f
            assert time.monotonic() < deadline, "the pen stayed busy 10 s after the previous host left"
            c.close()
            time.sleep(0.05)

    def alive(self) -> None:
        assert self.proc.poll() is None, f"pen process died with {self.proc.returncode}"


def start_pen(extra: list[str] | None = None) -> Pen:
    assert PENCTL.exists(), PENCTL
    proc = subprocess.Popen(
        [str(PENCTL), "serve", "--tcp", "0", *(extra or [])],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 20
    line = ""
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if "socket://" in line or not line:
            break
    assert "socket://" in line, f"no URL from penctl serve: {line!r}"
    port = int(line.split("socket://", 1)[1].split()[0].rsplit(":", 1)[1])
    return Pen(proc, port)


def stop_pen(pen: Pen) -> None:
    for c in pen.clients:
        c.close()
    if pen.proc.poll() is None:
        pen.proc.send_signal(signal.SIGTERM)
        try:
            pen.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pen.proc.kill()
            pen.proc.wait(timeout=5)
            raise AssertionError("pen did not stop on SIGTERM") from None
    assert pen.proc.returncode == 0, f"pen exited with {pen.proc.returncode} on SIGTERM"


@pytest.fixture
def pen() -> Iterator[Pen]:
    p = start_pen()
    try:
        yield p
    finally:
        stop_pen(p)


KEY = bytes(range(0x40, 0x60))


@pytest.fixture
def keyed_pen(tmp_path: Path) -> Iterator[Pen]:
    key_file = tmp_path / "service.key"
    key_file.write_text(KEY.hex() + "\n")
    os.chmod(key_file, 0o600)
    p = start_pen(["--service-key-file", str(key_file)])
    try:
        yield p
    finally:
        stop_pen(p)


# ----------------------------------------------------------------------------------------------------------------------
# 0. The client agrees with the documented examples
# ----------------------------------------------------------------------------------------------------------------------


def test_client_matches_documented_examples() -> None:
    assert crc16(b"123456789") == 0x29B1
    assert encode(1, HELLO, b"\x01").hex(" ") == "7e 01 01 01 01 00 01 44 b0 7e"
    assert encode(3, STATUS).hex(" ") == "7e 01 03 02 00 00 e1 4e 7e"
    assert encode(17, ALARMS_READ).hex(" ") == "7e 01 11 15 00 00 dd 7d 5e 7e"
    assert encode(21, ESTOP_RELEASE).hex(" ") == "7e 01 15 0a 00 00 7d 5e db 7e"
    assert encode(4, COMMAND, p_command(1.0, 120.0, 1)).hex(" ") == (
        "7e 01 04 03 11 00 00 00 00 00 00 00 f0 3f 00 00 00 00 00 00 5e 40 01 70 b4 7e"
    )
    rw = "7e 01 02 09 25 00 00 00 00 00 00 00 00 00 e9 03 00 00 0c 00 00 00 00 00 00 04 40 00 00 00 00 00 00 0c 40 "
    rw += "cd cc cc cc cc cc ec 3f a3 6e 7e"
    assert encode(2, RESET_WORLD, p_reset_world(0, 1001, 12, 2.5, 3.5, 0.9)).hex(" ") == rw
    inj = "7e 01 09 0b 16 00 00 00 00 00 00 00 4e 40 00 00 00 00 00 00 f8 7f 05 73 74 61 6c 6c b9 9e 7e"
    assert encode(9, INJECT_FAULT, p_inject(60.0, math.nan, "stall")).hex(" ") == inj
    # SERVICE_UNLOCK example: key 00..1f, nonce a0..af, level service, serial MN1-000000
    answer = unlock_answer(bytes(range(32)), bytes(range(0xA0, 0xB0)), 1, "MN1-000000")
    unlock = encode(20, SERVICE_UNLOCK, pstr("service") + answer)
    assert unlock.hex(" ") == (
        "7e 01 14 21 28 00 07 73 65 72 76 69 63 65 93 aa 8f 0d d4 69 31 e1 04 f3 c5 0b 17 52 31 39 a3 f7 6c 84 "
        "d9 cc 4b 97 a3 d8 52 6c 47 0b 38 f4 6f 93 7e"
    )
    # decoding a documented reply with an escaped 0x18 inside (SETTINGS_VALUES has '7d 38')
    ev = bytes.fromhex(
        "01 01 a0 3d 00 01 88 88 88 88 88 08 14 40 00 00 31 65 6d 65 72 67 65 6e 63 79 20 73 74 6f 70 3a 20 6e 65 "
        "65 64 6c 65 73 20 72 65 74 72 61 63 74 65 64 2c 20 6d 6f 74 6f 72 20 64 69 73 61 62 6c 65 64 54 32"
    )
    f = decode_body(ev)
    assert f is not None and f.mtype == EVENT
    assert parse_event(f.payload).kind == 1


# ----------------------------------------------------------------------------------------------------------------------
# 1. The pen never dies on any input
# ----------------------------------------------------------------------------------------------------------------------

F64_RAW = [
    struct.pack("<d", v)
    for v in (
        math.nan, math.inf, -math.inf, -0.0, 0.0, 1e308, -1e308, 5e-324, 1e300, -1.0, 0.05, 0.5, 1.0, 2.5, 2.50001,
        3.0, 24.999, 150.0, 150.001, 86400.0, 86400.5, 1e6, 4294967295.0, 4294967296.0, -4294967296.0,
    )
] + [struct.pack("<Q", 0x7FF0000000000001), struct.pack("<Q", 0xFFF8000000000000)]  # fmt: skip
U8 = [0, 1, 2, 3, 12, 64, 65, 127, 128, 255]
U16 = [0, 1, 2, 5, 6, 18, 20, 28, 29, 0x7FFF, 0xFFFF]
U32 = [0, 1, 2, 255, 256, 1024, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]
U64 = [0, 1, 2**63 - 1, 2**63, 2**64 - 1]
I32 = [-(2**31), -1, 0, 1, 50, 5000, 5001, 2**31 - 1]
STRS: list[bytes] = [
    b"", b"stall", b"normal", b"thick", b"sensitive", b"service", b"factory", b"cartridge_swap", b"link_loss",
    b"x" * 255, b"\xff\xfe", b"\xc0\x80", b"thick\x00", b"\xed\xa0\x80", "é".encode(),
]  # fmt: skip

LAYOUTS: dict[int, list[str]] = {
    HELLO: ["u8"],
    STATUS: [],
    COMMAND: ["f64", "f64", "u8"],
    READ_STROKES: ["u32"],
    DISCARD_AFTER: ["u32"],
    RETRACT: [],
    SET_SKIN: ["str"],
    WAIT: ["f64"],
    RESET_WORLD: ["u64", "u32", "u8", "f64", "f64", "f64"],
    ESTOP_RELEASE: [],
    INJECT_FAULT: ["f64", "f64", "str"],
    SETTINGS_READ: [],
    SETTINGS_WRITE: ["block"],
    SETTINGS_COMMIT: [],
    SETTINGS_ABORT: [],
    SETTINGS_FACTORY: [],
    ALARMS_READ: [],
    ALARMS_CLEAR: ["u16"],
    LINK_STATS: [],
    SERVICE_CHALLENGE: [],
    SERVICE_UNLOCK: ["str", "b32"],
}
FIXED = {t for t, lay in LAYOUTS.items() if not ({"str", "block"} & set(lay))}


def gen_field(rng: random.Random, kind: str) -> bytes:
    if kind == "u8":
        return struct.pack("<B", rng.choice(U8))
    if kind == "u16":
        return struct.pack("<H", rng.choice(U16))
    if kind == "u32":
        return struct.pack("<I", rng.choice(U32))
    if kind == "u64":
        return struct.pack("<Q", rng.choice(U64))
    if kind == "f64":
        return rng.choice(F64_RAW)
    if kind == "str":
        s = rng.choice(STRS)
        if rng.random() < 0.1:  # length prefix claims more than is there
            return bytes((len(s[:200]) + 5,)) + s[:200]
        return pstr(s)
    if kind == "b32":
        return bytes(rng.randrange(256) for _ in range(rng.choice((32, 32, 31, 33))))
    assert kind == "block"
    n = rng.choice((0, 1, 2, 3))
    out = bytearray(struct.pack("<H", rng.choice((n, n, n + 1, 0xFFFF))))
    for _ in range(n):
        sid = rng.choice((0, *range(1, 30), 0xFFFF))
        out += struct.pack("<H", sid)
        t = SETTING_TYPES.get(sid, rng.choice("fis"))
        # sometimes deliberately the wrong type for the id
        t = rng.choice("fis") if rng.random() < 0.2 else t
        if t == "f":
            out += rng.choice(F64_RAW)
        elif t == "i":
            out += struct.pack("<i", rng.choice(I32))
        else:
            out += pstr(rng.choice(STRS))
    return bytes(out)


@dataclass
class Probe:
    c: Client
    log: list[str] = field(default_factory=list)
    internal: list[str] = field(default_factory=list)

    def send(self, mtype: int, payload: bytes, *, known: bool, malformed: bool = False) -> Frame:
        what = f"type 0x{mtype:02x} payload {payload[:48].hex()}{'...' if len(payload) > 48 else ''}"
        self.log.append(what)
        try:
            f = self.c.request(mtype, payload, timeout=10.0)
        except (PenTimeout, ConnectionError) as e:
            raise AssertionError(f"pen gave no reply to {what}: {e}") from e
        if not known:
            assert f.mtype == NAK, f"unknown {what} not refused: 0x{f.mtype:02x}"
            assert parse_nak(f.payload).error == E_UNKNOWN_TYPE, (what, parse_nak(f.payload))
        else:
            allowed = {ACK, NAK} | ({DATA_REPLY[mtype]} if mtype in DATA_REPLY else set())
            assert f.mtype in allowed, f"{what}: reply type 0x{f.mtype:02x}"
            if f.mtype == NAK:
                nak = parse_nak(f.payload)
                assert 1 <= nak.error <= 19, (what, nak)
                if nak.error == E_INTERNAL:
                    self.internal.append(f"{what}: {nak.message}")
                if malformed:
                    assert nak.error == E_BAD_PAYLOAD, f"malformed {what}: {nak}"
            else:
                assert not malformed, f"malformed {what} was not refused: reply 0x{f.mtype:02x}"
            if f.mtype == HELLO_REPLY:
                parse_hello(f.payload)
            elif f.mtype == STATUS_REPLY:
                parse_status(f.payload)
            elif f.mtype == TELEMETRY:
                parse_telemetry(f.payload)
            elif f.mtype == LINK_STATS_REPLY:
                parse_link_stats(f.payload)
            elif f.mtype == CHALLENGE:
                assert len(f.payload) == 16
        self.alive(what)
        return f

    def alive(self, after: str) -> None:
        try:
            f = self.c.request(STATUS, timeout=10.0)
        except (PenTimeout, ConnectionError) as e:
            raise AssertionError(f"pen does not answer STATUS after {after}: {e}") from e
        assert f.mtype == STATUS_REPLY, f"STATUS after {after}: 0x{f.mtype:02x}"
        parse_status(f.payload)


def test_fuzz_every_request_type_pen_survives(pen: Pen) -> None:
    c = pen.connect()
    c.fresh_world(1001)
    p = Probe(c)
    rng = random.Random(20240601)
    unknown_types = [0x00, 0x0C, 0x0F, 0x18, 0x1F, 0x22, 0x7E, 0x7D, 0x80, 0x81, 0x88, 0xA0, 0xFF]
    for mtype in unknown_types:
        p.send(mtype, b"", known=False)
        p.send(mtype, bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40))), known=False)
    for _round in range(30):
        for mtype, layout in LAYOUTS.items():
            if mtype == HELLO and _round % 3:
                continue
            good = b"".join(gen_field(rng, k) for k in layout)
            p.send(mtype, good, known=True)
            if mtype in FIXED:
                # wrong lengths: empty, truncated, extra bytes
                if layout:
                    p.send(mtype, b"", known=True, malformed=True)
                    p.send(mtype, good[: rng.randrange(len(good))], known=True, malformed=True)
                p.send(mtype, good + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9))), known=True,
                       malformed=True)  # fmt: skip
            else:
                p.send(mtype, good + b"\x00", known=True)
                p.send(mtype, good[: max(0, len(good) - rng.randrange(1, 6))], known=True)
            p.send(mtype, bytes(rng.randrange(256) for _ in range(rng.randrange(0, 80))), known=True)
            # keep some strokes happening so that motor-on paths are exercised too
            if _round % 2 == 0 and mtype == COMMAND:
                c.request(RESET_WORLD, p_reset_world(_round, 2000 + _round, 12, 2.0, 3.5, 0.9))
                c.clear_alarms()
                c.request(COMMAND, p_command(1.0, 100.0, 1))
    # a payload at and beyond the 60,000-byte maximum
    for n in (60000, 60001, 65535):
        big = bytes(rng.randrange(256) for _ in range(n))
        c.send_raw(encode(c.next_seq(), STATUS, big))
        c.pump(0.5)
        p.alive(f"STATUS with a {n}-byte payload")
    pen.alive()
    assert not p.internal, "requests that hit an internal error in the pen:\n" + "\n".join(p.internal)
    assert c.link_stats()["internal_errors"] == 0


def test_requests_before_hello(pen: Pen) -> None:
    c = pen.connect(hello=False)
    p = Probe(c)
    p.send(COMMAND, p_command(1.0, 100.0, 1), known=True)
    p.send(READ_STROKES, struct.pack("<I", 10), known=True)
    p.send(SETTINGS_COMMIT, b"", known=True)
    c.hello()
    c.status()
    pen.alive()


def test_fuzz_raw_bytes_and_broken_frames(pen: Pen) -> None:
    c = pen.connect()
    p = Probe(c)
    rng = random.Random(7)
    for i in range(200):
        choice = i % 5
        if choice == 0:  # random noise (no e-stop byte)
            data = bytes(rng.choice([b for b in range(256) if b != ESTOP]) for _ in range(rng.randrange(1, 64)))
        elif choice == 1:  # random body, correct CRC, random header fields
            payload = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40)))
            data = encode(rng.randrange(256), rng.randrange(256), payload, version=rng.choice((0, 1, 2, 255)),
                          length=rng.choice((len(payload), len(payload) + 1, 0xFFFF, 0)))  # fmt: skip
        elif choice == 2:  # bad escapes
            data = bytes((FLAG, 1, 5, ESC, rng.randrange(256), STATUS, 0, 0, ESC, FLAG))
        elif choice == 3:  # truncated valid frame followed by a new one
            full = encode(c.next_seq(), STATUS)
            data = full[: rng.randrange(1, len(full) - 1)] + full
        else:  # bit-flipped valid frame
            flipped = bytearray(encode(c.next_seq(), COMMAND, p_command(1.0, 100.0, 0)))
            pos = rng.randrange(1, len(flipped) - 1)
            flipped[pos] ^= 1 << rng.randrange(8)
            data = bytes(flipped)
        c.send_raw(data)
        if i % 20 == 19:
            c.pump(0.05)
            c.send_raw(b"\x7e\x7e")
            p.alive(f"raw junk round {i}")
    pen.alive()


def test_wait_1e300_then_read_strokes(pen: Pen) -> None:
    c = pen.connect()
    c.fresh_world(3001, 2.0)
    t0 = c.status().time_s
    for w in (1e300, math.inf, math.nan, -1.0, 86400.0001, 1e308, -1e308):
        nak = c.nak(WAIT, struct.pack("<d", w))
        assert nak.error != E_INTERNAL, nak
    assert c.status().time_s == t0, "a refused WAIT moved pen time"
    assert c.strokes(10) == [], "strokes with the motor never enabled"
    c.ack(COMMAND, p_command(1.0, 100.0, 1))
    strokes = c.strokes(10)
    assert len(strokes) == 10 and all(s.cartridge_id == 3001 for s in strokes)
    c.ack(WAIT, struct.pack("<d", 86400.0))  # the largest wait: the pen retracts first
    assert c.status().time_s >= t0 + 86400.0
    assert not [s for s in c.strokes(10) if s.depth_mm > 0.0], "strokes after WAIT (which retracts)"
    pen.alive()


def test_inject_fault_out_of_range_changes_nothing(pen: Pen) -> None:
    c = pen.connect()
    c.fresh_world(3101, 2.0)
    c.ack(COMMAND, p_command(1.0, 100.0, 1))
    assert len(c.strokes(5)) == 5
    bad_faults = [
        (0.0, -1.0, "cartridge_swap"), (0.0, 0.0, "cartridge_swap"), (0.0, 1.5, "cartridge_swap"),
        (0.0, 4294967296.0, "cartridge_swap"), (0.0, math.inf, "stall"), (-1.0, math.nan, "stall"),
        (1e6 + 1, math.nan, "stall"), (math.nan, math.nan, "stall"), (0.0, 3.01, "stall"), (0.0, 1.0, "current_sense"),
        (0.0, -0.51, "rate_deviation"), (0.0, math.nan, "no_such_fault"), (0.0, math.nan, ""), (0.0, -0.0, "stall"),
    ]  # fmt: skip
    for at_s, value, kind in bad_faults:
        f = c.request(INJECT_FAULT, p_inject(at_s, value, kind))
        if (at_s, value, kind) == (0.0, -0.0, "stall"):  # -0.0 is inside -0.3..3: either answer is fine
            assert f.mtype in (ACK, NAK)
            continue
        assert f.mtype == NAK, f"INJECT_FAULT {kind} at {at_s} value {value} accepted"
        nak = parse_nak(f.payload)
        assert nak.error != E_INTERNAL, (at_s, value, kind, nak)
        st = c.status()
        assert st.cartridge_id == 3101 and st.locked == 0, st
    # cartridge_swap -1 then STATUS: the cartridge is unchanged; strokes still use it
    strokes = c.strokes(20)
    assert len(strokes) == 20, "refused INJECT_FAULTs stopped the pen"
    assert all(s.cartridge_id == 3101 for s in strokes), "a refused cartridge_swap changed the cartridge"
    c.pump(0.1)
    assert not [e for e in c.events if e.kind == 2], c.events


def test_accepted_cartridge_swap_or_removal(pen: Pen) -> None:
    c = pen.connect()
    c.fresh_world(3201, 2.0)
    c.ack(COMMAND, p_command(1.0, 100.0, 1))
    assert len(c.strokes(5)) == 5
    c.ack(INJECT_FAULT, p_inject(0.0, 4294967295.0, "cartridge_swap"))
    # READ_STROKES documents that the pen stops itself when the cartridge is not the one it was commanded with.
    swapped = c.request(READ_STROKES, struct.pack("<I", 20))
    assert swapped.mtype == NAK and parse_nak(swapped.payload).error == E_NO_CARTRIDGE, swapped
    assert c.status().tip_mm < 0, "the pen retracted itself"
    c.ack(INJECT_FAULT, p_inject(0.0, math.nan, "cartridge_removed"))
    f = c.request(READ_STROKES, struct.pack("<I", 20))
    if f.mtype == TELEMETRY:
        assert not [s for s in parse_telemetry(f.payload) if s.cartridge_id == 0 and s.depth_mm > 0.0]
    else:
        assert f.mtype == NAK and parse_nak(f.payload).error != E_INTERNAL
    assert c.status().pen_depth_limit_mm == 0.0, "no cartridge, yet the pen reports a depth limit"
    pen.alive()


def test_refused_reset_world_changes_nothing(pen: Pen) -> None:
    c = pen.connect()
    c.fresh_world(3301, 2.0)
    before = c.status()
    refused_worlds = [
        p_reset_world(1, 3302, 0, 1.0, 3.5, 0.9),  # needles 0
        p_reset_world(1, 3302, 65, 1.0, 3.5, 0.9),  # needles 65
        p_reset_world(1, 3302, 12, -0.1, 3.5, 0.9),
        p_reset_world(1, 3302, 12, 3.0001, 3.5, 0.9),
        p_reset_world(1, 3302, 12, math.nan, 3.5, 0.9),
        p_reset_world(1, 3302, 12, 1.0, 0.49, 0.9),
        p_reset_world(1, 3302, 12, 1.0, 10.01, 0.9),
        p_reset_world(1, 3302, 12, 1.0, math.inf, 0.9),
        p_reset_world(1, 3302, 12, 1.0, 3.5, 1.0001),
        p_reset_world(1, 3302, 12, 1.0, 3.5, -0.1),
        p_reset_world(1, 3302, 12, 1.0, 3.5, math.nan),
        p_reset_world(1, 0, 12, 1.0, 3.5, math.nan),
    ]
    for payload in refused_worlds:
        nak = c.nak(RESET_WORLD, payload)
        assert nak.error != E_INTERNAL, nak
        st = c.status()
        same = (st.cartridge_id, st.needles, st.max_depth_mm) == (before.cartridge_id, before.needles, 2.0)
        assert same and st.cartridge_id == 3301, f"refused RESET_WORLD acted: {st}"
    c.ack(COMMAND, p_command(1.0, 100.0, 1))
    assert len(c.strokes(5)) == 5


def test_reset_world_cartridge_rated_0_mm_does_not_stroke(pen: Pen) -> None:
    """RESET_WORLD documents `max_depth_mm f64 (above 0 to 3)`: a 0-mm rating is refused and changes nothing."""
    c = pen.connect()
    c.fresh_world(3401, 2.0)
    f = c.request(RESET_WORLD, p_reset_world(2, 3402, 12, 0.0, 3.5, 0.9))
    assert f.mtype == NAK, "a cartridge rated 0 mm is outside the documented range"
    nak = parse_nak(f.payload)
    assert nak.error == E_BAD_PAYLOAD and "above 0" in nak.message, nak
    assert c.status().pen_depth_limit_mm == 2.0, "the refused RESET_WORLD changed nothing"


def test_reset_world_tiny_and_odd_cartridges_then_command(pen: Pen) -> None:
    c = pen.connect()
    # rated just above 0: the pen's limit is that rating
    c.ack(RESET_WORLD, p_reset_world(2, 3501, 12, 5e-324, 3.5, 0.9))
    c.clear_alarms()
    assert c.status().pen_depth_limit_mm <= 5e-324
    f = c.request(COMMAND, p_command(0.05, 100.0, 1))
    assert f.mtype == NAK and parse_nak(f.payload).error in (E_COMMAND_RANGE, E_NO_CARTRIDGE), f
    assert not [s for s in c.strokes(20) if s.depth_mm > 0.05]

    # id 0 with garbage in the cartridge fields the docs say are ignored
    f = c.request(RESET_WORLD, p_reset_world(3, 0, 0, math.nan, -5.0, 0.9))
    assert f.mtype in (ACK, NAK)
    assert f.mtype == ACK or parse_nak(f.payload).error != E_INTERNAL
    if f.mtype == ACK:
        c.clear_alarms()
        assert c.status().pen_depth_limit_mm == 0.0
        assert c.nak(COMMAND, p_command(0.5, 100.0, 1)).error == E_NO_CARTRIDGE
        assert c.strokes(20) == []

    # the largest everything: id 0xFFFFFFFF, 64 needles, rated 3 mm (beyond the hardware's 2.5)
    c.ack(RESET_WORLD, p_reset_world(2**64 - 1, 0xFFFFFFFF, 64, 3.0, 10.0, 1.0))
    c.clear_alarms()
    assert c.status().pen_depth_limit_mm == 2.5
    assert c.nak(COMMAND, p_command(2.5000001, 100.0, 1)).error == E_COMMAND_RANGE
    assert c.nak(COMMAND, p_command(1.0, 150.001, 1)).error == E_COMMAND_RANGE
    assert c.nak(COMMAND, p_command(1.0, 24.999, 1)).error == E_COMMAND_RANGE
    for bad in (p_command(math.nan, 100.0, 1), p_command(1.0, math.inf, 1), p_command(-0.0, 100.0, 1),
                p_command(-1.0, 100.0, 1), p_command(math.nan, 100.0, 0), p_command(1.0, -math.inf, 0),
                p_command(1.0, 100.0, 2), p_command(1.0, 100.0, 255)):  # fmt: skip
        nak = c.nak(COMMAND, bad)
        assert nak.error != E_INTERNAL, nak
    assert c.strokes(10) == [], "refused COMMANDs enabled the motor"
    c.ack(COMMAND, p_command(2.5, 100.0, 1))
    deep = c.strokes(30)
    assert deep and max(s.depth_mm for s in deep) <= 2.5 + OVER_DEPTH_MARGIN

    # DISCARD_AFTER beyond the last frame; READ_STROKES huge is capped at telemetry.batch_max (256)
    assert c.nak(DISCARD_AFTER, struct.pack("<I", 31)).error == E_BAD_PAYLOAD
    assert c.nak(DISCARD_AFTER, struct.pack("<I", 0xFFFFFFFF)).error == E_BAD_PAYLOAD
    assert len(c.strokes(0xFFFFFFFF)) <= 256

    # link_loss now, then STATUS and READ_STROKES still answer
    c.ack(INJECT_FAULT, p_inject(0.0, math.nan, "link_loss"))
    c.request(READ_STROKES, struct.pack("<I", 5))
    c.status()
    pen.alive()
    assert c.link_stats()["internal_errors"] == 0


def test_discard_after_without_a_frame_is_bad_payload(pen: Pen) -> None:
    c = pen.connect()
    c.fresh_world(3601)
    assert c.nak(DISCARD_AFTER, struct.pack("<I", 0)).error == E_BAD_PAYLOAD
    c.status()


# ----------------------------------------------------------------------------------------------------------------------
# 2. The pen itself refuses strokes beyond the smallest applicable limit
# ----------------------------------------------------------------------------------------------------------------------


def test_cartridge_rating_limits_the_command(pen: Pen) -> None:
    c = pen.connect()
    c.fresh_world(4001, max_depth=0.5)
    assert c.status().pen_depth_limit_mm == 0.5
    assert c.nak(COMMAND, p_command(2.0, 100.0, 1)).error == E_COMMAND_RANGE
    assert c.nak(COMMAND, p_command(0.5000001, 100.0, 1)).error == E_COMMAND_RANGE
    strokes = c.strokes(50)
    assert not [s for s in strokes if s.depth_mm > 0.5 + OVER_DEPTH_MARGIN], "stroke deeper than the rating"
    assert strokes == [], "strokes after refused COMMANDs only"
    c.ack(COMMAND, p_command(0.5, 100.0, 1))
    strokes = c.strokes(100)
    assert strokes, "no strokes after an accepted COMMAND"
    assert max(s.depth_mm for s in strokes) <= 0.5 + OVER_DEPTH_MARGIN
    # refused deeper command while running keeps the old one in force
    assert c.nak(COMMAND, p_command(2.0, 100.0, 1)).error == E_COMMAND_RANGE
    strokes = c.strokes(50)
    assert strokes and max(s.depth_mm for s in strokes) <= 0.5 + OVER_DEPTH_MARGIN
    assert all(s.depth_cmd_mm <= 0.5 for s in strokes)


def test_no_cartridge_does_not_stroke(pen: Pen) -> None:
    c = pen.connect()
    c.ack(RESET_WORLD, p_reset_world(1, 0, 12, 2.0, 3.5, 0.9))
    c.clear_alarms()
    st = c.status()
    assert st.cartridge_id == 0 and st.pen_depth_limit_mm == 0.0
    for depth in (0.1, 1.0, 2.5):
        assert c.nak(COMMAND, p_command(depth, 100.0, 1)).error == E_NO_CARTRIDGE
    f = c.request(READ_STROKES, struct.pack("<I", 50))
    if f.mtype == TELEMETRY:
        assert not [s for s in parse_telemetry(f.payload) if s.depth_mm > 0.0], "strokes without a cartridge"
    else:
        assert f.mtype == NAK


def test_lowered_depth_max_refuses_deeper_command(pen: Pen) -> None:
    c = pen.connect()
    c.fresh_world(4101, max_depth=2.0)
    c.ack(COMMAND, p_command(1.5, 100.0, 1))
    assert max(s.depth_mm for s in c.strokes(20)) <= 1.5 + OVER_DEPTH_MARGIN
    # lower depth.max_mm below the command in force while the motor runs: either refused, or no deeper stroke follows
    w = c.request(SETTINGS_WRITE, p_settings([(S_DEPTH_MAX, "f", 1.0)]))
    commit = c.request(SETTINGS_COMMIT) if w.mtype == ACK else None
    if commit is not None and commit.mtype == ACK:
        assert c.status().pen_depth_limit_mm == 1.0
        after = c.strokes(50)
        assert not [s for s in after if s.depth_mm > 1.0 + OVER_DEPTH_MARGIN], (
            "depth.max_mm lowered to 1.0 while running at 1.5: the pen kept stroking deeper than its limit"
        )
    else:
        nak = parse_nak((commit or w).payload)
        assert nak.error == E_BUSY, nak
        assert max(s.depth_mm for s in c.strokes(20)) <= 1.5 + OVER_DEPTH_MARGIN
        c.ack(COMMAND, p_command(1.0, 100.0, 0))
        c.request(SETTINGS_ABORT)
        c.ack(SETTINGS_WRITE, p_settings([(S_DEPTH_MAX, "f", 1.0)]))
        c.ack(SETTINGS_COMMIT)
    assert c.settings()[S_DEPTH_MAX] == 1.0
    assert c.status().pen_depth_limit_mm == 1.0
    assert c.nak(COMMAND, p_command(1.5, 100.0, 1)).error == E_COMMAND_RANGE
    assert c.nak(COMMAND, p_command(1.0001, 100.0, 1)).error == E_COMMAND_RANGE
    c.ack(COMMAND, p_command(1.0, 100.0, 1))
    strokes = c.strokes(50)
    assert strokes and max(s.depth_mm for s in strokes) <= 1.0 + OVER_DEPTH_MARGIN
    # invalid depth.max_mm values are refused and change nothing
    c.ack(COMMAND, p_command(1.0, 100.0, 0))
    for v in (math.nan, math.inf, -1.0, 0.0999, 2.5001, 1e308):
        assert c.nak(SETTINGS_WRITE, p_settings([(S_DEPTH_MAX, "f", v)])).error == E_SETTING_RANGE
    assert c.nak(SETTINGS_COMMIT).error == E_NOTHING_STAGED
    assert c.settings()[S_DEPTH_MAX] == 1.0


def test_reused_cartridge_is_locked(pen: Pen) -> None:
    c = pen.connect()
    c.fresh_world(4201, max_depth=1.0)
    c.ack(COMMAND, p_command(0.5, 100.0, 1))
    assert c.strokes(5)
    c.ack(RESET_WORLD, p_reset_world(2, 4201, 12, 1.0, 3.5, 0.9))
    c.clear_alarms()
    assert c.status().locked == 1
    assert c.nak(COMMAND, p_command(0.5, 100.0, 1)).error == E_CARTRIDGE_LOCKED
    assert c.strokes(20) == []


def test_realtime_estop(pen: Pen) -> None:
    c = pen.connect()
    c.fresh_world(4301, max_depth=1.0)
    c.ack(COMMAND, p_command(0.5, 100.0, 1))
    assert c.strokes(5)
    # the e-stop byte in the middle of a STATUS frame: the frame is unaffected, the pen stops
    seq = c.next_seq()
    frame = encode(seq, STATUS)
    c.send_raw(frame[:3] + bytes((ESTOP,)) + frame[3:])
    f = c.wait_reply(seq)
    assert f.mtype == STATUS_REPLY
    c.pump(0.2)
    assert [e for e in c.events if e.kind == 1], f"no e-stop EVENT: {c.events}"
    st = c.status()
    assert st.estop_latched == 1 and st.tip_mm < 0
    assert c.strokes(20) == []
    assert c.nak(COMMAND, p_command(0.5, 100.0, 1)).error == E_ESTOP_LATCHED
    c.hello()  # a new host session keeps the latch
    assert c.status().estop_latched == 1
    assert c.nak(COMMAND, p_command(0.5, 100.0, 1)).error == E_ESTOP_LATCHED
    c.ack(ESTOP_RELEASE)
    assert c.status().estop_latched == 0
    c.ack(COMMAND, p_command(0.5, 100.0, 1))
    assert c.strokes(5)


# ----------------------------------------------------------------------------------------------------------------------
# 3. The watchdog
# ----------------------------------------------------------------------------------------------------------------------


def bad_crc_frame(seq: int, mtype: int, payload: bytes = b"") -> bytes:
    good = crc16(raw_body(seq, mtype, payload)[:-2])
    return encode(seq, mtype, payload, crc=good ^ 0xFFFF)


def _starve(c: Client, seconds: float, junk: list[bytes]) -> None:
    """Send only junk for `seconds` (every 20 ms), collecting events."""
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        c.send_raw(junk[i % len(junk)])
        i += 1
        c.pump(0.02)


def _motor_on(c: Client, cart: int) -> None:
    c.fresh_world(cart, max_depth=2.0)
    c.ack(COMMAND, p_command(1.0, 100.0, 1))
    assert len(c.strokes(5)) == 5
    c.events.clear()


def _assert_watchdog_tripped(c: Client, what: str) -> None:
    faults = [e for e in c.events if e.kind == 2]
    assert faults, f"no fault EVENT after 1.5 s of {what} with the motor enabled (events: {c.events})"
    assert c.status().tip_mm < 0
    assert c.strokes(20) == [], f"motor still stroking after 1.5 s of {what}"


def test_watchdog_bad_crc_and_flags_do_not_feed_it(pen: Pen) -> None:
    c = pen.connect()
    _motor_on(c, 5001)
    junk = [bad_crc_frame(c.seq + 1, STATUS), b"\x7e", b"\x7e\x7e\x7e", bad_crc_frame(c.seq + 2, LINK_STATS)]
    junk.append(bad_crc_frame(c.seq + 3, COMMAND, p_command(1.0, 100.0, 1)))
    _starve(c, 1.5, junk)
    _assert_watchdog_tripped(c, "bad-CRC frames and bare flags")


def test_watchdog_unknown_type_and_bad_payload_do_not_feed_it(pen: Pen) -> None:
    c = pen.connect()
    _motor_on(c, 5101)
    junk = []
    for _ in range(100):
        junk.append(encode(c.next_seq(), 0x3F))  # NAK UNKNOWN_TYPE
        junk.append(encode(c.next_seq(), STATUS, b"\x00"))  # NAK BAD_PAYLOAD
        junk.append(encode(c.next_seq(), HELLO, b"\x02"))  # NAK VERSION
    _starve(c, 1.5, junk)
    _assert_watchdog_tripped(c, "UNKNOWN_TYPE / BAD_PAYLOAD / VERSION requests")


def test_watchdog_control_valid_requests_keep_the_motor_on(pen: Pen) -> None:
    c = pen.connect()
    _motor_on(c, 5201)
    end = time.monotonic() + 1.5
    while time.monotonic() < end:
        c.status()
        c.pump(0.1)
    assert not [e for e in c.events if e.kind == 2], c.events
    assert len(c.strokes(5)) == 5


# ----------------------------------------------------------------------------------------------------------------------
# 4. One host at a time
# ----------------------------------------------------------------------------------------------------------------------


def test_second_connection_is_busy(pen: Pen) -> None:
    a = pen.connect()
    a.fresh_world(6001, max_depth=2.0)
    before = a.status()
    b = pen.connect(hello=False)
    f = b.request(HELLO, b"\x01", timeout=5.0)
    assert f.mtype == NAK, f"second host's HELLO got 0x{f.mtype:02x}"
    assert parse_nak(f.payload).error == E_BUSY
    # further requests of a busy host, pipelined in one write: none may act (the pen may close the connection)
    burst = [(STATUS, b""), (RESET_WORLD, p_reset_world(9, 6002, 1, 0.5, 1.0, 0.1)),
             (SETTINGS_WRITE, p_settings([(S_DEPTH_MAX, "f", 0.3)])), (SETTINGS_COMMIT, b""),
             (COMMAND, p_command(1.0, 100.0, 1))]  # fmt: skip
    b.send_raw(b"".join(encode(b.next_seq(), t, pl) for t, pl in burst))
    replies: list[Frame] = []
    with contextlib.suppress(ConnectionError, OSError):
        replies = b.pump(1.0)
    for f in replies:
        assert f.mtype == NAK and parse_nak(f.payload).error == E_BUSY, f
    after = a.status()
    assert (after.cartridge_id, after.needles) == (before.cartridge_id, before.needles), "the busy host changed the pen"
    assert a.settings()[S_DEPTH_MAX] == 2.5, "the busy host changed a setting"
    a.ack(COMMAND, p_command(1.0, 100.0, 1))
    assert a.strokes(5)
    # a silent second connection is closed after about 2 s
    d = pen.connect(hello=False)
    d.sock.settimeout(5.0)
    t0 = time.monotonic()
    try:
        data = d.sock.recv(1024)
    except TimeoutError:
        data = b"<still open>"
    except ConnectionResetError:
        data = b""
    assert data == b"" and time.monotonic() - t0 < 4.0, f"silent second connection not closed: {data!r}"
    # the first host disconnects: staged settings are dropped, the pen retracts, and a new host is welcome
    a.ack(SETTINGS_WRITE, p_settings([(S_DEPTH_MAX, "f", 1.2)]))
    a.close()
    deadline = time.monotonic() + 5.0
    while True:
        c = pen.connect(hello=False)
        f = c.request(HELLO, b"\x01", timeout=5.0)
        if f.mtype == HELLO_REPLY or time.monotonic() > deadline:
            break
        c.close()
        time.sleep(0.1)
    assert f.mtype == HELLO_REPLY, parse_nak(f.payload)
    assert c.nak(SETTINGS_COMMIT).error == E_NOTHING_STAGED
    assert c.settings()[S_DEPTH_MAX] == 2.5
    assert c.status().tip_mm < 0
    assert c.strokes(10) == []


# ----------------------------------------------------------------------------------------------------------------------
# 5. Service unlock
# ----------------------------------------------------------------------------------------------------------------------


def _challenge(c: Client) -> bytes:
    f = c.request(SERVICE_CHALLENGE)
    assert f.mtype == CHALLENGE, (f, parse_nak(f.payload) if f.mtype == NAK else None)
    assert len(f.payload) == 16
    return f.payload


def test_service_unlock(keyed_pen: Pen) -> None:
    c = keyed_pen.connect(hello=False)
    serial = c.hello().serial
    watchdog_block = p_settings([(S_WATCHDOG_MS, "i", 1000)])
    # locked: a service setting may not be written, not even at its current value (issue 22)
    nak = c.nak(SETTINGS_WRITE, watchdog_block)
    assert (nak.error, nak.setting_id) == (E_ACCESS, S_WATCHDOG_MS), nak
    nak = c.nak(SETTINGS_WRITE, p_settings([(S_WATCHDOG_MS, "i", 500)]))
    assert (nak.error, nak.setting_id) == (E_ACCESS, S_WATCHDOG_MS), nak
    # no challenge pending
    assert c.nak(SERVICE_UNLOCK, pstr("service") + bytes(32)).error == E_NO_KEY
    # correct answer unlocks
    nonce = _challenge(c)
    answer = pstr("service") + unlock_answer(KEY, nonce, 1, serial)
    c.ack(SERVICE_UNLOCK, answer)
    c.ack(SETTINGS_WRITE, watchdog_block)
    c.ack(SETTINGS_COMMIT)
    assert c.settings()[S_WATCHDOG_MS] == 1000
    # rules between settings; a narrowed rate range limits COMMAND
    nak = c.nak(SETTINGS_WRITE, p_settings([(5, "f", 100.0), (6, "f", 50.0)]))
    assert nak.error == E_SETTING_RULE, nak
    c.ack(SETTINGS_WRITE, p_settings([(5, "f", 50.0), (6, "f", 100.0)]))
    c.ack(SETTINGS_COMMIT)
    c.fresh_world(7001, max_depth=1.0)
    c.ack(SERVICE_UNLOCK, pstr("service") + unlock_answer(KEY, _challenge(c), 1, serial))  # RESET_WORLD dropped it
    assert c.nak(COMMAND, p_command(0.5, 120.0, 1)).error == E_COMMAND_RANGE
    assert c.nak(COMMAND, p_command(0.5, 40.0, 1)).error == E_COMMAND_RANGE
    # service level does not reach factory settings
    nak = c.nak(SETTINGS_WRITE, p_settings([(S_SERVO_GAIN, "f", 130000.0)]))
    assert (nak.error, nak.setting_id) == (E_ACCESS, S_SERVO_GAIN), nak
    # replayed answer (new seq): the challenge was used up
    assert c.nak(SERVICE_UNLOCK, answer).error == E_NO_KEY
    # the old answer against a fresh challenge
    _challenge(c)
    assert c.nak(SERVICE_UNLOCK, answer).error == E_AUTH_FAILED
    # ... and that challenge is now answered too
    assert c.nak(SERVICE_UNLOCK, answer).error == E_NO_KEY
    # a new HELLO drops the unlock
    c.hello()
    nak = c.nak(SETTINGS_WRITE, p_settings([(S_WATCHDOG_MS, "i", 700)]))
    assert (nak.error, nak.setting_id) == (E_ACCESS, S_WATCHDOG_MS), nak
    # the answer is bound to the level (second wrong answer in a row)
    nonce = _challenge(c)
    assert c.nak(SERVICE_UNLOCK, pstr("factory") + unlock_answer(KEY, nonce, 1, serial)).error == E_AUTH_FAILED
    # a correct factory answer resets the failure count and reaches factory settings
    nonce = _challenge(c)
    c.ack(SERVICE_UNLOCK, pstr("factory") + unlock_answer(KEY, nonce, 2, serial))
    c.ack(SETTINGS_WRITE, p_settings([(S_SERVO_GAIN, "f", 130000.0)]))
    c.ack(SETTINGS_COMMIT)
    # ... and to the serial number (first wrong answer in a row again)
    nonce = _challenge(c)
    assert c.nak(SERVICE_UNLOCK, pstr("service") + unlock_answer(KEY, nonce, 1, "MN1-000001")).error == E_AUTH_FAILED
    # a disconnect drops the unlock
    c.close()
    time.sleep(0.3)
    c2 = keyed_pen.connect()
    nak = c2.nak(SETTINGS_WRITE, p_settings([(S_SERVO_GAIN, "f", 140000.0)]))
    assert nak.error == E_ACCESS, nak
    # three wrong answers in a row lock service access; then even a correct answer is refused
    # (one wrong answer is already on the count: the serial-number check above)
    for _ in range(3):
        f = c2.request(SERVICE_CHALLENGE)
        if f.mtype == NAK and parse_nak(f.payload).error == E_AUTH_LOCKED:
            break
        assert f.mtype == CHALLENGE, f
        f = c2.request(SERVICE_UNLOCK, pstr("service") + bytes(32))
        assert f.mtype == NAK and parse_nak(f.payload).error in (E_AUTH_FAILED, E_AUTH_LOCKED)
    f = c2.request(SERVICE_CHALLENGE)
    if f.mtype == CHALLENGE:
        f = c2.request(SERVICE_UNLOCK, pstr("service") + unlock_answer(KEY, f.payload, 1, serial))
    assert f.mtype == NAK and parse_nak(f.payload).error == E_AUTH_LOCKED, f
    assert c2.link_stats()["internal_errors"] == 0


def test_service_unlock_malformed_answers(keyed_pen: Pen) -> None:
    c = keyed_pen.connect(hello=False)
    serial = c.hello().serial
    for level, n in (("service", 31), ("service", 33), ("admin", 32), ("", 32)):
        nonce = _challenge(c)
        f = c.request(SERVICE_UNLOCK, pstr(level) + unlock_answer(KEY, nonce, 1, serial)[:n] + b"\x00" * max(0, n - 32))
        assert f.mtype == NAK, (level, n)
        assert parse_nak(f.payload).error not in (E_INTERNAL, E_AUTH_LOCKED), (level, n, parse_nak(f.payload))
    # malformed answers are not counted as wrong answers: a correct answer still works
    nonce = _challenge(c)
    c.ack(SERVICE_UNLOCK, pstr("service") + unlock_answer(KEY, nonce, 1, serial))


# ----------------------------------------------------------------------------------------------------------------------
# 6. LINK_STATS
# ----------------------------------------------------------------------------------------------------------------------


def test_link_stats_counters_move(pen: Pen) -> None:
    c = pen.connect(hello=False)
    c.send_raw(b"garbage")  # 7 bytes outside any frame, before the first flag
    c.hello()
    c.pump(0.2)
    s0 = c.link_stats()
    assert s0["garbage_bytes"] == 7, s0
    assert s0["frames"] == 2 and s0["bad_frames"] == 0 and s0["internal_errors"] == 0, s0

    # bad frames: CRC x3, escape, version, length too long / too short, body shorter than a header
    bad = [
        bad_crc_frame(c.seq + 1, STATUS),
        bad_crc_frame(c.seq + 1, LINK_STATS),
        bad_crc_frame(c.seq + 1, ALARMS_READ),
        bytes((FLAG, 1, c.seq + 1, STATUS, 0, 0, ESC, 0x41, 0, FLAG)),
        encode(c.seq + 1, STATUS, version=2),
        encode(c.seq + 1, STATUS, length=1),
        encode(c.seq + 1, HELLO, b"\x01", length=0),
        bytes((FLAG, 1, 2, 3, FLAG)),
    ]
    for frame in bad:
        c.send_raw(frame)
    c.send_raw(b"\x7e\x7e\x7e\x7e")  # empty bodies are ignored
    assert c.pump(0.3) == [], "a corrupt frame got a reply"
    s1 = c.link_stats()
    assert s1["bad_frames"] - s0["bad_frames"] == len(bad), (s0, s1)
    assert s1["frames"] - s0["frames"] == 1, (s0, s1)

    # NAKs
    c.nak(0x3E)
    c.nak(STATUS, b"\x01")
    c.nak(SETTINGS_COMMIT)
    s2 = c.link_stats()
    assert s2["naks"] - s1["naks"] == 3, (s1, s2)
    assert s2["frames"] - s1["frames"] == 4, (s1, s2)

    # duplicates: a retransmitted SETTINGS_COMMIT gets the cached ACK and is not committed twice
    c.ack(SETTINGS_WRITE, p_settings([(S_DEPTH_MAX, "f", 2.0)]))
    seq = c.next_seq()
    commit = encode(seq, SETTINGS_COMMIT)
    c.send_raw(commit)
    assert c.wait_reply(seq).mtype == ACK
    c.send_raw(commit)
    assert c.wait_reply(seq).mtype == ACK, "retransmitted commit not answered from the cache"
    assert c.nak(SETTINGS_COMMIT).error == E_NOTHING_STAGED
    s3 = c.link_stats()
    assert s3["duplicates"] - s2["duplicates"] == 1, (s2, s3)
    assert s3["naks"] - s2["naks"] == 1, (s2, s3)

    # e-stop: counted, and one EVENT sent
    c.events.clear()
    c.send_raw(bytes((ESTOP,)))
    c.pump(0.3)
    s4 = c.link_stats()
    assert s4["estops"] - s3["estops"] == 1, (s3, s4)
    assert [e.kind for e in c.events] == [1], c.events
    assert s4["events"] - s3["events"] == 1, (s3, s4)
    c.ack(ESTOP_RELEASE)
    assert s4["internal_errors"] == 0

    # HELLO is never a duplicate: the identical frame twice gets two replies and is not counted
    seq = c.next_seq()
    hello = encode(seq, HELLO, b"\x01")
    c.send_raw(hello)
    assert c.wait_reply(seq).mtype == HELLO_REPLY
    c.send_raw(hello)
    assert c.wait_reply(seq).mtype == HELLO_REPLY
    s5 = c.link_stats()
    assert s5["duplicates"] == s4["duplicates"], (s4, s5)


def test_estop_byte_from_a_second_connection(pen: Pen) -> None:
    """protocol.md: the byte 18 'may be sent at any moment'; 'the pen acts on it the moment it is received'."""
    a = pen.connect()
    a.fresh_world(6101, max_depth=2.0)
    a.ack(COMMAND, p_command(1.0, 100.0, 1))
    assert a.strokes(5)
    b = Client.connect(pen.port)
    pen.clients.append(b)
    b.send_raw(bytes((ESTOP,)))
    for _ in range(5):  # the host keeps feeding the watchdog
        a.status()
        a.pump(0.05)
    st = a.status()
    assert st.estop_latched == 1 and [e for e in a.events if e.kind == 1], (
        f"e-stop byte on a second connection ignored: latched={st.estop_latched}, events={a.events}, "
        f"strokes still running={len(a.strokes(5))}"
    )
