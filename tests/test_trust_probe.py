"""Outside probe of issue 22's promises, written from README.md and docs/ alone: `penctl serve`, the CLI
and the docs-written client of tests/test_protocol_probe.py, never the code.

It attacks the four promises again: an unlock that expires however busy the host keeps the link,
a watchdog that no refused frame feeds, a lockout that RESET_WORLD does not clear, writes that
need their access level whatever the value, and recordings that cannot be edited quietly.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import subprocess
import time
from pathlib import Path

import pytest

from tests.test_plan import plan_text
from tests.test_protocol_probe import (
    CHALLENGE,
    COMMAND,
    E_ACCESS,
    E_AUTH_LOCKED,
    E_BAD_PAYLOAD,
    E_BUSY,
    E_COMMAND_RANGE,
    E_NO_KEY,
    E_NOTHING_STAGED,
    E_SETTING_UNKNOWN,
    E_UNKNOWN_TYPE,
    KEY,
    NAK,
    PENCTL,
    READ_STROKES,
    RETRACT,
    SERVICE_CHALLENGE,
    SERVICE_UNLOCK,
    SETTING_TYPES,
    SETTINGS_COMMIT,
    SETTINGS_READ,
    SETTINGS_VALUES,
    SETTINGS_WRITE,
    STATUS,
    Client,
    Pen,
    encode,
    keyed_pen,
    p_command,
    p_settings,
    parse_nak,
    parse_settings,
    pstr,
    start_pen,
    stop_pen,
    unlock_answer,
)

__all__ = ["keyed_pen"]  # the fixture, used by name
S_CALIBRATION = 3
S_UNLOCK_TIMEOUT = 25
S_MOTOR_LIMIT = 13


def _motor_on(c: Client, cart: int) -> None:
    c.fresh_world(cart, max_depth=2.0)
    c.ack(COMMAND, p_command(1.0, 100.0, 1))
    assert len(c.strokes(5)) == 5
    c.events.clear()


def _unlock(c: Client, level: int, serial: str) -> None:
    f = c.request(SERVICE_CHALLENGE)
    assert f.mtype == CHALLENGE, f
    c.ack(SERVICE_UNLOCK, pstr("factory" if level == 2 else "service") + unlock_answer(KEY, f.payload, level, serial))


REFUSED_RESENT = [
    pytest.param(0x3F, b"", E_UNKNOWN_TYPE, id="unknown type"),
    pytest.param(READ_STROKES, b"\x01", E_BAD_PAYLOAD, id="bad payload", marks=pytest.mark.slow),
    pytest.param(COMMAND, p_command(9.0, 100.0, 1), E_COMMAND_RANGE, id="command range", marks=pytest.mark.slow),
    pytest.param(SERVICE_UNLOCK, pstr("service") + bytes(32), E_NO_KEY, id="no key", marks=pytest.mark.slow),
]
"""Each resent for 1.8 s of wall clock: one here, all in CI (the watchdog sweep of test_protocol_probe covers every
refusal code in the default run, at a shorter resend)."""


@pytest.mark.parametrize("mtype,payload,code", REFUSED_RESENT)
def test_one_refused_frame_resent_every_100_ms_does_not_keep_the_motor_on(
    keyed_pen: Pen, mtype: int, payload: bytes, code: int
) -> None:
    """The issue's frames (0x3F seq 99; READ_STROKES with 1 byte), a COMMAND beyond the limit, an unasked unlock."""
    c = keyed_pen.connect()
    _motor_on(c, 8100)
    frame = encode(99, mtype, payload)
    first = True
    end = time.monotonic() + 1.8
    while time.monotonic() < end:
        c.send_raw(frame)
        for reply in c.pump(0.1):
            assert reply.mtype == NAK and (not first or parse_nak(reply.payload).error == code), reply
            first = False
    faults = [e for e in c.events if e.kind == 2]
    assert faults, f"0x{mtype:02x} resent for 1.8 s kept the motor on (events {c.events})"
    assert c.status().tip_mm < 0 and c.strokes(10) == []


