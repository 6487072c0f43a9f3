"""penctl end to end, in a subprocess, as QA runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_plan import plan_text

PENCTL = Path(sys.executable).parent / "penctl"


def penctl(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PENCTL), *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_builtin_plan_runs_and_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "r"
    proc = penctl("treat", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert (out / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert report["outcome"] == "completed"
    assert report["total"]["strokes"] > 1000
    assert abs(report["total"]["depth"]["error_mean_mm"]) <= 0.05
    assert [z["area"] for z in report["zones"]][:2] == ["forehead", "periorbital"]
    for zone in report["zones"]:
        assert zone["completed"] and zone["strokes"] == zone["planned_strokes"]
        assert zone["punctures"] == zone["strokes"] * 12
        assert 150 < zone["density_per_cm2"]["mean"] < 400
        assert zone["density_per_cm2"]["p5"] <= zone["density_per_cm2"]["mean"] <= zone["density_per_cm2"]["p95"]
    triggers = [t["trigger"] for t in report["transitions"]]
    assert triggers[:4] == ["power_on", "self_test_passed", "arm", "start"]
    assert triggers[-2:] == ["stop", "power_off"]
    assert "forehead" in proc.stdout and "report:" in proc.stdout


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    plan = ROOT / "examples/full_face.toml"
    for name, seed in (("a", "4"), ("b", "4"), ("c", "5")):
        assert penctl("treat", str(plan), "--out", str(tmp_path / name), "--seed", seed).returncode == 0
    a, b, c = ((tmp_path / n / "report.json").read_bytes() for n in "abc")
    assert a == b
    assert a != c


def test_json_flag_prints_the_report(tmp_path: Path) -> None:
    proc = penctl("treat", "--out", str(tmp_path), "--json")
    assert proc.returncode == 0
    assert json.loads(proc.stdout) == json.loads((tmp_path / "report.json").read_text())


@pytest.mark.parametrize(
    "text,key",
    [
        (plan_text(area="abdomen", depth=4.0), "zone[0].depth_mm"),
        (plan_text(hz=300), "zone[0].frequency_hz"),
        (plan_text(area="elbow"), "zone[0].area"),
    ],
)
def test_bad_plan_exits_2_names_file_and_key_and_writes_nothing(tmp_path: Path, text: str, key: str) -> None:
    plan = tmp_path / "bad.toml"
    plan.write_text(text)
    out = tmp_path / "out"
    proc = penctl("treat", str(plan), "--out", str(out))
    assert proc.returncode == 2
    assert f"{plan}: {key}: expected" in proc.stderr
    assert not out.exists()


def test_bad_arguments_exit_2(tmp_path: Path) -> None:
    assert penctl("treat", "--seed", "-3").returncode == 2
    assert penctl("treat", "--seed", "x").returncode == 2
    assert penctl("frobnicate").returncode == 2
    blocker = tmp_path / "file"
    blocker.write_text("")
    proc = penctl("treat", "--out", str(blocker))
    assert proc.returncode == 2 and "--out" in proc.stderr


def test_a_pass_the_pen_cannot_deliver_shows_the_shortfall(tmp_path: Path) -> None:
    plan = tmp_path / "deep.toml"
    plan.write_text(plan_text(area="abdomen", depth=2.5, hz=150).replace("area_cm2 = 20", "area_cm2 = 5"))
    proc = penctl("treat", str(plan), "--out", str(tmp_path / "o"))
    assert proc.returncode == 0
    zone = json.loads((tmp_path / "o/report.json").read_text())["zones"][0]
    assert zone["depth"]["reached_mean_mm"] < 2.0
    assert zone["depth"]["error_mean_mm"] < -0.5
    assert zone["flags"]["shortfall"] == zone["strokes"]


def test_a_pen_that_fails_its_self_test_exits_1_with_a_report(tmp_path: Path) -> None:
    plan = tmp_path / "flat.toml"
    plan.write_text(plan_text() + "\n[pen]\nbattery_soc = 0.01\n")
    proc = penctl("treat", str(plan), "--out", str(tmp_path / "o"))
    assert proc.returncode == 1
    report = json.loads((tmp_path / "o/report.json").read_text())
    assert report["outcome"] == "fault"
    assert report["faults"][0]["kind"] == "self_test"
    assert "FAULT self_test" in proc.stdout


def test_a_low_battery_refuses_the_zone_and_exits_1(tmp_path: Path) -> None:
    plan = tmp_path / "low.toml"
    plan.write_text(plan_text() + "\n[pen]\nbattery_soc = 0.08\n")
    proc = penctl("treat", str(plan), "--out", str(tmp_path / "o"))
    assert proc.returncode == 1
    report = json.loads((tmp_path / "o/report.json").read_text())
    assert report["outcome"] == "refused"
    assert "battery low" in report["zones"][0]["refusal"]


def test_the_progress_bar_draws_only_on_a_terminal() -> None:
    import io

    from controller.host.progress import ProgressBar

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    for stream, drawn in ((io.StringIO(), False), (Terminal(), True)):
        bar = ProgressBar("treat", stream)
        bar.started -= 10.0  # long past the first second
        bar(5, 10)
        bar.close()
        assert ("\r" in stream.getvalue()) is drawn


def test_the_command_line_starts_without_the_heavy_libraries() -> None:
    """Building the parser (``penctl --help``, ``--version``) imports no NumPy, numba or matplotlib, and the
    report figure never goes through pyplot's global state."""
    code = (
        "import sys\n"
        "from controller.cli import build_parser\n"
        "build_parser()\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'numba', 'matplotlib'})\n"
        "import controller.treatment.plots\n"
        "print(heavy, 'matplotlib.pyplot' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["[]", "False"]
