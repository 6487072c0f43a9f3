"""The pen link's wire format: framing, CRC, message types, payload codecs and error codes.

docs/protocol.md is the specification; this module is its implementation on
both ends (the host in hal/serial_backend.py, the virtual pen in sim/).

Frame on the wire: ``7E <stuffed body> 7E``. The body is ``version seq type
length(u16 LE) payload crc16(u16 LE)``; the CRC is CRC-16/CCITT-FALSE (poly
0x1021, init 0xFFFF) over everything before it. Inside the body, ``7E``, ``7D``
and the realtime e-stop byte ``18`` are sent as ``7D`` followed by the byte XOR
0x20, so none of the three ever appears raw inside a frame: a receiver can act
on a raw ``18`` at once, even in the middle of a frame, and can resynchronise on
the next ``7E`` after any garbage.
"""

from __future__ import annotations

import binascii
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from hal.errors import PenOperationError
from hal.settings import BY_ID, BY_KEY, SettingValue

PROTOCOL_VERSION = 1
FLAG = 0x7E
ESC = 0x7D
ESC_XOR = 0x20
ESTOP = 0x18
"""Realtime emergency stop: acted on at once wherever it appears in the stream."""
STUFFED = frozenset({FLAG, ESC, ESTOP})
HEADER = struct.Struct("<BBBH")
MAX_PAYLOAD = 60_000
MAX_BODY = HEADER.size + MAX_PAYLOAD + 2
UNLOCK_ANSWER_BYTES = 32
"""An unlock answer is one HMAC-SHA256 digest."""


class Msg(IntEnum):
    """Message types. Requests come from the host; replies echo the request's sequence number."""

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
    SETTINGS_READ = 0x10
    SETTINGS_WRITE = 0x11
    SETTINGS_COMMIT = 0x12
    SETTINGS_ABORT = 0x13
    SETTINGS_FACTORY = 0x14
    ALARMS_READ = 0x15
    ALARMS_CLEAR = 0x16
    INJECT_FAULT = 0x0B
    SERVICE_CHALLENGE = 0x20
    SERVICE_UNLOCK = 0x21
    LINK_STATS = 0x17
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


PEN_LINK_COUNTERS = (
    "frames",
    "bad_frames",
    "garbage_bytes",
    "estops",
    "duplicates",
    "naks",
    "events",
    "internal_errors",
)
"""The pen's link counters, in the order LINK_STATS_REPLY carries them (each u32)."""


class ErrorCode(IntEnum):
    """Why the pen refused a request (the NAK payload's first byte)."""

    UNKNOWN_TYPE = 1
    BAD_PAYLOAD = 2
    VERSION = 3
    SETTING_UNKNOWN = 4
    SETTING_RANGE = 5
    SETTING_RULE = 6
    ACCESS = 7
    NOTHING_STAGED = 8
    BUSY = 9
    ESTOP_LATCHED = 10
    UNSUPPORTED = 11
    STORE = 12
    COMMAND_RANGE = 13
    CARTRIDGE_LOCKED = 14
    AUTH_FAILED = 15
    AUTH_LOCKED = 16
    NO_KEY = 17
    NO_CARTRIDGE = 18
    INTERNAL = 19


ERROR_TEXT: dict[ErrorCode, str] = {
    ErrorCode.UNKNOWN_TYPE: "message type not known to this pen",
    ErrorCode.BAD_PAYLOAD: "payload malformed for its message type",
    ErrorCode.VERSION: "protocol version not supported",
    ErrorCode.SETTING_UNKNOWN: "no setting with that id",
    ErrorCode.SETTING_RANGE: "value outside the setting's type or range",
    ErrorCode.SETTING_RULE: "the block breaks a rule between settings",
    ErrorCode.ACCESS: "setting needs a higher access level (service unlock)",
    ErrorCode.NOTHING_STAGED: "commit with nothing staged",
    ErrorCode.BUSY: "not allowed now: the motor runs, or another host is connected",
    ErrorCode.ESTOP_LATCHED: "emergency stop latched; release it first",
    ErrorCode.UNSUPPORTED: "this pen does not support the request",
    ErrorCode.STORE: "the settings store could not be written",
    ErrorCode.COMMAND_RANGE: "depth or rate outside what the pen allows now (its settings and the cartridge's rating)",
    ErrorCode.CARTRIDGE_LOCKED: "the cartridge was already used: single-use lockout",
    ErrorCode.AUTH_FAILED: "service unlock refused: the answer does not match the pending challenge",
    ErrorCode.AUTH_LOCKED: "service unlock locked after too many failures (until power-off, then a back-off)",
    ErrorCode.NO_KEY: "no challenge pending (none asked for, or already answered), or no service key provisioned",
    ErrorCode.NO_CARTRIDGE: "no usable cartridge attached (none, id 0, no needles or no depth rating)",
    ErrorCode.INTERNAL: "the pen hit an internal error: needles retracted, motor disabled",
}


