"""penctl dossier, tested as a person reads it: run from the command line, rendered in a real headless Chromium.

One dossier is made (a small campaign, a JUnit report that names every hazard's tests and every outside-probe
suite) and read three ways: its JSON, its page as a browser lays it out (every section and image there, a
screenshot taken), and its PDF. A second run from the same inputs must give the same bytes; bad inputs are
refused before anything runs; a failing point or missing evidence is said, and the exit code says so.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.firmware.hazards import HAZARDS
from controller.qa.dossier.build import HEADLESS, verdict
from controller.qa.dossier.html import SECTIONS
from controller.qa.dossier.software import PROBE_SUITES
from tests.test_cli import penctl

CAMPAIGN = """
[campaign]
name = "dossier test"
seed = 5
pens = 12
seconds = 0.3
chunk_pens = 6

[parameters.needle_length_error_mm]
distribution = "normal"
mean = 0.0
sd = 0.02
min = -0.06
max = 0.06

[[points]]
depth_mm = 1.0
frequency_hz = 120.0

[[points]]
depth_mm = 0.5
frequency_hz = 100.0

[[criteria]]
metric = "depth_error_mean_mm"
min = -0.15
max = 0.15

[[criteria]]
metric = "rate_error_pct"
min = -2.0
max = 2.0
"""


def junit(cases: list[tuple[str, str, str]]) -> str:
    """A pytest-style JUnit report: (module, test name, outcome) per case."""
    body = []
    for module, name, outcome in cases:
        inner = {"passed": "", "failed": '<failure message="x"/>', "skipped": '<skipped message="x"/>'}[outcome]
        body.append(f'<testcase classname="tests.{module}" name="{name}" time="0.01">{inner}</testcase>')
    return f'<?xml version="1.0"?><testsuites><testsuite name="pytest">{"".join(body)}</testsuite></testsuites>'


def every_named_test() -> list[tuple[str, str, str]]:
    cases = []
    for h in HAZARDS:
        for name in (t.strip() for t in h.tests.split(",")):
            module, _, case = name.partition("::")
            cases.append((module.removesuffix(".py"), case, "passed"))
    return cases + [(suite, "test_probe", "passed") for suite in PROBE_SUITES] + [("test_plan", "test_x", "skipped")]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dossier-inputs")
    (folder / "campaign.toml").write_text(CAMPAIGN)
    (folder / "tests.xml").write_text(junit(every_named_test()))
    return folder


def make(inputs: Path, out: Path, scheduler: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return penctl(
        "dossier", "--campaign", str(inputs / "campaign.toml"), "--tests", str(inputs / "tests.xml"),
        "--out", str(out), "--scheduler", scheduler, *extra,
    )  # fmt: skip


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's Chromium, installed here if the machine lacks it (.ci/run installs it too)."""
    found = shutil.which("chromium")
    if found is None and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], capture_output=True, timeout=900, check=False)
        found = shutil.which("chromium")
    assert found, "the dossier is tested in a real browser: install Debian's chromium (apt-get install chromium)"
    return found


@pytest.fixture(scope="module")
def made(inputs: Path, tmp_path_factory: pytest.TempPathFactory, chromium: str, stock_cluster: str) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("dossier")
    run = make(inputs, out, stock_cluster, "--pdf")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "dossier: pass" in run.stdout
    yield out


