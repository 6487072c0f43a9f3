"""Needle cartridges: id, needle count, depth rating and needle field, as the id chip reports them."""

from __future__ import annotations

from dataclasses import dataclass

from hal.backend import CartridgeInfo


@dataclass(frozen=True)
class Cartridge:
    """A single-use needle cartridge."""

    cartridge_id: int
    needles: int = 12
    max_depth_mm: float = 2.5
    field_diameter_mm: float = 3.5
    """Diameter of the disc the needle tips sit in."""

    def info(self, strokes_used: int = 0) -> CartridgeInfo:
        """What the pen reads from the cartridge's id chip."""
        return CartridgeInfo(self.cartridge_id, self.needles, self.max_depth_mm, self.field_diameter_mm, strokes_used)
