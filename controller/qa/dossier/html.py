"""The dossier as one self-contained HTML page: no network, images inlined, every figure beside its source.

The page is rendered from dossier.json alone (and the two PNGs), so it can say nothing the JSON does not.
"""

from __future__ import annotations

import base64
import json
from html import escape
from typing import Any

from controller.host.numbers import signed

SECTIONS = (
    ("device", "Device and configuration"),
    ("accuracy", "Depth accuracy and rate accuracy"),
    ("envelope", "Operating envelope"),
    ("hazards", "Hazard traceability"),
    ("software", "Software verification summary"),
    ("labelling", "Labelling facts"),
)

STYLE = """
body{font-family:sans-serif;margin:2em;max-width:1200px;color:#111}
h1{font-size:1.6em}h2{border-bottom:1px solid #888;margin-top:2em}
table{border-collapse:collapse;margin:0.5em 0;font-size:0.85em;max-width:100%}
td,th{border:1px solid #bbb;padding:3px 6px;vertical-align:top;text-align:left;overflow-wrap:anywhere}
th{background:#eee}.pass{color:#075;font-weight:bold}.fail{color:#b00;font-weight:bold}
.note{color:#444;font-size:0.85em}code{font-size:0.9em}img{max-width:100%;border:1px solid #ccc}
table.facts td:first-child{white-space:nowrap;font-weight:bold}
"""