def test_the_dossier_has_every_section_and_says_where_each_figure_came_from(made: Path, inputs: Path) -> None:
    dossier = json.loads((made / "dossier.json").read_text())
    assert set(dossier) == {key for key, _ in SECTIONS} | {"verdict"}
    assert dossier["verdict"] == {"status": "pass", "reasons": []}
    device = dossier["device"]
    assert device["drive"] == "voice_coil" and device["pen_model"] == "MN-1 (simulated, voice_coil)"
    import hashlib

    for name, path in (("campaign", "campaign.toml"), ("tests", "tests.xml")):
        digest = hashlib.sha256((inputs / path).read_bytes()).hexdigest()
        assert {k: device["inputs"][name][k] for k in ("file", "sha256")} == {"file": path, "sha256": digest}
    assert (made / "campaign" / "campaign.toml").read_bytes() == (inputs / "campaign.toml").read_bytes()
    accuracy = dossier["accuracy"]
    assert [p["label"] for p in accuracy["points"]] == [
        "1 mm at 120 Hz on normal skin",
        "0.5 mm at 100 Hz on normal skin",
    ]
    assert [j["metric"] for j in accuracy["points"][0]["judged"]] == ["depth_error_mean_mm", "rate_error_pct"]
    assert all(
        j["normal"] is not None and j["distribution_free"] is None for p in accuracy["points"] for j in p["judged"]
    )
    assert [r["id"] for r in dossier["hazards"]["rows"]] == [h.id for h in HAZARDS]
    assert dossier["hazards"]["handled"] == len(HAZARDS)
    assert all("passed" in r["tests"]["result"] for r in dossier["hazards"]["rows"])
    assert {t["skin"] for t in dossier["envelope"]["tables"]} == {"sensitive", "normal", "thick"}
    assert dossier["software"]["totals"] == {"passed": len(every_named_test()) - 1, "skipped": 1}
    assert {i["indication"] for i in dossier["labelling"]["indications"]} >= {"fine_lines", "acne_scars"}


def test_the_page_in_a_real_browser_has_every_section_and_image(made: Path, chromium: str, tmp_path: Path) -> None:
    page = (made / "dossier.html").as_uri()
    flags = [*HEADLESS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([chromium, *flags, "--dump-dom", page], capture_output=True, text=True, timeout=120).stdout
    for key, title in SECTIONS:
        assert f'<section id="{key}">' in dom and title in dom, key
    for image in ("accuracy-figure", "envelope-figure"):
        assert f'id="{image}"' in dom and 'src="data:image/png;base64,' in dom
    assert "http://" not in dom and "https://" not in dom, "the page reaches for nothing on the network"
    shot = tmp_path / "dossier.png"
    subprocess.run(
        [chromium, *flags, "--window-size=1280,4000", "--hide-scrollbars", f"--screenshot={shot}", page],
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert shot.stat().st_size > 100_000  # a page laid out, with its figures
    assert (made / "dossier.pdf").read_bytes().startswith(b"%PDF")


def test_the_same_inputs_give_a_byte_identical_dossier(made: Path, inputs: Path, tmp_path: Path) -> None:
    """Run on another engine (a local cluster of one worker, not the shared two-worker cluster), into a copy of the
    first run's folder whose campaign results were forged: the dossier reports only what it computed itself."""
    shutil.copytree(made, tmp_path / "again", ignore=shutil.ignore_patterns("dossier.*"))
    for chunk in (tmp_path / "again" / "campaign" / "chunks").glob("*.parquet"):
        chunk.write_bytes(chunk.read_bytes()[:-40] + bytes(40))  # the dossier probe forged these and got "pass"
    again = penctl(
        "dossier", "--campaign", str(inputs / "campaign.toml"), "--tests", str(inputs / "tests.xml"),
        "--out", str(tmp_path / "again"), "--workers", "1",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "again" / "dossier.json").read_bytes() == (made / "dossier.json").read_bytes()
    assert (tmp_path / "again" / "dossier.html").read_bytes() == (made / "dossier.html").read_bytes()


def test_a_failing_point_fails_the_dossier_and_missing_evidence_leaves_it_incomplete(made: Path) -> None:
    dossier: dict[str, Any] = json.loads((made / "dossier.json").read_text())
    dossier["accuracy"]["points"][0]["judged"][0]["passed"] = False
    failed = verdict(dossier)
    assert failed == {
        "status": "fail",
        "reasons": ["accuracy: 1 mm at 120 Hz on normal skin: mean depth error outside +/-0.15 mm"],
    }
    dossier = json.loads((made / "dossier.json").read_text())
    dossier["software"]["outside_probes"][0] = {"module": "test_protocol_probe", "what": "x"}
    dossier["hazards"]["rows"][3]["tests"] |= {"result": "1 skipped", "evidence": False}
    missing = verdict(dossier)
    assert missing["status"] == "incomplete" and len(missing["reasons"]) == 2
    assert "test_protocol_probe" in missing["reasons"][0] and "H04" in missing["reasons"][1]


def test_a_report_with_failures_fails_the_dossier(made: Path, tmp_path: Path) -> None:
    """A failed and an erroring test case in the report: the software section fails, and so does the dossier."""
    from controller.qa.dossier.software import read_report

    report = tmp_path / "failed.xml"
    report.write_text(junit([*every_named_test(), ("test_plan", "test_broken", "failed")]))
    dossier: dict[str, Any] = json.loads((made / "dossier.json").read_text())
    software = read_report(str(report))
    dossier["software"] = {k: v for k, v in software.items() if k != "cases"}
    failed = verdict(dossier)
    assert failed["status"] == "fail" and "test_plan::test_broken" in failed["reasons"][0]
    assert software["totals"]["failed"] == 1 and not software["passed"]


def test_a_skipped_hazard_test_is_no_evidence_and_declared_failures_count() -> None:
    """The dossier probe: every hazard test skipped gave pass; a report declaring failures="5" on its suite but no
    failing case gave pass."""
    from controller.qa.dossier.software import covering, read_report

    skipped = [(m, n, "skipped" if m == "test_hazards" else o) for m, n, o in every_named_test()]
    path = Path(__file__).parent / ".." / "skipped.xml"
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "r.xml"
        path.write_text(junit(skipped))
        report = read_report(str(path))
        assert covering(report, "test_hazards.py::test_hazard[H02]")["evidence"] is False
        path.write_text(junit(every_named_test()).replace('name="pytest"', 'name="pytest" failures="5" errors="2"'))
        declared = read_report(str(path))
    assert not declared["passed"] and declared["declared_by_the_report"] == {"errors": 2, "failures": 5}


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--tests", "/nonexistent/tests.xml"), "a readable pytest JUnit report"),
        (("--campaign", "/nonexistent/c.toml"), "c.toml"),
        (("--drive", "rotary_cam", "--campaign", "{campaign}"), "the campaign's own drive"),
        (("--tests", "{campaign}"), "a pytest JUnit report"),
        (("--workers", "1", "--scheduler", "tcp://127.0.0.1:9"), "either --workers"),
    ],
)
def test_bad_inputs_are_refused_before_anything_runs(
    inputs: Path, tmp_path: Path, args: tuple[str, ...], said: str
) -> None:
    filled = [a.replace("{campaign}", str(inputs / "campaign.toml")) for a in args]
    run = penctl("dossier", *filled, "--out", str(tmp_path / "o" / "sub"))
    assert run.returncode == 2 and said in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert not (tmp_path / "o").exists(), "nothing is written for a refused dossier, not even --out"


