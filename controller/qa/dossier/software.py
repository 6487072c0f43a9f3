"""Software verification evidence: the test suite's own report (pytest's JUnit XML), counted per area.

The dossier never types a count in: it reads the report a test run wrote (``pytest --junitxml=FILE``), prints
its SHA-256 beside the figures, and groups the test cases by the module that holds them. The outside-probe
suites (clients and corpora written from the docs alone, never the code) are listed on their own. Without a
report the section says so, and the dossier is incomplete.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

from hal.errors import InputError

AREAS: dict[str, str] = {
    "test_hazards": "hazard analysis: every hazard provoked and answered",
    "test_supervisor": "stroke-loop supervisor: every limit, every stroke",
    "test_state_machine": "pen controller state machine and its guards",
    "test_watchdog": "host watchdog: only accepted requests feed it",
    "test_pen_limits": "limits the pen enforces itself",
    "test_physics": "simulated physics",
    "test_stroke_models": "compiled kernel against the reference model",
    "test_rotary": "rotary drive",
    "test_rotary_duty": "rotary drive: duty, range, envelope against passes",
    "test_envelope": "operating envelope",
    "test_verdicts": "pass verdicts: depth, tissue, rate, density",
    "test_coverage": "puncture density",
    "test_plan": "treatment plans",
    "test_clinical": "clinical rules",
    "test_clinical_rules": "clinical rules",
    "test_clinical_facts": "clinical facts: one plan per fact",
    "test_protocol": "wire protocol",
    "test_messages": "wire protocol messages",
    "test_nvm": "settings store",
    "test_settings_access": "settings access levels",
    "test_service_access": "service access",
    "test_service_lockout": "service lockout",
    "test_record_replay": "recordings",
    "test_recording_seal": "recordings: the seal",
    "test_verification_statistics": "verification statistics: tolerance intervals",
}
"""What each test module verifies (a module not listed is counted under its own name)."""

PROBE_SUITES: dict[str, str] = {
    "test_protocol_probe": "a client written from docs/protocol.md alone",
    "test_trust_probe": "trust boundaries attacked from the docs alone",
    "test_malformed_inputs": "a corpus of malformed plans, settings files and arguments",
    "test_pen_fuzz": "random CRC-valid requests of every type",
}
"""Suites written from the docs and the CLI, never the code: a stranger's view of the promises."""


def read_report(path: str | None) -> dict[str, Any]:
    """The software-verification section from a JUnit report (``None``: no report given)."""
    if path is None:
        return {
            "report": None,
            "report_given": False,
            "why": "no test report given: run `python -m pytest --junitxml=tests.xml` and pass --tests tests.xml",
        }
    try:
        data = Path(path).read_bytes()
        root = ET.fromstring(data)
    except OSError as exc:
        raise InputError(printable(path), "", "a readable pytest JUnit report (--junitxml)", exc.strerror) from None
    except ET.ParseError as exc:
        raise InputError(printable(path), "", "a pytest JUnit report (XML)", str(exc)) from None
    cases = list(root.iter("testcase"))
    if root.tag not in ("testsuites", "testsuite") or not cases:
        raise InputError(printable(path), "", "a pytest JUnit report with test cases (testsuites/testsuite/testcase)")
    outcomes = [_outcome(case) for case in cases]
    by_module: dict[str, Counter[str]] = {}
    for case, outcome in zip(cases, outcomes, strict=True):
        by_module.setdefault(_module(case), Counter())[outcome] += 1
    totals = Counter(outcomes)
    names = {f"{_module(c)}::{c.get('name', '')}": o for c, o in zip(cases, outcomes, strict=True)}
    declared = _declared(root)
    return {
        "report": {"file": printable(Path(path).name), "sha256": hashlib.sha256(data).hexdigest()},
        "report_given": True,
        "totals": dict(sorted(totals.items())),
        "declared_by_the_report": declared,
        "failing_tests": sorted(name for name, outcome in names.items() if outcome in ("failed", "error")),
        "passed": totals["failed"] == 0 and totals["error"] == 0 and not declared_more(declared, totals),
        "areas": [
            {"module": m, "verifies": AREAS.get(m, m.removeprefix("test_").replace("_", " ")), **_sorted(c)}
            for m, c in sorted(by_module.items())
            if m not in PROBE_SUITES
        ],
        "outside_probes": [
            {"module": m, "what": what, **_sorted(by_module.get(m, Counter()))} for m, what in PROBE_SUITES.items()
        ],
        "cases": names,
    }


def _declared(root: ET.Element) -> dict[str, int]:
    """The failures and errors the report's suites declare in their attributes (a report may say more than its
    cases show: a crash of the run itself, for one)."""
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total: Counter[str] = Counter()
    for suite in suites:
        for key in ("failures", "errors"):
            value = suite.get(key, "0")
            total[key] += int(value) if value.isdigit() else 0
    return dict(sorted(total.items()))


def declared_more(declared: dict[str, int], counted: Counter[str]) -> bool:
    """The suites declare more failures or errors than their cases show: the report is not whole."""
    return declared.get("failures", 0) > counted["failed"] or declared.get("errors", 0) > counted["error"]


def printable(name: str) -> str:
    """A file name as text: bytes that are not UTF-8 shown as U+FFFD rather than failing the report."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def covering(report: dict[str, Any], tests: str) -> dict[str, Any]:
    """How the tests a hazard names (``test_hazards.py::test_hazard[H02]``, several split by commas) fared: every
    named test must have run and passed (a skipped one is no evidence)."""
    if not report.get("report_given"):
        return {"named": tests, "result": "no test report", "evidence": False}
    found = []
    for name in (t.strip() for t in tests.split(",") if t.strip()):
        module, _, case = name.partition("::")
        key = f"{module.removesuffix('.py')}::{case}"
        matches = [outcome for k, outcome in report["cases"].items() if _same_test(k, key)]
        found += matches or ["not in the report"]
    counts = Counter(found)
    return {
        "named": tests,
        "result": ", ".join(f"{n} {what}" for what, n in sorted(counts.items())),
        "evidence": set(counts) == {"passed"},
    }


def _same_test(case: str, named: str) -> bool:
    """A test case is the named test or one of its parameter sets: ``test_hazard[H02]`` is also run as
    ``test_hazard[H02-voice_coil]`` and ``test_hazard[H02-rotary_cam]``; ``test_x`` covers every ``test_x[...]``."""
    if case == named:
        return True
    if named.endswith("]"):
        return case.startswith(named[:-1] + "-")
    return case.startswith(named + "[")


def _sorted(counts: Counter[str]) -> dict[str, int]:
    return dict(sorted(counts.items()))


def _module(case: ET.Element) -> str:
    """``tests.test_hazards`` (pytest's classname) -> ``test_hazards``."""
    return case.get("classname", "").split(".")[-1]


def _outcome(case: ET.Element) -> str:
    for tag, outcome in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
        if case.find(tag) is not None:
            return outcome
    return "passed"
