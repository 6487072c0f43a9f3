"""Regenerate the reference sections of docs/ from the code (tables and byte-level examples).

Run after changing message types, error codes, alarms, the telemetry record or the
settings schema:  python tools/gen_reference.py
Each generated section sits between ``<!-- generated:NAME -->`` and
``<!-- /generated:NAME -->``; the prose around it is written by hand.
tests/test_docs.py checks the sections independently of this script.
"""

from __future__ import annotations

import re
import struct
import sys
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hal.backend import CARTRIDGE_RANGES  # noqa: E402
from hal.faults import FAULTS, LATEST_FAULT_S  # noqa: E402
from hal.protocol import (  # noqa: E402
    ALARM_TEXT,
    ERROR_TEXT,
    ESTOP,
    PEN_LINK_COUNTERS,
    Alarm,
    ErrorCode,
    Frame,
    FrameDecoder,
    Msg,
    encode_frame,
    pack_settings,
    pack_str,
)
from hal.service_auth import unlock_response  # noqa: E402
from hal.settings import CROSS_RULES, SETTINGS  # noqa: E402
from hal.telemetry import TELEMETRY_DTYPE  # noqa: E402

PAYLOADS = {
    "HELLO": "`host_version u8` (1)",
    "STATUS": "empty",
    "COMMAND": "`depth_mm f64`, `frequency_hz f64`, `motor_enabled u8` (0 or 1); takes effect at the next stroke "
    "boundary. Both numbers must be finite; with `motor_enabled` 1 the pen itself requires a usable cartridge "
    "(else `NO_CARTRIDGE`), 0 < `depth_mm` <= its own limit (STATUS `pen_depth_limit_mm`) and `frequency_hz` "
    "within `frequency.min_hz`..`frequency.max_hz` (else `COMMAND_RANGE`)",
    "READ_STROKES": "`max_strokes u32`: run (simulator) or collect (real pen) up to this many strokes; the pen "
    "caps a frame at `telemetry.batch_max` and never lets one span a fault's onset. The pen stops itself (retracts, "
    "motor off) and answers `NO_CARTRIDGE` when the cartridge is gone or is not the one it was commanded with, "
    "`STORE` when it cannot record the cartridge's first use",
    "DISCARD_AFTER": "`keep u32`: forget all but the first `keep` strokes of the last TELEMETRY frame, 0 <= keep "
    "<= its count (SPECULATIVE pens only; `BAD_PAYLOAD` with no frame to rewind)",
    "RETRACT": "empty: retract and disable the motor at once",
    "SET_SKIN": "`skin str` (`sensitive`, `normal`, `thick`; SIMULATED_WORLD pens only)",
    "WAIT": "`seconds f64`, 0 to 86,400: let pen time pass with the motor still; the pen retracts first "
    "(SIMULATED_WORLD only)",
    "RESET_WORLD": "`seed u64`, `cartridge_id u32` (0: none, and the rest of the cartridge is ignored), "
    + ", ".join(
        f"`{k}` {'u8' if k == 'needles' else 'f64'} ({lo:g} to {hi:g})"
        for k, (lo, hi) in list(CARTRIDGE_RANGES.items())[1:]
    )
    + ", `battery_soc f64` (0 to 1). SIMULATED_WORLD only; a new power-on of the hardware: the settings store "
    "is kept, a service unlock is dropped",
    "ESTOP_RELEASE": "empty: release a latched emergency stop",
    "INJECT_FAULT": f"`at_s f64` (0 to {LATEST_FAULT_S:g} s of pen time), `value f64` (NaN: the kind's "
    "default; otherwise in the kind's range, table below), `kind str` (SIMULATED_WORLD only)",
    "SETTINGS_READ": "empty",
    "SETTINGS_WRITE": "a settings block (below): validated key by key and as a whole, then staged; any problem "
    "stages nothing",
    "SETTINGS_COMMIT": "empty: write the staged block to the store as one image",
    "SETTINGS_ABORT": "empty: drop the staged block",
    "SETTINGS_FACTORY": "empty: stage factory defaults for user and service settings (commit to apply)",
    "ALARMS_READ": "empty",
    "ALARMS_CLEAR": "`alarm u16`: a code of the alarm table (else `BAD_PAYLOAD`)",
    "SERVICE_CHALLENGE": "empty: ask for a fresh nonce",
    "SERVICE_UNLOCK": "`level str` (`service` or `factory`), then exactly 32 bytes: the answer "
    "HMAC-SHA256(key, message) with message = the 17 ASCII bytes `penctl-unlock-v1|`, the 16 nonce bytes, one "
    "level byte (1 service, 2 factory) and the serial number's ASCII bytes (HELLO_REPLY `serial_number`, no "
    "length prefix). The unlock lasts until `service.unlock_timeout_s` of the pen's power-on clock passes, the "
    "connection ends, a new HELLO arrives or the pen powers off",
    "ACK": "empty",
    "NAK": "`error u8`, `setting_id u16` (0: none), `message str`",
    "HELLO_REPLY": "`protocol_version u8`, `settings_schema u16`, `capabilities u32`, `max_depth_mm f64` (the "
    "hardware's maximum, not the limit in force: see STATUS `pen_depth_limit_mm`), `min_hz f64`, `max_hz f64` (the "
    "hardware's range; the settings may narrow it), `model str`, `firmware str`, `serial_number str`",
    "STATUS_REPLY": "`time_s f64`, `battery_v f64`, `battery_soc f64`, `motor_temp_c f64`, `battery_temp_c f64`, "
    "`tip_mm f64` (negative: retracted), `estop_latched u8`, `pen_depth_limit_mm f64` (the deepest stroke the pen "
    "accepts now: the smallest of HELLO_REPLY `max_depth_mm`, `depth.max_mm` and the cartridge's rating; 0 without "
    "a usable cartridge), `cartridge_id u32` (0: none), `needles u8`, `max_depth_mm f64` (the cartridge's rating), "
    "`field_diameter_mm f64`, `strokes_used u32`, `locked u8` (1: the pen's store lists this cartridge as used "
    "before this attachment, so it will not stroke it: single-use lockout)",
    "TELEMETRY": f"`count u16`, then `count` stroke records of {TELEMETRY_DTYPE.itemsize} bytes (below)",
    "SETTINGS_VALUES": "a settings block (below): every setting",
    "ALARMS": "`count u16`, then `count` x `alarm u16`",
    "CHALLENGE": "the 16-byte nonce (single use)",
    "LINK_STATS": "empty: read the pen's link counters",
    "LINK_STATS_REPLY": ", ".join(f"`{name} u32`" for name in PEN_LINK_COUNTERS)
    + " (since power-on; see Link statistics)",
    "EVENT": "`kind u8` (1 e-stop, 2 fault, 3 alarm), `time_s f64`, `code u16`, `message str`",
}


