"""Titles, legends and the line naming the run on report.png: placed where they hide no data, and fitted to the page.

Why apart from :mod:`controller.treatment.plots`: what the picture shows is decided there; where its words go is
decided here, and found by measuring them (an outside probe found legends over data, a long plan name running into
a legend, and a long plan path pushing the plan's SHA-256 off the page).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from matplotlib.figure import Figure

if TYPE_CHECKING:
    from controller.treatment.session import SessionResult

IDENTITY_CHARS = 196
"""The identity line at the foot, at most: monospace characters that fit the page's width (the path, last, is
shortened at its start to fit)."""


def shortened(text: str, chars: int, keep: str = "start") -> str:
    """``text`` in at most ``chars`` characters: cut with an ellipsis at the end (``keep="start"``) or at the start
    (``keep="end"``, for a path: its file name stays). The whole text is in report.json."""
    if len(text) <= chars:
        return text
    return text[: chars - 1] + "\u2026" if keep == "start" else "\u2026" + text[len(text) - chars + 1 :]


def legend_above(ax: Any) -> None:
    """The axes' legend in one row above its top right corner, outside the data."""
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(
        handles, labels, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=len(handles), fontsize=7,
        frameon=False, borderaxespad=0.2, handlelength=1.6, columnspacing=1.2,
    )  # fmt: skip


def overview_title(ax: Any, result: SessionResult) -> None:
    """The plan's name and the outcome, at the left of the line whose right holds the legend: a name too long to
    leave the legend room is shortened (an outside probe's 98-character name ran into the legend). The longest
    name that fits is found by halving, measured with the canvas's renderer."""
    name, legend = result.plan.name, ax.get_legend()

    def titled(chars: int) -> Any:
        return title(
            ax, f"{shortened(name, chars)}: depth per stroke over the whole pass ({result.outcome})", 10, "left"
        )

    if legend is None or not _overlap(titled(len(name)), legend):
        return
    fits, too_long = 1, len(name)
    while too_long - fits > 1:
        middle = (fits + too_long) // 2
        fits, too_long = (fits, middle) if _overlap(titled(middle), legend) else (middle, too_long)
    titled(fits)


def _overlap(a: Any, b: Any) -> bool:
    renderer = a.get_figure().canvas.get_renderer()
    return bool(a.get_window_extent(renderer).overlaps(b.get_window_extent(renderer)))


def title(ax: Any, text: str, fontsize: float, loc: str = "center") -> Any:
    """``ax.set_title`` in its usual place, given rather than found: to find it, matplotlib measures every tick
    label of the axes and of its twin, in case one reaches above the axes and the title must move up. None of
    ours does, and the measuring was a fifth of drawing the upper part."""
    return ax.set_title(text, fontsize=fontsize, y=1.0, loc=loc)


def _identity_text(result: SessionResult) -> str:
    from controller import __version__

    plan = result.plan
    head = (
        f"penctl {__version__}    seed {result.seed}    pen {result.identity.model if result.identity else '-'}    "
        f"plan sha256 {plan.sha256}    plan "
    )
    return head + shortened(plan.source, max(12, IDENTITY_CHARS - len(head)), keep="end")


def identity(fig: Figure, result: SessionResult) -> None:
    """Which run this is: penctl version, seed, the plan's SHA-256 and its path (as in report.json). The path comes
    last, shortened at its start to fit: a long one ran off the picture's edge, and took the SHA-256 with it (an
    outside probe's finding)."""
    fig.text(
        0.05,
        0.15 / fig.get_figheight(),
        _identity_text(result),
        fontsize=8,
        family="monospace",
    )
