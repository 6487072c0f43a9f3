"""``report.png``: the pass on one page, for a QA engineer to judge at a glance.

- Depth per stroke over the whole pass, on the zones it went through (bands, area and depth):
  the needles' protrusion (what the pen measures) and, beside it, how far they went into the
  tissue, with each zone's applicable depth limit, the faults and alarms (time and kind), and the
  commanded depth as a line that stops where the pen did not stroke (between zones, pauses).
- The first strokes close up, where the servo settles.
- The skin's load on the needles and the winding temperature over the pass, with the winding's
  limit: what decides whether the drive can last the session.
- A density heat map per zone, all on one colour scale (one colorbar: the same colour is the
  same density in every zone), with the cells of about 1 cm2 the target band is judged on
  drawn over the fine map and marked when under or over.
- Seed, penctl version and the plan's SHA-256, so the picture names the run it shows.

Drawn with matplotlib's object API (``Figure`` on an Agg canvas): no pyplot, no global state,
no display, and no layout engine, whose repeated text measuring cost more than the drawing. The
non-deterministic PNG metadata is removed, so the same run draws the same file. matplotlib is
imported here only; the CLI imports this module when it draws.

The page is two figures of the same width, drawn apart and stacked: the lines above (:class:`Upper`),
the maps below (:class:`Lower`). Each part is laid out before there is a pass to draw, and the two
are drawn at the same time in two processes (:mod:`controller.treatment.painter`): drawing was the
last step a user waited for.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.transforms import blended_transform_factory
from numpy.typing import NDArray

from controller.treatment.labels import identity, legend_above, overview_title, title
from controller.treatment.raster import DPI, encode_png, pixels
from controller.treatment.session import SessionResult, ZoneResult
from hal.telemetry import StrokeFlag

WINDOW_STROKES = 240
"""Strokes in the close-up window at the start of the pass."""
MAP_COLUMNS = 4
PAUSE_PERIODS = 3.0
"""A gap between strokes longer than this many stroke periods is a pause: the commanded line breaks."""
CMAP = "RdBu_r"
"""Diverging around the middle of the target band: white is on target, blue too few, red too many."""
BAND_COLOURS = ("#e8eef7", "#f4f4f4")
UNDER_THE_DATA = 1.5
"""The z-order of the fault and alarm lines and labels, and of the density maps' legend: under the data (lines,
points and cell marks are drawn at 2), so none hides a stroke or a judged cell; where they meet, the data show
through. An outside probe found an over-depth fault's stroke under its own label and judged cells under the
legend. The line plots' legends are above their axes, beside the title, where they hide nothing."""


UPPER_HEIGHT_IN = 7.4
"""The upper part: depth over the pass, the first strokes, load and winding."""
MAP_ROW_IN = 3.0
LOWER_MARGINS_IN = (0.75, 0.45)
"""Above the first row of maps (their two-line titles) and below the last (the identity line)."""
WIDTH_IN = 14.0
TICKS_MADE_AHEAD = {"x": 12, "y": 9}
"""Tick marks made with the layout, before there is a pass, per axis (matplotlib makes more if a pass needs more):
making one costs about as much as drawing it. The built-in plan's axes use up to 11 and 8."""


@dataclass(frozen=True, kw_only=True)
class Upper:
    """The upper part's figure and axes, laid out before there is a pass to draw (the painter does it early)."""

    figure: Figure
    overview: Any
    window: Any
    strain: Any
    winding: Any
    """The strain panel's twin (right) axis: the winding temperature."""


@dataclass(frozen=True, kw_only=True)
class Lower:
    """The lower part's figure and one axes per density map."""

    figure: Figure
    maps: list[Any]


def plot_report(result: SessionResult, path: Path) -> None:
    """Write the report figure to ``path``."""
    path.write_bytes(report_png(result))


def report_png(result: SessionResult) -> bytes:
    """The report figure as PNG bytes: the upper and lower parts drawn one after the other, stacked.

    :class:`controller.treatment.painter.ReportPainter` draws the two parts in two processes at the same
    time, with these same functions, and stacks them the same way: the same bytes either way.
    """
    return encode_png([draw_upper(upper_layout(), result), draw_lower(lower_layout(len(mapped(result))), result)])


def mapped(result: SessionResult) -> list[ZoneResult]:
    """The zones that have a density map (the zones that ran)."""
    return [z for z in result.zones if z.density is not None]


