"""Service access: HMAC challenge-response, replay refused, lockout, expiry; and cartridge lockout over restarts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hal.errors import PenRefusedError
from hal.protocol import ErrorCode
from hal.serial_backend import SerialBackend
from hal.service_auth import read_key_file, unlock_response
from sim.backend import SimBackend
from sim.nvm import LockoutRecord
from sim.virtual_pen import VirtualPen
from tests.faulty_link import Faults, FaultyLink
from tests.test_cli import penctl
from tests.test_cli_link import served

KEY = bytes.fromhex("5f" * 16 + "a3" * 16)


def linked(key: bytes | None = KEY) -> tuple[SerialBackend, SimBackend]:
    sim = SimBackend(service_key=key)
    port = FaultyLink(VirtualPen(sim), Faults(), np.random.default_rng(0))
    return SerialBackend(port=port, timeout_s=0.01), sim


def test_a_factory_setting_needs_an_unlock_and_a_replay_is_refused() -> None:
    pen, _sim = linked()
    with pytest.raises(PenRefusedError, match="pen.serial_number: factory setting: needs a factory unlock"):
        pen.stage_settings({"pen.serial_number": "MN1-123456"})
    nonce = pen.service_challenge()
    answer = unlock_response(KEY, nonce, "factory", "MN1-000000")
    pen.service_unlock("factory", answer)
    pen.stage_settings({"pen.serial_number": "MN1-123456"})
    pen.commit_settings()
    assert pen.read_settings()["pen.serial_number"] == "MN1-123456"
    # The captured answer, replayed (with or without a fresh challenge), is refused.
    with pytest.raises(PenRefusedError) as info:
        pen.service_unlock("factory", answer)
    assert info.value.code == ErrorCode.NO_KEY
    pen.service_challenge()
    with pytest.raises(PenRefusedError) as info:
        pen.service_unlock("factory", answer)
    assert info.value.code == ErrorCode.AUTH_FAILED


def test_an_answer_for_one_level_does_not_open_another() -> None:
    pen, _ = linked()
    nonce = pen.service_challenge()
    with pytest.raises(PenRefusedError):
        pen.service_unlock("factory", unlock_response(KEY, nonce, "service", "MN1-000000"))


def test_wrong_answers_lock_service_access_also_after_a_power_cycle() -> None:
    pen, sim = linked()
    for attempt in range(3):
        pen.service_challenge()
        with pytest.raises(PenRefusedError) as info:
            pen.service_unlock("service", b"\x00" * 32)
        assert info.value.code == (ErrorCode.AUTH_LOCKED if attempt == 2 else ErrorCode.AUTH_FAILED)
    with pytest.raises(PenRefusedError) as info:
        pen.service_challenge()
    assert info.value.code == ErrorCode.AUTH_LOCKED
    sim.close()
    again = SimBackend(service_key=KEY, flash=sim.settings.store.flash)  # powered on again: the store remembers
    with pytest.raises(PenRefusedError) as info:
        again.service_challenge()
    assert info.value.code == ErrorCode.AUTH_LOCKED and "back-off" in info.value.reason
    again.wait(60.0)  # the first lockout's back-off, on the power-on clock (pen time here)
    again.service_unlock("service", unlock_response(KEY, again.service_challenge(), "service", "MN1-000000"))
    assert again.access.record == LockoutRecord(), "a right answer clears the record"


def test_an_unlock_expires_after_its_time_and_at_power_off() -> None:
    pen, sim = linked()
    nonce = pen.service_challenge()
    pen.service_unlock("service", unlock_response(KEY, nonce, "service", "MN1-000000"))
    pen.stage_settings({"thermal.motor_limit_c": 58.0})
    pen.abort_settings()
    pen.wait(601.0)  # service.unlock_timeout_s is 600 s of pen time
    with pytest.raises(PenRefusedError, match="needs a service unlock"):
        pen.stage_settings({"thermal.motor_limit_c": 58.0})
    nonce = pen.service_challenge()
    pen.service_unlock("service", unlock_response(KEY, nonce, "service", "MN1-000000"))
    sim.close()
    assert sim.access.level(sim.pen.time_s) == "user"


def test_a_pen_without_a_key_cannot_be_unlocked() -> None:
    pen, _ = linked(key=None)
    with pytest.raises(PenRefusedError) as info:
        pen.service_challenge()
    assert info.value.code == ErrorCode.NO_KEY


def test_key_files_are_checked_without_echoing_them(tmp_path: Path) -> None:
    bad = tmp_path / "bad.key"
    bad.write_text("not-a-key-but-secret")
    with pytest.raises(Exception) as info:
        read_key_file(bad)
    assert "not-a-key-but-secret" not in str(info.value)


def test_service_unlock_on_the_command_line_never_shows_the_key(tmp_path: Path) -> None:
    key_file = tmp_path / "pen.key"
    key_file.write_text(KEY.hex())
    with served("--tcp", "0", "--service-key-file", str(key_file)) as (url, proc):
        refused = penctl("settings", "set", "thermal.motor_limit_c=58", "--port", url)
        assert refused.returncode == 1 and "needs a service unlock" in refused.stderr
        unlocked = penctl("service", "unlock", "--key-file", str(key_file), "--port", url)
        assert unlocked.returncode == 0, unlocked.stderr
        later = penctl("settings", "set", "thermal.motor_limit_c=58", "--port", url)
        assert later.returncode == 1, "the unlock ended with the connection that made it"
        done = penctl("settings", "set", "thermal.motor_limit_c=58", "--port", url, "--key-file", str(key_file))
        assert done.returncode == 0, done.stderr
        wrong = tmp_path / "wrong.key"
        wrong.write_text("00" * 32)
        assert penctl("service", "unlock", "--key-file", str(wrong), "--port", url).returncode == 1
        report_dir = tmp_path / "r"
        treat = penctl("treat", "--port", url, "--out", str(report_dir))
        outputs = [
            refused.stdout,
            refused.stderr,
            unlocked.stdout,
            unlocked.stderr,
            done.stdout,
            done.stderr,
            treat.stdout,
            treat.stderr,
            (report_dir / "report.json").read_text(),
        ]
    out, err = proc.communicate()
    for text in [*outputs, out, err]:
        assert KEY.hex() not in text and KEY.hex().upper() not in text


def test_a_used_cartridge_is_refused_again_also_after_restarting_the_virtual_pen(tmp_path: Path) -> None:
    nvm = tmp_path / "pen.nvm"
    with served("--pty", "--nvm", str(nvm)) as (path, _):
        assert penctl("settings", "alarms", "--clear", "--port", path).returncode == 0  # a new store is blank
        first = penctl("treat", "--port", path, "--out", str(tmp_path / "a"))
        assert first.returncode == 0, first.stdout + first.stderr
        again = penctl("treat", "--port", path, "--out", str(tmp_path / "b"))
        assert again.returncode == 1
        report = json.loads((tmp_path / "b/report.json").read_text())
        assert report["outcome"] == "refused" and "already used" in report["zones"][0]["refusal"]
    with served("--pty", "--nvm", str(nvm)) as (path, _):
        third = penctl("treat", "--port", path, "--out", str(tmp_path / "c"))
        assert third.returncode == 1
        assert "already used" in json.loads((tmp_path / "c/report.json").read_text())["zones"][0]["refusal"]
