"""Regenerate the reference sections of docs/ from the code (tables and byte-level examples).

Run after changing message types, error codes, alarms, the telemetry record or the
settings schema:  python tools/gen_reference.py
Each generated section sits between ``<!-- generated:NAME -->`` and
``<!-- /generated:NAME -->``; the prose around it is written by hand.
tests/test_docs.py checks the sections independently of this script.
"""

from __future__ import annotations

import functools
import math
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from controller.qa.envelope import format_table, measure  # noqa: E402
from controller.treatment.rules import limits, practice, read_table  # noqa: E402
from hal.faults import FAULTS  # noqa: E402
from hal.messages import describe, encode  # noqa: E402
from hal.protocol import (  # noqa: E402
    ALARM_TEXT,
    ERROR_TEXT,
    ESTOP,
    Alarm,
    ErrorCode,
    Frame,
    FrameDecoder,
    Msg,
    encode_frame,
)
from hal.service_auth import unlock_response  # noqa: E402
from hal.settings import CROSS_RULES, SETTINGS  # noqa: E402
from hal.skin import SKIN_TYPES  # noqa: E402
from hal.telemetry import TELEMETRY_DTYPE  # noqa: E402


def direction(m: Msg) -> str:
    if m.value < 0x80:
        return "host -> pen"
    return "pen -> host, unsolicited" if m == Msg.EVENT else "pen -> host, reply"


def message_table() -> str:
    rows = [f"| 0x{m.value:02X} | `{m.name}` | {direction(m)} | {describe(m)} |" for m in Msg]
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

    exchange(1, Msg.HELLO, encode(Msg.HELLO, host_version=1))
    cartridge = {"cartridge_id": 1001, "needles": 12, "max_depth_mm": 2.5, "field_diameter_mm": 3.5}
    exchange(2, Msg.RESET_WORLD, encode(Msg.RESET_WORLD, seed=0, **cartridge, battery_soc=0.9))
    exchange(3, Msg.STATUS)
    exchange(4, Msg.COMMAND, encode(Msg.COMMAND, depth_mm=1.0, frequency_hz=120.0, motor_enabled=True))
    exchange(5, Msg.READ_STROKES, encode(Msg.READ_STROKES, max_strokes=1))
    exchange(6, Msg.DISCARD_AFTER, encode(Msg.DISCARD_AFTER, keep=1))
    exchange(7, Msg.SET_SKIN, encode(Msg.SET_SKIN, skin="thick"))
    exchange(8, Msg.WAIT, encode(Msg.WAIT, seconds=5.0))
    exchange(9, Msg.INJECT_FAULT, encode(Msg.INJECT_FAULT, at_s=60.0, value=math.nan, kind="stall"))
    exchange(10, Msg.RETRACT)
    exchange(11, Msg.SETTINGS_READ)
    exchange(12, Msg.SETTINGS_WRITE, encode(Msg.SETTINGS_WRITE, settings={"depth.max_mm": 2.0}))
    exchange(13, Msg.SETTINGS_COMMIT)
    out_of_range = encode(Msg.SETTINGS_WRITE, settings={"depth.max_mm": 9.0})
    exchange(14, Msg.SETTINGS_WRITE, out_of_range, " with an out-of-range value")
    exchange(15, Msg.SETTINGS_ABORT)
    exchange(16, Msg.SETTINGS_FACTORY)
    exchange(17, Msg.ALARMS_READ)
    exchange(18, Msg.ALARMS_CLEAR, encode(Msg.ALARMS_CLEAR, alarm=1))
    [challenge] = exchange(19, Msg.SERVICE_CHALLENGE)
    answer = unlock_response(key, challenge.payload, "service", "MN1-000000")
    unlock = encode(Msg.SERVICE_UNLOCK, level="service", answer=answer)
    exchange(20, Msg.SERVICE_UNLOCK, unlock, " (example key 00 01 .. 1f)")
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
        if s.kind == "str":
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


def parameter_table() -> str:
    from sim.build import NOMINAL, RANGES

    rows = [
        f"| `{name}` | {meaning} | {getattr(NOMINAL, name):g} | {lo:g} to {hi:g} {unit} |"
        for name, (lo, hi, unit, meaning) in RANGES.items()
    ]
    return "| parameter | what it is | nominal | range a campaign may use |\n|---|---|---|---|\n" + "\n".join(rows)