def test_reset_world_does_not_clear_the_lockout(keyed_pen: Pen) -> None:
    c = keyed_pen.connect(hello=False)
    c.hello()
    for _ in range(3):
        assert c.request(SERVICE_CHALLENGE).mtype == CHALLENGE
        c.request(SERVICE_UNLOCK, pstr("service") + bytes(32))
    for round_ in range(3):
        assert c.nak(SERVICE_CHALLENGE).error == E_AUTH_LOCKED, round_
        c.fresh_world(8200 + round_)  # a simulated power cycle
        c.close()
        c = keyed_pen.connect()  # and a new host
    assert c.nak(SERVICE_UNLOCK, pstr("service") + bytes(32)).error == E_AUTH_LOCKED


def test_a_write_needs_its_access_level_whatever_the_value(keyed_pen: Pen) -> None:
    c = keyed_pen.connect(hello=False)
    serial = c.hello().serial
    negative_zero = p_settings([(S_CALIBRATION, "f", -0.0)])
    nak = c.nak(SETTINGS_WRITE, negative_zero)
    assert (nak.error, nak.setting_id) == (E_ACCESS, S_CALIBRATION), "-0.0 is a write, not 'no change'"
    current = c.settings()
    for sid in (S_CALIBRATION, S_MOTOR_LIMIT, S_UNLOCK_TIMEOUT):  # factory, service, factory: unchanged values
        kind = SETTING_TYPES[sid]
        nak = c.nak(SETTINGS_WRITE, p_settings([(sid, kind, current[sid])]))
        assert (nak.error, nak.setting_id) == (E_ACCESS, sid)
    _unlock(c, 2, serial)
    c.ack(SETTINGS_WRITE, negative_zero)
    c.ack(SETTINGS_COMMIT)
    f = c.request(SETTINGS_READ)
    assert f.mtype == SETTINGS_VALUES
    value = parse_settings(f.payload, SETTING_TYPES)[S_CALIBRATION]
    assert isinstance(value, float) and struct.pack("<d", value) == struct.pack("<d", 0.0), "stored as +0.0"


@pytest.mark.slow
def test_an_unlock_kept_alive_by_status_every_5_s_still_expires(keyed_pen: Pen) -> None:
    """The issue's probe, on the served pen's wall clock: unlock_timeout_s = 30, a write 33 s after the unlock."""
    c = keyed_pen.connect(hello=False)
    serial = c.hello().serial
    _unlock(c, 2, serial)
    c.ack(SETTINGS_WRITE, p_settings([(S_UNLOCK_TIMEOUT, "i", 30)]))
    c.ack(SETTINGS_COMMIT)
    c.hello()  # drops the unlock; the next one runs under the 30 s now in force
    _unlock(c, 1, serial)
    unlocked = time.monotonic()
    while time.monotonic() - unlocked < 33.0:
        c.status()
        c.pump(min(5.0, 33.0 - (time.monotonic() - unlocked)))
    nak = c.nak(SETTINGS_WRITE, p_settings([(S_MOTOR_LIMIT, "f", 57.0)]))
    assert (nak.error, nak.setting_id) == (E_ACCESS, S_MOTOR_LIMIT)
    assert c.request(STATUS).mtype != NAK


def _stored(c: Client, sid: int) -> object:
    f = c.request(SETTINGS_READ)
    assert f.mtype == SETTINGS_VALUES
    return parse_settings(f.payload, SETTING_TYPES)[sid]


S_MARGIN = 4  # depth.over_depth_margin_mm, a service setting
S_VOLUME = 24  # alarm.volume, a user setting


def test_a_block_staged_under_an_unlock_is_not_committed_after_a_power_on(keyed_pen: Pen) -> None:
    """The second outside probe's break: staged under a service unlock, RESET_WORLD (a power-on), then a commit
    with no unlock was ACKed and stored."""
    c = keyed_pen.connect(hello=False)
    serial = c.hello().serial
    before = _stored(c, S_MARGIN)
    _unlock(c, 1, serial)
    c.ack(SETTINGS_WRITE, p_settings([(S_MARGIN, "f", 0.14)]))
    c.fresh_world(8300)  # a power-on: the unlock and the staged block (RAM) are gone
    assert c.nak(SETTINGS_COMMIT).error == E_NOTHING_STAGED
    assert _stored(c, S_MARGIN) == before


