"""penctl serve / settings / treat --port / ports, as engineers use them, in subprocesses."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.test_cli import PENCTL, penctl
from tests.test_plan import plan_text


@contextmanager
def served(*args: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    proc = subprocess.Popen([str(PENCTL), "serve", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = ""
        for _ in range(5):
            line = proc.stdout.readline()
            match = re.search(r"virtual pen on (\S+)", line)
            if match:
                url = match.group(1)
                break
        assert url, "serve printed no port"
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(10)


def test_a_setting_survives_a_restart_of_the_virtual_pen(tmp_path: Path) -> None:
    nvm = tmp_path / "pen.nvm"
    with served("--pty", "--nvm", str(nvm)) as (path, proc):
        assert path.startswith("/dev/pts/")
        done = penctl("settings", "set", "depth.max_mm=2.0", "--port", path)
        assert done.returncode == 0, done.stderr
        assert "committed and verified" in done.stdout
    _, err = proc.communicate()
    assert proc.returncode == 0 and "virtual pen stopped" in err
    with served("--pty", "--nvm", str(nvm)) as (path, _):
        got = penctl("settings", "get", "depth.max_mm", "--port", path)
        assert got.stdout.strip() == "depth.max_mm = 2.0"
        alarms = penctl("settings", "alarms", "--port", path)
        assert alarms.stdout.strip() == "no alarms"


def test_load_with_one_bad_value_changes_nothing_and_names_the_key(tmp_path: Path) -> None:
    with served("--tcp", "0") as (url, _):
        assert url.startswith("socket://127.0.0.1:")
        dump = penctl("settings", "dump", "--port", url)
        assert dump.returncode == 0
        good = tmp_path / "good.toml"
        good.write_text(dump.stdout.replace("max_mm = 2.5", "max_mm = 1.8").replace("volume = 5", "volume = 7"))
        bad = tmp_path / "bad.toml"
        bad.write_text(good.read_text().replace("volume = 7", "volume = 70"))
        refused = penctl("settings", "load", str(bad), "--port", url)
        assert refused.returncode == 2
        assert f"{bad}: alarm.volume: expected a whole number from 0 to 10, got 70" in refused.stderr
        assert penctl("settings", "dump", "--port", url).stdout == dump.stdout, "nothing changed"
        dry = penctl("settings", "load", str(good), "--dry-run", "--port", url)
        assert "depth.max_mm: 2.5 -> 1.8" in dry.stdout and "alarm.volume: 5 -> 7" in dry.stdout
        assert penctl("settings", "dump", "--port", url).stdout == dump.stdout, "a dry run writes nothing"
        loaded = penctl("settings", "load", str(good), "--port", url)
        assert loaded.returncode == 0, loaded.stderr
        assert "depth.max_mm: 1.8 -> 1.8" not in penctl("settings", "diff", str(good), "--port", url).stdout
        assert "0 setting(s) differ" in penctl("settings", "diff", str(good), "--port", url).stdout
        as_json = penctl("settings", "dump", "--json", "--port", url)
        assert json.loads(as_json.stdout)["settings"]["depth.max_mm"] == 1.8 and as_json.stderr == ""
        deprecated = penctl("settings", "dump", "--format", "json", "--port", url)
        assert deprecated.stdout == as_json.stdout and "--format json is deprecated; use --json" in deprecated.stderr
        assert "--format" not in penctl("settings", "dump", "--help").stdout, "hidden"
        refused = penctl("settings", "set", "thermal.motor_limit_c=50", "--port", url)
        assert refused.returncode == 1 and "needs a service unlock" in refused.stderr
        reset = penctl("settings", "reset", "--factory", "--port", url)
        assert reset.returncode == 0
        assert penctl("settings", "get", "depth.max_mm", "--port", url).stdout.strip() == "depth.max_mm = 2.5"


def test_bad_settings_arguments_exit_2_before_touching_the_pen() -> None:
    assert penctl("settings", "set", "depth.max_mm=9", "--port", "/dev/null-nope").returncode == 2
    assert penctl("settings", "set", "nonsense=1", "--port", "/dev/null-nope").returncode == 2
    assert penctl("settings", "get", "nonsense", "--port", "/dev/null-nope").returncode == 2
    assert penctl("settings", "get", "depth.max_mm").returncode == 2, "--port is required"
    unreachable = penctl("settings", "get", "depth.max_mm", "--port", "/dev/null-nope")
    assert unreachable.returncode == 1 and "cannot open pen port" in unreachable.stderr


def test_treat_over_the_port_matches_treat_in_process(tmp_path: Path) -> None:
    with served("--pty") as (path, _):
        linked = penctl("treat", "--port", path, "--out", str(tmp_path / "a"), "--seed", "5")
        assert linked.returncode == 0, linked.stderr
    local = penctl("treat", "--out", str(tmp_path / "b"), "--seed", "5")
    assert local.returncode == 0
    a, b = (json.loads((tmp_path / d / "report.json").read_text()) for d in "ab")
    for key in ("total", "zones", "faults", "transitions", "outcome"):
        assert a[key] == b[key], key


def test_settings_list_and_ports_work_without_a_pen() -> None:
    listing = penctl("settings", "list")
    assert listing.returncode == 0 and "depth.max_mm" in listing.stdout and "factory" in listing.stdout
    assert penctl("ports").returncode == 0


def test_a_loopback_port_is_called_an_echo_not_a_pen() -> None:
    proc = penctl("settings", "get", "depth.max_mm", "--port", "loop://")
    assert proc.returncode == 1 and proc.stdout == ""
    assert "echoes what it is sent" in proc.stderr and "nothing that speaks the pen protocol" in proc.stderr
    assert "HELLO to HELLO" not in proc.stderr


def test_a_missing_device_is_one_clear_line_naming_the_port() -> None:
    proc = penctl("settings", "get", "depth.max_mm", "--port", "/dev/ttyNoSuchPen")
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "/dev/ttyNoSuchPen" in proc.stderr and "No such file or directory" in proc.stderr
    assert "[Errno" not in proc.stderr


def test_serve_prints_the_url_first_on_stdout_and_alarms_on_stderr(tmp_path: Path) -> None:
    cmd = [str(PENCTL), "serve", "--pty", "--nvm", str(tmp_path / "new.nvm")]  # a new store raises an alarm
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("virtual pen on /dev/pts/")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert out == "", "after the URL, stdout stays empty"
    assert "alarm:" in err and "virtual pen stopped" in err


def test_ports_says_none_found_on_stderr_and_keeps_stdout_empty(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from serial.tools import list_ports

    from controller.cli import main

    monkeypatch.setattr(list_ports, "comports", lambda: [])
    assert main(["ports"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "no serial ports found" in captured.err


def test_link_statistics_are_logged_at_info_on_stderr_and_penctl_port_is_the_default() -> None:
    with served("--pty") as (path, _):
        quiet = penctl("settings", "get", "depth.max_mm", env={"PENCTL_PORT": path})
        assert quiet.returncode == 0, quiet.stderr
        assert quiet.stdout == "depth.max_mm = 2.5\n" and quiet.stderr == ""
        for before, after in ((["-v"], []), (["--log-level", "info"], []), (["-vv"], []), ([], ["-v"])):
            loud = penctl(*before, "settings", "get", "depth.max_mm", "--port", path, *after)
            assert loud.returncode == 0, loud.stderr
            assert loud.stdout == quiet.stdout, "logs never go to stdout"
            stats = [line for line in loud.stderr.splitlines() if "link statistics" in line]
            assert len(stats) == 1 and "INFO" in stats[0] and path in stats[0]
            assert "retransmits=" in stats[0] and "bad_frames=" in stats[0], "host and pen counters"
        unlocked = penctl("-v", "service", "unlock", "--key-file", "/nonexistent", "--port", path)
        assert unlocked.returncode == 2 and "link statistics" not in unlocked.stderr, "bad input: no session"


@pytest.mark.parametrize("where", ["--tcp", "pty"])
def test_a_pen_that_goes_away_mid_pass_is_a_link_fault_not_a_crash(tmp_path: Path, where: str) -> None:
    """Outside probe: killing the served pen mid-pass gave exit 70 (a SerialException) or a silent SIGPIPE death."""
    with served(*(["--tcp", "0"] if where == "--tcp" else [])) as (url, pen):
        out, plan = tmp_path / "o", tmp_path / "long.toml"
        plan.write_text(plan_text().replace("passes = 1", "duration_s = 1800"))  # half an hour of pen time
        cmd = [str(PENCTL), "-v", "treat", str(plan), "--port", url, "--out", str(out)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        pen.kill()
        stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr and "internal error" not in stderr
    assert "FAULT link_loss" in stdout and "the link failed" in stdout
    assert (out / "report.json").exists() and (out / "report.png").exists()


@pytest.mark.parametrize(
    "url,code,said",
    [
        ("socket://127.0.0.1:1", 1, "cannot open pen port 'socket://127.0.0.1:1': Connection refused"),
        ("/dev/null", 1, "cannot open pen port '/dev/null': Inappropriate ioctl for device"),
        ("socket://localhost:notaport", 2, "--port: expected a pen port: a device path, a pty, socket://HOST:PORT"),
        ("socket://", 2, "--port: expected a pen port"),
    ],
)
def test_port_errors_are_one_clear_line(tmp_path: Path, url: str, code: int, said: str) -> None:
    """Outside probe: pyserial's messages repeated the port and '[Errno 111]', or leaked its own internals."""
    proc = penctl("treat", "--port", url, "--out", str(tmp_path / "o"))
    assert proc.returncode == code and said in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Errno" not in proc.stderr and "(25," not in proc.stderr


def test_a_served_rotary_pen_refuses_rates_outside_its_drive_before_any_stroke(tmp_path: Path) -> None:
    """The rotary probe's break: a plan at 50 Hz (no drive named) ran 100 strokes on a served rotary pen, whose
    HELLO said 25-150 Hz. The pen now reports its drive's range, and treat refuses the plan from it (exit 2)."""
    plan = tmp_path / "p.toml"
    plan.write_text(plan_text(area="abdomen", hz=50.0))
    with served("--tcp", "0", "--drive", "rotary_cam") as (url, _):
        done = penctl("treat", str(plan), "--port", url, "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and "90-150 Hz" in done.stderr and "zone[0] (abdomen) asks 50 Hz" in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_plan_for_another_drive_and_drive_with_port_are_refused(tmp_path: Path) -> None:
    """The verdict probe: a plan naming rotary_cam ran on a served voice-coil pen as a voice coil, silently."""
    plan = tmp_path / "p.toml"
    plan.write_text(plan_text(area="abdomen", extra='[pen]\ndrive = "rotary_cam"\n'))
    with served("--tcp", "0") as (url, _):
        other = penctl("treat", str(plan), "--port", url, "--out", str(tmp_path / "a"))
        option = penctl("treat", "--drive", "rotary_cam", "--port", url, "--out", str(tmp_path / "b"))
    assert other.returncode == 2 and "pen.drive" in other.stderr and "'voice_coil'" in other.stderr, other.stderr
    assert option.returncode == 2 and "--drive" in option.stderr, option.stderr
    assert not (tmp_path / "a" / "report.json").exists() and not (tmp_path / "b" / "report.json").exists()


def test_a_plan_with_one_zone_outside_a_served_pens_rates_is_refused_before_any_stroke(tmp_path: Path) -> None:
    """The fourth probe: zone[0] at 120 Hz, zone[1] at 50 Hz on a served rotary pen stroked 240 times before the
    pen refused zone[1]; record ran a voice-coil plan on a rotary pen. Both are now refused first, writing
    nothing: no report, no --out, no recording."""
    plan = tmp_path / "p.toml"
    two = plan_text(area="abdomen", hz=120.0)
    plan.write_text(
        two + two.split("[[zone]]", 1)[1].join(["[[zone]]", ""]).replace("frequency_hz = 120.0", "frequency_hz = 50.0")
    )
    voice = tmp_path / "v.toml"
    voice.write_text(plan_text(area="abdomen", hz=120.0, extra='[pen]\ndrive = "voice_coil"\n'))
    with served("--tcp", "0", "--drive", "rotary_cam") as (url, _):
        treated = penctl("treat", str(plan), "--port", url, "--out", str(tmp_path / "t"))
        recorded = penctl("record", str(voice), "--port", url, "--log", str(tmp_path / "r.jsonl"), "--out",
                          str(tmp_path / "r"))  # fmt: skip
    assert treated.returncode == 2 and "zone[1] (abdomen) asks 50 Hz" in treated.stderr, treated.stderr
    assert not (tmp_path / "t").exists()
    assert recorded.returncode == 2 and "pen.drive" in recorded.stderr, recorded.stderr
    assert not (tmp_path / "r.jsonl").exists() and not (tmp_path / "r.jsonl.key").exists()