def metric_table() -> str:
    from controller.qa.verification.campaign import METRICS

    rows = [f"| `{name}` | {meaning} |" for name, meaning in METRICS.items()]
    return "| metric | what it is |\n|---|---|\n" + "\n".join(rows)


def _rows(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table: one header row, then the rows."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def clinical_contraindications() -> str:
    rows = []
    for r in read_table("contraindications.csv"):
        window = " / ".join(r[k] for k in ("window", "caution_window") if r[k]) or "-"
        rows.append([f"`{r['rule']}`", r["kind"], r["severity"], window, r["text"], r["source"]])
    return _rows(["rule", "kind", "severity", "window (hard / caution)", "text shown", "source"], rows)


def clinical_limits() -> str:
    rows = [
        [
            f"`{e.rule}`",
            f"{e.value:g} {e.unit}",
            f"`{e.setting}`" if e.setting else "-",
            e.acts,
            e.text,
            e.patient_text or "-",
            e.source,
        ]
        for e in limits().values()
    ]
    return _rows(["rule", "value", "setting", "breach", "text shown", "patient sheet", "source"], rows)


def clinical_aftercare() -> str:
    rows = [[f"`{r['topic']}`", r["instruction"], r["hours"], r["source"]] for r in read_table("aftercare.csv")]
    return _rows(["topic", "text shown", "hours", "source"], rows)


def clinical_side_effects() -> str:
    rows = [[f"`{r['effect']}`", r["text"], r["source"]] for r in read_table("side_effects.csv")]
    return _rows(["side effect", "text shown", "source"], rows)


def clinical_practice() -> str:
    rows = [[f"`{p.rule}`", p.text, p.patient_text, p.source] for p in practice()]
    return _rows(["rule", "text shown", "patient sheet", "source"], rows)


def clinical_aliases() -> str:
    rows = [[f"`{r['alias']}`", f"`{r['name']}`", r["kind"], r["source"]] for r in read_table("aliases.csv")]
    return _rows(["name people use", "row", "kind", "source"], rows)


def _depth(row: dict[str, str]) -> str:
    if not row["min_depth_mm"]:
        return "no figure in any text: the area's range"
    return f"{row['min_depth_mm']}-{row['max_depth_mm']} mm (default {row['default_depth_mm']})"


def clinical_depths() -> str:
    rows = [
        [f"`{r[key]}`", what, _depth(r), r["source"]]
        for name, key, what in (("areas.csv", "area", "area"), ("indications.csv", "indication", "indication"))
        for r in read_table(name)
    ]
    return _rows(["name", "kind", "depth", "source"], rows)


ENVELOPE_BATTERIES = (0.2, 0.5, 0.9)


def envelope_table(drive: str, skin: str, battery_soc: float) -> str:
    """``penctl envelope --drive D --skin S --battery B``, verbatim, in a code block."""
    command = f"penctl envelope --drive {drive} --skin {skin} --battery {battery_soc:g}"
    table = format_table(
        measure(skin=skin, battery_soc=battery_soc, drive=drive), skin=skin, battery_soc=battery_soc, drive=drive
    )
    return f"```\n$ {command}\n{table}\n```"


ENVELOPE_SECTIONS: dict[str, dict[str, Callable[[], str]]] = {
    "docs/envelope.md": {
        f"rotary_cam_{skin}_{round(100 * soc)}": functools.partial(envelope_table, "rotary_cam", skin, soc)
        for skin in SKIN_TYPES
        for soc in ENVELOPE_BATTERIES
    },
    "docs/simulation.md": {"voice_coil_normal_90": functools.partial(envelope_table, "voice_coil", "normal", 0.9)},
}
"""Sections that stroke the simulated pen (seconds each): checked one per test in tests/test_envelope_docs.py."""

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
    "docs/verification.md": {"parameters": parameter_table, "metrics": metric_table},
    "docs/clinical.md": {
        "contraindications": clinical_contraindications,
        "limits": clinical_limits,
        "aftercare": clinical_aftercare,
        "side_effects": clinical_side_effects,
        "depths": clinical_depths,
        "practice": clinical_practice,
        "aliases": clinical_aliases,
    },
}


def main() -> None:
    for name, sections in (SECTIONS | ENVELOPE_SECTIONS).items():
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
