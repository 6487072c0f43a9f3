"""Making the dossier: run what it reports, read what it is given, judge it, write HTML and JSON whole or not at all.

The same inputs (drive, campaign, test report) give a byte-identical dossier.json: every part is seeded or read
from a hashed input, nothing records the time or the machine, and the JSON's keys are sorted.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.qa.dossier import sections
from controller.qa.dossier.campaign import builtin_campaign
from controller.qa.dossier.figures import envelope_png
from controller.qa.dossier.software import read_report
from hal.errors import InputError

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
"""Where ``--pdf`` looks for a browser to print the page with (Debian's package is ``chromium``)."""


@dataclass(kw_only=True, frozen=True)
class Request:
    """What the dossier is made of: the drive, and the inputs it reads (None: the built-in campaign, no report)."""

    drive: str | None
    campaign: str | None
    tests: str | None
    workers: int
    scheduler: str | None = None


def make(request: Request, out: Path, on_progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Run and read every section; the dossier as data (with the figures under ``_images``, not for the JSON)."""
    from controller.qa.fault_campaign import as_json
    from controller.qa.fault_campaign import run_campaign as run_faults
    from controller.qa.verification.campaign import load_campaign, parse_campaign
    from controller.qa.verification.runner import Engine, run_campaign

    if request.campaign is not None:
        campaign = load_campaign(request.campaign)
        data = Path(request.campaign).read_bytes()
        drive = request.drive or campaign.drive
        if drive != campaign.drive:
            raise InputError("--drive", "", f"the campaign's own drive, {campaign.drive} (its [pen] drive)", drive)
        source = {"file": Path(request.campaign).name, "sha256": sections.digest(data)}
    else:
        drive = request.drive or "voice_coil"
        data = builtin_campaign(drive).encode()
        campaign = parse_campaign(data, f"<built-in dossier campaign, {drive}>")
        source = {"file": f"built-in dossier campaign ({drive})", "sha256": sections.digest(data)}
    software = read_report(request.tests)  # a bad report is refused before anything runs
    summary = run_campaign(
        campaign, out / "campaign", Engine(workers=request.workers, scheduler=request.scheduler), on_progress
    )
    envelope = sections.envelope(drive)
    hazards = sections.hazards(as_json(run_faults(drive)), software)
    inputs = {"campaign": source}
    if software["complete"]:
        inputs["tests"] = software["report"]
    device = sections.device(drive, inputs)
    dossier = {
        "device": device,
        "accuracy": sections.accuracy(summary, source),
        "envelope": envelope,
        "hazards": hazards,
        "software": {k: v for k, v in software.items() if k != "cases"},
        "labelling": sections.labelling(drive, device["rate_range_hz"], device["max_depth_mm"]),
    }
    dossier["verdict"] = verdict(dossier)

    dossier["_images"] = {
        "verify.png": (out / "campaign" / "verify.png").read_bytes(),
        "envelope.png": envelope_png(envelope),
    }
    return dossier


def verdict(dossier: dict[str, Any]) -> dict[str, Any]:
    """pass: every point and hazard passes and every section has its evidence; else fail or incomplete, and why."""
    reasons = [
        f"accuracy: {p['label']} fails {', '.join(c['criterion'] for c in p['criteria'] if not c['passed'])}"
        for p in dossier["accuracy"]["points"]
        if not p["passed"]
    ]
    hazards = dossier["hazards"]
    if hazards["handled"] < hazards["of"]:
        missed = [r["id"] for r in hazards["rows"] if not r["campaign"]["handled"]]
        reasons.append(f"hazards not handled in the fault campaign: {', '.join(missed)}")
    software = dossier["software"]
    if software["complete"] and not software["passed"]:
        reasons.append(f"software: the test report has failures ({software['totals']})")
    if reasons:
        return {"status": "fail", "reasons": reasons}
    missing = missing_evidence(dossier)
    if missing:
        return {"status": "incomplete", "reasons": missing}
    return {"status": "pass", "reasons": []}


def missing_evidence(dossier: dict[str, Any]) -> list[str]:
    """What the test report lacks: no report at all, an outside-probe suite it ran none of, a hazard's own test."""
    software = dossier["software"]
    if not software["complete"]:
        return [f"software verification: {software['why']}"]
    missing = []
    empty = [
        p["module"] for p in software["outside_probes"] if not any(p.get(k) for k in ("passed", "failed", "error"))
    ]
    if empty:
        missing.append(f"software verification: the report ran none of the outside probes {', '.join(empty)}")
    untested = [r["id"] for r in dossier["hazards"]["rows"] if "not in the report" in r["tests"]["result"]]
    if untested:
        missing.append(f"hazard traceability: the report lacks the tests of {', '.join(untested)}")
    return missing


def dossier_json(dossier: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in dossier.items() if not k.startswith("_")}, indent=2, sort_keys=True) + "\n"


def write(dossier: dict[str, Any], out: Path, pdf: bool) -> list[str]:
    """dossier.html and dossier.json (and dossier.pdf), all or none; the names written."""
    from controller.host.atomic import atomic_files
    from controller.qa.dossier.html import render

    page = render(dossier, dossier["_images"])
    names = ["dossier.html", "dossier.json"]
    with atomic_files(out) as files:
        files.write_text("dossier.html", page)
        files.write_text("dossier.json", dossier_json(dossier))
        if pdf:
            files.write_bytes("dossier.pdf", print_pdf(page, out))
            names.append("dossier.pdf")
    return names


def print_pdf(page: str, out: Path) -> bytes:
    """The page printed to PDF by a headless Chromium (the only dependency: a browser, found on PATH)."""
    browser = next((shutil.which(name) for name in CHROMIUM if shutil.which(name)), None)
    if browser is None:
        raise InputError("--pdf", "", "a Chromium on PATH to print the page (Debian: apt-get install chromium)")
    work = out.resolve() / ".dossier-pdf"
    work.mkdir(exist_ok=True)
    try:
        (work / "page.html").write_text(page, encoding="utf-8")
        subprocess.run(
            [browser, *HEADLESS, f"--user-data-dir={work / 'profile'}", f"--print-to-pdf={work / 'page.pdf'}",
             "--no-pdf-header-footer", (work / "page.html").as_uri()],
            capture_output=True, timeout=120, check=False,
        )  # fmt: skip
        if not (work / "page.pdf").exists():
            raise InputError("--pdf", "", "a Chromium that can print (it wrote no PDF)", browser)
        return (work / "page.pdf").read_bytes()
    finally:
        shutil.rmtree(work, ignore_errors=True)


HEADLESS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
"""A browser that starts, renders and reaches for nothing on the network (no service of this machine answers)."""
