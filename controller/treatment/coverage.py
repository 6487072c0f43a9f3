"""Where the needles land: the pen's raster path over a zone and the puncture-density map.

The operator is modelled as gliding the pen at a steady speed along a
boustrophedon raster (row after row, alternating direction) over a square of
the zone's area, with rows one needle field apart so that neighbouring rows
touch; each pass crosses the one before it (rows across, then up and down).
Each stroke stamps the cartridge's needle pattern at the pen's position at that
moment, plus the small sideways wander of a hand. Only strokes that
reached the skin puncture it.

This lives in controller/ rather than sim/ because it is computed from
telemetry (stroke times and contact flags), so a pass through a real pen over
the serial link gets the same map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
HAND_WANDER_MM = 0.3
"""Standard deviation of the hand's sideways wander from the ideal path, per stroke."""
DEFAULT_CELL_MM = 2.5
"""Side of a density-map cell: 0.0625 cm2, about 16-19 punctures at the target density."""
JUDGED_CELL_MM = 10.0
"""Side of the cells the density band is judged on: about 1 cm2, some 250-300 punctures.

A 2.5 mm cell holds about 16 punctures: counting alone moves it by about +/-25 % (Poisson,
1/sqrt(16)), wider than a 250-300 /cm2 band, so a flawless pass flagged about half its fine
cells. On 1 cm2 the counting noise is about +/-6 %, and a flagged cell means the pen or the
path really delivered too few or too many punctures there. The fine map stays for the picture.
"""


def needle_pattern(needles: int, field_diameter_mm: float) -> FloatArray:
    """Needle tip positions relative to the cartridge centre, shape (needles, 2).

    A sunflower (Vogel) spiral spreads any count evenly over the disc.
    """
    golden = math.pi * (3.0 - math.sqrt(5.0))
    k = np.arange(needles, dtype=np.float64)
    radius = (field_diameter_mm / 2.0) * np.sqrt((k + 0.5) / needles)
    return np.column_stack((radius * np.cos(k * golden), radius * np.sin(k * golden)))


