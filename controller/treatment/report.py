"""The treatment report: what the pen was asked for, what it delivered, and what went wrong.

``report.json`` holds, per zone and in total: strokes, punctures, commanded and
reached depth (mean, mean error, largest absolute error), stroke-rate error,
duration, puncture density (mean, p5, p95 per cm2 over the fine 2.5 mm cells), the
coverage (the target band judged on cells of about 1 cm2, where counting noise is
about +/-6 % rather than the +/-25 % of a 2.5 mm cell: the cells under and over it,
row and column), the stroke flags counted, the faults and the state-transition log
with simulated timestamps. Numbers are rounded to fixed decimals and nothing
depends on the wall clock or the machine, so the same plan and seed give the same
bytes.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import numpy as np

from controller.treatment.aftercare import expected_course, instructions, practice_list, side_effect_list
from controller.treatment.coverage import JudgedCells
from controller.treatment.fault_outcome import fault_outcomes
from controller.treatment.next_session import next_session
from controller.treatment.presets import areas
from controller.treatment.provenance import provenance
from controller.treatment.rules import yearly_max
from controller.treatment.screening import FDA_MIN_AGE, yearly_counts
from controller.treatment.session import SessionResult, ZoneResult, shortfall_mm
from controller.treatment.verdict import ZoneVerdict, pass_verdict_json, zone_verdict_json
from hal.settings import BY_KEY as SETTING
from hal.telemetry import PEN_TICK_HZ, StrokeFlag, Telemetry, period_ticks

REPORT_FORMAT = "penctl-report/1"
DECIMALS = 6


def _r(value: float) -> float:
    return round(float(value), DECIMALS) + 0.0  # + 0.0: never -0.0 in report.json


def _delivery(tel: Telemetry, needles: int, commanded_hz: float | None) -> dict[str, Any]:
    """Depth and rate figures over a set of strokes."""
    n = len(tel)
    contact = (tel["flags"] & StrokeFlag.CONTACT) != 0
    punctured = (tel["flags"] & StrokeFlag.PUNCTURED) != 0
    out: dict[str, Any] = {"strokes": n, "punctures": int(punctured.sum()) * needles}
    if n == 0:
        out.update(depth=None, stroke_rate=None, duration_s=0.0)
        return out
    cmd = tel["depth_cmd_mm"].astype(np.float64)
    reached = tel["depth_mm"].astype(np.float64)
    error = reached - cmd
    periods = period_ticks(tel) / PEN_TICK_HZ  # whole ticks of the pen's timer: durations add up exactly
    out["depth"] = {
        "measures": "protrusion: the needle tips past the skin's resting surface, as the pen's depth sensor reads it",
        "commanded_mean_mm": _r(cmd.mean()),
        "reached_mean_mm": _r(reached.mean()),
        "reached_min_mm": _r(reached.min()),
        "reached_max_mm": _r(reached.max()),
        "error_mean_mm": _r(error.mean()),
        "error_max_abs_mm": _r(np.abs(error).max()),
    }
    # What the skin received: the needles' protrusion less the skin's tent before they punctured it, and the
    # force the skin put on them at their deepest (it rises with stiffer skin).
    penetration = tel["penetration_mm"][punctured].astype(np.float64)
    load = tel["load_n"][contact].astype(np.float64)
    out["tissue"] = {
        "measures": "penetration: the tips past the tented, punctured surface (the simulated skin; no pen senses it)",
        "penetration_mean_mm": _r(penetration.mean()) if len(penetration) else 0.0,
        "penetration_max_mm": _r(penetration.max()) if len(penetration) else 0.0,
        "punctured_strokes": int(punctured.sum()),
        "load_mean_n": _r(load.mean()) if len(load) else 0.0,
        "load_max_n": _r(load.max()) if len(load) else 0.0,
    }
    measured_hz = n / periods.sum()
    rate: dict[str, Any] = {"measured_hz": _r(measured_hz)}
    if commanded_hz is not None:
        rate["commanded_hz"] = _r(commanded_hz)
        rate["error_pct"] = _r(100.0 * (measured_hz - commanded_hz) / commanded_hz)
    out["stroke_rate"] = rate
    out["duration_s"] = _r(periods.sum())
    out["flags"] = {str(flag.name).lower(): int(np.count_nonzero(tel["flags"] & flag)) for flag in StrokeFlag}
    return out


def _zone(result: ZoneResult, needles: int, verdict: ZoneVerdict) -> dict[str, Any]:
    z = result.zone
    entry: dict[str, Any] = {
        "index": result.index,
        "area": z.area,
        "skin": z.skin,
        "commanded": {"depth_mm": _r(z.depth_mm), "frequency_hz": _r(z.frequency_hz)},
        "depth_limit": (
            {"depth_mm": _r(result.depth_limit.depth_mm), "owner": result.depth_limit.owner}
            if result.depth_limit
            else None
        ),
        "area_cm2": _r(z.area_cm2),
        "speed_mm_s": _r(z.speed_mm_s),
        "planned_strokes": result.planned_strokes,
        "completed": result.completed,
        "refusal": result.refusal,
        "started_s": _r(result.started_s),
        "ended_s": _r(result.ended_s),
        "verdict": zone_verdict_json(verdict, _r),
    }
    entry.update(_delivery(result.telemetry, needles, z.frequency_hz))
    if result.pen_reading_mm is not None and entry["depth"] is not None:
        reading = result.pen_reading_mm.astype(np.float64)
        entry["depth"]["measures"] = (
            "protrusion: the needle tips past the skin's resting surface, as a bench gauge reads it: the pen's own "
            "reading plus its depth.calibration_offset_mm (a simulated pen is built to its drawing, so the offset "
            "is all its reading's error; controller/treatment/gauge.py)"
        )
        entry["depth"]["pen_reading_mean_mm"] = _r(reading.mean())
    short = shortfall_mm(result)
    entry["short_of_depth_mm"] = None if short is None else _r(short)
    if z.indication:
        entry["indication"] = z.indication
    entry["depth_source"] = "presets (area, indication, skin)" if z.default_depth else "plan"
    if z.override_reason:
        area_max = areas()[z.area].max_depth_mm
        entry["override"] = {
            "depth_mm": _r(z.depth_mm),
            "reason": z.override_reason,
            "lifted": f"the {z.area} area's clinical maximum of {area_max:g} mm",
            "still_binding": "the pen's depth maximum and the cartridge's rating",
        }
    if result.density is not None:
        d = result.density
        entry["density_per_cm2"] = {k: _r(v) for k, v in d.stats().items()} | {
            "cell_mm": [_r(d.cell_width_mm), _r(d.cell_height_mm)],
            "punctures_outside_zone": d.punctures_outside,
        }
        entry["coverage"] = _coverage(d.judged(), z.target_density_per_cm2)
    return entry


def _coverage(judged: JudgedCells, target: tuple[float, float]) -> dict[str, Any]:
    """The target band judged on cells of about 1 cm2 (why not on the fine map: coverage.JUDGED_CELL_MM)."""
    under, over = judged.outside(target)
    cells = int(judged.per_cm2.size)
    return {
        "target_per_cm2": [_r(v) for v in target],
        "cell_mm": [_r(v) for v in judged.cell_mm],
        "cells": cells,
        "per_cm2_min": _r(judged.per_cm2.min()),
        "per_cm2_max": _r(judged.per_cm2.max()),
        "under": {"count": int(under.sum()), "fraction": _r(under.sum() / cells), "cells": np.argwhere(under).tolist()},
        "over": {"count": int(over.sum()), "fraction": _r(over.sum() / cells), "cells": np.argwhere(over).tolist()},
    }


def _clinical(result: SessionResult) -> dict[str, Any]:
    """Screening, overrides, anaesthetic wait, after-care and the expected course."""
    plan = result.plan
    screening = plan.screening
    overrides = [
        {
            "zone": z.index,
            "area": z.zone.area,
            "depth_mm": _r(z.zone.depth_mm),
            "area_max_mm": _r(areas()[z.zone.area].max_depth_mm),
            "reason": z.zone.override_reason,
        }
        for z in result.zones
        if z.zone.override_reason
    ]
    if plan.interval_override_reason and screening and screening.interval:
        overrides.append(
            {
                "rule": " and ".join(dict.fromkeys(_overridden(f.rule) for f in screening.interval)),
                "findings": [f.text for f in screening.interval],
                "reason": plan.interval_override_reason,
            }
        )
    patient = plan.patient
    ran = result.ran  # nothing clinical is said of a session whose needles never moved
    return {
        "session_ran": ran,
        "screening": None
        if patient is None
        else {
            "patient": patient.id,
            "session_date": plan.start.date().isoformat() if plan.start else None,
            "hard_stops": [],
            "cautions": [
                {"key": f.key, "text": f.text, "source": f.source} for f in (screening.cautions if screening else [])
            ],
            "sessions_in_365_days": _yearly(result),
            "minimum_age_note": f"minimum age {int(SETTING['patient.min_age_years'].default)} by default "
            f"(clinic texts); FDA-authorised labelling: {FDA_MIN_AGE} or older",
        },
        "overrides": overrides,
        "cautions": [{"key": f.key, "rule": f.rule, "text": f.text, "source": f.source} for f in plan.cautions],
        "anaesthetic_wait_s": _r(result.anaesthetic_wait_s),
        "aftercare": instructions() if ran else [],
        "side_effects": side_effect_list() if ran else [],
        "expected_course": expected_course() if ran else None,
        "practice": practice_list(),
        "session_date": plan.start.date().isoformat() if plan.start else None,
        "next_session": next_session(result) if ran else None,
    }


def _yearly(result: SessionResult) -> dict[str, Any]:
    """Per indication of this session: sessions in the 365 days up to it (this one included) and the maximum."""
    plan, patient = result.plan, result.plan.patient
    if patient is None or plan.start is None:
        return {}
    wanted = frozenset(z.indication for z in plan.zones if z.indication)
    return {
        indication: {"count": len(before) + 1, "maximum": yearly_max(indication)}
        for indication, before in yearly_counts(patient, plan.start.date(), wanted).items()
    }


def _overridden(rule: str) -> str:
    """What an interval finding's rule is called where the summary names an override."""
    if rule.startswith("yearly_max:"):
        return f"yearly maximum for {rule.split(':', 1)[1].replace('_', ' ')}"
    return "course interval"


