"""Per-stroke telemetry: the one record type every backend returns.

Telemetry travels in batches as NumPy structured arrays so the stroke loop can
check a whole batch with a few vector operations instead of a Python loop per
stroke. The record is packed (no padding) and kept under 64 bytes so that a
30-minute session at 150 Hz (270,000 strokes) stays under 17 MB (62 bytes a
stroke: 16.7 MB).
"""

from __future__ import annotations

from enum import IntFlag

import numpy as np
from numpy.typing import NDArray

PEN_TICK_HZ = 24_000
"""The pen's stroke timer: every stroke lasts a whole number of its ticks, and ``period_s`` is that number over
this rate (a float32 of it, which rounds back to the exact tick count). Time that accumulates over many strokes
is counted in these ticks, so a 60-minute limit holds to the stroke."""


def period_ticks(tel: NDArray[np.void]) -> NDArray[np.int64]:
    """Each stroke's period in whole ticks of the pen's stroke timer."""
    return np.rint(tel["period_s"].astype(np.float64) * PEN_TICK_HZ).astype(np.int64)


class StrokeFlag(IntFlag):
    """Bits the pen sets on a stroke record; several may be set at once."""

    NONE = 0
    CONTACT = 1 << 0
    """The needle tips passed the skin surface during the stroke."""
    CURRENT_LIMITED = 1 << 1
    """The current limit clipped the coil drive at least once."""
    VOLTAGE_SATURATED = 1 << 2
    """The driver ran out of supply voltage at least once."""
    NOT_RETRACTED = 1 << 3
    """At the end of the stroke the tips were still in front of the retract threshold."""
    SHORTFALL = 1 << 4
    """The peak fell short of the command by more than the depth tolerance."""
    PUNCTURED = 1 << 5
    """The needles punctured the skin: they passed its tent (CONTACT alone may only have pressed it)."""


TELEMETRY_DTYPE = np.dtype(
    [
        ("index", "<u4"),  # stroke number since power-on
        ("t_s", "<f8"),  # stroke start, seconds of pen time
        ("depth_cmd_mm", "<f4"),  # commanded depth for this stroke
        ("depth_target_mm", "<f4"),  # what the stroke planner aimed at (less than the command if it could not)
        ("depth_mm", "<f4"),  # needle protrusion: peak tip position past the skin's resting surface (0: no contact)
        ("penetration_mm", "<f4"),  # tissue penetration: the tips past the tented, punctured surface
        ("load_n", "<f4"),  # skin force on the needles at peak depth
        ("period_s", "<f4"),  # measured stroke period
        ("current_a", "<f4"),  # peak coil current magnitude
        ("motor_temp_c", "<f4"),  # winding temperature at the end of the stroke
        ("battery_v", "<f4"),  # lowest loaded battery voltage during the stroke
        ("battery_temp_c", "<f4"),  # cell temperature at the end of the stroke
        ("end_mm", "<f4"),  # tip position at the end of the stroke (negative = retracted)
        ("cartridge_id", "<u4"),
        ("flags", "<u2"),
    ]
)
"""Packed per-stroke record (62 bytes)."""

Telemetry = NDArray[np.void]
"""A batch of per-stroke records with dtype :data:`TELEMETRY_DTYPE`."""


def empty_telemetry(n: int = 0) -> Telemetry:
    """A zeroed batch of ``n`` records."""
    return np.zeros(n, dtype=TELEMETRY_DTYPE)
