"""A recording is tamper-evident: every swap, deletion and duplication of a line, made without the key, is refused.

The sweep runs over a short recording made in memory (a handshake, a few requests and two
telemetry frames), so it covers every line and every pair of lines in well under a second.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hal.backend import StrokeCommand
from hal.errors import InputError
from hal.recording import RecordingPort, read_recording
from hal.recording_seal import LineChain
from hal.serial_backend import SerialBackend
from sim.backend import SimBackend
from sim.factories import DEFAULT_CARTRIDGE
from sim.virtual_pen import VirtualPen
from tests.faulty_link import Faults, FaultyLink

KEY = bytes(range(100, 132))


@pytest.fixture(scope="module")
def short(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The lines of a short, complete recording sealed under KEY."""
    log = tmp_path_factory.mktemp("seal") / "short.jsonl"
    link = FaultyLink(VirtualPen(SimBackend(cartridge=DEFAULT_CARTRIDGE)), Faults(), np.random.default_rng(0))
    port = RecordingPort(link, log, key=KEY, url="loop://", meta={"seed": 0})
    host = SerialBackend(port=port, timeout_s=0.01)
    host.status()
    host.apply(StrokeCommand(depth_mm=1.0, frequency_hz=100.0, motor_enabled=True))
    host.read_strokes(3)
    host.read_strokes(2)
    host.retract()
    port.close()
    lines = log.read_text().splitlines()
    assert len(lines) >= 14 and len(set(lines)) == len(lines), "every line differs (its time at least)"
    read_recording(log, KEY)  # the untouched recording verifies
    return lines


def refused_at(tmp_path: Path, lines: list[str]) -> str:
    """The error replay gives for ``lines``: it must refuse them, in one line naming the file."""
    path = tmp_path / "tampered.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    with pytest.raises(InputError) as info:
        read_recording(path, KEY)
    message = str(info.value)
    assert message.startswith(str(path)) and "\n" not in message
    return message


def test_every_swap_of_two_lines_is_refused_at_the_first_line_moved(tmp_path: Path, short: list[str]) -> None:
    swaps = 0
    for i in range(len(short)):
        for j in range(i + 1, len(short)):
            lines = list(short)
            lines[i], lines[j] = lines[j], lines[i]
            message = refused_at(tmp_path, lines)
            assert f"line {i + 1}:" in message, (i, j, message)
            swaps += 1
    assert swaps == len(short) * (len(short) - 1) // 2
    print(f"{swaps} swaps of {len(short)} lines, all refused")


def test_every_deletion_of_a_line_is_refused(tmp_path: Path, short: list[str]) -> None:
    for i in range(len(short)):
        message = refused_at(tmp_path, short[:i] + short[i + 1 :])
        if i == len(short) - 1:
            assert "truncated" in message, message  # the end line gone: a cut recording
        else:
            assert f"line {i + 1}:" in message, (i, message)


@pytest.mark.parametrize("where", ["after itself", "at the end"])
def test_every_duplication_of_a_line_is_refused(tmp_path: Path, short: list[str], where: str) -> None:
    for i in range(len(short)):
        at = i + 1 if where == "after itself" else len(short)
        message = refused_at(tmp_path, [*short[:at], short[i], *short[at:]])
        assert f"line {at + 1}:" in message, (i, message)


def test_an_edit_of_any_value_with_json_kept_valid_is_refused(tmp_path: Path, short: list[str]) -> None:
    for i, line in enumerate(short):
        record = json.loads(line)
        record["t"] = record.get("t", 0) + 1e-6 if "t" in record else record.get("version")
        edited = json.dumps(record, separators=(",", ":"))
        assert f"line {i + 1}:" in refused_at(tmp_path, [*short[:i], edited, *short[i + 1 :]])


def test_resealing_without_the_key_does_not_help(tmp_path: Path, short: list[str]) -> None:
    """A forger who knows the format but not the key seals with a key of its own: refused at line 1."""
    guess = LineChain(bytes(32), json.loads(short[0])["seal"]["nonce"])
    forged = [guess.seal(line.rsplit(',"mac":', 1)[0] + "}") for line in short]
    assert "line 1:" in refused_at(tmp_path, forged)


def test_a_key_holder_can_seal_anything_the_threat_model_says_so(tmp_path: Path, short: list[str]) -> None:
    """The documented limit: HMAC is symmetric, so whoever holds the key can re-seal an edited recording."""
    nonce = json.loads(short[0])["seal"]["nonce"]
    chain = LineChain(KEY, nonce)
    unsealed = [line.rsplit(',"mac":', 1)[0] + "}" for line in short]
    unsealed[1], unsealed[2] = unsealed[2], unsealed[1]
    path = tmp_path / "forged.jsonl"
    path.write_text("".join(chain.seal(line) + "\n" for line in unsealed))
    assert read_recording(path, KEY).frames, "verifies: only the key keeps this out"
