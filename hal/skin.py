"""The skin types a simulated pen knows: plan files and the wire name them, sim/tissue.py gives each its mechanics.

Its own module, free of NumPy, so that the command line can offer the choices without loading it.
"""

from __future__ import annotations

from enum import StrEnum


class Skin(StrEnum):
    SENSITIVE = "sensitive"
    NORMAL = "normal"
    THICK = "thick"


SKIN_TYPES: tuple[str, ...] = tuple(skin.value for skin in Skin)
"""The names of :class:`Skin`, in order, for choosing among them."""
