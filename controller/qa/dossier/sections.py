"""The dossier's sections, each computed in the run that writes it: device, accuracy, envelope, hazards, labels.

Every figure comes from the product's own code (the simulated pen, the firmware, the rule tables) or from an
input named with its SHA-256; each section carries its own verdict where it has one, so a failing point shows
as failing.
"""

from __future__ import annotations

import hashlib
from typing import Any

from controller import __version__
from controller.firmware.hazards import HAZARDS, Hazard
from controller.qa.dossier.software import covering
from controller.treatment.presets import areas, indication_names, indications
from controller.treatment.rules import limit, limits
from controller.treatment.verdict import DEPTH_ACCURACY_MM
from hal.settings import SETTINGS, defaults

SKINS = ("sensitive", "normal", "thick")
BATTERIES = (0.2, 0.5, 0.9)
NEEDLES = 12


def device(drive: str, inputs: dict[str, dict[str, str]]) -> dict[str, Any]:
    """What was verified: the drive, the pen as it names itself, the versions, the settings in force, the inputs."""
    from hal.registry import open_backend

    pen = open_backend("sim", drive=drive)
    try:
        ident = pen.identify()
    finally:
        pen.close()
    return {
        "drive": drive,
        "pen_model": ident.model,
        "firmware_version": ident.firmware_version,
        "protocol_version": ident.protocol_version,
        "settings_schema_version": ident.settings_schema_version,
        "penctl_version": __version__,
        "rate_range_hz": [ident.min_frequency_hz, ident.max_frequency_hz],
        "max_depth_mm": ident.max_depth_mm,
        "settings": [{"key": s.key, "value": defaults()[s.key], "unit": s.unit, "access": s.access} for s in SETTINGS],
        "settings_source": "the simulated pen's factory defaults (a flashed pen's: penctl settings dump)",
        "inputs": inputs,
    }


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def envelope(drive: str) -> dict[str, Any]:
    """The operating envelope per skin and charge: per rate the deepest accurate depth and the continuous duty."""
    from controller.qa.envelope import STALL_MARGIN_MM
    from controller.qa.envelope import measure as measure_envelope
    from controller.treatment.verdict import STRATUM_CORNEUM_MM

    tables = []
    for skin in SKINS:
        for soc in BATTERIES:
            points = measure_envelope(skin=skin, battery_soc=soc, drive=drive, needles=NEEDLES)
            rows = []
            for hz in sorted({p.frequency_hz for p in points}):
                row = [p for p in points if p.frequency_hz == hz]
                good = [
                    p.depth_mm
                    for p in row
                    if abs(p.error_mean_mm) <= DEPTH_ACCURACY_MM
                    and not p.stall_risk
                    and not p.rate_risk
                    and p.tissue_mean_mm > STRATUM_CORNEUM_MM
                ]
                trips = {f"{p.depth_mm:g}": round(p.duty_limit_s / 60.0, 1) for p in row if p.duty_limit_s is not None}
                rows.append(
                    {
                        "rate_hz": hz,
                        "deepest_accurate_mm": max(good) if good else None,
                        "continuous": not trips,
                        "minutes_to_trip_by_depth": trips,
                        "warmest_steady_c": round(max(p.steady_temp_c for p in row), 1),
                        "stall_likely_mm": [p.depth_mm for p in row if p.stall_risk],
                        "rate_fault_likely_mm": [p.depth_mm for p in row if p.rate_risk and not p.stall_risk],
                        "too_shallow_mm": [p.depth_mm for p in row if p.tissue_mean_mm <= STRATUM_CORNEUM_MM],
                    }
                )
            tables.append({"skin": skin, "battery_soc": soc, "rates": rows})
    return {
        "drive": drive,
        "needles": NEEDLES,
        "stall_margin_mm": STALL_MARGIN_MM,
        "winding_trip_c": float(defaults()["thermal.motor_limit_c"]),
        "tables": tables,
    }


def hazards(campaign: list[dict[str, Any]], report: dict[str, Any]) -> dict[str, Any]:
    """One row per hazard of docs/hazards.md: cause, control, detection, the fault campaign's result, the tests."""
    by_id = {r["hazard"]: r for r in campaign}
    rows = [_hazard_row(h, by_id[h.id], report) for h in HAZARDS]
    return {
        "rows": rows,
        "handled": sum(bool(r["campaign"]["handled"]) for r in rows),
        "applicable": sum(bool(r["campaign"]["applies"]) for r in rows),
        "detected_and_answered": sum(bool(r["campaign"]["handled"] and r["campaign"]["applies"]) for r in rows),
        "of": len(rows),
    }


def _hazard_row(h: Hazard, r: dict[str, Any], report: dict[str, Any]) -> dict[str, Any]:
    """A hazard's row: the table's words, the campaign's result on this drive, and how its named tests fared."""
    applies = r["detected"] is not None or r["latency_strokes"] is not None or "no such part" not in r["detail"]
    deepest = r["max_depth_after_onset_mm"]
    return {
        "id": h.id,
        "hazard": h.name,
        "cause": h.cause,
        "risk_control": h.response,
        "detection": h.detection,
        "priority": str(h.priority.value),
        "campaign": {
            "scenario": r["scenario"],
            "applies": applies,
            "detected": r["detected"],
            "latency_strokes": r["latency_strokes"],
            "latency_ms": None if r["latency_ms"] is None else round(r["latency_ms"], 3),
            "deepest_after_onset_mm": None if deepest is None else round(deepest, 4),
            "handled": r["handled"],
            "detail": r["detail"],
        },
        "tests": covering(report, h.tests),
    }


def labelling(drive: str, rate_range_hz: list[float], max_depth_mm: float) -> dict[str, Any]:
    """The labelling facts 21 CFR 878.4430 asks for, from the rule tables with their sources."""
    table = limits()
    return {
        "indications": [_indication(name) for name in indication_names()],
        "areas": [
            {"area": name, "depth_mm": [r.min_depth_mm, r.max_depth_mm], "source": r.source}
            for name, r in areas().items()
        ],
        "course": {
            "sessions": [int(limit("course_sessions_low")), int(limit("course_sessions_high"))],
            "interval_weeks": [int(limit("interval_min")), int(limit("interval_max"))],
            "maintenance": table["maintenance_per_year"].text,
            "source": "; ".join(
                dict.fromkeys(table[k].source for k in ("course_sessions_high", "interval_max", "maintenance_per_year"))
            ),
        },
        "needle_length_mm": max_depth_mm,
        "needle_length_note": "the needles' greatest protrusion: the pen's hardware maximum and the cartridge rating",
        "max_depth_mm": max_depth_mm,
        "puncture_rate_hz": rate_range_hz,
        "puncture_rate_note": f"the {drive} drive's rate range (sim.drives.rate_range_hz within the pen's settings)",
        "patients": f"adults from {int(limit('min_age'))} (FDA-authorised labelling: {int(limit('fda_age'))} or older)",
    }


def _indication(name: str) -> dict[str, Any]:
    """An indication with its own depth range, or (none in the texts) the area's range applies."""
    r = indications().get(name)
    if r is not None:
        return {"indication": name, "depth_mm": [r.min_depth_mm, r.max_depth_mm], "source": r.source}
    return {
        "indication": name,
        "depth_mm": None,
        "source": "no depth of its own in the texts: the area's range applies",
    }