@dataclass(kw_only=True, frozen=True)
class RasterPath:
    """A boustrophedon path over a ``width`` x ``height`` rectangle."""

    width_mm: float
    height_mm: float
    rows: int

    @classmethod
    def for_area(cls, area_cm2: float, row_spacing_mm: float) -> RasterPath:
        """A square of ``area_cm2`` with rows at most ``row_spacing_mm`` apart."""
        side = math.sqrt(area_cm2 * 100.0)
        return cls(width_mm=side, height_mm=side, rows=max(1, math.ceil(side / row_spacing_mm)))

    @property
    def length_mm(self) -> float:
        """Length of one pass over the whole zone."""
        return self.rows * self.width_mm

    def positions(self, distance_mm: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Pen position after travelling ``distance_mm``.

        Passes cross each other, as a clinician's do: even passes run their rows across the zone, odd
        passes run them up and down (the zone is square, so the path has the same length either way).
        """
        crossing = np.floor_divide(distance_mm, self.length_mm) % 2 == 1
        d = np.mod(distance_mm, self.length_mm)
        row = np.minimum(np.floor(d / self.width_mm), self.rows - 1)
        along = d - row * self.width_mm
        x = np.where(row % 2 == 0, along, self.width_mm - along)
        y = (row + 0.5) * (self.height_mm / self.rows)
        return np.where(crossing, y, x), np.where(crossing, x, y)


@dataclass(kw_only=True, frozen=True)
class DensityMap:
    """Punctures per cm2 on a grid of cells over the zone rectangle."""

    per_cm2: FloatArray
    """Shape (rows of cells, columns of cells); row 0 is the top edge of the zone."""
    cell_width_mm: float
    cell_height_mm: float
    punctures_inside: int
    punctures_outside: int

    def outside(self, target: tuple[float, float]) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
        """Fine cells under and over the target density band (for the band, judge :meth:`judged` cells)."""
        return self.per_cm2 < target[0], self.per_cm2 > target[1]

    def judged(self, side_mm: float = JUDGED_CELL_MM) -> JudgedCells:
        """The map summed into blocks of whole fine cells about ``side_mm`` on a side (see JUDGED_CELL_MM).

        A side that is not a whole number of blocks gets blocks that differ by at most one fine
        cell, so no sliver of a block is judged on a handful of punctures.
        """
        rows = _block_edges(self.per_cm2.shape[0], self.cell_height_mm, side_mm)
        cols = _block_edges(self.per_cm2.shape[1], self.cell_width_mm, side_mm)
        sums = np.add.reduceat(np.add.reduceat(self.per_cm2, rows[:-1], axis=0), cols[:-1], axis=1)
        cells = np.diff(rows)[:, None] * np.diff(cols)[None, :]
        return JudgedCells(
            per_cm2=sums / cells,
            row_edges_mm=rows.astype(np.float64) * self.cell_height_mm,
            col_edges_mm=cols.astype(np.float64) * self.cell_width_mm,
        )

    def stats(self) -> dict[str, float]:
        values = self.per_cm2.ravel()
        return {
            "mean": float(values.mean()),
            "p5": float(np.percentile(values, 5)),
            "p95": float(np.percentile(values, 95)),
        }


def _block_edges(cells: int, cell_mm: float, side_mm: float) -> NDArray[np.intp]:
    """Fine-cell indices where blocks of about ``side_mm`` start, plus the end."""
    blocks = max(1, round(cells * cell_mm / side_mm))
    return np.linspace(0, cells, blocks + 1).round().astype(np.intp)


@dataclass(frozen=True, kw_only=True)
class JudgedCells:
    """The density map in cells of about 1 cm2, on which the target band is judged."""

    per_cm2: FloatArray
    """Shape (rows of cells, columns of cells); row 0 is the top edge of the zone."""
    row_edges_mm: FloatArray
    """Cell boundaries from the top edge, one more than the rows."""
    col_edges_mm: FloatArray
    """Cell boundaries from the left edge, one more than the columns."""

    def outside(self, target: tuple[float, float]) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
        """Cells under and over the target density band (punctures per cm2)."""
        return self.per_cm2 < target[0], self.per_cm2 > target[1]

    @property
    def cell_mm(self) -> tuple[float, float]:
        """Mean cell width and height."""
        return float(np.diff(self.col_edges_mm).mean()), float(np.diff(self.row_edges_mm).mean())


def density_map(
    path: RasterPath,
    speed_mm_s: float,
    stroke_times_s: FloatArray,
    contact: NDArray[np.bool_],
    pattern_mm: FloatArray,
    rng: np.random.Generator,
    cell_mm: float = DEFAULT_CELL_MM,
) -> DensityMap:
    """Stamp ``pattern_mm`` at the pen's position for every stroke that reached the skin.

    ``stroke_times_s`` are measured from the start of the zone. ``rng`` draws
    the hand wander for every stroke (contact or not), so the map of one zone
    does not depend on how many strokes missed the skin.
    """
    x, y = path.positions(speed_mm_s * stroke_times_s)
    wander = rng.normal(0.0, HAND_WANDER_MM, size=(len(stroke_times_s), 2))
    cx = (x + wander[:, 0])[contact]
    cy = (y + wander[:, 1])[contact]
    px = (cx[:, None] + pattern_mm[None, :, 0]).ravel()
    py = (cy[:, None] + pattern_mm[None, :, 1]).ravel()
    nx = max(1, round(path.width_mm / cell_mm))
    ny = max(1, round(path.height_mm / cell_mm))
    counts, _, _ = np.histogram2d(py, px, bins=(ny, nx), range=((0.0, path.height_mm), (0.0, path.width_mm)))
    cell_w, cell_h = path.width_mm / nx, path.height_mm / ny
    inside = int(counts.sum())
    return DensityMap(
        per_cm2=counts * (100.0 / (cell_w * cell_h)),
        cell_width_mm=cell_w,
        cell_height_mm=cell_h,
        punctures_inside=inside,
        punctures_outside=int(px.size) - inside,
    )
