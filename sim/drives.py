"""The pen's drives by name: what a plan's ``[pen] drive`` and ``penctl serve --drive`` choose between.

The voice coil (sim/pen.py) is the default; the rotary motor and cam (sim/rotary_pen.py) is the architecture of
most commercial pens. Both stand behind the same backend, wire protocol and firmware.
"""

from __future__ import annotations

from hal.settings import defaults
from sim.pen import SimulatedPen
from sim.rotary_drive import RotaryDrive
from sim.rotary_pen import RotaryPen

DRIVES: dict[str, type[SimulatedPen]] = {"voice_coil": SimulatedPen, "rotary_cam": RotaryPen}
DEFAULT_DRIVE = "voice_coil"


def drive_class(name: str) -> type[SimulatedPen]:
    """The pen class for drive ``name``; an unknown name is a ValueError naming the known ones."""
    try:
        return DRIVES[name]
    except KeyError:
        raise ValueError(f"unknown drive {name!r}: expected one of {', '.join(DRIVES)}") from None


def rate_range_hz(name: str) -> tuple[float, float]:
    """The stroke rates drive ``name`` can hold: the one definition the docs, the envelope and the plan check use.

    The voice coil makes any rate the pen's settings accept (its limits are depth at high rates, in the
    envelope); the rotary drive's range comes from its parts (:meth:`RotaryDrive.rate_range_hz`), within the
    settings' range.
    """
    drive_class(name)  # an unknown name is refused here too
    settings = defaults()
    low, high = float(settings["frequency.min_hz"]), float(settings["frequency.max_hz"])
    if name == "rotary_cam":
        model_low, model_high = RotaryDrive().rate_range_hz()
        return max(low, model_low), min(high, model_high)
    return low, high
