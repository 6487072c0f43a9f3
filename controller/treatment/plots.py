"""``report.png``: depth reached over time and a puncture-density heat map per zone.

Drawn with matplotlib's Agg backend (no display needed) and with the
non-deterministic PNG metadata removed, so the same run draws the same file.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from controller.treatment.session import SessionResult

WINDOW_STROKES = 240
"""Strokes in the close-up window at the start of the pass."""


def plot_report(result: SessionResult, path: Path) -> None:
    """Write the report figure to ``path``."""
    zones = [z for z in result.zones if z.density is not None]
    columns = 4
    map_rows = max(1, math.ceil(len(zones) / columns))
    fig = plt.figure(figsize=(14, 5.5 + 3.2 * map_rows), dpi=90)
    grid = fig.add_gridspec(2 + map_rows, columns, height_ratios=[2.2, 2.2] + [3.0] * map_rows)

    everything = [z.telemetry for z in result.zones if len(z.telemetry)]
    overview = fig.add_subplot(grid[0, :])
    window = fig.add_subplot(grid[1, :])
    if everything:
        tel = np.concatenate(everything)
        t = tel["t_s"]
        overview.plot(t, tel["depth_mm"], ".", ms=1.5, color="tab:blue", label="reached", rasterized=True)
        overview.step(t, tel["depth_cmd_mm"], where="post", color="black", lw=1.0, label="commanded")
        for fault in result.faults:
            overview.axvline(fault.t_s, color="tab:red", lw=1.0)
        overview.set_ylabel("depth (mm)")
        overview.set_title(f"{result.plan.name}: depth per stroke over the whole pass ({result.outcome})")
        overview.legend(loc="upper right", fontsize=8)
        part = tel[:WINDOW_STROKES]
        window.plot(part["t_s"], part["depth_cmd_mm"], color="black", lw=1.0, label="commanded")
        window.plot(part["t_s"], part["depth_mm"], "o-", ms=2.5, lw=0.6, color="tab:blue", label="reached")
        window.set_title(f"first {len(part)} strokes")
        window.set_xlabel("pen time (s)")
        window.set_ylabel("depth (mm)")
        window.legend(loc="lower right", fontsize=8)

    for k, zone in enumerate(zones):
        ax = fig.add_subplot(grid[2 + k // columns, k % columns])
        d = zone.density
        assert d is not None
        image = ax.imshow(
            d.per_cm2,
            cmap="viridis",
            origin="upper",
            vmin=0.0,
            extent=(0.0, d.per_cm2.shape[1] * d.cell_width_mm, d.per_cm2.shape[0] * d.cell_height_mm, 0.0),
        )
        under, over = d.outside(zone.zone.target_density_per_cm2)
        for cells, marker, colour, label in ((under, "v", "white", "under target"), (over, "^", "red", "over target")):
            rows, cols = np.nonzero(cells)
            ax.plot(
                (cols + 0.5) * d.cell_width_mm,
                (rows + 0.5) * d.cell_height_mm,
                marker,
                ms=2.5,
                color=colour,
                label=label,
            )
        lo, hi = zone.zone.target_density_per_cm2
        ax.set_title(
            f"{zone.zone.area}: mean {d.stats()['mean']:.0f}/cm2 (target {lo:.0f}-{hi:.0f})\n"
            f"{int(under.sum())} cells under, {int(over.sum())} over",
            fontsize=8,
        )
        ax.set_xlabel("mm", fontsize=8)
        ax.tick_params(labelsize=7)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04).set_label("punctures/cm2", fontsize=7)
    if zones:
        fig.axes[2].legend(loc="lower right", fontsize=6, markerscale=1.5, framealpha=0.6)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
