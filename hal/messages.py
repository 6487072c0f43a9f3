"""Every message's payload layout, once: the table both ends encode and decode with and the docs are made from.

A layout is a ``construct`` Struct whose fields are written ``"name" / WIRE_TYPE * "meaning"``:
the pen (sim/virtual_pen.py) and the host (hal/serial_backend.py) call :func:`encode` and
:func:`decode` with it, and tools/gen_reference.py writes the message table of docs/protocol.md
from the same fields, so adding a field is one line here. Why construct and not a table over the
stdlib ``struct`` module: docs/protocol.md, "Why this table".

Every malformed payload becomes a :class:`~hal.protocol.PayloadError` (the pen answers it
``NAK BAD_PAYLOAD``), never another exception. Telemetry records stay a NumPy structured array
(bulk data); the layout carries them as one field.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
from construct import (
    Bytes,
    Construct,
    ConstructError,
    Float64l,
    Int8ul,
    Int16ul,
    Int32ul,
    Int64ul,
    Renamed,
    Struct,
    Terminated,
)
from construct.core import stream_read, stream_read_entire, stream_write

from hal.backend import CARTRIDGE_RANGES
from hal.faults import LATEST_FAULT_S
from hal.protocol import (
    PEN_LINK_COUNTERS,
    UNLOCK_ANSWER_BYTES,
    Msg,
    PayloadError,
    pack_settings,
    pack_str,
    unpack_settings,
)
from hal.telemetry import TELEMETRY_DTYPE

U8, U16, U32, U64, F64 = Int8ul, Int16ul, Int32ul, Int64ul, Float64l
WIRE_NAMES: dict[int, str] = {id(U8): "u8", id(U16): "u16", id(U32): "u32", id(U64): "u64", id(F64): "f64"}
"""The docs' name of each wire type (docs/protocol.md, Frames)."""


class _Wire(Construct):  # type: ignore[misc]
    """A field type of our own; ``wire`` is how the docs name it."""

    wire = ""


class _Text(_Wire):
    """``str``: ``len u8`` then UTF-8; text longer than 255 bytes is cut on a character boundary."""

    wire = "str"

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> str:
        size = stream_read(stream, 1, path)[0]
        raw = stream.read(size)
        if len(raw) != size:
            raise PayloadError("text runs past the payload")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise PayloadError("text is not UTF-8") from None

    def _build(self, obj: str, stream: io.BytesIO, context: Any, path: str) -> str:
        data = pack_str(obj)
        stream_write(stream, data, len(data), path)
        return obj


class _Flag(_Wire):
    """``u8`` that must be 0 or 1: any other byte is a malformed payload, not a true."""

    wire = "u8"

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> bool:
        value = stream_read(stream, 1, path)[0]
        if value > 1:
            raise PayloadError(f"{path.rsplit(' -> ', 1)[-1]} {value}: expected 0 or 1")
        return bool(value)

    def _build(self, obj: bool, stream: io.BytesIO, context: Any, path: str) -> bool:
        stream_write(stream, bytes([1 if obj else 0]), 1, path)
        return obj


class _Settings(_Wire):
    """A settings block (docs/protocol.md, Settings block); it runs to the end of the payload."""

    wire = "settings block"

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> dict[str, Any]:
        return unpack_settings(stream_read_entire(stream, path))

    def _build(self, obj: dict[str, Any], stream: io.BytesIO, context: Any, path: str) -> dict[str, Any]:
        data = pack_settings(obj)
        stream_write(stream, data, len(data), path)
        return obj


class _U16List(_Wire):
    """``count u16`` then ``count`` x ``u16``."""

    wire = "u16 list"

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> list[int]:
        count = int.from_bytes(stream_read(stream, 2, path), "little")
        return np.frombuffer(stream_read(stream, 2 * count, path), "<u2").astype(int).tolist()  # type: ignore[no-any-return]

    def _build(self, obj: list[int], stream: io.BytesIO, context: Any, path: str) -> list[int]:
        data = np.array([len(obj), *obj], "<u2").tobytes()
        stream_write(stream, data, len(data), path)
        return obj


class _Strokes(_Wire):
    """``count u16`` then ``count`` telemetry records (hal/telemetry.py), decoded as one NumPy array."""

    wire = "telemetry records"

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> Any:
        count = int.from_bytes(stream_read(stream, 2, path), "little")
        raw = stream_read_entire(stream, path)
        if len(raw) != count * TELEMETRY_DTYPE.itemsize:
            raise PayloadError(f"telemetry frame holds {len(raw)} bytes for {count} strokes")
        return np.frombuffer(raw, dtype=TELEMETRY_DTYPE).copy()

    def _build(self, obj: Any, stream: io.BytesIO, context: Any, path: str) -> Any:
        data = len(obj).to_bytes(2, "little") + np.asarray(obj, dtype=TELEMETRY_DTYPE).tobytes()
        stream_write(stream, data, len(data), path)
        return obj


Str, Bool, SettingsBlock, U16List, Strokes = _Text(), _Flag(), _Settings(), _U16List(), _Strokes()
Nonce, Answer = Bytes(16), Bytes(UNLOCK_ANSWER_BYTES)
WIRE_NAMES |= {id(Nonce): "16 bytes", id(Answer): f"{UNLOCK_ANSWER_BYTES} bytes"}


