"""penctl serve / settings / treat --port / ports, as engineers use them, in subprocesses."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.test_cli import PENCTL, penctl


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
    out, _ = proc.communicate()
    assert proc.returncode == 0 and "virtual pen stopped" in out
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
        as_json = penctl("settings", "dump", "--format", "json", "--port", url)
        assert json.loads(as_json.stdout)["settings"]["depth.max_mm"] == 1.8
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
