"""Skin as the needles feel it: it tents under the needle field, is punctured, then resists penetration.

Three phases, as a function of how far the tips are past the skin's resting surface (``d``):

1. **Tenting** (``0 < d <= d_p``): the skin surface gives under the cartridge's needle field like an elastic
   half-space under a flat punch of the field's diameter ``D`` (Boussinesq): ``F = k_tent * d`` with
   ``k_tent = D * E / (1 - nu^2)``. Nothing is punctured yet.
2. **Puncture** at ``F = N * F_ins``: each of the ``N`` needles needs its insertion force ``F_ins``, so the skin
   is punctured at a deflection ``d_p = N * F_ins / k_tent``. More needles, or softer skin, tent further.
3. **Penetration** (``d > d_p``): the tissue the needles have entered resists with the insertion load plus a
   stiffening spring with damping, ``F = N * F_ins + k * p * (1 + p / stiffening) + c * v`` for a penetration
   ``p = d - d_p``; skin never pulls a needle in.

So the needles' protrusion (what a depth-accuracy bench test measures) is not what the skin receives: the tissue
penetration is less by the tent ``d_p``. docs/simulation.md gives the sources of every figure.
"""

from __future__ import annotations

from dataclasses import dataclass

from hal.backend import Skin

POISSON_RATIO = 0.5
"""Soft tissue is nearly incompressible."""


@dataclass(kw_only=True, frozen=True)
class SkinType:
    """Mechanical properties of one kind of skin: the whole skin's for tenting, per needle for penetration."""

    name: Skin
    youngs_modulus_pa: float
    """In-vivo elastic modulus of the skin (tenting under the needle field)."""
    insertion_force_n: float
    """Force one needle needs to puncture the skin."""
    stiffness_n_per_m: float
    """Linear stiffness per needle of the punctured tissue."""
    stiffening_mm: float
    """Penetration at which the stiffness has doubled."""
    damping_ns_per_m: float
    """Viscous damping per needle while in the tissue."""
    variability: float
    """Relative standard deviation of stiffness from stroke to stroke (tissue is not uniform)."""
    surface_jitter_mm: float
    """Standard deviation of the skin surface height under the cartridge from stroke to stroke."""

    def tent_stiffness_n_per_m(self, field_diameter_mm: float) -> float:
        """Stiffness of the skin's deflection under a needle field of this diameter (flat punch)."""
        return field_diameter_mm * 1e-3 * self.youngs_modulus_pa / (1.0 - POISSON_RATIO**2)

    def tent_mm(self, needles: int, field_diameter_mm: float) -> float:
        """How far the skin deflects before ``needles`` needles puncture it."""
        return needles * self.insertion_force_n / self.tent_stiffness_n_per_m(field_diameter_mm) * 1e3


SKINS: dict[str, SkinType] = {
    skin.name: skin
    for skin in (
        SkinType(
            name=Skin.SENSITIVE,
            youngs_modulus_pa=0.25e6,
            insertion_force_n=0.020,
            stiffness_n_per_m=30.0,
            stiffening_mm=2.5,
            damping_ns_per_m=0.004,
            variability=0.08,
            surface_jitter_mm=0.004,
        ),
        SkinType(
            name=Skin.NORMAL,
            youngs_modulus_pa=0.42e6,
            insertion_force_n=0.025,
            stiffness_n_per_m=50.0,
            stiffening_mm=2.0,
            damping_ns_per_m=0.006,
            variability=0.10,
            surface_jitter_mm=0.004,
        ),
        SkinType(
            name=Skin.THICK,
            youngs_modulus_pa=0.85e6,
            insertion_force_n=0.030,
            stiffness_n_per_m=90.0,
            stiffening_mm=1.6,
            damping_ns_per_m=0.010,
            variability=0.12,
            surface_jitter_mm=0.005,
        ),
    )
}
"""Every :class:`hal.backend.Skin` with its mechanics (a test checks none is missing)."""
