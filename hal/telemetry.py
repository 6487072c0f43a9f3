"""Per-stroke telemetry: the one record type every backend returns.

Telemetry travels in batches as NumPy structured arrays so the stroke loop can
check a whole batch with a few vector operations instead of a Python loop per
stroke. The record is packed (no padding) and kept under 64 bytes so that a
30-minute session at 150 Hz (270,000 strokes) stays under 15 MB (54 bytes a
stroke: 14.6 MB).
"""

from __future__ import annotations

from enum import IntFlag

import numpy as np
from numpy.typing import NDArray


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


TELEMETRY_DTYPE = np.dtype(
    [
        ("index", "<u4"),  # stroke number since power-on
        ("t_s", "<f8"),  # stroke start, seconds of pen time
        ("depth_cmd_mm", "<f4"),  # commanded depth for this stroke
        ("depth_target_mm", "<f4"),  # what the stroke planner aimed at (less than the command if it could not)
        ("depth_mm", "<f4"),  # peak penetration past the skin surface (0 when no contact)
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
"""Packed per-stroke record (54 bytes)."""

Telemetry = NDArray[np.void]
"""A batch of per-stroke records with dtype :data:`TELEMETRY_DTYPE`."""


def empty_telemetry(n: int = 0) -> Telemetry:
    """A zeroed batch of ``n`` records."""
    return np.zeros(n, dtype=TELEMETRY_DTYPE)