@pytest.mark.slow
def test_a_block_staged_under_an_unlock_is_not_committed_after_it_expired(keyed_pen: Pen) -> None:
    """The second outside probe's other break, on the served pen's wall clock: staged at unlock + 28 s, committed
    at + 32 s (after the 30 s unlock expired): ACK, and stored. Now ACCESS, and the store keeps its value."""
    c = keyed_pen.connect(hello=False)
    serial = c.hello().serial
    _unlock(c, 2, serial)
    c.ack(SETTINGS_WRITE, p_settings([(S_UNLOCK_TIMEOUT, "i", 30)]))
    c.ack(SETTINGS_COMMIT)
    c.hello()
    before = _stored(c, S_MARGIN)
    _unlock(c, 1, serial)
    unlocked = time.monotonic()
    c.pump(28.0)
    c.ack(SETTINGS_WRITE, p_settings([(S_MARGIN, "f", 0.14)]))
    c.pump(max(0.0, 32.0 - (time.monotonic() - unlocked)))
    assert c.nak(SETTINGS_COMMIT).error == E_ACCESS
    assert _stored(c, S_MARGIN) == before


# --- recordings, through the CLI --------------------------------------------------------------------------


def _penctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PENCTL), *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A recording made with `penctl record` against `penctl serve` (its key written beside it)."""
    folder = tmp_path_factory.mktemp("probe")
    plan = folder / "plan.toml"
    plan.write_text(plan_text())
    pen = start_pen()
    try:
        log = folder / "session.jsonl"
        done = _penctl("record", str(plan), "--port", f"socket://127.0.0.1:{pen.port}", "--log", str(log), "--out",
                       str(folder / "rec"))  # fmt: skip
        assert done.returncode == 0, done.stderr
    finally:
        stop_pen(pen)
    return log


def _replay_refuses(path: Path, lines: list[str], key_from: Path, *extra: str, end: str = "\n") -> str:
    path.write_text("\n".join(lines) + end)
    Path(f"{path}.key").write_bytes(Path(f"{key_from}.key").read_bytes())
    done = _penctl("replay", str(path), "--out", str(path.parent / f"out-{path.stem}"), *extra)
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr and str(path) in done.stderr
    assert not (path.parent / f"out-{path.stem}" / "report.json").exists()
    return done.stderr


def test_a_recording_replays_and_every_quiet_edit_is_refused(recording: Path, tmp_path: Path) -> None:
    ok = _penctl("replay", str(recording), "--out", str(tmp_path / "rep"))
    assert ok.returncode == 0, ok.stderr
    lines = recording.read_text().splitlines()
    swapped = list(lines)
    swapped[-3], swapped[-2] = swapped[-2], swapped[-3]
    assert f"line {len(lines) - 2}:" in _replay_refuses(tmp_path / "swap.jsonl", swapped, recording)
    assert "line 5:" in _replay_refuses(tmp_path / "del.jsonl", lines[:4] + lines[5:], recording)
    assert "line 5:" in _replay_refuses(tmp_path / "dup.jsonl", [*lines[:4], lines[3], *lines[4:]], recording)
    assert "truncated" in _replay_refuses(tmp_path / "cut.jsonl", lines[:-1], recording)
    assert "after the end" in _replay_refuses(tmp_path / "tail.jsonl", [*lines, lines[-1]], recording)
    # the second probe's one escape: the file cut by its last byte (the final newline) replayed
    assert f"line {len(lines)}:" in _replay_refuses(tmp_path / "nl.jsonl", lines, recording, end="")
    header = json.loads(lines[0])
    plan = base64.b64decode(header["meta"]["plan_b64"]).replace(b"depth_mm = 1.0", b"depth_mm = 1.4")
    header["meta"] |= {"plan_b64": base64.b64encode(plan).decode(), "plan_sha256": hashlib.sha256(plan).hexdigest()}
    edited = [json.dumps(header, separators=(",", ":")), *lines[1:]]
    assert "line 1:" in _replay_refuses(tmp_path / "plan.jsonl", edited, recording)


def test_a_forger_who_knows_the_format_but_not_the_key_is_refused(recording: Path, tmp_path: Path) -> None:
    """docs/recording.md gives the seal's construction; without the key a re-sealed file does not replay."""
    import hmac

    lines = recording.read_text().splitlines()
    nonce = json.loads(lines[0])["seal"]["nonce"]
    guess = bytes(32)
    key = hmac.new(guess, b"penctl-recording-v2|" + nonce.encode(), hashlib.sha256).digest()
    previous, forged = b"", []
    for line in lines:
        text = line[: line.rindex(',"mac":')] + "}"
        previous = hmac.new(key, previous + text.encode(), hashlib.sha256).digest()
        forged.append(f'{text[:-1]},"mac":"{previous.hex()}"}}')
    assert "line 1:" in _replay_refuses(tmp_path / "forged.jsonl", forged, recording)


