"""report.png: what the figure must show a QA engineer (the drawing itself is checked by eye)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from controller.treatment.plan import load_plan
from controller.treatment.plots import commanded_line, plot_report
from controller.treatment.session import run_session


def test_the_commanded_line_breaks_between_zones_and_at_pauses(tmp_path: Path) -> None:
    result = run_session(load_plan(None), seed=0)
    ran = [z for z in result.zones if len(z.telemetry)]
    t, y = commanded_line(result.zones)
    strokes = sum(len(z.telemetry) for z in ran)
    assert np.isnan(t).sum() == np.isnan(y).sum() == len(ran) - 1  # the built-in plan has no pause inside a zone
    assert len(t) == strokes + len(ran) - 1
    breaks = np.flatnonzero(np.isnan(t))
    ends = np.cumsum([len(z.telemetry) for z in ran])[:-1] + np.arange(len(ran) - 1)
    assert breaks.tolist() == ends.tolist()  # exactly where one zone ends and the next begins

    zone = ran[0]
    paused = zone.telemetry.copy()
    paused["t_s"][100:] += 2.0  # the pen stood still for two seconds
    zone.telemetry = paused
    t, _ = commanded_line([zone])
    assert np.flatnonzero(np.isnan(t)).tolist() == [100]

    plot_report(result, tmp_path / "report.png")
    first = (tmp_path / "report.png").read_bytes()
    plot_report(result, tmp_path / "report.png")
    assert (tmp_path / "report.png").read_bytes() == first  # the same run draws the same file


def test_a_pass_with_no_stroke_shows_what_stopped_it(tmp_path: Path) -> None:
    """Outside probe: a pen that failed its self-test (a cell at 3 %) drew three empty axes: neither the fault nor
    the alarm it had, though the report shows each with its time and kind."""
    from dataclasses import replace

    from controller.treatment.plots import draw_upper, upper_layout

    plan = load_plan(None)
    result = run_session(replace(plan, pen=replace(plan.pen, battery_soc=0.03)), seed=0)
    assert not any(len(z.telemetry) for z in result.zones) and result.faults
    layout = upper_layout()
    draw_upper(layout, result)
    shown = " | ".join(t.get_text() for ax in (layout.overview, layout.window, layout.strain) for t in ax.texts)
    for fault in result.faults:
        assert f"FAULT {fault.kind} at {fault.t_s:.3f} s" in shown
    for alarm in result.alarms:
        assert f"alarm {alarm.kind} at {alarm.t_s:.3f} s" in shown
    assert shown.count(f"no stroke ({result.outcome})") == 3
    plot_report(result, tmp_path / "report.png")
    assert (tmp_path / "report.png").read_bytes().startswith(b"\x89PNG")


def test_no_legend_or_label_hides_a_stroke_or_a_judged_cell() -> None:
    """Outside probe: an over-depth fault's stroke was under its own label, a stall and the neck zone's load points
    under legends, judged cells under the maps' legend. Every legend of the lines is above its axes, outside the
    data; fault and alarm lines and labels, and the maps' legend, are drawn under every line, point and cell mark."""
    from dataclasses import replace

    from controller.treatment.plan import PlannedFault
    from controller.treatment.plots import draw_lower, draw_upper, lower_layout, mapped, upper_layout

    plan = load_plan(None)
    faults = (PlannedFault(at_s=35.0, kind="depth_overshoot", value=0.3),)
    result = run_session(replace(plan, name="N" * 200, faults=faults), seed=0)  # the longest name a plan may have
    assert result.faults, "the injected overshoot latches a fault"
    upper, lower = upper_layout(), lower_layout(len(mapped(result)))
    draw_upper(upper, result)
    draw_lower(lower, result)
    for ax in (upper.overview, upper.window, upper.winding):
        legend = ax.get_legend()
        assert legend is not None and legend.get_window_extent().y0 >= ax.bbox.y1 - 1.0, ax.get_title()
    renderer = upper.figure.canvas.get_renderer()  # type: ignore[attr-defined]
    title = upper.overview.get_title(loc="left")
    assert "\u2026" in title and not upper.overview._left_title.get_window_extent(renderer).overlaps(
        upper.overview.get_legend().get_window_extent()
    ), "the plan's name is shortened, and its title leaves the legend room"
    (maps_legend,) = lower.figure.legends
    for ax in lower.figure.axes:  # every map, and the colorbar with its label
        box = ax.get_tightbbox()
        assert box is not None and not maps_legend.get_window_extent().overlaps(box), "the maps' legend is beside them"
    events = [line for line in upper.overview.get_lines() if list(line.get_ydata()) == [0, 1]]  # faults, alarms
    data = [line.get_zorder() for line in upper.overview.get_lines() if line not in events and len(line.get_xdata())]
    data += [c.get_zorder() for c in upper.overview.collections]
    under = [t.get_zorder() for t in upper.overview.texts if t.get_bbox_patch() is not None]
    assert events and data and max(under + [e.get_zorder() for e in events]) < min(data)


def test_characters_the_font_cannot_draw_are_named_once_not_warned_per_glyph(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Outside probe: a plan named in Japanese printed seven raw matplotlib warnings (with a library's file path) on
    stderr. Now one line names the characters drawn as boxes; any other warning passes as it came."""
    import warnings

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from controller.treatment.raster import pixels

    figure = Figure(figsize=(3, 1))
    FigureCanvasAgg(figure)
    figure.text(0.1, 0.5, "Wangen – Aknenärben 日本語 テスト 🙂 日")
    with warnings.catch_warnings(record=True) as passed_on:
        warnings.simplefilter("always")
        pixels(figure)
    assert [str(w.message) for w in passed_on] == []
    lines = [r.getMessage() for r in caplog.records if r.name == "controller.treatment.raster"]
    assert lines == ["report.png: its font has no glyph for 日 本 語 テ ス ト 🙂 (drawn as boxes)"]


def test_the_plans_sha256_is_on_the_picture_however_long_its_path() -> None:
    """Outside probe: with a plan path of about 52 characters or more, the identity line ran off the picture's edge and
    took the plan's SHA-256 with it. The path now comes last: the line up to the SHA-256 always fits."""
    from dataclasses import replace

    from controller.treatment.plots import draw_lower, lower_layout, mapped

    result = run_session(load_plan(None), seed=0)
    result = replace(result, plan=replace(result.plan, source="/" + "a-very-long-folder-name/" * 12 + "plan.toml"))
    layout = lower_layout(len(mapped(result)))
    draw_lower(layout, result)
    (line,) = [t for t in layout.figure.texts if "plan sha256" in t.get_text()]
    text = line.get_text()
    line.set_text(text[: text.index(result.plan.sha256) + len(result.plan.sha256)])
    renderer = layout.figure.canvas.get_renderer()  # type: ignore[attr-defined]
    assert line.get_window_extent(renderer).x1 <= layout.figure.bbox.x1
    assert "\u2026" in text and text.endswith(result.plan.source[-20:]), "the path is shortened at its start, to fit"
    line.set_text(text)
    assert line.get_window_extent(renderer).x1 <= layout.figure.bbox.x1
