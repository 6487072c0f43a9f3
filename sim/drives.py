"""The pen's drives by name: what a plan's ``[pen] drive`` and ``penctl serve --drive`` choose between.

The voice coil (sim/pen.py) is the default; the rotary motor and cam (sim/rotary_pen.py) is the architecture of
most commercial pens. Both stand behind the same backend, wire protocol and firmware.
"""

from __future__ import annotations

from sim.pen import SimulatedPen
from sim.rotary_pen import RotaryPen

DRIVES: dict[str, type[SimulatedPen]] = {"voice_coil": SimulatedPen, "rotary_cam": RotaryPen}
DEFAULT_DRIVE = "voice_coil"


def drive_class(name: str) -> type[SimulatedPen]:
    """The pen class for drive ``name``; an unknown name is a ValueError naming the known ones."""
    try:
        return DRIVES[name]
    except KeyError:
        raise ValueError(f"unknown drive {name!r}: expected one of {', '.join(DRIVES)}") from None