def test_replay_trusts_only_the_key_it_is_given_the_documented_limit(recording: Path, tmp_path: Path) -> None:
    """A forger who seals a recording under a key of its own, names that key and ships it along is believed by
    a replay given that key: docs/recording.md says to check with the key you keep, never one that came with it."""
    import hmac

    lines = recording.read_text().splitlines()
    header = json.loads(lines[0][: lines[0].rindex(',"mac":')] + "}")
    mine = bytes(range(7, 39))
    header["seal"]["key_id"] = hmac.new(mine, b"penctl-recording-key-id", hashlib.sha256).hexdigest()[:16]
    key = hmac.new(mine, b"penctl-recording-v2|" + header["seal"]["nonce"].encode(), hashlib.sha256).digest()
    previous, forged = b"", []
    for text in [json.dumps(header, separators=(",", ":"))] + [ln[: ln.rindex(',"mac":')] + "}" for ln in lines[1:]]:
        previous = hmac.new(key, previous + text.encode(), hashlib.sha256).digest()
        forged.append(f'{text[:-1]},"mac":"{previous.hex()}"}}')
    path = tmp_path / "forged.jsonl"
    path.write_text("\n".join(forged) + "\n")
    Path(f"{path}.key").write_text(mine.hex())
    assert _penctl("replay", str(path), "--out", str(tmp_path / "f")).returncode == 0, "its own key: believed"
    kept = tmp_path / "kept.key"
    kept.write_bytes(Path(f"{recording}.key").read_bytes())
    err = _replay_refuses(tmp_path / "forged2.jsonl", forged, recording, "--key-file", str(kept))
    assert "line 1: expected a recording sealed with the key given" in err


def test_a_setting_id_given_twice_is_a_bad_payload_not_an_unknown_setting(keyed_pen: Pen) -> None:
    """The second probe: a block naming one id twice got SETTING_UNKNOWN ("no setting with that id")."""
    c = keyed_pen.connect()
    twice = p_settings([(2, "f", 0.1), (2, "f", 0.2)])
    assert c.nak(SETTINGS_WRITE, twice).error == E_BAD_PAYLOAD
    unknown = struct.pack("<HHd", 1, 999, 1.0)
    assert c.nak(SETTINGS_WRITE, unknown).error == E_SETTING_UNKNOWN


def test_every_refused_write_drops_the_block_staged_before_it(keyed_pen: Pen) -> None:
    """The third probe: a write refused as BAD_PAYLOAD, SETTING_UNKNOWN or BUSY left the earlier block to commit.
    Each refusal kind in turn: stage a user setting, send the refused write, the commit finds nothing staged."""
    c = keyed_pen.connect()
    before = _stored(c, S_VOLUME)
    refused = {
        "BAD_PAYLOAD (an id twice)": p_settings([(2, "f", 0.1), (2, "f", 0.2)]),
        "BAD_PAYLOAD (garbage)": b"\xff\x00\x01",
        "SETTING_UNKNOWN": struct.pack("<HHd", 1, 999, 1.0),
        "SETTING_RANGE": p_settings([(S_VOLUME, "i", 99)]),
        "ACCESS": p_settings([(S_MARGIN, "f", 0.07)]),
    }
    for name, payload in refused.items():
        c.ack(SETTINGS_WRITE, p_settings([(S_VOLUME, "i", 7)]))
        c.nak(SETTINGS_WRITE, payload)
        assert c.nak(SETTINGS_COMMIT).error == E_NOTHING_STAGED, name
        assert _stored(c, S_VOLUME) == before, name
    c.ack(SETTINGS_WRITE, p_settings([(S_VOLUME, "i", 7)]))
    _motor_on(c, 8400)
    assert c.nak(SETTINGS_WRITE, p_settings([(S_VOLUME, "i", 6)])).error == E_BUSY
    c.ack(RETRACT)
    assert c.nak(SETTINGS_COMMIT).error == E_NOTHING_STAGED and _stored(c, S_VOLUME) == before