def test_a_campaign_with_a_loose_band_is_still_judged_against_the_labelled_tolerance(
    tmp_path: Path, stock_cluster: str
) -> None:
    """The dossier probe: a campaign judging 2.5 mm at 150 Hz on thick skin within +/-1 mm passed the dossier, its
    pens 0.9 mm short, under the +/-0.15 mm heading. Now the labelled tolerance judges it, whatever the campaign."""
    campaign = tmp_path / "loose.toml"
    campaign.write_text(
        CAMPAIGN.replace(
            "depth_mm = 1.0\nfrequency_hz = 120.0", 'depth_mm = 2.5\nfrequency_hz = 150.0\nskin = "thick"'
        ).replace("min = -0.15\nmax = 0.15", "min = -1.0\nmax = 1.0")
    )
    report = tmp_path / "tests.xml"
    report.write_text(junit(every_named_test()))
    run = penctl("dossier", "--campaign", str(campaign), "--tests", str(report), "--out", str(tmp_path / "o"),
                 "--scheduler", stock_cluster)  # fmt: skip
    dossier = json.loads((tmp_path / "o" / "dossier.json").read_text())
    assert run.returncode == 1 and "dossier: fail" in run.stdout, run.stdout + run.stderr
    assert dossier["accuracy"]["campaign_own_verdict"]["verdict"] == "pass"
    assert "2.5 mm at 150 Hz on thick skin: mean depth error outside +/-0.15 mm" in run.stdout


def test_pdf_without_a_browser_is_refused_before_anything_runs(inputs: Path, tmp_path: Path) -> None:
    import os
    import sys

    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}
    run = subprocess.run(
        [str(Path(sys.executable).with_name("penctl")), "dossier", "--pdf", "--out", str(tmp_path / "o"),
         "--campaign", str(inputs / "campaign.toml")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert run.returncode == 2 and "Chromium" in run.stderr and not (tmp_path / "o").exists(), run.stderr