class Capability(IntEnum):
    """Bits of the HELLO reply's capability word."""

    SPECULATIVE = 1 << 0
    """The pen can rewind strokes it computed ahead (a simulator)."""
    SIMULATED_WORLD = 1 << 1
    """The pen accepts SET_SKIN, WAIT and RESET_WORLD (a simulator)."""


class Alarm(IntEnum):
    """Alarms the pen keeps until the host clears them."""

    STORE_BLANK = 1
    """The settings store was blank: the pen booted with factory defaults."""
    STORE_CORRUPT = 2
    """No valid settings image: the pen booted with factory defaults."""
    STORE_MIGRATED = 3
    """The settings image was of an older layout and was migrated."""
    STORE_ROLLED_BACK = 4
    """The newest settings image could not be used: an older one is in force."""
    STORE_DAMAGED = 5
    """The store's commit record is unreadable: the newest intact image is in force, unproven."""


ALARM_TEXT: dict[Alarm, str] = {
    Alarm.STORE_BLANK: "settings store blank (never written, or emptied): booted with factory defaults",
    Alarm.STORE_CORRUPT: "settings store corrupt: booted with factory defaults",
    Alarm.STORE_MIGRATED: "settings image of an older layout was migrated",
    Alarm.STORE_ROLLED_BACK: "newest settings image unreadable: an older image is in force",
    Alarm.STORE_DAMAGED: "settings store damaged (commit record unreadable): the newest intact image is in force",
}


class EventKind(IntEnum):
    ESTOP = 1
    FAULT = 2
    ALARM = 3


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE."""
    return binascii.crc_hqx(data, 0xFFFF)


@dataclass(kw_only=True, frozen=True)
class Frame:
    seq: int
    type: int
    payload: bytes = b""


def encode_frame(seq: int, msg: int, payload: bytes = b"") -> bytes:
    """A complete frame, flags included."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    body = HEADER.pack(PROTOCOL_VERSION, seq & 0xFF, msg, len(payload)) + payload
    body += struct.pack("<H", crc16(body))
    out = bytearray([FLAG])
    for b in body:
        if b in STUFFED:
            out += bytes((ESC, b ^ ESC_XOR))
        else:
            out.append(b)
    out.append(FLAG)
    return bytes(out)


@dataclass(kw_only=True)
class DecoderStats:
    frames: int = 0
    bad_frames: int = 0
    garbage_bytes: int = 0
    estops: int = 0


@dataclass(kw_only=True)
class FrameDecoder:
    """Turns a byte stream into frames and realtime e-stops; never raises on bad input.

    :meth:`feed` yields :class:`Frame` objects for valid frames and the int
    :data:`ESTOP` for each realtime e-stop byte, in stream order. A frame with a
    bad CRC, length, version or escape is dropped and counted; decoding resumes
    at the next flag.
    """

    stats: DecoderStats = field(default_factory=DecoderStats)
    _body: bytearray = field(default_factory=bytearray)
    _in_frame: bool = False
    _escaped: bool = False
    _broken: bool = False

    def feed(self, data: bytes) -> Iterator[Frame | int]:
        for b in data:
            if b == ESTOP:
                self.stats.estops += 1
                yield ESTOP
                continue
            if b == FLAG:
                if self._in_frame and self._body:
                    frame = None if self._broken or self._escaped else self._parse(bytes(self._body))
                    if frame is None:
                        self.stats.bad_frames += 1
                    else:
                        self.stats.frames += 1
                        yield frame
                self._body.clear()
                self._in_frame, self._escaped, self._broken = True, False, False
                continue
            if not self._in_frame:
                self.stats.garbage_bytes += 1
                continue
            if self._escaped:
                b ^= ESC_XOR
                self._escaped = False
                if b not in STUFFED:
                    self._broken = True
            elif b == ESC:
                self._escaped = True
                continue
            if len(self._body) >= MAX_BODY:
                self._broken = True
                continue
            self._body.append(b)

    @staticmethod
    def _parse(body: bytes) -> Frame | None:
        if len(body) < HEADER.size + 2:
            return None
        version, seq, msg, length = HEADER.unpack_from(body)
        if version != PROTOCOL_VERSION or length != len(body) - HEADER.size - 2:
            return None
        (crc,) = struct.unpack_from("<H", body, len(body) - 2)
        if crc != crc16(body[:-2]):
            return None
        return Frame(seq=seq, type=msg, payload=body[HEADER.size : -2])


