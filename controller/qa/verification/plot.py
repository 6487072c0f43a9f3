"""verify.png: how each operating point's pens spread against the acceptance band, and where failures lie.

Left: per operating point, every pen's value of the first criterion's metric (a dot each), the band (shaded
green) and the criterion's tolerance interval (a bar). Right: the envelope of failures, every case plotted over
the two parameters that drive the error most (by the sensitivity ranking, or the first two varied), red where
the case itself fell outside the band: the corner of the tolerance box where pens fail.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from controller.qa.verification.campaign import Campaign

DEFAULT_METRIC = "depth_error_mean_mm"


def draw(campaign: Campaign, cases: dict[str, np.ndarray], summary: dict[str, Any], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(14, 5.5))
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    criterion = campaign.criteria[0] if campaign.criteria else None
    metric = criterion.metric if criterion else DEFAULT_METRIC
    _spread(left, campaign, cases, summary, metric)
    _failures(right, campaign, cases, summary, metric)
    fig.suptitle(
        f"{campaign.name}: {campaign.pens} pens, {len(campaign.points)} operating points, verdict "
        f"{summary['verdict'].upper()}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def _spread(ax: Any, campaign: Campaign, cases: dict[str, np.ndarray], summary: dict[str, Any], metric: str) -> None:
    jitter = np.random.default_rng(0).uniform(-0.25, 0.25, len(cases["pen"]))  # placement only, not data
    ax.scatter(cases["point"] + jitter, cases[metric], s=4, alpha=0.4, color="tab:blue", label="one pen")
    if campaign.criteria:
        c = campaign.criteria[0]
        ax.axhspan(c.low, c.high, color="tab:green", alpha=0.12, label="acceptance band")
        for k, point in enumerate(summary["points"]):
            interval = point["criteria"][0][c.method]
            if interval is not None:
                ax.plot([k, k], [interval["low"], interval["high"]], color="black", linewidth=3, alpha=0.7)
        ax.plot([], [], color="black", linewidth=3, label=f"{c.coverage:.0%}/{c.confidence:.0%} tolerance interval")
    ax.set_xticks(range(len(campaign.points)))
    ax.set_xticklabels([p.label.replace(" on ", "\n") for p in campaign.points], fontsize=7, rotation=30)
    ax.set_ylabel(metric)
    ax.legend(fontsize=8, loc="best")
    ax.set_title("each pen at each operating point")


def _failures(ax: Any, campaign: Campaign, cases: dict[str, np.ndarray], summary: dict[str, Any], metric: str) -> None:
    axes = _driving_parameters(campaign, summary)
    if len(axes) < 2:
        ax.text(0.5, 0.5, "fewer than two parameters vary", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    x, y = cases[axes[0]], cases[axes[1]]
    if campaign.criteria:
        c = campaign.criteria[0]
        outside = ~((cases[metric] >= c.low) & (cases[metric] <= c.high))
    else:
        outside = np.zeros(len(x), dtype=bool)
    ax.scatter(x[~outside], y[~outside], s=4, alpha=0.3, color="tab:blue", label="within the band")
    ax.scatter(x[outside], y[outside], s=10, color="tab:red", label=f"outside ({int(outside.sum())} cases)")
    ax.set_xlabel(axes[0])
    ax.set_ylabel(axes[1])
    ax.legend(fontsize=8, loc="best")
    ax.set_title("envelope of failures")


def _driving_parameters(campaign: Campaign, summary: dict[str, Any]) -> list[str]:
    ranking = (summary.get("sensitivity") or {}).get("ranking") or []
    names = [entry["parameter"] for entry in ranking] or list(campaign.parameters)
    return names[:2]