def build_report(result: SessionResult, overrides: dict[str, str] | None = None) -> dict[str, Any]:
    """The report as plain data (see the module docstring); ``overrides``: the command line's, by option name."""
    from controller import __version__

    zones = [_zone(z, result.needles, v) for z, v in zip(result.zones, result.verdicts, strict=True)]
    tel = [z.telemetry for z in result.zones if len(z.telemetry)]
    all_tel = np.concatenate(tel) if tel else result.zones[0].telemetry[:0]
    total = _delivery(all_tel, result.needles, None)
    rated = [z for z in zones if z.get("stroke_rate") and "error_pct" in z["stroke_rate"]]
    if rated:
        weights = np.array([z["strokes"] for z in rated], dtype=np.float64)
        errors = np.array([z["stroke_rate"]["error_pct"] for z in rated])
        total["stroke_rate"]["error_pct"] = _r((weights * errors).sum() / weights.sum())
        total["stroke_rate"]["error_max_abs_pct"] = _r(np.abs(errors).max())
    densities = [z["density_per_cm2"]["mean"] for z in zones if "density_per_cm2" in z]
    if densities:
        total["density_per_cm2"] = {"zone_mean_min": min(densities), "zone_mean_max": max(densities)}
    return {
        "format": REPORT_FORMAT,
        "software": {"penctl": __version__},
        "plan": {
            "name": result.plan.name,
            "source": result.plan.source,
            "sha256": result.plan.sha256,
            "toml": result.plan.text,
        },
        "seed": result.seed,
        "world": provenance(result, overrides or {}, _r),
        "pen": asdict(result.identity) if result.identity else None,
        "cartridge": asdict(result.plan.cartridge),
        "outcome": result.outcome,
        "verdict": pass_verdict_json(
            result.outcome, result.pen_outcome, result.verdicts, [z.zone.area for z in result.zones]
        ),
        "total": total,
        "zones": zones,
        "faults": [{k: (_r(v) if isinstance(v, float) else v) for k, v in asdict(f).items()} for f in result.faults],
        "alarms": [
            {
                "t_s": _r(a.t_s),
                "kind": a.kind,
                "hazard": a.hazard,
                "priority": str(a.priority),
                "message": a.message,
                "value": _r(a.value),
                "limit": _r(a.limit),
                "stroke": a.stroke,
                "active_at_end": a.active,
            }
            for a in result.alarms
        ],
        "injected_faults": [_rounded(asdict(o)) for o in fault_outcomes(result)],
        "final_state": result.final_state,
        "clinical": _clinical(result),
        "transitions": [
            {"t_s": _r(t.t_s), "trigger": t.trigger, "from": t.source, "to": t.dest, "reason": t.reason}
            for t in result.transitions
        ],
    }


def _rounded(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: (_r(v) if isinstance(v, float) else v) for k, v in entry.items()}


def report_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, allow_nan=False) + "\n"
