"""Verdicts a user can trust: every check of every zone, at every boundary, and the exit code each outcome gets.

The unit sweeps build a zone's telemetry by hand, so each check is pushed exactly across its threshold; the
command-line cases run real passes and read the verdict back from the report, the summary and the exit code,
which must agree.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from controller.treatment.coverage import DEFAULT_CELL_MM, DensityMap
from controller.treatment.plan import parse_plan
from controller.treatment.session import ZoneResult
from controller.treatment.verdict import (
    BY_OUTCOME,
    CELLS_OUTSIDE_MAX,
    CHECK_ORDER,
    DEPTH_ACCURACY_MM,
    OUTCOMES,
    STRATUM_CORNEUM_MM,
    ZoneVerdict,
    judge_zone,
    pass_outcome,
)
from hal.telemetry import PEN_TICK_HZ, StrokeFlag, empty_telemetry
from tests.test_cli import penctl
from tests.test_plan import plan_text

TOLERANCE = 0.02
STROKES = 400


def zone_result(
    *,
    depth_error_mm: float = 0.0,
    tissue_mm: float = 0.3,
    hz: float = 120.0,
    density: float | None = 275.0,
    band: tuple[float, float] = (250.0, 300.0),
    patchy_pairs: int = 0,
    completed: bool = True,
) -> ZoneResult:
    """A zone of 400 strokes at 1.0 mm whose telemetry and density map say exactly what is asked."""
    text = plan_text() + f"target_density_per_cm2 = [{band[0]}, {band[1]}]\n"
    zone = parse_plan(text.encode(), "v.toml").zones[0]
    tel = empty_telemetry(STROKES)
    tel["depth_cmd_mm"] = zone.depth_mm
    tel["depth_mm"] = zone.depth_mm + depth_error_mm
    tel["penetration_mm"] = tissue_mm
    tel["flags"] = StrokeFlag.CONTACT | (StrokeFlag.PUNCTURED if tissue_mm > 0 else 0)
    tel["period_s"] = round(PEN_TICK_HZ / hz) / PEN_TICK_HZ
    result = ZoneResult(index=0, zone=zone, planned_strokes=STROKES, depth_limit=None, telemetry=tel)
    result.completed = completed
    if density is not None:
        fine = np.full((16, 16), density)  # 40 x 40 mm: 16 judged cells of 1 cm2, 4 x 4 fine cells each
        for k in range(2 * patchy_pairs):  # pairs of cells, one thin and one dense: the mean stays put
            row, col = divmod(k, 4)
            fine[4 * row : 4 * row + 4, 4 * col : 4 * col + 4] = density + (75.0 if k % 2 else -75.0)
        result.density = DensityMap(
            per_cm2=fine, cell_width_mm=DEFAULT_CELL_MM, cell_height_mm=DEFAULT_CELL_MM, punctures_inside=0,
            punctures_outside=0,
        )  # fmt: skip
    return result


def failed(verdict: ZoneVerdict) -> list[str]:
    return [c.name for c in verdict.failed]


def test_a_flawless_zone_passes_every_check() -> None:
    verdict = judge_zone(zone_result(), TOLERANCE)
    assert verdict.passed and [c.name for c in verdict.checks] == list(CHECK_ORDER)
    assert all(c.judged for c in verdict.checks)


@pytest.mark.parametrize("sign", [-1.0, 1.0])
@pytest.mark.parametrize("past", [False, True])
def test_depth_is_judged_both_ways_at_the_depth_accuracy(sign: float, past: bool) -> None:
    error = sign * (DEPTH_ACCURACY_MM + (0.002 if past else -0.002))
    verdict = judge_zone(zone_result(depth_error_mm=error), TOLERANCE)
    assert failed(verdict) == (["depth"] if past else [])
    if past:
        assert verdict.by_name("depth").outcome == ("short" if sign < 0 else "over")


@pytest.mark.parametrize(("tissue", "passes"), [(0.0, False), (STRATUM_CORNEUM_MM - 0.001, False), (0.021, True)])
def test_tissue_depth_must_pass_the_stratum_corneum(tissue: float, passes: bool) -> None:
    verdict = judge_zone(zone_result(tissue_mm=tissue), TOLERANCE)
    assert failed(verdict) == ([] if passes else ["tissue"])
    check = verdict.by_name("tissue")
    assert "stratum corneum" in check.text or "no stroke" in check.text


@pytest.mark.parametrize("hz", [116.0, 117.9, 120.0, 122.1, 124.0])
def test_rate_is_judged_against_the_pens_tolerance(hz: float) -> None:
    verdict = judge_zone(zone_result(hz=hz), TOLERANCE)
    measured = verdict.by_name("rate").value
    assert measured is not None
    assert failed(verdict) == ([] if abs(measured - 120.0) <= TOLERANCE * 120.0 else ["rate"])


@pytest.mark.parametrize("density", [100.0, 249.0, 250.0, 275.0, 300.0, 301.0, 600.0])
def test_density_mean_is_judged_against_the_band(density: float) -> None:
    verdict = judge_zone(zone_result(density=density), TOLERANCE)
    assert failed(verdict) == ([] if 250.0 <= density <= 300.0 else ["density"])


def test_the_plan_sets_the_band() -> None:
    assert failed(judge_zone(zone_result(density=600.0, band=(550.0, 650.0)), TOLERANCE)) == []
    assert failed(judge_zone(zone_result(density=275.0, band=(550.0, 650.0)), TOLERANCE)) == ["density"]


@pytest.mark.parametrize("pairs", range(0, 6))
def test_patchy_coverage_fails_past_a_quarter_of_the_cells(pairs: int) -> None:
    """A zone whose mean is in the band but whose cells are missed in patches is not covered.

    Cells 75 /cm2 off the middle of the band are past its edge by more than counting explains (2 Poisson
    deviations of a 1 cm2 cell: about 32 under 250, 35 over 300); a quarter of 16 cells is 4.
    """
    verdict = judge_zone(zone_result(density=275.0, patchy_pairs=pairs), TOLERANCE)
    assert verdict.by_name("density").value == pytest.approx(275.0)
    assert ("density" in failed(verdict)) == (2 * pairs > CELLS_OUTSIDE_MAX * 16)


def test_a_cell_just_outside_the_band_is_counting_noise_not_a_miss() -> None:
    verdict = judge_zone(zone_result(density=275.0, patchy_pairs=0), TOLERANCE)
    result = zone_result(density=275.0)
    assert result.density is not None
    result.density.per_cm2[:8, :8] = 240.0  # 4 of 16 cells under 250, each within counting noise of it
    assert verdict.passed and judge_zone(result, TOLERANCE).passed


def test_a_zone_not_run_or_not_finished_is_not_judged_on_what_it_did_not_do() -> None:
    unfinished = judge_zone(zone_result(completed=False), TOLERANCE)
    assert not unfinished.by_name("density").judged and not unfinished.passed
    assert [c.name for c in unfinished.failed] == ["finished"], "a zone a fault cut short never passes"
    empty = zone_result()
    empty.telemetry = empty_telemetry()
    empty.refusal = "battery low"
    verdict = judge_zone(empty, TOLERANCE)
    assert not any(c.judged for c in verdict.checks) and "battery low" in verdict.checks[0].text
    assert not verdict.judged and not verdict.passed


def test_the_pass_takes_the_first_failed_check_and_the_pens_own_end_comes_first() -> None:
    bad_density = judge_zone(zone_result(density=600.0), TOLERANCE)
    bad_rate = judge_zone(zone_result(hz=130.0), TOLERANCE)
    assert pass_outcome("completed", [bad_density, bad_rate]) == "off_rate"
    assert pass_outcome("completed", [bad_density]) == "off_density"
    assert pass_outcome("fault", [bad_density]) == "fault"
    assert pass_outcome("completed", [judge_zone(zone_result(), TOLERANCE)]) == "completed"


def test_every_outcome_has_one_exit_code_and_the_readme_lists_them() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    for outcome in OUTCOMES:
        assert f"`{outcome.name}`" in readme, outcome.name
    assert {o.exit_code for o in OUTCOMES} == {0, 1, 4, 5, 6}
    assert BY_OUTCOME["off_density"].exit_code == 5 and BY_OUTCOME["off_rate"].exit_code == 6


# --- real passes through the command line -------------------------------------------------------------------


def in_band(area: str = "forehead", depth: float = 0.5) -> str:
    """One zone at 100 Hz that lands inside the 250-300 /cm2 band."""
    return plan_text(area=area, depth=depth, hz=100)


DENSE = plan_text().replace("needles = 12", "needles = 16").replace("area_cm2 = 20", "area_cm2 = 10")


def run(tmp_path: Path, text: str, *args: str) -> tuple[int, dict[str, Any], str]:
    plan = tmp_path / "plan.toml"
    plan.write_text(text)
    out = tmp_path / "o"
    proc = penctl("treat", str(plan), "--out", str(out), *args)
    assert "Traceback" not in proc.stderr
    return proc.returncode, json.loads((out / "report.json").read_text()), proc.stdout


def test_a_pass_at_twice_the_density_band_is_off_density_exit_5(tmp_path: Path) -> None:
    text = DENSE.replace("speed_mm_s = 150", "speed_mm_s = 200").replace("passes = 1", "passes = 2")
    code, report, stdout = run(tmp_path, text)
    density = report["zones"][0]["verdict"]["checks"]["density"]
    assert density["value"] > 2 * density["high"] * 0.9 and density["passed"] is False
    assert (code, report["outcome"], report["verdict"]["exit_code"]) == (5, "off_density", 5)
    assert "FAIL zone[0] cheeks: density:" in stdout and "completed" not in stdout.splitlines()[0]
    assert all(len(line) <= 100 for line in stdout.splitlines())


def test_the_plans_own_band_makes_the_same_pass_complete(tmp_path: Path) -> None:
    text = DENSE.replace("speed_mm_s = 150", "speed_mm_s = 200").replace("passes = 1", "passes = 2")
    text += "target_density_per_cm2 = [450, 750]\n"
    code, report, _ = run(tmp_path, text)
    assert (code, report["outcome"]) == (0, "completed")


def test_needles_that_barely_enter_the_skin_are_shallow_exit_4(tmp_path: Path) -> None:
    text = plan_text(area="forehead", depth=0.05, hz=100).replace(
        'area = "forehead"', 'area = "forehead"\nskin = "sensitive"'
    )
    code, report, stdout = run(tmp_path, text)
    tissue = report["zones"][0]["verdict"]["checks"]["tissue"]
    assert tissue["passed"] is False and (code, report["outcome"]) == (4, "shallow"), stdout


def test_protrusion_and_tissue_depth_stand_side_by_side_everywhere(tmp_path: Path) -> None:
    code, report, stdout = run(tmp_path, in_band())
    zone = report["zones"][0]
    assert code == 0 and "protrusion" in zone["depth"]["measures"] and "penetration" in zone["tissue"]["measures"]
    head = stdout.splitlines()[1]
    assert "protr mm" in head and "tissue mm" in head
    row = stdout.splitlines()[2].split()
    assert float(row[2]) == pytest.approx(zone["depth"]["reached_mean_mm"], abs=6e-4)
    assert float(row[3]) == pytest.approx(zone["tissue"]["penetration_mean_mm"], abs=6e-4)


def test_the_report_names_its_world_and_reruns_from_itself_alone(tmp_path: Path) -> None:
    """A report rebuilt from its own fields (the plan's text, the seed, the overrides) is the same report."""
    code, report, stdout = run(
        tmp_path, plan_text(area="forehead", depth=0.5, hz=100), "--seed", "7", "--drive", "rotary_cam"
    )
    world = report["world"]
    assert world["drive"] == "rotary_cam" and world["overrides"] == {"drive": "rotary_cam"}
    assert world["simulated"] and world["battery_soc_at_start"] == 0.9 and world["skins"] == ["normal"]
    assert report["software"]["penctl"] and report["plan"]["sha256"]
    assert "--drive rotary_cam" in " ".join(stdout.split())
    again = tmp_path / "again"
    again.mkdir()
    (again / "plan.toml").write_text(report["plan"]["toml"])
    words = shlex.split(world["reproduce"])
    assert words[:2] == ["penctl", "treat"]
    proc = penctl(*words[1:], "--out", "o2", cwd=again)
    assert proc.returncode == code, proc.stderr
    rebuilt = json.loads((again / "o2/report.json").read_text())
    assert rebuilt["plan"].pop("source") == "plan.toml"
    report["plan"].pop("source")
    assert rebuilt == report


def test_a_session_that_never_ran_writes_nothing_clinical(tmp_path: Path) -> None:
    out = tmp_path / "o"
    out.mkdir()
    (out / "patient-sheet.md").write_text("an earlier session's sheet\n")
    text = in_band() + "\n[pen]\nbattery_soc = 0.01\n"
    plan = tmp_path / "flat.toml"
    plan.write_text(text)
    proc = penctl("treat", str(plan), "--out", str(out))
    report = json.loads((out / "report.json").read_text())
    assert proc.returncode == 1 and report["total"]["strokes"] == 0, proc.stdout + proc.stderr
    clinical = report["clinical"]
    assert clinical["session_ran"] is False and clinical["aftercare"] == [] and clinical["next_session"] is None
    assert not (out / "patient-sheet.md").exists(), "an earlier session's sheet must not stay beside this report"
    assert "after-care:" not in proc.stdout and "next session:" not in proc.stdout
    assert "no needle stroke was made" in proc.stdout


def test_the_exit_code_the_report_and_the_summary_agree_for_every_outcome_reached(tmp_path: Path) -> None:
    cases = {
        "completed": in_band(),
        "short": plan_text(area="abdomen", depth=2.5, hz=150).replace("area_cm2 = 20", "area_cm2 = 5"),
    }
    for name, text in cases.items():
        (tmp_path / name).mkdir()
        code, report, stdout = run(tmp_path / name, text)
        assert report["outcome"] == name and code == BY_OUTCOME[name].exit_code == report["verdict"]["exit_code"]
        assert stdout.splitlines()[0].split(": ")[1] == name


@pytest.mark.parametrize(
    "offset", [pytest.param(0.01, marks=pytest.mark.slow), 0.2, pytest.param(-0.2, marks=pytest.mark.slow)]
)
def test_treat_over_a_link_uses_the_pens_calibration(tmp_path: Path, offset: float) -> None:
    """A pen calibrated ``offset`` off sends its tips ``offset`` deeper than it reads. The tissue gets it, the
    report's protrusion is a bench gauge's (never less than the tissue depth: the outside probe found 1.086 mm
    into the tissue beside a 0.978 mm "protrusion" and a pass), the verdict judges that, and the pen's own
    reading stays in the report."""
    from tests.test_cli_link import served

    key = tmp_path / "key"
    key.write_text("11" * 32 + "\n")
    nvm = tmp_path / "pen.nvm"
    plan = tmp_path / "plan.toml"
    plan.write_text(in_band())
    with served("--pty", "--nvm", str(nvm), "--service-key-file", str(key)) as (path, _):
        done = penctl(
            "settings", "set", f"depth.calibration_offset_mm={offset}", "--key-file", str(key), "--level", "factory",
            "--port", path,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert penctl("settings", "alarms", "--clear", "--port", path).returncode == 0  # a new store boots blank
        linked = penctl("treat", str(plan), "--port", path, "--out", str(tmp_path / "a"))
    assert penctl("treat", str(plan), "--out", str(tmp_path / "b")).returncode == 0
    a, b = (json.loads((tmp_path / d / "report.json").read_text()) for d in "ab")
    assert a["world"]["pen_settings"]["depth.calibration_offset_mm"] == offset
    assert b["world"]["pen_settings"]["depth.calibration_offset_mm"] == 0.0
    za, zb = a["zones"][0], b["zones"][0]
    deeper = za["tissue"]["penetration_mean_mm"] - zb["tissue"]["penetration_mean_mm"]
    assert deeper == pytest.approx(offset, abs=0.01 + 0.2 * abs(offset))  # the tent takes some of it
    gauge, reading = za["depth"]["reached_mean_mm"], za["depth"]["pen_reading_mean_mm"]
    assert gauge == pytest.approx(reading + offset, abs=1e-3) and gauge >= za["tissue"]["penetration_mean_mm"]
    assert reading == pytest.approx(zb["depth"]["reached_mean_mm"], abs=0.005)  # the pen saw what it aimed at
    over = abs(gauge - za["commanded"]["depth_mm"]) > DEPTH_ACCURACY_MM
    assert linked.returncode == (4 if over else 0) and za["verdict"]["passed"] is not over, linked.stdout
    assert "calibration" in linked.stdout and f"{offset:+.3f} mm" in linked.stdout
    assert not a["world"]["reproduce"] and b["world"]["reproduce"]


def test_the_readmes_outcome_table_is_the_codes() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    rows = [line for line in readme.splitlines() if line.startswith("| `") and line.count("|") == 4]
    table = [tuple(cell.strip() for cell in row.strip("|").split("|")) for row in rows]
    expected = [(f"`{o.name}`", str(o.exit_code), o.meaning) for o in OUTCOMES]
    assert [row for row in table if row[0] in {e[0] for e in expected} and row[1].isdigit()] == expected


def test_a_record_refused_for_a_used_cartridge_books_nothing(tmp_path: Path) -> None:
    """The outside finding: a `record` refused for a re-used cartridge printed after-care and a next session and
    wrote patient-sheet.md for a session that never ran."""
    from tests.test_cli_link import served

    plan = tmp_path / "plan.toml"
    plan.write_text(in_band().replace('name = "test"', 'name = "test"\nstart = 2026-12-01T10:00:00'))
    with served("--tcp", "0") as (url, _):
        first = penctl(
            "record", str(plan), "--port", url, "--log", str(tmp_path / "a.jsonl"), "--out", str(tmp_path / "a")
        )
        assert first.returncode == 0, first.stdout + first.stderr
        again = penctl(
            "record", str(plan), "--port", url, "--log", str(tmp_path / "b.jsonl"), "--out", str(tmp_path / "b")
        )
    report = json.loads((tmp_path / "b/report.json").read_text())
    assert again.returncode == 1 and report["outcome"] == "refused", again.stdout
    assert "cartridge" in report["zones"][0]["refusal"]
    assert not (tmp_path / "b/patient-sheet.md").exists() and (tmp_path / "a/patient-sheet.md").exists()
    assert "after-care:" not in again.stdout and "next session:" not in again.stdout
    assert report["clinical"]["next_session"] is None and report["clinical"]["session_ran"] is False


@pytest.mark.parametrize(
    "fault", ['kind = "stall"\nvalue = 0.3\nat_s = 0.3', 'kind = "rate_deviation"\nvalue = 0.03\nat_s = 0.7']
)
def test_outside_probe_a_zone_a_fault_cut_short_never_reads_ok(tmp_path: Path, fault: str) -> None:
    """Outside probe C1: the faulted zone's row said `ok` and report.json said passed."""
    code, report, stdout = run(tmp_path, in_band() + f"\n[[fault]]\n{fault}\n")
    zone = report["zones"][0]
    assert code == 1 and report["outcome"] == "fault"
    assert zone["verdict"]["passed"] is False and zone["verdict"]["checks"]["finished"]["passed"] is False
    [row] = [line.split() for line in stdout.splitlines() if line.startswith("forehead ")]
    assert row[-1] == "FAIL"


def test_outside_probe_zones_that_never_ran_are_not_passed(tmp_path: Path) -> None:
    """Outside probe C2: zones that never ran had verdict.passed true."""
    _, report, _ = run(tmp_path, in_band() + "\n[pen]\nbattery_soc = 0.01\n")
    assert all(z["verdict"]["passed"] is None for z in report["zones"])


def test_outside_probe_a_density_just_over_the_band_never_prints_inside_it(tmp_path: Path) -> None:
    """Outside probe C3: 300.5 /cm2 printed as `300 (250 to 300) FAIL`."""
    text = in_band() + "target_density_per_cm2 = [250, 270]\n"
    _, report, stdout = run(tmp_path, text)
    mean = report["zones"][0]["density_per_cm2"]["mean"]
    [row] = [line.split() for line in stdout.splitlines() if line.startswith("forehead ")]
    shown = float(row[7])
    assert shown == pytest.approx(mean, abs=0.051)
