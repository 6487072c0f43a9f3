"""Which tolerances drive the error: Sobol' indices of a metric over the campaign's varied parameters (SALib).

The pens are SALib's Saltelli/Sobol' sample over the parameters' quantiles (0..1 each, mapped through each
parameter's own distribution, so a normal tolerance is sampled as normal). Every sample pen strokes each
operating point with the same noise (common random numbers: one seed per point for the whole analysis), so the
metric is a function of the parameters alone, as Sobol' analysis assumes. First-order indices (S1) say how much
of the metric's variance one parameter causes alone; total indices (ST) add what it causes with the others.
Confidence intervals come from SALib's bootstrap, seeded from the campaign.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from controller.qa.verification.campaign import Campaign
from controller.qa.verification.cases import build_from_quantiles, run_case

SENSITIVITY_KEY = 2**31
"""The spawn key of the analysis' own seeds, far from any pen's number."""


def problem(campaign: Campaign) -> dict[str, Any]:
    names = list(campaign.parameters)
    return {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}


def quantiles(campaign: Campaign) -> np.ndarray:
    """SALib's sample, one row per evaluation: N * (D + 2) rows without second-order terms."""
    from SALib.sample import sobol

    assert campaign.sensitivity is not None
    return np.asarray(
        sobol.sample(problem(campaign), campaign.sensitivity.samples, calc_second_order=False, seed=_seed(campaign))
    )


def evaluations(campaign: Campaign) -> int:
    if campaign.sensitivity is None or len(campaign.parameters) < 2:
        return 0
    return campaign.sensitivity.samples * (len(campaign.parameters) + 2)


def run_sobol_chunk(campaign: Campaign, chunk: int) -> list[dict[str, Any]]:
    """The metric at every point for the sample rows of ``chunk`` (chunks as large as the campaign's)."""
    spec = campaign.sensitivity
    assert spec is not None
    rows = range(chunk * campaign.chunk_pens, min(evaluations(campaign), (chunk + 1) * campaign.chunk_pens))
    u = quantiles(campaign)[rows.start : rows.stop]
    seeds = np.random.SeedSequence(campaign.seed, spawn_key=(SENSITIVITY_KEY,)).spawn(len(campaign.points))
    out = []
    for row, build in zip(rows, build_from_quantiles(campaign, u), strict=True):
        for k, point in enumerate(campaign.points):
            result = run_case(build, point, spec.seconds, campaign.cartridge, seeds[k], campaign.drive)
            out.append({"sample": row, "point": k, "value": getattr(result, spec.metric)})
    return out


def analyse(campaign: Campaign, values: np.ndarray) -> dict[str, Any]:
    """Indices per point (``values``: samples x points) and the parameters ranked by their mean total index."""
    from SALib.analyze import sobol

    spec = campaign.sensitivity
    assert spec is not None
    names = list(campaign.parameters)
    per_point, totals = [], []
    for k, point in enumerate(campaign.points):
        y = values[:, k]
        entry: dict[str, Any] = {"point": k, "label": point.label}
        if not np.isfinite(y).all():
            entry["not_computed"] = f"{int((~np.isfinite(y)).sum())} sample pens did not stroke at this point"
        elif float(np.ptp(y)) == 0.0:
            entry["not_computed"] = "the metric does not vary at this point"
        else:
            found = sobol.analyze(problem(campaign), y, calc_second_order=False, seed=_seed(campaign))
            entry["indices"] = {
                name: {key: _rounded(found[key][j]) for key in ("S1", "S1_conf", "ST", "ST_conf")}
                for j, name in enumerate(names)
            }
            totals.append([float(found["ST"][j]) for j in range(len(names))])
        per_point.append(entry)
    ranking = []
    if totals:
        mean_st = np.mean(np.asarray(totals), axis=0)
        order = sorted(range(len(names)), key=lambda j: (-mean_st[j], names[j]))
        ranking = [{"parameter": names[j], "mean_ST": _rounded(mean_st[j])} for j in order]
    return {
        "metric": spec.metric,
        "method": "Sobol' indices (Saltelli 2010 estimators, SALib), first order and total",
        "base_samples": spec.samples,
        "evaluations_per_point": evaluations(campaign),
        "seconds_per_evaluation": spec.seconds,
        "points": per_point,
        "ranking": ranking,
    }


def _seed(campaign: Campaign) -> int:
    return campaign.seed % 2**32


def _rounded(value: float) -> float | None:
    """Six decimals: the indices' own bootstrap error is far larger; None where SALib gives no number."""
    value = float(value)
    return round(value, 6) if math.isfinite(value) else None
