"""Skin as the needles feel it: a stiffening spring with damping past the surface.

The contact force acts only once the tips pass the skin surface (0 mm) and only
pushes back; skin never pulls a needle in. Stiffness grows with penetration
(``k * p * (1 + p / stiffening_mm)``), the way soft tissue stiffens as it is
compressed, and scales with the number of needles in the cartridge. The figures
are per needle, chosen so that a 12-needle cartridge meets about 0.9 N at 1 mm
in normal skin, in the range published for microneedle insertion.
"""

from __future__ import annotations

from dataclasses import dataclass

from hal.backend import Skin


@dataclass(kw_only=True, frozen=True)
class SkinType:
    """Mechanical properties of one kind of skin, per needle."""

    name: Skin
    stiffness_n_per_m: float
    """Linear contact stiffness per needle at the surface."""
    stiffening_mm: float
    """Penetration at which the stiffness has doubled."""
    damping_ns_per_m: float
    """Viscous damping per needle while in contact."""
    variability: float
    """Relative standard deviation of stiffness from stroke to stroke (tissue is not uniform)."""
    surface_jitter_mm: float
    """Standard deviation of the skin surface height under the cartridge from stroke to stroke."""


SKINS: dict[str, SkinType] = {
    skin.name: skin
    for skin in (
        SkinType(
            name=Skin.SENSITIVE,
            stiffness_n_per_m=30.0,
            stiffening_mm=2.5,
            damping_ns_per_m=0.004,
            variability=0.08,
            surface_jitter_mm=0.004,
        ),
        SkinType(
            name=Skin.NORMAL,
            stiffness_n_per_m=50.0,
            stiffening_mm=2.0,
            damping_ns_per_m=0.006,
            variability=0.10,
            surface_jitter_mm=0.004,
        ),
        SkinType(
            name=Skin.THICK,
            stiffness_n_per_m=90.0,
            stiffening_mm=1.6,
            damping_ns_per_m=0.010,
            variability=0.12,
            surface_jitter_mm=0.005,
        ),
    )
}
"""Every :class:`hal.backend.Skin` with its mechanics (a test checks none is missing)."""
