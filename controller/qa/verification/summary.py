"""summary.json: per operating point and overall, the statistics, tolerance intervals and criteria verdicts.

Everything in it is computed from the case rows in their fixed order, with no clock, host or worker count in
it, so the same campaign gives the same bytes on any engine. A criterion passes at a point when the tolerance
interval of its method lies inside its band; its margin is how far inside (negative: how far outside). Overall
it passes when it passes at every point, with the smallest margin. Cases where the pen did not stroke (the
firmware refused to start, say on a flat battery) carry no error to judge; they are counted, never dropped
silently, and so are the faults the firmware latched.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np

from controller.qa.verification.campaign import METRICS, Campaign, Criterion
from controller.qa.verification.tolerance import (
    Interval,
    normal_interval,
    required_n,
    shapiro_p,
    wilks_interval,
)

DECIMALS = 6
"""Figures are rounded to 1e-6 (a nanometre in mm): far below what any of them is known to."""


def summarise(campaign: Campaign, cases: dict[str, np.ndarray], sensitivity: dict[str, Any] | None) -> dict[str, Any]:
    """``cases``: the columns of cases.parquet."""
    points = [_point_summary(campaign, k, cases) for k in range(len(campaign.points))]
    overall = _overall(campaign, points, cases)
    return {
        "campaign": {
            "name": campaign.name,
            "sha256": campaign.digest,
            "seed": campaign.seed,
            "drive": campaign.drive,
            "pens": campaign.pens,
            "seconds_per_point": campaign.seconds,
            "varied": list(campaign.parameters),
            "cases": len(cases["pen"]),
        },
        "verdict": "pass" if all(c["pass"] for c in overall["criteria"]) else "fail",
        "overall": overall,
        "points": points,
        "sensitivity": sensitivity,
    }


def _point_summary(campaign: Campaign, k: int, cases: dict[str, np.ndarray]) -> dict[str, Any]:
    point = campaign.points[k]
    rows = cases["point"] == k
    stroked = rows & (cases["strokes"] > 0)
    return {
        "point": k,
        "label": point.label,
        "depth_mm": point.depth_mm,
        "frequency_hz": point.frequency_hz,
        "skin": point.skin,
        **_counts(cases, rows),
        "metrics": {name: _describe(cases[name][stroked]) for name in METRICS},
        "criteria": [_judge(c, cases[c.metric][stroked]) for c in campaign.criteria],
    }


def _counts(cases: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, Any]:
    faults = Counter(kind for text in cases["faults"][rows] for kind in str(text).split(",") if kind)
    return {
        "cases": int(rows.sum()),
        "stroked": int((rows & (cases["strokes"] > 0)).sum()),
        "completed": int((rows & cases["completed"]).sum()),
        "refused": int((rows & (cases["refusal"] != "")).sum()),
        "faults": dict(sorted(faults.items())),
        "shortfall_strokes": int(cases["shortfall_strokes"][rows].sum()),
    }


def _describe(values: np.ndarray) -> dict[str, Any]:
    if len(values) == 0:
        return {"n": 0}
    return {
        "n": len(values),
        "mean": _r(values.mean()),
        "sd": _r(values.std(ddof=1)) if len(values) > 1 else None,
        "min": _r(values.min()),
        "max": _r(values.max()),
        "shapiro_wilk_p": _r(p) if (p := shapiro_p(values)) is not None else None,
    }


def _judge(criterion: Criterion, values: np.ndarray) -> dict[str, Any]:
    """The criterion at one point: both intervals, and the verdict by the criterion's method."""
    c = criterion
    normal = normal_interval(values, c.coverage, c.confidence)
    free = wilks_interval(values, c.coverage, c.confidence)
    chosen = normal if c.method == "normal" else free
    margin = None if chosen is None else min(c.high - chosen.high, chosen.low - c.low)
    verdict: dict[str, Any] = {
        "criterion": c.label,
        "pass": margin is not None and margin >= 0.0,
        "margin": _r(margin) if margin is not None else None,
        "normal": _interval(normal),
        "distribution_free": _interval(free),
        "distribution_free_needs_n": required_n(c.coverage, c.confidence),
    }
    if chosen is None:
        verdict["why"] = (
            f"{len(values)} stroked cases: the {c.method.replace('_', '-')} interval needs at least "
            f"{2 if c.method == 'normal' else required_n(c.coverage, c.confidence)}"
        )
    return verdict


def _interval(interval: Interval | None) -> dict[str, Any] | None:
    if interval is None:
        return None
    return {"low": _r(interval.low), "high": _r(interval.high), "detail": interval.detail}


def _overall(campaign: Campaign, points: list[dict[str, Any]], cases: dict[str, np.ndarray]) -> dict[str, Any]:
    everything = np.ones(len(cases["pen"]), dtype=bool)
    stroked = cases["strokes"] > 0
    criteria = []
    for j, criterion in enumerate(campaign.criteria):
        verdicts = [p["criteria"][j] for p in points]
        margins = [v["margin"] for v in verdicts]
        worst = min(range(len(points)), key=lambda k: -math.inf if margins[k] is None else margins[k])
        criteria.append(
            {
                "criterion": criterion.label,
                "pass": all(v["pass"] for v in verdicts),
                "margin": margins[worst],
                "worst_point": points[worst]["label"],
                "points_passed": sum(v["pass"] for v in verdicts),
                "points": len(points),
            }
        )
    return {
        **_counts(cases, everything),
        "metrics": {name: _describe(cases[name][stroked]) for name in METRICS},
        "criteria": criteria,
    }


def _r(value: float | np.floating[Any]) -> float | None:
    value = float(value)
    return round(value, DECIMALS) if math.isfinite(value) else None
