"""penctl end to end, in a subprocess, as QA runs it."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_plan import plan_text

PENCTL = Path(sys.executable).parent / "penctl"


def penctl(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "PENCTL_PORT"} | (env or {})
    return subprocess.run([str(PENCTL), *args], capture_output=True, text=True, cwd=cwd, timeout=300, env=full_env)


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
        assert zone["punctures"] == zone["tissue"]["punctured_strokes"] * 12
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
        (plan_text(area="abdomen", depth=4.0), "zone[0].depth_mm (abdomen)"),
        (plan_text(hz=300), "zone[0].frequency_hz (cheeks)"),
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
    assert proc.returncode == 4, "a pass that delivered none of its depth is not a success"
    report = json.loads((tmp_path / "o/report.json").read_text())
    zone = report["zones"][0]
    assert report["outcome"] == "short" and zone["completed"]
    assert zone["short_of_depth_mm"] == pytest.approx(-zone["depth"]["error_mean_mm"], abs=1e-3)
    short = zone["short_of_depth_mm"]
    assert f"FAIL zone[0] abdomen: depth: protrusion {2.5 - short:.4f} mm on average, {short:.4f} mm short of" in (
        " ".join(proc.stdout.split())
    )
    assert zone["depth"]["reached_mean_mm"] < 2.0
    assert zone["depth"]["error_mean_mm"] < -0.5
    assert zone["flags"]["shortfall"] == zone["strokes"]
    [alarm] = [a for a in report["alarms"] if a["kind"] == "depth_envelope"]
    said = float(alarm["message"].rsplit("reached ", 1)[1].split(" mm")[0])  # the depth the alarm says was reached
    assert zone["depth"]["reached_min_mm"] - 0.005 <= said <= zone["depth"]["reached_max_mm"] + 0.005


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
        bar = ProgressBar("treat", stream, delay_s=0.0)
        bar(5, 10)
        bar.close()
        assert ("/10 [" in stream.getvalue()) is drawn, stream.getvalue()


def test_the_progress_bar_is_tqdm() -> None:
    import tqdm

    from controller.host import progress

    assert vars(progress)["tqdm"] is tqdm.tqdm


# --- conventions users know ------------------------------------------------------------------------


def test_version_prints_penctl_and_the_version() -> None:
    from controller import __version__

    proc = penctl("--version")
    assert proc.returncode == 0 and proc.stdout == f"penctl {__version__}\n"
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)


def all_parsers() -> dict[str, argparse.ArgumentParser]:
    from controller.cli import build_parser

    found: dict[str, argparse.ArgumentParser] = {}
    todo = [build_parser()]
    while todo:
        parser = todo.pop()
        found[parser.prog] = parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                todo += list(action.choices.values())
    return found


def test_every_help_has_examples_and_every_option_has_help() -> None:
    parsers = all_parsers()
    assert {"penctl", "penctl treat", "penctl settings set", "penctl service unlock", "penctl course"} <= set(parsers)
    for prog, parser in parsers.items():
        assert parser.epilog and parser.epilog.startswith("examples:\n  penctl"), prog
        assert parser.formatter_class is argparse.RawDescriptionHelpFormatter, prog
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction) or action.help == argparse.SUPPRESS:
                continue
            assert action.help, f"{prog} {action.option_strings or action.dest}"
    helped = penctl("course", "--help")
    assert "examples:\n  penctl course --sessions" in helped.stdout
    assert re.search(r"--sessions N +number of sessions", helped.stdout), helped.stdout


def test_every_subcommand_that_prints_data_takes_json() -> None:
    parsers = all_parsers()
    data = ["treat", "faults", "course", "bench", "ports", "settings list", "settings get", "settings dump"]
    for name in [*data, "settings diff", "settings alarms"]:
        assert "--json" in parsers[f"penctl {name}"]._option_string_actions, name
    proc = penctl("course", "--sessions", "4", "--start", "2026-12-01", "--json")
    assert proc.returncode == 0 and len(json.loads(proc.stdout)["sessions"]) == 4


def test_did_you_mean_for_a_mistyped_subcommand_and_a_mistyped_plan_key(tmp_path: Path) -> None:
    proc = penctl("tret")
    assert proc.returncode == 2 and "did you mean 'treat'?" in proc.stderr
    proc = penctl("settings", "lst")
    assert proc.returncode == 2 and "did you mean 'list'?" in proc.stderr
    plan = tmp_path / "typo.toml"
    plan.write_text(plan_text().replace("[[zone]]", "[[zone]]\ndeph_mm = 1.0", 1))
    proc = penctl("treat", str(plan), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2
    assert f"{plan}: zone[0].deph_mm (cheeks): expected a known key" in proc.stderr
    assert "did you mean 'depth_mm'?" in proc.stderr
    proc = penctl("settings", "set", "depth.max=1", "--port", "/dev/null-nope")
    assert proc.returncode == 2 and "did you mean 'depth.max_mm'?" in proc.stderr


def test_log_level_is_checked_and_logs_go_to_stderr_only() -> None:
    bad = penctl("--log-level", "chatty", "ports")
    assert bad.returncode == 2 and "--log-level: expected one of DEBUG, INFO" in bad.stderr
    quiet, loud = (
        penctl("course", "--sessions", "3", "--start", "2026-12-01"),
        penctl("-vv", "course", "--sessions", "3", "--start", "2026-12-01"),
    )
    assert quiet.stdout == loud.stdout


def test_numbers_never_print_negative_zero_and_ranges_never_run_into_a_minus_sign() -> None:
    from controller.host.numbers import fixed, plain, signed

    assert fixed(-0.0001, 3) == "0.000" and fixed(-0.0, 1) == "0.0" and fixed(-0.01, 3) == "-0.010"
    assert signed(-0.0001, 3) == "0.000" and signed(0.012, 3) == "+0.012" and signed(-0.012, 3) == "-0.012"
    assert plain(-0.0) == "0" and plain(-0.2) == "-0.2"
    outputs = [
        penctl("settings", "list").stdout,
        penctl("course", "--sessions", "2", "--start", "2026-12-01", "--interval-weeks", "2-3").stdout,
    ]
    for text in outputs:
        assert not re.search(r"(?<![\w.])-0(\.0+)?(?![0-9.])", text), text
        assert not re.search(r"(?<![\w.])-?\d+(\.\d+)?-\d", re.sub(r"\d{4}-\d\d-\d\d", "DATE", text)), text
    assert "-0.2 to 0.2" in outputs[0]


def test_report_json_never_holds_negative_zero() -> None:
    from controller.treatment.report import _r

    assert repr(_r(-1e-9)) == "0.0" and repr(_r(-0.0)) == "0.0" and _r(-0.25) == -0.25


def test_the_treat_summary_never_prints_negative_zero(capsys: pytest.CaptureFixture[str]) -> None:
    from controller.cli.summary import print_summary
    from controller.treatment.plan import load_plan
    from controller.treatment.report import build_report
    from controller.treatment.session import run_session

    report = build_report(run_session(load_plan(None), seed=0))
    for zone in [*report["zones"], report["total"]]:
        zone["stroke_rate"]["error_pct"] = -0.0000004
        zone["depth"]["error_mean_mm"] = -0.0000004
    print_summary(report, Path("out"))
    text = capsys.readouterr().out
    assert "-0.000" not in text and "+0.000" not in text and "0.000%" in text
    assert not re.search(r"\d-\d", text), "ranges read [p5, p95], never p5-p95"


# --- Ctrl-C -------------------------------------------------------------------------------------------


def interrupt_treat(
    tmp_path: Path, plan: Path, wait_for: str, delay_s: float, signum: int = signal.SIGINT
) -> tuple[int, str, Path]:
    """Run `penctl -vv treat`, wait for a log line containing ``wait_for``, wait ``delay_s``, then signal it."""
    out = tmp_path / f"out-{delay_s}"
    env = {k: v for k, v in os.environ.items() if k != "PENCTL_PORT"}
    cmd = [str(PENCTL), "-vv", "treat", str(plan), "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    seen = []
    while wait_for not in (line := proc.stderr.readline()) and line:
        seen.append(line)
    time.sleep(delay_s)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, "".join(seen) + err, out


def assert_no_partial_report(out: Path) -> None:
    names = {p.name for p in out.iterdir()} if out.exists() else set()
    assert not [n for n in names if "partial" in n], names
    assert names & {"report.json", "report.png"} in (set(), {"report.json", "report.png"}), names
    if "report.json" in names:
        json.loads((out / "report.json").read_text())
        png = (out / "report.png").read_bytes()
        assert png.startswith(b"\x89PNG") and png.endswith(b"IEND\xaeB`\x82")


@pytest.mark.parametrize(
    "wait_for,delay_s",
    [
        ("reading the plan", 0.0),  # as the command starts
        pytest.param("reading the plan", 0.1, marks=pytest.mark.slow),  # numba and the kernel load: CI
        pytest.param("reading the plan", 0.2, marks=pytest.mark.slow),
        ("reading the plan", 0.3),
        ("reading the plan", 1.0),  # during the pass
        pytest.param("reading the plan", 2.0, marks=pytest.mark.slow),  # the same phases at more moments: CI
        ("writing report", 0.0),  # during report writing
        pytest.param("writing report", 0.05, marks=pytest.mark.slow),
        pytest.param("writing report", 0.2, marks=pytest.mark.slow),
        ("writing report", 0.5),
        pytest.param("writing report", 1.0, marks=pytest.mark.slow),
    ],
)
def test_ctrl_c_exits_130_with_one_line_and_leaves_no_partial_report(
    tmp_path: Path, wait_for: str, delay_s: float
) -> None:
    plan = tmp_path / "p.toml"
    plan.write_text(plan_text())
    code, err, out = interrupt_treat(tmp_path, plan, wait_for, delay_s)
    assert "Traceback" not in err
    assert_no_partial_report(out)
    if code == 0:
        return  # it finished before the signal came: a complete report, checked above
    assert code == 130, err
    lines = [line for line in err.splitlines() if not line.startswith(("penctl: INFO", "penctl: DEBUG"))]
    assert len(lines) == 1 and lines[0].endswith(": interrupted"), err


@pytest.mark.parametrize(
    "wait_for,delay_s",
    [
        ("reading the plan", 0.0),
        pytest.param("reading the plan", 0.5, marks=pytest.mark.slow),
        ("reading the plan", 1.0),
        ("writing report", 0.0),
    ],
)
def test_sigterm_exits_143_with_one_line_and_leaves_no_partial_report(
    tmp_path: Path, wait_for: str, delay_s: float
) -> None:
    """Outside probe: `kill` (SIGTERM) during the pass left hidden .partial files in the report directory."""
    plan = tmp_path / "p.toml"
    plan.write_text(plan_text())
    code, err, out = interrupt_treat(tmp_path, plan, wait_for, delay_s, signal.SIGTERM)
    assert "Traceback" not in err
    assert_no_partial_report(out)
    if code == 0:
        return
    assert code == 143, err
    lines = [line for line in err.splitlines() if not line.startswith(("penctl: INFO", "penctl: DEBUG"))]
    assert len(lines) == 1 and lines[0].endswith(": terminated"), err


def test_settings_file_messages_say_what_was_expected_and_suggest(tmp_path: Path) -> None:
    from controller.host import settings_flash as svc
    from controller.host.table_reader import InputFileError
    from hal.settings import defaults

    cases = {
        "schema = 2\nsettngs = 1\n[settings]\n": "settngs: expected a top-level key schema or settings; "
        "did you mean 'settings'?",
        "schema = 2\n[settings.depth]\nmax_mmm = 2.0\n": "depth.max_mmm: expected a known setting "
        "(see `penctl settings list`); did you mean 'depth.max_mm'?",
    }
    for text, message in cases.items():
        path = tmp_path / "s.toml"
        path.write_text(text)
        with pytest.raises(InputFileError) as info:
            svc.read_settings_file(path)
        assert str(info.value) == f"{path}: {message}"
    block = {**defaults(), "depth.nonsense": 1.0}
    with pytest.raises(InputFileError) as info:
        svc.check_block({}, block, "f.toml")
    assert str(info.value) == "f.toml: depth.nonsense: expected a known setting (see `penctl settings list`)"
    assert "expected no such" not in str(info.value) and "expected expected" not in str(info.value)


def test_an_error_raised_because_of_ctrl_c_counts_as_the_interrupt() -> None:
    from controller.cli.main import caused_by_interrupt

    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise ImportError("initialization failed") from None
    except ImportError as exc:
        assert caused_by_interrupt(exc), "the context is kept even when the cause is suppressed"
    assert not caused_by_interrupt(RuntimeError("a bug"))


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


def test_the_progress_bar_starts_with_the_pass() -> None:
    """Outside probe: no bar showed for a pass of a few seconds, because its clock started at the first chunk."""
    from controller.treatment.plan import parse_plan
    from controller.treatment.session import run_session

    calls: list[tuple[int, int]] = []
    run_session(parse_plan(plan_text().encode(), "p.toml"), progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (0, calls[-1][1]) and calls[-1][0] == calls[-1][1] > 0


def test_a_ctrl_c_swallowed_by_a_library_callback_is_delivered_again() -> None:
    """numba's cache writer runs in an llvmlite callback; a KeyboardInterrupt there was printed as a traceback
    ("Exception ignored in ...") and the command carried on. penctl's hook raises it again in the main thread."""
    code = (
        "import signal, sys, time, types\n"
        "from controller.host.interrupts import redeliver_interrupts\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "sys.unraisablehook = redeliver_interrupts\n"
        "args = types.SimpleNamespace(exc_type=KeyboardInterrupt, exc_value=KeyboardInterrupt(), exc_traceback=None,"
        " err_msg=None, object=None)\n"
        "try:\n"
        "    sys.unraisablehook(args)\n"
        "    time.sleep(5)\n"
        "    print('carried on')\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted')\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.stdout.strip() == "interrupted" and "Traceback" not in run.stderr


@pytest.mark.parametrize(
    "exception,install",
    [
        ("KeyboardInterrupt", "signal.signal(signal.SIGINT, signal.default_int_handler)"),
        ("Terminated", "signal.signal(signal.SIGTERM, raise_terminated)"),
    ],
)
def test_a_ctrl_c_swallowed_in_a_real_callback_is_delivered_once_and_never_lands_in_the_hook(
    exception: str, install: str
) -> None:
    """Outside probe (a SIGINT 0.3 s into `treat`): the hook's thread interrupted the main thread while the
    hook still waited for it to start, so the interrupt was swallowed again ("Exception ignored in
    sys.unraisablehook", then exit 0 with a full report). Here Python itself calls the hook, 40 times.
    A SIGTERM swallowed the same way (in llvmlite's object-cache callback while numba loaded the kernel)
    printed "Exception ignored" with a traceback, and the pass carried on: it is delivered again too."""
    code = (
        "import signal, sys, time\n"
        "from controller.host.interrupts import Terminated, raise_terminated, redeliver_interrupts\n"
        f"{install}\n"
        "sys.unraisablehook = redeliver_interrupts\n"
        "class Swallowing:\n"
        "    def __del__(self):\n"
        f"        raise {exception}\n"
        "delivered = 0\n"
        "for n in range(40):\n"
        "    try:\n"
        "        Swallowing()\n"
        "        deadline = time.monotonic() + (5 if n % 2 else 0)\n"
        "        while time.monotonic() < deadline:\n"
        "            pass  # busy in Python, as numba is while it compiles\n"
        "        time.sleep(5)  # or asleep in C\n"
        f"    except {exception}:\n"
        "        delivered += 1\n"
        "print(delivered)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.stdout.strip() == "40", run.stderr
    assert "Exception ignored" not in run.stderr and "Traceback" not in run.stderr, run.stderr


# --- where the output goes ----------------------------------------------------------------------------

OUTPUT_COMMANDS = {
    "treat": ["treat", "--out", "{out}"],
    "treat --json": ["treat", "--json", "--out", "{out}"],
    "settings list": ["settings", "list"],
    "faults --help": ["faults", "--help"],
}


def _close_fd(fd: int) -> None:
    os.close(fd)


@pytest.mark.parametrize(
    "command,destination",
    [
        (command, destination)
        if command != "treat --json" or destination == "stdout on a full disk"
        else pytest.param(command, destination, marks=pytest.mark.slow)  # treat's JSON path: one here, all in CI
        for command in sorted(OUTPUT_COMMANDS)
        for destination in ("stdout closed", "stderr closed", "stdout on a full disk")
    ],
)
def test_output_that_cannot_be_written_is_one_line_and_its_own_exit_code(
    tmp_path: Path, command: str, destination: str
) -> None:
    """Outside probe: `penctl treat >&-` died with an internal error and a traceback (exit 1), and
    `penctl treat > /dev/full` called a full disk a bug (exit 70). A closed stream swallows what goes to
    it (exit 0); a full disk is one line and exit 74; never a traceback; a report is whole or absent."""
    args = [a.replace("{out}", str(tmp_path / "out")) for a in OUTPUT_COMMANDS[command]]
    err_path = tmp_path / "stderr.txt"
    with open(err_path, "w") as err, open("/dev/full", "w") as full:
        run = subprocess.run(
            [str(PENCTL), *args],
            stdout=full if destination == "stdout on a full disk" else subprocess.DEVNULL,
            stderr=subprocess.DEVNULL if destination == "stderr closed" else err,
            preexec_fn=(
                (lambda: _close_fd(1))
                if destination == "stdout closed"
                else (lambda: _close_fd(2))
                if destination == "stderr closed"
                else None
            ),
            timeout=120,
            check=False,
        )
    text = err_path.read_text()
    assert "Traceback" not in text and "internal error" not in text, text
    if destination == "stdout on a full disk":
        assert run.returncode == 74, text
        assert text.strip().splitlines()[-1].endswith("cannot write: No space left on device"), text
    else:
        assert run.returncode == 0, text
    if (tmp_path / "out").exists():
        assert_no_partial_report(tmp_path / "out")


def test_a_usage_error_that_cannot_be_shown_still_exits_2() -> None:
    """The input is what is wrong, whether or not stderr could say so."""
    with open("/dev/full", "w") as full:
        run = subprocess.run([str(PENCTL), "treat", "--bogus"], stdout=subprocess.DEVNULL, stderr=full, check=False)
    assert run.returncode == 2


@pytest.mark.parametrize("command", sorted(OUTPUT_COMMANDS))
def test_a_reader_that_leaves_early_ends_the_command_quietly(tmp_path: Path, command: str) -> None:
    """`penctl ... | head -c 10`: the reader closes the pipe; no traceback, exit 0, a report whole or absent."""
    args = [a.replace("{out}", str(tmp_path / "out")) for a in OUTPUT_COMMANDS[command]]
    proc = subprocess.Popen([str(PENCTL), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(10)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert "Traceback" not in err and "internal error" not in err, err
    if (tmp_path / "out").exists():
        assert_no_partial_report(tmp_path / "out")


def test_the_top_level_help_lists_every_exit_code_the_readme_lists() -> None:
    """A new user's finding: `penctl --help` gave 0, 1, 2, 3, 70 and 130; the README lists more."""
    import re

    from controller.cli.main import EXIT_CODES_TEXT

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    table = readme[readme.index("| exit code | meaning |") :].split("\n\n", 1)[0]
    listed = {int(code) for code in re.findall(r"^\| (\d+) \|", table, re.M)}
    helped = {int(code) for code in re.findall(r"(?:^|, )(\d+) ", EXIT_CODES_TEXT)}
    assert listed == helped and {0, 1, 2, 3, 4, 5, 6, 70, 74, 130, 143} <= listed
    assert " ".join(EXIT_CODES_TEXT.split()) in " ".join(penctl("--help").stdout.split())


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (("treat", "--portt", "x"), "did you mean '--port'?"),
        (("envelope", "--neddles", "3"), "did you mean '--needles'?"),
        (("settings", "get", "depth.max_mm", "--port", "loop://", "--jsn"), "did you mean '--json'?"),
        (("course", "--sesions", "3", "--start", "2026-01-05"), "did you mean '--sessions'?"),
    ],
)
def test_a_mistyped_option_gets_did_you_mean_in_its_own_commands_usage(args: tuple[str, ...], hint: str) -> None:
    proc = penctl(*args)
    assert proc.returncode == 2 and hint in proc.stderr, proc.stderr
    command = " ".join(a for a in args[:2] if not a.startswith("-") and "." not in a)
    assert f"usage: penctl {command}" in proc.stderr and "Traceback" not in proc.stderr


def test_a_missing_port_names_penctl_port() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PENCTL_PORT"}
    proc = subprocess.run([str(PENCTL), "settings", "get", "depth.max_mm"], capture_output=True, text=True, env=env)
    assert proc.returncode == 2 and "PENCTL_PORT" in proc.stderr, proc.stderr


def test_course_fits_100_columns_and_says_when_a_capped_indications_maintenance_may_start() -> None:
    """The probes: note lines of 148-159 columns; a maintenance window whose first two months a stretch-mark or
    burn-scar session could not use (five a year)."""
    proc = penctl("course", "--sessions", "5", "--start", "2025-08-29")
    assert proc.returncode == 0 and all(len(line) <= 100 for line in proc.stdout.splitlines()), proc.stdout
    text = " ".join(proc.stdout.split())
    assert "for stretch marks: maintenance not before 2026-08-29" in text and "maintenance: 2026-06-19" in text


@pytest.mark.parametrize(
    ("key", "wrong", "hint"),
    [("skin", '"thik"', "'thick'"), ("indication", '"fine_line"', "'fine_lines'")],
)
def test_a_near_miss_in_a_plans_choice_gets_did_you_mean(tmp_path: Path, key: str, wrong: str, hint: str) -> None:
    plan = tmp_path / "p.toml"
    plan.write_text(plan_text() + f"{key} = {wrong}\n")
    proc = penctl("treat", str(plan), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and f"did you mean {hint}?" in proc.stderr, proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_right_after_the_first_rename_leaves_a_whole_report(tmp_path: Path, signum: int) -> None:
    """Outside probe (repro_mixed.py): a signal sent the moment report.json was renamed into place left it new
    beside the old report.png, in 14-17 of 40 runs. Here six times, each seed over the previous one's report."""
    out = tmp_path / "out"
    assert subprocess.run([str(PENCTL), "treat", "--seed", "1", "--out", str(out)], capture_output=True).returncode == 0
    for seed in range(2, 8):
        before = {name: (out / name).read_bytes() for name in ("report.json", "report.png")}
        inode = (out / "report.json").stat().st_ino
        proc = subprocess.Popen([str(PENCTL), "treat", "--seed", str(seed), "--out", str(out)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
        while proc.poll() is None:
            with contextlib.suppress(OSError):
                if (out / "report.json").stat().st_ino != inode:
                    break
        proc.send_signal(signum)
        err = proc.communicate(timeout=60)[1]
        assert "Traceback" not in err and proc.returncode in (0, 128 + signum), err
        changed = {name for name in before if (out / name).read_bytes() != before[name]}
        assert changed in (set(), set(before)), f"seed {seed}: only {changed} changed"
        assert not [p.name for p in out.iterdir() if p.name.startswith(".")]


def test_no_signed_number_is_formatted_outside_the_numbers_module() -> None:
    """Outside probe: a rate verdict printed "(-0.000 %)": it formatted its signed error itself ("+.3f"). Every
    signed number on the host side now goes through controller/host/numbers.py; this holds the whole class, every
    f-string of controller/ but the firmware's (which imports no host tooling, and whose signed texts are alarm
    messages about errors past a threshold, never near zero)."""
    import ast

    root = Path(__file__).resolve().parent.parent / "controller"
    found = []
    for path in root.rglob("*.py"):
        if "firmware" in path.parts or path.name == "numbers.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FormattedValue) and node.format_spec is not None:
                spec = "".join(str(v.value) for v in ast.walk(node.format_spec) if isinstance(v, ast.Constant))
                if spec.startswith(("+", " ")) or (len(spec) > 1 and spec[1] in "+ " and spec[0] in "<>^="):
                    found.append(f"{path.relative_to(root)}:{node.lineno}: {spec}")
    assert found == []


def test_numbers_with_a_sign_never_print_as_negative_zero() -> None:
    from controller.host.numbers import signed_general

    assert [signed_general(v, 4) for v in (-0.0, 0.0, -1e-9, 0.12345, -3.0)] == ["0", "0", "-1e-09", "+0.1235", "-3"]