def render(dossier: dict[str, Any], images: dict[str, bytes]) -> str:
    """The page: a verdict, a contents list, then one section per entry of ``SECTIONS``."""
    verdict = dossier["verdict"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Verification dossier: {escape(dossier['device']['pen_model'])}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Verification dossier: {escape(dossier['device']['pen_model'])}</h1>",
        f'<p id="verdict">Verdict: <span class="{_cls(verdict["status"] == "pass")}">{escape(verdict["status"])}'
        f"</span>. {escape('; '.join(verdict['reasons']) or 'every section has its evidence and passes')}</p>",
        "<p class=note>Made by penctl dossier: every figure was computed in the run that wrote this page, or read from "
        "an input whose SHA-256 is printed beside it (21 CFR 878.4430 special controls).</p>",
        "<ol>" + "".join(f'<li><a href="#{key}">{escape(title)}</a></li>' for key, title in SECTIONS) + "</ol>",
    ]
    for key, title in SECTIONS:
        body = RENDERERS[key](dossier[key], images)
        parts.append(f'<section id="{key}"><h2>{escape(title)}</h2>{body}</section>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _device(d: dict[str, Any], _images: dict[str, bytes]) -> str:
    facts = [
        ("drive", d["drive"]),
        ("pen model", d["pen_model"]),
        ("firmware", d["firmware_version"]),
        ("wire protocol", d["protocol_version"]),
        ("settings schema", d["settings_schema_version"]),
        ("penctl", d["penctl_version"]),
        ("stroke rates", f"{d['rate_range_hz'][0]:g}-{d['rate_range_hz'][1]:g} Hz"),
        ("maximum depth", f"{d['max_depth_mm']:g} mm"),
    ]
    inputs = [(name, f"{i['file']} (SHA-256 {i['sha256']})") for name, i in d["inputs"].items()]
    settings = [[s["key"], _text(s["value"]), s["unit"], s["access"]] for s in d["settings"]]
    return (
        _table(["", ""], [[a, _text(b)] for a, b in facts + inputs])
        + f"<p class=note>Settings in force: {escape(d['settings_source'])}.</p>"
        + _table(["setting", "value", "unit", "access"], settings)
    )


def _accuracy(a: dict[str, Any], images: dict[str, bytes]) -> str:
    tolerances = "; ".join(
        f"{t['what']} within +/-{t['band']:g} {t['unit']} ({t['source']})" for t in a["labelled_tolerances"]
    )
    rows = []
    for p in a["points"]:
        done = f"{p['completed']} of {p['pens']}" + (f" (faults: {p['faults']})" if p["faults"] else "")
        for j in p["judged"]:
            rows.append(
                [p["label"], done, f"{j['what']} +/-{j['band']:g} {j['unit']}", _span(j["normal"]),
                 _span(j["distribution_free"], f"needs {a['distribution_free_needs']} pens"), _mark(j["passed"])]
            )  # fmt: skip
    campaign, own = a["campaign"], a["campaign_own_verdict"]
    return (
        f"<p>Each operating point judged here against the labelled tolerances: {escape(tolerances)}, as two-sided "
        f"{a['coverage']:.0%}/{a['confidence']:.0%} tolerance intervals of the pens' results (normal theory, ISO "
        "16269-6; distribution-free, Wilks). A pen that did not complete a point fails it.</p>"
        f"<p>Campaign: {escape(campaign['file'])} (SHA-256 {escape(campaign['sha256'])}; the text run is saved as "
        f"{escape(campaign['saved_as'])}). The campaign's own criteria ({escape('; '.join(own['criteria']))}) "
        f"gave: {escape(own['verdict'])}.</p>"
        + _table(
            [
                "operating point",
                "pens completed",
                "labelled tolerance",
                "normal 95/95",
                "distribution-free 95/95",
                "result",
            ],
            rows,
            raw_last=True,
        )
        + _image(
            "accuracy-figure", images.get("verify.png"), "every pen against the campaign's band, with the interval"
        )
    )


def _span(interval: list[float] | None, missing: str = "none") -> str:
    return missing if interval is None else f"[{signed(interval[0], 4)}, {signed(interval[1], 4)}]"


def _envelope(e: dict[str, Any], images: dict[str, bytes]) -> str:
    rows = []
    for t in e["tables"]:
        for r in t["rates"]:
            trips = r["minutes_to_trip_by_depth"].items()
            duty = "continuous" if r["continuous"] else "; ".join(f"{d} mm: {m} min" for d, m in trips)
            deepest = "none" if r["deepest_accurate_mm"] is None else f"{r['deepest_accurate_mm']:g} mm"
            risks = [
                f"{what} at {', '.join(f'{d:g}' for d in depths)} mm"
                for what, depths in (
                    ("stall likely", r["stall_likely_mm"]),
                    ("rate fault likely", r["rate_fault_likely_mm"]),
                    ("too shallow", r["too_shallow_mm"]),
                )
                if depths
            ]
            charge, rate = f"{t['battery_soc']:.0%}", f"{r['rate_hz']:g} Hz"
            rows.append([t["skin"], charge, rate, deepest, duty, f"{r['warmest_steady_c']:g}", "; ".join(risks) or "-"])
    return (
        f"<p>{escape(e['drive'])}, {e['needles']} needles; the winding trips at {e['winding_trip_c']:g} degC. Per "
        "rate: the deepest depth whose needles reach within 0.15 mm on average with no likely stall, rate fault or "
        "depth too shallow for the tissue; the continuous-duty limit per depth (minutes from a cold start to the "
        "trip); the warmest temperature the winding would settle at (above the trip it never gets there: it "
        "trips first); and the depths where a stall, a rate fault at first skin contact or too shallow a "
        "puncture is likely (penctl envelope lists the same).</p>"
        + _image("envelope-figure", images.get("envelope.png"), "the envelope per skin and charge")
        + _table(
            ["skin", "battery", "rate", "deepest accurate", "continuous duty", "would settle at degC", "risks"], rows
        )
    )


def _hazards(h: dict[str, Any], _images: dict[str, bytes]) -> str:
    rows = []
    for r in h["rows"]:
        c = r["campaign"]
        if not c["applies"]:
            found, mark = f"not applicable: {c['detail']}", '<span class="note">n/a</span>'
        else:
            found, mark = f"{c['detected'] or 'not detected'}: {c['detail']}", _mark(c["handled"])
            if c["latency_strokes"] is not None:
                found += f"; latency {c['latency_strokes']} strokes"
            if c["deepest_after_onset_mm"] is not None:
                found += f"; deepest stroke after onset {c['deepest_after_onset_mm']:g} mm"
        tests = f"{r['tests']['named']}: {r['tests']['result']}"
        rows.append([r["id"], r["hazard"], r["cause"], r["risk_control"], r["detection"], found, mark, tests])
    na = h["of"] - h["applicable"]
    summary = (
        f"Fault campaign (penctl faults) on this drive: {h['detected_and_answered']} of {h['applicable']} hazards "
        f"that apply detected and answered as the table promises; {na} not applicable (the drive has no such part)."
    )
    return f"<p>{escape(summary)}</p>" + _table(
        ["id", "hazard", "cause", "risk control", "detection", "campaign", "handled", "tests"], rows, raw_col=6
    )


def _software(s: dict[str, Any], _images: dict[str, bytes]) -> str:
    if not s["report_given"]:
        return f'<p class="fail">Incomplete: {escape(s["why"])}.</p>'
    totals = ", ".join(f"{n} {what}" for what, n in s["totals"].items())
    declared = s["declared_by_the_report"]
    failing = s["failing_tests"]
    areas = [[a["module"], a["verifies"], *_counts(a)] for a in s["areas"]]
    probes = [[p["module"], p["what"], *_counts(p)] for p in s["outside_probes"]]
    return (
        f"<p>From {escape(s['report']['file'])} (SHA-256 {escape(s['report']['sha256'])}): {escape(totals)} (the "
        f"report declares {declared.get('failures', 0)} failures and {declared.get('errors', 0)} errors); "
        f"{_mark(s['passed'])}.</p>"
        + (f"<p class=fail>Failing: {escape(', '.join(failing))}</p>" if failing else "")
        + "<h3>Per area</h3>"
        + _table(["module", "verifies", "passed", "failed", "skipped"], areas)
        + "<h3>Outside probes (written from the docs alone)</h3>"
        + _table(["module", "what", "passed", "failed", "skipped"], probes)
    )


def _depths(depth_mm: list[float] | None) -> str:
    return "the area's range" if depth_mm is None else f"{depth_mm[0]:g}-{depth_mm[1]:g} mm"


def _counts(entry: dict[str, Any]) -> list[str]:
    """Passed, failed or in error, and skipped, of one module's test cases."""
    failed = entry.get("failed", 0) + entry.get("error", 0)
    return [str(entry.get("passed", 0)), str(failed), str(entry.get("skipped", 0))]


def _labelling(lab: dict[str, Any], _images: dict[str, bytes]) -> str:
    ind = [[i["indication"], _depths(i["depth_mm"]), i["source"]] for i in lab["indications"]]
    area = [[a["area"], f"{a['depth_mm'][0]:g}-{a['depth_mm'][1]:g} mm", a["source"]] for a in lab["areas"]]
    c, (low, high) = lab["course"], lab["puncture_rate_hz"]
    sessions, weeks = c["sessions"], c["interval_weeks"]
    course = (
        f"{sessions[0]}-{sessions[1]} sessions, {weeks[0]}-{weeks[1]} weeks apart; {c['maintenance']} ({c['source']})"
    )
    facts = [
        ["typical course", course],
        ["needle length", f"{lab['needle_length_mm']:g} mm ({lab['needle_length_note']})"],
        ["maximum depth", f"{lab['max_depth_mm']:g} mm"],
        ["puncture rate", f"{low:g}-{high:g} Hz ({lab['puncture_rate_note']})"],
        ["patients", lab["patients"]],
    ]
    return (
        _table(["", ""], facts)
        + "<h3>Maximum safe depth per labelled indication</h3>"
        + _table(["indication", "depth", "source"], ind)
        + "<h3>Per area</h3>"
        + _table(["area", "depth", "source"], area)
    )


RENDERERS = {
    "device": _device,
    "accuracy": _accuracy,
    "envelope": _envelope,
    "hazards": _hazards,
    "software": _software,
    "labelling": _labelling,
}


def _table(head: list[str], rows: list[list[str]], raw_last: bool = False, raw_col: int | None = None) -> str:
    """Cells escaped, but for the column holding a pass/fail mark (already HTML); a headless table is of facts."""
    raw = len(head) - 1 if raw_last else raw_col
    if not any(head):
        return _facts(rows)
    cells = "".join(
        "<tr>" + "".join(f"<td>{c if k == raw else escape(str(c))}</td>" for k, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return "<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + f"</tr>{cells}</table>"


def _facts(rows: list[list[str]]) -> str:
    cells = "".join(f"<tr><td>{escape(str(a))}</td><td>{escape(str(b))}</td></tr>" for a, b in rows)
    return f'<table class="facts">{cells}</table>'


def _image(element_id: str, png: bytes | None, alt: str) -> str:
    if png is None:
        return f'<p class="fail" id="{element_id}">figure missing: {escape(alt)}</p>'
    data = base64.b64encode(png).decode("ascii")
    return f'<p><img id="{element_id}" alt="{escape(alt)}" src="data:image/png;base64,{data}"></p>'


def _mark(passed: bool) -> str:
    return f'<span class="{_cls(passed)}">{"pass" if passed else "FAIL"}</span>'


def _cls(passed: bool) -> str:
    return "pass" if passed else "fail"


def _text(value: object) -> str:
    return json.dumps(value) if isinstance(value, bool) or value is None else str(value)