@dataclass(frozen=True, kw_only=True)
class Layout:
    """One message's payload: its fields in wire order, and what the docs add after them."""

    fields: tuple[Any, ...]
    note: str = ""
    codec: Any
    """The construct Struct of ``fields`` followed by Terminated (trailing bytes are malformed)."""


def layout(*fields: Any, note: str = "") -> Layout:
    return Layout(fields=fields, note=note, codec=Struct(*fields, Terminated))


def _cartridge_range(key: str) -> str:
    low, high = CARTRIDGE_RANGES[key]
    return f"{low:g} to {high:g}"


EMPTY = layout()
LAYOUTS: dict[Msg, Layout] = {
    Msg.HELLO: layout("host_version" / U8 * "1"),
    Msg.STATUS: EMPTY,
    Msg.COMMAND: layout(
        "depth_mm" / F64,
        "frequency_hz" / F64,
        "motor_enabled" / Bool * "0 or 1",
        note="takes effect at the next stroke boundary. Both numbers must be finite; with `motor_enabled` 1 the "
        "pen itself requires a usable cartridge (else `NO_CARTRIDGE`), 0 < `depth_mm` <= its own limit (STATUS "
        "`pen_depth_limit_mm`) and `frequency_hz` within `frequency.min_hz`..`frequency.max_hz` (else "
        "`COMMAND_RANGE`)",
    ),
    Msg.READ_STROKES: layout(
        "max_strokes" / U32,
        note="run (simulator) or collect (real pen) up to this many strokes; the pen caps a frame at "
        "`telemetry.batch_max` and never lets one span a fault's onset. The pen stops itself (retracts, motor off) "
        "and answers `NO_CARTRIDGE` when the cartridge is gone or is not the one it was commanded with, `STORE` when "
        "it cannot record the cartridge's first use",
    ),
    Msg.DISCARD_AFTER: layout(
        "keep" / U32,
        note="forget all but the first `keep` strokes of the last TELEMETRY frame, 0 <= keep <= its count "
        "(SPECULATIVE pens only; `BAD_PAYLOAD` with no frame to rewind)",
    ),
    Msg.RETRACT: layout(note="retract and disable the motor at once"),
    Msg.SET_SKIN: layout("skin" / Str * "`sensitive`, `normal`, `thick`", note="SIMULATED_WORLD pens only"),
    Msg.WAIT: layout(
        "seconds" / F64 * "0 to 86,400",
        note="let pen time pass with the motor still; the pen retracts first (SIMULATED_WORLD only)",
    ),
    Msg.RESET_WORLD: layout(
        "seed" / U64,
        "cartridge_id" / U32 * "0: none, and the rest of the cartridge is ignored",
        "needles" / U8 * _cartridge_range("needles"),
        "max_depth_mm" / F64 * _cartridge_range("max_depth_mm"),
        "field_diameter_mm" / F64 * _cartridge_range("field_diameter_mm"),
        "battery_soc" / F64 * "0 to 1",
        note="SIMULATED_WORLD only; a new power-on of the hardware: the settings store is kept, a service unlock is "
        "dropped, a service lockout is not (see Service unlock)",
    ),
    Msg.ESTOP_RELEASE: layout(note="release a latched emergency stop"),
    Msg.INJECT_FAULT: layout(
        "at_s" / F64 * f"0 to {LATEST_FAULT_S:g} s of pen time",
        "value" / F64 * "NaN: the kind's default; otherwise in the kind's range, table below",
        "kind" / Str,
        note="SIMULATED_WORLD only",
    ),
    Msg.SETTINGS_READ: EMPTY,
    Msg.SETTINGS_WRITE: layout(
        "settings" / SettingsBlock,
        note="validated key by key and as a whole, then staged; any problem stages nothing",
    ),
    Msg.SETTINGS_COMMIT: layout(note="write the staged block to the store as one image"),
    Msg.SETTINGS_ABORT: layout(note="drop the staged block"),
    Msg.SETTINGS_FACTORY: layout(note="stage factory defaults for user and service settings (commit to apply)"),
    Msg.ALARMS_READ: EMPTY,
    Msg.ALARMS_CLEAR: layout("alarm" / U16 * "a code of the alarm table, else `BAD_PAYLOAD`"),
    Msg.SERVICE_CHALLENGE: layout(note="ask for a fresh nonce"),
    Msg.SERVICE_UNLOCK: layout(
        "level" / Str * "`service` or `factory`",
        "answer" / Answer,
        note="the answer is HMAC-SHA256(key, message) with message = the 17 ASCII bytes `penctl-unlock-v1|`, the 16 "
        "nonce bytes, one level byte (1 service, 2 factory) and the serial number's ASCII bytes (HELLO_REPLY "
        "`serial_number`, no length prefix). The unlock ends `service.unlock_timeout_s` (the value in force) of the "
        "pen's power-on clock after the unlock, whatever traffic follows, or earlier when the connection ends, a new "
        "HELLO arrives or the pen powers off",
    ),
    Msg.LINK_STATS: layout(note="read the pen's link counters"),
    Msg.ACK: EMPTY,
    Msg.NAK: layout("error" / U8, "setting_id" / U16 * "0: none", "message" / Str),
    Msg.HELLO_REPLY: layout(
        "protocol_version" / U8,
        "settings_schema" / U16,
        "capabilities" / U32,
        "max_depth_mm" / F64 * "the hardware's maximum, not the limit in force: see STATUS `pen_depth_limit_mm`",
        "min_hz" / F64,
        "max_hz" / F64 * "the hardware's range; the settings may narrow it",
        "model" / Str,
        "firmware" / Str,
        "serial_number" / Str,
    ),
    Msg.STATUS_REPLY: layout(
        "time_s" / F64,
        "battery_v" / F64,
        "battery_soc" / F64,
        "motor_temp_c" / F64,
        "battery_temp_c" / F64,
        "tip_mm" / F64 * "negative: retracted",
        "estop_latched" / Bool,
        "pen_depth_limit_mm" / F64 * "the deepest stroke the pen accepts now: the smallest of HELLO_REPLY "
        "`max_depth_mm`, `depth.max_mm` and the cartridge's rating; 0 without a usable cartridge",
        "cartridge_id" / U32 * "0: none",
        "needles" / U8,
        "max_depth_mm" / F64 * "the cartridge's rating",
        "field_diameter_mm" / F64,
        "strokes_used" / U32,
        "locked" / Bool * "1: the pen's store lists this cartridge as used before this attachment, so it will not "
        "stroke it: single-use lockout",
    ),
    Msg.TELEMETRY: layout(
        "strokes" / Strokes * f"`count u16`, then `count` stroke records of {TELEMETRY_DTYPE.itemsize} bytes (below)"
    ),
    Msg.SETTINGS_VALUES: layout("settings" / SettingsBlock * "every setting"),
    Msg.ALARMS: layout("alarms" / U16List * "`count u16`, then `count` x `alarm u16`"),
    Msg.CHALLENGE: layout("nonce" / Nonce * "single use"),
    Msg.LINK_STATS_REPLY: layout(
        *(name / U32 for name in PEN_LINK_COUNTERS), note="since power-on; see Link statistics"
    ),
    Msg.EVENT: layout("kind" / U8 * "1 e-stop, 2 fault, 3 alarm", "time_s" / F64, "code" / U16, "message" / Str),
}
"""Message type -> payload layout. Every :class:`~hal.protocol.Msg` has one (tests check it)."""