# --- payload codecs: the settings block and text; every message's layout is in hal/messages.py ---


class PayloadError(PenOperationError, ValueError):
    """A payload that does not match its message type (a pen error: the other end misbehaves)."""


class UnknownSettingIdError(PayloadError):
    """A settings block naming an id no setting has: the pen answers SETTING_UNKNOWN, not BAD_PAYLOAD."""


def pack_str(text: str) -> bytes:
    """``len u8`` then UTF-8, cut to 255 bytes on a character boundary."""
    data = text.encode("utf-8")
    if len(data) > 255:
        data = data[:255].decode("utf-8", errors="ignore").encode("utf-8")
    return bytes([len(data)]) + data


class Reader:
    """Reads fields from a payload; any shortfall raises :class:`PayloadError`."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> tuple[Any, ...]:
        st = struct.Struct("<" + fmt)
        if self.pos + st.size > len(self.data):
            raise PayloadError("payload too short")
        values = st.unpack_from(self.data, self.pos)
        self.pos += st.size
        return values

    def one(self, fmt: str) -> Any:
        return self.take(fmt)[0]

    def text(self) -> str:
        n = int(self.one("B"))
        if self.pos + n > len(self.data):
            raise PayloadError("text runs past the payload")
        raw = self.data[self.pos : self.pos + n]
        self.pos += n
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise PayloadError("text is not UTF-8") from None

    def raw(self, n: int) -> bytes:
        """The next ``n`` bytes as they are."""
        if self.pos + n > len(self.data):
            raise PayloadError("payload too short")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def rest(self) -> bytes:
        out = self.data[self.pos :]
        self.pos = len(self.data)
        return out

    def done(self) -> None:
        if self.pos != len(self.data):
            raise PayloadError(f"{len(self.data) - self.pos} unexpected bytes at the end")


_VALUE_FORMAT = {"float": "d", "int": "i", "bool": "?"}


def pack_settings(values: dict[str, SettingValue]) -> bytes:
    """``count(u16)`` then per setting ``id(u16)`` and its value (f64, i32, bool u8, or length-prefixed text)."""
    out = bytearray(struct.pack("<H", len(values)))
    for key, value in values.items():
        setting = BY_KEY[key]
        out += struct.pack("<H", setting.id)
        if setting.kind == "str":
            out += pack_str(str(value))
        else:
            out += struct.pack("<" + _VALUE_FORMAT[setting.kind], value)
    return bytes(out)


def unpack_settings(payload: bytes) -> dict[str, SettingValue]:
    """Inverse of :func:`pack_settings`; an unknown id raises :class:`PayloadError` naming it."""
    r = Reader(payload)
    count = int(r.one("H"))
    values: dict[str, SettingValue] = {}
    for _ in range(count):
        sid = int(r.one("H"))
        setting = BY_ID.get(sid)
        if setting is None:
            raise UnknownSettingIdError(f"unknown setting id {sid}")
        if setting.key in values:
            raise PayloadError(f"setting id {sid} ({setting.key}) given twice")
        if setting.kind == "str":
            values[setting.key] = r.text()
        elif setting.kind == "bool":
            flag = int(r.one("B"))
            if flag > 1:
                raise PayloadError(f"setting id {sid} ({setting.key}): flag byte {flag}, expected 0 or 1")
            values[setting.key] = bool(flag)
        else:
            values[setting.key] = r.one(_VALUE_FORMAT[setting.kind])
    r.done()
    return values


def pack_nak(code: ErrorCode, setting_id: int = 0, message: str = "") -> bytes:
    """A NAK payload by its layout in hal/messages.py (imported here late: that table is built on this module)."""
    from hal.messages import encode

    return encode(Msg.NAK, error=code, setting_id=setting_id, message=message or ERROR_TEXT[code])


def unpack_nak(payload: bytes) -> tuple[int, int, str]:
    """(error code, setting id, message) of a NAK payload; malformed raises :class:`PayloadError`."""
    from hal.messages import decode

    f = decode(Msg.NAK, payload)
    return int(f["error"]), int(f["setting_id"]), str(f["message"])
