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
from controller.qa.dossier.software import printable, read_report
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


@dataclass(kw_only=True, frozen=True)
class Inputs:
    """The request, checked: the campaign to run (its text and where it came from), the report read, the drive."""

    drive: str
    campaign_text: bytes
    campaign_source: dict[str, str]
    software: dict[str, Any]


def check(request: Request, pdf: bool) -> Inputs:
    """Everything the request names, read and checked before anything runs or is written (InputError if not)."""
    from controller.qa.verification.campaign import parse_campaign

    if request.campaign is not None:
        try:
            data = Path(request.campaign).read_bytes()
        except OSError as exc:
            raise InputError(printable(request.campaign), "", "a readable campaign file", exc.strerror) from None
        name = printable(Path(request.campaign).name)
    else:
        data = builtin_campaign(request.drive or "voice_coil").encode()
        name = f"built-in dossier campaign ({request.drive or 'voice_coil'})"
    campaign = parse_campaign(data, printable(request.campaign or name))
    drive = request.drive or campaign.drive
    if drive != campaign.drive:
        raise InputError("--drive", "", f"the campaign's own drive, {campaign.drive} (its [pen] drive)", drive)
    if pdf and browser() is None:
        raise InputError("--pdf", "", "a Chromium on PATH to print the page (Debian: apt-get install chromium)")
    source = {"file": name, "sha256": sections.digest(data), "saved_as": f"{CAMPAIGN_DIR}/{CAMPAIGN_FILE}"}
    return Inputs(drive=drive, campaign_text=data, campaign_source=source, software=read_report(request.tests))


CAMPAIGN_DIR = "campaign"
CAMPAIGN_FILE = "campaign.toml"


def make(
    request: Request, inputs: Inputs, out: Path, on_progress: Callable[[int, int], None] | None = None
) -> dict[str, Any]:
    """Run every section; the dossier as data (with the figures under ``_images``, not for the JSON).

    The campaign runs afresh in ``out/campaign/`` (what an earlier run left there is removed: the dossier reports
    only what this run computed), beside the exact campaign text it ran, whose SHA-256 the page prints.
    """
    from controller.qa.dossier.accuracy import accuracy
    from controller.qa.fault_campaign import as_json
    from controller.qa.fault_campaign import run_campaign as run_faults
    from controller.qa.verification.campaign import parse_campaign
    from controller.qa.verification.runner import Engine, run_campaign

    drive, software = inputs.drive, inputs.software
    campaign_dir = out / CAMPAIGN_DIR
    shutil.rmtree(campaign_dir, ignore_errors=True)
    campaign_dir.mkdir(parents=True)
    (campaign_dir / CAMPAIGN_FILE).write_bytes(inputs.campaign_text)
    campaign = parse_campaign(inputs.campaign_text, inputs.campaign_source["file"])
    engine = Engine(workers=request.workers, scheduler=request.scheduler)
    summary = run_campaign(campaign, campaign_dir, engine, on_progress)
    envelope = sections.envelope(drive)
    hazards = sections.hazards(as_json(run_faults(drive)), software)
    device_inputs = {"campaign": inputs.campaign_source}
    if software["report_given"]:
        device_inputs["tests"] = software["report"]
    device = sections.device(drive, device_inputs)
    dossier = {
        "device": device,
        "accuracy": accuracy(campaign_dir, summary, inputs.campaign_source),
        "envelope": envelope,
        "hazards": hazards,
        "software": {k: v for k, v in software.items() if k != "cases"},
        "labelling": sections.labelling(drive, device["rate_range_hz"], device["max_depth_mm"]),
    }
    dossier["verdict"] = verdict(dossier)
    dossier["_images"] = {
        "verify.png": (campaign_dir / "verify.png").read_bytes(),
        "envelope.png": envelope_png(envelope),
    }
    return dossier


def verdict(dossier: dict[str, Any]) -> dict[str, Any]:
    """pass: every point and hazard passes and every section has its evidence; else fail or incomplete, and why."""
    reasons = []
    for p in dossier["accuracy"]["points"]:
        failed = [f"{j['what']} outside +/-{j['band']:g} {j['unit']}" for j in p["judged"] if not j["passed"]]
        if p["completed"] < p["pens"]:
            failed.insert(
                0, f"{p['pens'] - p['completed']} of {p['pens']} pens did not complete it ({p['faults'] or 'refused'})"
            )
        if failed:
            reasons.append(f"accuracy: {p['label']}: {'; '.join(failed)}")
    hazards = dossier["hazards"]
    if hazards["handled"] < hazards["of"]:
        missed = [r["id"] for r in hazards["rows"] if not r["campaign"]["handled"]]
        reasons.append(f"hazards not handled in the fault campaign: {', '.join(missed)}")
    software = dossier["software"]
    if software["report_given"] and not software["passed"]:
        named = software["failing_tests"]
        shown = ", ".join(named[:5]) + (f" and {len(named) - 5} more" if len(named) > 5 else "")
        declared = software["declared_by_the_report"]
        reasons.append(
            f"software: the test report has failing or erroring tests ({shown or 'none named'}; the report declares "
            f"{declared.get('failures', 0)} failures and {declared.get('errors', 0)} errors)"
        )
    if reasons:
        return {"status": "fail", "reasons": reasons}
    missing = missing_evidence(dossier)
    if missing:
        return {"status": "incomplete", "reasons": missing}
    return {"status": "pass", "reasons": []}


def missing_evidence(dossier: dict[str, Any]) -> list[str]:
    """What the test report lacks: no report at all, an outside-probe suite it ran none of, a hazard's own test
    that did not run and pass (a skipped test is no evidence)."""
    software = dossier["software"]
    if not software["report_given"]:
        return [f"software verification: {software['why']}"]
    missing = []
    empty = [
        p["module"] for p in software["outside_probes"] if not any(p.get(k) for k in ("passed", "failed", "error"))
    ]
    if empty:
        missing.append(f"software verification: the report ran none of the outside probes {', '.join(empty)}")
    untested = [f"{r['id']} ({r['tests']['result']})" for r in dossier["hazards"]["rows"] if not r["tests"]["evidence"]]
    if untested:
        missing.append(f"hazard traceability: these hazards' tests did not all run and pass: {', '.join(untested)}")
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


def browser() -> str | None:
    """A Chromium found on PATH (None: none there)."""
    return next((found for name in CHROMIUM if (found := shutil.which(name))), None)


def print_pdf(page: str, out: Path) -> bytes:
    """The page printed to PDF by a headless Chromium (the only dependency: a browser, found on PATH)."""
    chromium = browser()
    if chromium is None:
        raise InputError("--pdf", "", "a Chromium on PATH to print the page (Debian: apt-get install chromium)")
    work = out.resolve() / ".dossier-pdf"
    work.mkdir(exist_ok=True)
    try:
        (work / "page.html").write_text(page, encoding="utf-8")
        subprocess.run(
            [chromium, *HEADLESS, f"--user-data-dir={work / 'profile'}", f"--print-to-pdf={work / 'page.pdf'}",
             "--no-pdf-header-footer", (work / "page.html").as_uri()],
            capture_output=True, timeout=120, check=False,
        )  # fmt: skip
        if not (work / "page.pdf").exists():
            raise InputError("--pdf", "", "a Chromium that can print (it wrote no PDF)", chromium)
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
