"""Depth and rate accuracy against the labelled tolerances, judged here from every pen a campaign ran.

The campaign file's own criteria are its author's; the dossier judges each operating point against what the
pen is labelled to do: the mean depth error within +/-0.15 mm and the rate error within the pen's
``frequency.tolerance_pct``, each as a two-sided 95 %/95 % tolerance interval (normal theory, ISO 16269-6, and
distribution-free, Wilks, where the point has the 93 pens it needs). A pen that did not complete the point (a
fault, a refusal) fails the point: it did not deliver what the label says. The campaign's own verdict is shown
beside, never instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from controller.qa.verification.tolerance import Interval, normal_interval, required_n, wilks_interval
from controller.treatment.verdict import DEPTH_ACCURACY_MM
from hal.settings import defaults

COVERAGE = CONFIDENCE = 0.95
LABELLED = (
    ("depth_error_mean_mm", "mean depth error", "mm", DEPTH_ACCURACY_MM, "Exceed, FDA K182407: +/-0.15 mm"),
    (
        "rate_error_pct",
        "rate error",
        "%",
        float(defaults()["frequency.tolerance_pct"]),
        "the pen's frequency.tolerance_pct, beyond which its supervisor faults",
    ),
)
"""(metric, what, unit, +/- band, source) of each labelled tolerance."""


def accuracy(campaign_dir: Path, summary: dict[str, Any], source: dict[str, str]) -> dict[str, Any]:
    """Per operating point: the pens, those that did not complete, and each labelled tolerance judged."""
    import pyarrow.parquet as pq

    table = pq.read_table(campaign_dir / "cases.parquet")
    cases = {name: table.column(name).to_numpy(zero_copy_only=False) for name in ("point", "strokes", "completed")}
    cases |= {metric: table.column(metric).to_numpy(zero_copy_only=False) for metric, *_ in LABELLED}
    points = [_point(k, p, cases) for k, p in enumerate(summary["points"])]
    return {
        "campaign": source,
        "labelled_tolerances": [
            {"metric": m, "what": what, "unit": unit, "band": band, "source": src}
            for m, what, unit, band, src in LABELLED
        ],
        "coverage": COVERAGE,
        "confidence": CONFIDENCE,
        "distribution_free_needs": required_n(COVERAGE, CONFIDENCE),
        "points": points,
        "passed": all(p["passed"] for p in points),
        "campaign_own_verdict": {
            "verdict": summary["verdict"],
            "criteria": sorted({c["criterion"] for p in summary["points"] for c in p["criteria"]}),
        },
    }


def _point(k: int, summary_point: dict[str, Any], cases: dict[str, np.ndarray]) -> dict[str, Any]:
    rows = cases["point"] == k
    stroked = rows & (cases["strokes"] > 0)
    pens, completed = int(rows.sum()), int((rows & cases["completed"]).sum())
    judged = [_judge(metric, what, unit, band, cases[metric][stroked]) for metric, what, unit, band, _ in LABELLED]
    return {
        "label": summary_point["label"],
        "pens": pens,
        "completed": completed,
        "faults": summary_point["faults"],
        "refused": summary_point["refused"],
        "judged": judged,
        "passed": completed == pens and all(j["passed"] for j in judged),
    }


def _judge(metric: str, what: str, unit: str, band: float, values: np.ndarray) -> dict[str, Any]:
    normal = normal_interval(values, COVERAGE, CONFIDENCE)
    free = wilks_interval(values, COVERAGE, CONFIDENCE)
    within = {name: _within(interval, band) for name, interval in (("normal", normal), ("distribution_free", free))}
    return {
        "metric": metric,
        "what": what,
        "unit": unit,
        "band": band,
        "n": len(values),
        "normal": _interval(normal),
        "distribution_free": _interval(free),
        "passed": within["normal"] is True and within["distribution_free"] is not False,
        "within": within,
    }


def _within(interval: Interval | None, band: float) -> bool | None:
    return None if interval is None else bool(-band <= interval.low and interval.high <= band)


def _interval(interval: Interval | None) -> list[float] | None:
    return None if interval is None else [round(interval.low, 6) + 0.0, round(interval.high, 6) + 0.0]