def encode(msg: Msg, **values: Any) -> bytes:
    """The payload of ``msg`` with ``values`` (one per field); a missing or out-of-type value is a ValueError."""
    try:
        data: bytes = LAYOUTS[msg].codec.build(values)
    except ConstructError as exc:
        raise ValueError(f"cannot encode {msg.name}: {_one_line(exc)}") from None
    except KeyError as exc:
        raise ValueError(f"cannot encode {msg.name}: no value for field {exc}") from None
    return data


def decode(msg: Msg, payload: bytes) -> dict[str, Any]:
    """The fields of a ``msg`` payload, by name; anything malformed raises :class:`PayloadError`."""
    try:
        fields = LAYOUTS[msg].codec.parse(payload)
    except ConstructError as exc:
        raise PayloadError(f"{msg.name} payload: {_one_line(exc)}") from None
    return {k: v for k, v in fields.items() if not k.startswith("_")}


def _one_line(exc: ConstructError) -> str:
    """construct's two-line message ("Error in path (parsing) -> field" / detail) as one line."""
    lines = str(exc).splitlines()
    detail = lines[-1] if lines else type(exc).__name__
    path = getattr(exc, "path", "") or ""
    field = path.split(" -> ", 1)[1] if " -> " in path else ""
    if detail == "expected end of stream":
        detail = "unexpected bytes at the end"
    return f"field {field}: {detail}" if field else detail


def wire_name(subcon: Any) -> str:
    """How the docs name a field's wire type (``u8``, ``f64``, ``str`` ...)."""
    while isinstance(subcon, Renamed):
        subcon = subcon.subcon
    return subcon.wire if isinstance(subcon, _Wire) else WIRE_NAMES[id(subcon)]


def field_names(msg: Msg) -> list[str]:
    return [f.name for f in LAYOUTS[msg].fields]


def describe(msg: Msg) -> str:
    """The docs' payload column for ``msg``: each field as `name type` (meaning), then the note."""
    parts = [_describe_field(f) for f in LAYOUTS[msg].fields]
    head = ", ".join(parts) if parts else "empty"
    return f"{head}: {LAYOUTS[msg].note}" if LAYOUTS[msg].note else head


def _describe_field(field: Any) -> str:
    kind = wire_name(field)
    if kind == "settings block":
        return "a settings block (below)" + (f": {field.docs}" if field.docs else "")
    if kind in ("telemetry records", "u16 list"):  # their meaning text spells the count prefix out
        return str(field.docs)
    return f"`{field.name} {kind}`" + (f" ({field.docs})" if field.docs else "")