def direction(m: Msg) -> str:
    if m.value < 0x80:
        return "host -> pen"
    return "pen -> host, unsolicited" if m == Msg.EVENT else "pen -> host, reply"


def message_table() -> str:
    rows = [f"| 0x{m.value:02X} | `{m.name}` | {direction(m)} | {PAYLOADS[m.name]} |" for m in Msg]
    return "| type | name | direction | payload |\n|---|---|---|---|\n" + "\n".join(rows)


def error_table() -> str:
    rows = [f"| {e.value} | `{e.name}` | {ERROR_TEXT[e]} |" for e in ErrorCode]
    return "| code | name | meaning |\n|---|---|---|\n" + "\n".join(rows)


def alarm_table() -> str:
    rows = [f"| {a.value} | `{a.name}` | {ALARM_TEXT[a]} |" for a in Alarm]
    return "| code | name | meaning |\n|---|---|---|\n" + "\n".join(rows)


def telemetry_table() -> str:
    fields, names = TELEMETRY_DTYPE.fields, TELEMETRY_DTYPE.names
    assert fields is not None and names is not None
    rows = [f"| `{n}` | {fields[n][1]} | {fields[n][0].str} |" for n in names]
    return "| field | offset | type |\n|---|---|---|\n" + "\n".join(rows)


