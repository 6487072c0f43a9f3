"""From a laid-out figure to PNG bytes: the drawing's style, its pixels, and one PNG of stacked parts.

Why apart from :mod:`controller.treatment.plots`: what the picture shows is decided there; how it is turned
into pixels and a file (text unhinted, the fonts' missing glyphs named once, no software version in the file) is
the same for every part, and the painter stacks and encodes the parts it gathers from two processes.
"""

from __future__ import annotations

import io
import logging
import re
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib import rc_context
from matplotlib.figure import Figure
from matplotlib.image import imsave
from numpy.typing import NDArray

log = logging.getLogger(__name__)

DPI = 90
DRAWING_STYLE: dict[Any, Any] = {"text.hinting": "none"}
"""Glyphs drawn as their outlines are, not fitted to the pixel grid (FreeType's hinting): the fitting was a fifth
of the drawing time, and at this resolution the difference is one of taste (macOS draws text unhinted too)."""
PNG_OPTIONS: dict[str, Any] = {"metadata": {"Software": None}, "pil_kwargs": {"compress_level": 3}}
"""No software version in the file (the same run draws the same bytes with any matplotlib), quick compression."""


def pixels(fig: Figure) -> NDArray[np.uint8]:
    """The figure drawn: its RGBA rows."""
    canvas: Any = fig.canvas  # FigureCanvasAgg (matplotlib's stubs leave draw and buffer_rgba untyped)
    with rc_context(DRAWING_STYLE), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        canvas.draw()
    _report_missing_glyphs(caught)
    return np.asarray(canvas.buffer_rgba()).copy()


def _report_missing_glyphs(caught: Sequence[warnings.WarningMessage]) -> None:
    """One line naming the characters the picture's font has no glyph for (drawn as boxes), instead of one raw
    matplotlib warning per character, with its file path (an outside probe's plan named in Japanese); any other
    warning is passed on as it came."""
    missing = []
    for warning in caught:
        found = re.match(r"Glyph (\d+) .* missing from font", str(warning.message))
        if found is None:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        elif chr(int(found.group(1))) not in missing:
            missing.append(chr(int(found.group(1))))
    if missing:
        log.warning("report.png: its font has no glyph for %s (drawn as boxes)", " ".join(missing))


def encode_png(parts: Sequence[NDArray[np.uint8]]) -> bytes:
    """The parts, stacked top to bottom, as one PNG (what ``savefig`` would write for one figure)."""
    png = io.BytesIO()
    pixels = np.ascontiguousarray(np.concatenate(parts))
    imsave(png, pixels.data, format="png", dpi=DPI, **PNG_OPTIONS)  # a memoryview: written as it is, like savefig
    return png.getvalue()
