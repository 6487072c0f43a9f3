"""The bench gauge of a simulated world: the needles' true protrusion, where the pen's own reading is off.

A pen measures its needles' protrusion with its own depth sensor and corrects the reading by
``depth.calibration_offset_mm``, the zero error the factory found in that sensor. A simulated pen is built to
its drawing (its sensor has no error of its own), so a non-zero offset is the whole of its reading's error:
the tips go ``offset`` deeper than the pen says. The pen cannot see this (it acted on its reading during the
pass); a bench gauge, and so the report and its verdicts, can. On a real pen nobody knows the truth but a
gauge, and the report shows the pen's reading, saying so.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from hal.settings import SettingValue
from hal.telemetry import StrokeFlag, Telemetry

CALIBRATION_KEY = "depth.calibration_offset_mm"


def reading_error_mm(simulated_world: bool, pen_settings: Mapping[str, SettingValue] | None) -> float | None:
    """How much deeper the tips go than the pen reads: the offset in a simulated world, None where unknown."""
    if not simulated_world:
        return None
    value = (pen_settings or {}).get(CALIBRATION_KEY, 0.0)
    return float(value) if isinstance(value, (int, float)) else 0.0


def gauged(tel: Telemetry, error_mm: float) -> Telemetry:
    """``tel`` with each stroke's protrusion as a bench gauge reads it (strokes that touched the skin)."""
    if error_mm == 0.0 or not len(tel):
        return tel
    out = tel.copy()
    contact = (out["flags"] & StrokeFlag.CONTACT) != 0
    true = np.maximum(out["depth_mm"].astype(np.float64) + error_mm, 0.0)
    out["depth_mm"] = np.where(contact, true, out["depth_mm"]).astype(out["depth_mm"].dtype)
    return out