def examples() -> str:
    import sim.service_access
    from sim.backend import SimBackend
    from sim.virtual_pen import VirtualPen

    # A fixed nonce, so regenerating the page does not change it (the pen's nonces are random).
    vars(sim.service_access)["secrets"] = SimpleNamespace(token_bytes=lambda n=16: bytes(range(0xA0, 0xA0 + n)))
    key = bytes(range(32))
    pen = VirtualPen(SimBackend(service_key=key))
    blocks: list[tuple[str, bytes]] = []

    def hexes(data: bytes) -> str:
        return " ".join(f"{b:02x}" for b in data)

    def exchange(seq: int, msg: Msg, payload: bytes = b"", label: str = "") -> list[Frame]:
        frame = encode_frame(seq, msg, payload)
        blocks.append((f"{msg.name} request (seq {seq}){label}", frame))
        replies = [f for f in FrameDecoder().feed(pen.feed(frame)) if isinstance(f, Frame)]
        for r in replies:
            blocks.append((f"{Msg(r.type).name} reply (seq {r.seq})", encode_frame(r.seq, r.type, r.payload)))
        return replies

    exchange(1, Msg.HELLO, bytes([1]))
    exchange(2, Msg.RESET_WORLD, struct.pack("<QIBddd", 0, 1001, 12, 2.5, 3.5, 0.9))
    exchange(3, Msg.STATUS)
    exchange(4, Msg.COMMAND, struct.pack("<ddB", 1.0, 120.0, 1))
    exchange(5, Msg.READ_STROKES, struct.pack("<I", 1))
    exchange(6, Msg.DISCARD_AFTER, struct.pack("<I", 1))
    exchange(7, Msg.SET_SKIN, pack_str("thick"))
    exchange(8, Msg.WAIT, struct.pack("<d", 5.0))
    exchange(9, Msg.INJECT_FAULT, struct.pack("<dd", 60.0, float("nan")) + pack_str("stall"))
    exchange(10, Msg.RETRACT)
    exchange(11, Msg.SETTINGS_READ)
    exchange(12, Msg.SETTINGS_WRITE, pack_settings({"depth.max_mm": 2.0}))
    exchange(13, Msg.SETTINGS_COMMIT)
    exchange(14, Msg.SETTINGS_WRITE, pack_settings({"depth.max_mm": 9.0}), " with an out-of-range value")
    exchange(15, Msg.SETTINGS_ABORT)
    exchange(16, Msg.SETTINGS_FACTORY)
    exchange(17, Msg.ALARMS_READ)
    exchange(18, Msg.ALARMS_CLEAR, struct.pack("<H", 1))
    [challenge] = exchange(19, Msg.SERVICE_CHALLENGE)
    answer = unlock_response(key, challenge.payload, "service", "MN1-000000")
    exchange(20, Msg.SERVICE_UNLOCK, pack_str("service") + answer, " (example key 00 01 .. 1f)")
    exchange(21, Msg.ESTOP_RELEASE)
    exchange(22, Msg.LINK_STATS)
    event = next(f for f in FrameDecoder().feed(pen.feed(bytes([ESTOP]))) if isinstance(f, Frame))
    blocks.append(("EVENT after a realtime e-stop byte", encode_frame(event.seq, event.type, event.payload)))
    return "\n".join(f"### {label}\n```\n{hexes(frame)}\n```" for label, frame in blocks)


def fault_table() -> str:
    rows = [
        f"| `{f.kind}` | {f.meaning} | {f.unit or '-'} | {f.low:g} to {f.high:g}{' (whole)' if f.whole else ''} "
        f"| {f.default:g} |"
        for f in FAULTS.values()
    ]
    return "| kind | value | unit | range | default |\n|---|---|---|---|---|\n" + "\n".join(rows)


def settings_table() -> str:
    def show(v: object) -> str:
        if isinstance(v, bool):
            return str(v).lower()
        if isinstance(v, str):
            return f'"{v}"'
        return f"{v:g}" if isinstance(v, float) else str(v)

    def span(s: object) -> str:
        assert hasattr(s, "kind")
        if s.kind == "str":  # type: ignore[attr-defined]
            return f"{int(s.low)}-{int(s.high)} characters"  # type: ignore[attr-defined]
        return f"{s.low:g} to {s.high:g}"  # type: ignore[attr-defined]

    rows = [
        f"| {s.id} | `{s.key}` | {s.kind} | {s.unit} | {span(s)} | {show(s.default)} | {s.access} | {s.description} |"
        for s in SETTINGS
    ]
    head = "| id | key | type | unit | range | default | access | meaning |\n|---|---|---|---|---|---|---|---|\n"
    rules = "\n".join(f"- {m}." for _, _, m in CROSS_RULES)
    return (
        head + "\n".join(rows) + "\n\nRules between settings, checked on the whole block by host and pen:\n\n" + rules
    )


def hazard_table() -> str:
    from controller.firmware.hazards import HAZARDS

    rows = [
        f"| {h.id} | {h.name} | {h.cause} | {h.detection} | {h.response} | {h.priority} | `{h.kind}` | {h.tests} |"
        for h in HAZARDS
    ]
    head = "| id | hazard | cause | detection (signal, threshold) | response | priority | condition | test |\n"
    return head + "|---|---|---|---|---|---|---|---|\n" + "\n".join(rows)


SECTIONS = {
    "docs/protocol.md": {
        "messages": message_table,
        "errors": error_table,
        "alarms": alarm_table,
        "telemetry": telemetry_table,
        "examples": examples,
        "faults": fault_table,
    },
    "docs/settings.md": {"settings": settings_table},
    "docs/hazards.md": {"hazards": hazard_table},
}


def main() -> None:
    for name, sections in SECTIONS.items():
        path = ROOT / name
        text = path.read_text()
        for section, make in sections.items():
            pattern = re.compile(rf"(<!-- generated:{section} -->\n).*?(\n<!-- /generated:{section} -->)", re.S)
            if not pattern.search(text):
                raise SystemExit(f"{name}: no generated:{section} markers")
            match = pattern.search(text)
            assert match is not None
            text = text[: match.start()] + match.group(1) + make() + match.group(2) + text[match.end() :]
        path.write_text(text)


if __name__ == "__main__":
    main()