def upper_layout() -> Upper:
    fig = Figure(figsize=(WIDTH_IN, UPPER_HEIGHT_IN), dpi=DPI)
    FigureCanvasAgg(fig)
    rows = fig.add_gridspec(
        3, 1, height_ratios=[2.4, 1.6, 1.6], hspace=0.48, left=0.05, right=0.91, top=0.95, bottom=0.07
    )
    strain = fig.add_subplot(rows[2])
    layout = Upper(
        figure=fig,
        overview=fig.add_subplot(rows[0]),
        window=fig.add_subplot(rows[1]),
        strain=strain,
        winding=strain.twinx(),
    )
    for axis in (*_both(layout.overview), *_both(layout.window), *_both(layout.strain), layout.winding.yaxis):
        axis.get_major_ticks(TICKS_MADE_AHEAD[axis.axis_name])
    return layout


def _both(ax: Any) -> tuple[Any, Any]:
    return ax.xaxis, ax.yaxis


def lower_layout(maps: int) -> Lower:
    rows = max(1, math.ceil(maps / MAP_COLUMNS))
    above, below = LOWER_MARGINS_IN
    height = above + below + MAP_ROW_IN * rows
    fig = Figure(figsize=(WIDTH_IN, height), dpi=DPI)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(
        rows,
        MAP_COLUMNS,
        hspace=0.38,
        wspace=0.22,
        left=0.05,
        right=0.91,
        top=1.0 - above / height,
        bottom=below / height,
    )
    return Lower(figure=fig, maps=[fig.add_subplot(grid[k // MAP_COLUMNS, k % MAP_COLUMNS]) for k in range(maps)])


def draw_upper(layout: Upper, result: SessionResult) -> NDArray[np.uint8]:
    """The upper part's pixels (RGBA rows)."""
    everything = [z.telemetry for z in result.zones if len(z.telemetry)]
    if everything:
        tel = np.concatenate(everything)
        _depth_overview(layout.overview, result, tel)
        _first_strokes(layout.window, tel[:WINDOW_STROKES], commanded_line(result.zones))
        _load_and_winding(layout.strain, layout.winding, result, tel)
    else:  # the pen never stroked (a failed self-test, say): the faults and alarms that stopped it
        marks = [f"FAULT {f.kind} at {f.t_s:.3f} s" for f in result.faults]
        marks += [f"alarm {a.kind} at {a.t_s:.3f} s" for a in result.alarms]
        for ax in (layout.overview, layout.window, layout.strain):
            ax.text(0.5, 0.5, "\n".join([f"no stroke ({result.outcome})", *marks]), transform=ax.transAxes,
                    ha="center", va="center", fontsize=9, color="tab:red" if result.faults else "black")  # fmt: skip
        layout.winding.set_visible(False)
    overview_title(layout.overview, result)
    return pixels(layout.figure)


def draw_lower(layout: Lower, result: SessionResult) -> NDArray[np.uint8]:
    """The lower part's pixels: a density map per zone that ran, and the line naming the run."""
    zones = mapped(result)
    if zones:
        _density_maps(layout.figure, layout.maps, zones)
    identity(layout.figure, result)
    return pixels(layout.figure)


def _broken(t: NDArray[Any], y: NDArray[Any]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``t``, ``y`` of one zone with a NaN wherever its strokes stop for a few periods (a pause)."""
    t = np.asarray(t, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if len(t) < 2:
        return t, y
    step = np.diff(t)
    gaps = np.flatnonzero(step > PAUSE_PERIODS * np.median(step)) + 1
    return np.insert(t, gaps, np.nan), np.insert(y, gaps, np.nan)


def commanded_line(zones: Sequence[ZoneResult]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The commanded depth per stroke as one line that breaks (NaN) between zones and at pauses.

    A line drawn straight through would show a commanded depth where the pen was still, and
    join the depths of two zones with a slope nobody commanded. Pauses are judged within a
    zone, on its own stroke period, so a slow zone next to a fast one is not cut at every stroke.
    """
    parts: list[NDArray[np.float64]] = []
    values: list[NDArray[np.float64]] = []
    for z in zones:
        if not len(z.telemetry):
            continue
        t, y = _broken(z.telemetry["t_s"], z.telemetry["depth_cmd_mm"])
        parts += [t, np.array([np.nan])]
        values += [y, np.array([np.nan])]
    if not parts:
        return np.empty(0), np.empty(0)
    return np.concatenate(parts[:-1]), np.concatenate(values[:-1])


def _zone_bands(ax: Any, zones: Sequence[ZoneResult]) -> None:
    """Shade each zone's time span, name it, and draw its applicable depth limit."""
    top = blended_transform_factory(ax.transData, ax.transAxes)
    limit_label = "applicable depth limit"
    for k, z in enumerate(zones):
        if z.ended_s <= z.started_s:
            continue
        ax.axvspan(z.started_s, z.ended_s, color=BAND_COLOURS[k % 2], zorder=0)
        ax.text(
            (z.started_s + z.ended_s) / 2,
            0.97,
            f"{z.zone.area}\n{z.zone.depth_mm:g} mm",
            transform=top,
            ha="center",
            va="top",
            fontsize=7,
        )
        if z.depth_limit is not None:
            ax.hlines(z.depth_limit.depth_mm, z.started_s, z.ended_s, colors="tab:red", linestyles="--", lw=1.0)
            ax.plot([], [], "--", color="tab:red", lw=1.0, label=limit_label)
            limit_label = "_"


def _events(ax: Any, result: SessionResult) -> None:
    """Faults (red) and alarms (orange) as vertical lines labelled with their time and kind."""
    top = blended_transform_factory(ax.transData, ax.transAxes)
    marks = [(f.t_s, f"FAULT {f.kind}", "tab:red", "-") for f in result.faults]
    marks += [(a.t_s, f"alarm {a.kind}", "tab:orange", ":") for a in result.alarms]
    for t_s, kind, colour, style in marks:
        ax.axvline(t_s, color=colour, ls=style, lw=1.2, zorder=UNDER_THE_DATA)
        ax.text(
            t_s,
            0.84,
            f"{kind} at {t_s:.3f} s",
            transform=top,
            rotation=90,
            va="top",
            ha="right",
            fontsize=7,
            color=colour,
            bbox={"facecolor": "white", "edgecolor": colour, "pad": 1.5, "alpha": 0.9},
            zorder=UNDER_THE_DATA,
        )


def _depth_overview(ax: Any, result: SessionResult, tel: NDArray[Any]) -> None:
    _zone_bands(ax, result.zones)
    ax.plot(tel["t_s"], tel["depth_mm"], ".", ms=1.5, color="tab:blue", label="protrusion", rasterized=True)
    punctured = (tel["flags"] & StrokeFlag.PUNCTURED) != 0
    ax.plot(
        tel["t_s"][punctured],
        tel["penetration_mm"][punctured],
        ".",
        ms=1.5,
        color="tab:green",
        label="into tissue",
        rasterized=True,
    )
    ax.plot(*commanded_line(result.zones), color="black", lw=1.0, label="commanded")
    _events(ax, result)
    limits = [z.depth_limit.depth_mm for z in result.zones if z.depth_limit is not None]
    ax.set_ylim(0.0, 1.25 * max([float(np.max(tel["depth_mm"])), *limits, 0.1]))
    ax.set_ylabel("depth (mm)")
    ax.set_xlabel("pen time (s)", fontsize=8)
    legend_above(ax)


def _first_strokes(ax: Any, part: NDArray[Any], commanded: tuple[NDArray[np.float64], NDArray[np.float64]]) -> None:
    t, y = commanded
    shown = ~(t > part["t_s"][-1])  # keeps the NaN breaks
    ax.plot(t[shown], y[shown], color="black", lw=1.0, label="commanded")
    ax.plot(part["t_s"], part["depth_mm"], "o-", ms=2.5, lw=0.6, color="tab:blue", label="protrusion")
    ax.plot(part["t_s"], part["penetration_mm"], "o-", ms=2.0, lw=0.5, color="tab:green", label="into tissue")
    title(ax, f"first {len(part)} strokes", fontsize=9)
    ax.set_xlabel("pen time (s)", fontsize=8)
    ax.set_ylabel("depth (mm)")
    legend_above(ax)


def _load_and_winding(ax: Any, hot: Any, result: SessionResult, tel: NDArray[Any]) -> None:
    """The skin's load on the needles per stroke, and the winding temperature against its limit (right axis)."""
    contact = (tel["flags"] & StrokeFlag.CONTACT) != 0
    ax.plot(tel["t_s"][contact], tel["load_n"][contact], ".", ms=1.2, color="tab:brown", rasterized=True)
    ax.set_ylabel("load on needles (N)", fontsize=8, color="tab:brown")
    ax.set_xlabel("pen time (s)", fontsize=8)
    title(ax, "skin load per stroke and winding temperature", fontsize=9)
    hot.plot(tel["t_s"], tel["motor_temp_c"], color="tab:red", lw=1.0, label="winding")
    limit = result.limits.motor_temp_limit_c
    hot.axhline(limit, color="tab:red", ls="--", lw=0.8, label=f"winding limit {limit:g} degC")
    hot.set_ylim(min(float(tel["motor_temp_c"].min()), limit) - 5.0, limit + 5.0)
    hot.set_ylabel("winding (degC)", fontsize=8, color="tab:red")
    legend_above(hot)


def _density_maps(fig: Figure, axes: Sequence[Any], zones: Sequence[ZoneResult]) -> None:
    """One heat map per zone on one shared colour scale, the judged ~1 cm2 cells over it, one colorbar."""
    maps = [z.density for z in zones if z.density is not None]
    bands = {z.zone.target_density_per_cm2 for z in zones}
    centre = float(np.mean([(lo + hi) / 2 for lo, hi in bands]))
    top = max(max(float(d.per_cm2.max()) for d in maps), 2.0 * centre)
    norm = TwoSlopeNorm(vcenter=centre, vmin=0.0, vmax=top)
    images = []
    for ax, zone in zip(axes, zones, strict=True):
        d = zone.density
        assert d is not None
        height, width = d.per_cm2.shape[0] * d.cell_height_mm, d.per_cm2.shape[1] * d.cell_width_mm
        images.append(ax.imshow(d.per_cm2, cmap=CMAP, norm=norm, origin="upper", extent=(0.0, width, height, 0.0)))
        judged = d.judged()
        ax.vlines(judged.col_edges_mm[1:-1], 0.0, height, colors="0.25", lw=0.6, alpha=0.8)
        ax.hlines(judged.row_edges_mm[1:-1], 0.0, width, colors="0.25", lw=0.6, alpha=0.8)
        lo, hi = zone.zone.target_density_per_cm2
        under, over = judged.outside((lo, hi))
        centres_x = (judged.col_edges_mm[:-1] + judged.col_edges_mm[1:]) / 2
        centres_y = (judged.row_edges_mm[:-1] + judged.row_edges_mm[1:]) / 2
        for cells, marker, colour, label in ((under, "v", "white", "under target"), (over, "^", "red", "over target")):
            rows, cols = np.nonzero(cells)
            x, y = centres_x[cols], centres_y[rows]
            ax.plot(x, y, marker, ms=6, mfc=colour, mec="black", mew=0.6, ls="", label=label)
        w_mm, h_mm = judged.cell_mm
        title(
            ax,
            f"{zone.zone.area} ({width:.0f} x {height:.0f} mm): mean {d.stats()['mean']:.0f}/cm2\n"
            f"target {lo:.0f}-{hi:.0f}: {int(under.sum())} under, {int(over.sum())} over "
            f"of {under.size} cells of {w_mm * h_mm / 100:.1f} cm2",
            fontsize=8,
        )
        ax.xaxis.set_visible(False)  # the size is in the title; axes on every map cost more to draw than the maps
        ax.yaxis.set_visible(False)
    first, last = axes[0].get_position(), axes[-1].get_position()
    band = Patch(facecolor="none", edgecolor="black", hatch="///", lw=0.8, label="target band")
    handles = [*axes[0].get_legend_handles_labels()[0], band]  # above the colorbar, beside the first row's titles
    fig.legend(handles=handles, loc="lower right", bbox_to_anchor=(0.995, first.y1), fontsize=6, frameon=False,
               handlelength=1.0, borderaxespad=0.2)  # fmt: skip
    cax = fig.add_axes((0.93, last.y0, 0.012, first.y1 - last.y0))
    bar = fig.colorbar(images[0], cax=cax)  # every map has the same norm
    bar.set_label("punctures/cm2 on 2.5 mm cells", fontsize=7)  # no longer than one row's bar: none above it
    bar.ax.tick_params(labelsize=7)
    for lo, hi in bands:
        bar.ax.axhspan(lo, hi, facecolor="none", edgecolor="black", hatch="///", lw=0.8)
