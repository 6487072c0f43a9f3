"""One pen as built and as it is used: where each part and each condition of the day sits in its tolerance.

A verification campaign asks whether every pen the maker builds, with each part anywhere within its drawing
tolerance, delivers the labelled depth and rate. So the simulator distinguishes what the firmware was designed
for (the nominal actuator it plans and feeds forward with, :class:`sim.actuator.VoiceCoilParams`) from what was
built (a heavier carriage, a softer spring, a weaker magnet, a winding of higher resistance, needles a little
long, a depth sensor zeroed a little off), and from the day it is used on (a tired battery, a warm room, stiffer
skin than typical). Nothing here is seen by the firmware except through the pen's behaviour.

The depth the pen reports is its sensor's reading. Two build errors are invisible to that sensor: needles longer
than drawn reach further than the carriage position says, and a sensor zeroed off reads deeper (or shallower)
than the tips are. Their difference is the pen's *depth bias*; a bench test measures the true protrusion with a
gauge of its own, which :func:`gauge_depth_mm` gives. Likewise the pen's stroke timer counts its own crystal's
ticks: a crystal off by some ppm makes every stroke that much longer in real time (:func:`gauge_rate_hz`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from hal.skin import Skin
from hal.telemetry import PEN_TICK_HZ, StrokeFlag, Telemetry
from sim.actuator import VoiceCoilParams
from sim.battery import BatteryParams
from sim.thermal import ThermalParams
from sim.tissue import SKINS, SkinType

END_OF_LIFE_CAPACITY = 0.80
"""A Li-ion cell is at the end of its cycle life when it holds 80 % of its rated capacity (Battery University,
BU-808)."""
END_OF_LIFE_RESISTANCE = 2.0
"""...and its internal resistance has about doubled by then (Battery University, BU-802a; cells at 80 %
capacity typically show 1.5-2.5 times their new resistance)."""


@dataclass(kw_only=True, frozen=True)
class PenBuild:
    """Every parameter a verification campaign can vary, at its nominal value by default.

    The four actuator fields are the hardware as built; the firmware keeps planning with the nominal design.
    """

    moving_mass_kg: float = VoiceCoilParams.moving_mass_kg
    spring_n_per_m: float = VoiceCoilParams.spring_n_per_m
    force_constant_n_per_a: float = VoiceCoilParams.force_constant_n_per_a
    coil_resistance_ohm: float = VoiceCoilParams.coil_resistance_ohm
    needle_length_error_mm: float = 0.0
    """How much longer than drawn the needles are (negative: shorter): the tips reach this much further."""
    depth_offset_mm: float = 0.0
    """The depth sensor's zero error: it reads this much deeper than the tips are."""
    sensitive_skin_stiffness: float = 1.0
    """Stiffness of the sensitive skin met, relative to the typical (tenting and penetration alike)."""
    normal_skin_stiffness: float = 1.0
    thick_skin_stiffness: float = 1.0
    battery_soc: float = 0.9
    battery_age: float = 0.0
    """Share of the cell's cycle life used: 0 new, 1 at end of life (capacity and resistance scale with it)."""
    ambient_c: float = ThermalParams.ambient_c
    """Room temperature: where the winding and the cell start, and what they cool towards."""
    clock_error_ppm: float = 0.0
    """How slow the pen's crystal runs: every interval it times lasts this many ppm longer (negative: shorter)."""

    @property
    def depth_bias_mm(self) -> float:
        """How much deeper the tips go than the pen's own sensor says."""
        return self.needle_length_error_mm - self.depth_offset_mm

    def actuator(self, design: VoiceCoilParams) -> VoiceCoilParams:
        """The actuator as built, from the design the firmware configures (current limit and all)."""
        return replace(
            design,
            moving_mass_kg=self.moving_mass_kg,
            spring_n_per_m=self.spring_n_per_m,
            force_constant_n_per_a=self.force_constant_n_per_a,
            coil_resistance_ohm=self.coil_resistance_ohm,
        )

    def battery(self) -> BatteryParams:
        nominal = BatteryParams()
        return replace(
            nominal,
            capacity_mah=nominal.capacity_mah * (1.0 - (1.0 - END_OF_LIFE_CAPACITY) * self.battery_age),
            internal_resistance_ohm=nominal.internal_resistance_ohm
            * (1.0 + (END_OF_LIFE_RESISTANCE - 1.0) * self.battery_age),
        )

    def thermal(self) -> ThermalParams:
        return replace(ThermalParams(), ambient_c=self.ambient_c)

    def skin(self, name: str) -> SkinType:
        """The skin of type ``name`` as this pen meets it."""
        typical = SKINS[name]
        factor = getattr(self, f"{Skin(name).value}_skin_stiffness")
        if factor == 1.0:
            return typical
        return replace(
            typical,
            youngs_modulus_pa=typical.youngs_modulus_pa * factor,
            stiffness_n_per_m=typical.stiffness_n_per_m * factor,
        )


NOMINAL = PenBuild()
PARAMETERS: tuple[str, ...] = tuple(f.name for f in fields(PenBuild))
"""The names a campaign may give a distribution, in the order of :class:`PenBuild`."""


def gauge_depth_mm(tel: Telemetry, build: PenBuild) -> np.ndarray:
    """What a bench gauge measures of each stroke: the true protrusion, not the pen's reading of it.

    The pen's reading plus the bias its sensor cannot see, on the strokes that touched the skin (the reading's
    own noise, 2 um, stays in: a gauge has noise too).
    """
    contact = (tel["flags"] & StrokeFlag.CONTACT) != 0
    depth = tel["depth_mm"].astype(np.float64)
    return np.where(contact, np.maximum(depth + build.depth_bias_mm, 0.0), depth)


def gauge_rate_hz(tel: Telemetry, build: PenBuild) -> float:
    """The mean stroke rate a bench counter measures: strokes over the real time they took."""
    if len(tel) == 0:
        return 0.0
    ticks = np.rint(tel["period_s"].astype(np.float64) * PEN_TICK_HZ).sum()
    seconds = ticks / PEN_TICK_HZ * (1.0 + build.clock_error_ppm * 1e-6)
    return float(len(tel) / seconds)


RANGES: dict[str, tuple[float, float, str, str]] = {
    "moving_mass_kg": (0.0005, 0.02, "kg", "moving mass of carriage, needles and cartridge"),
    "spring_n_per_m": (50.0, 2000.0, "N/m", "return spring rate"),
    "force_constant_n_per_a": (0.5, 10.0, "N/A", "voice coil force constant (magnet and gap)"),
    "coil_resistance_ohm": (0.5, 10.0, "ohm", "winding resistance at 25 degC"),
    "needle_length_error_mm": (-0.5, 0.5, "mm", "needles longer than drawn (the tips reach further)"),
    "depth_offset_mm": (-0.5, 0.5, "mm", "depth sensor zero error (it reads deeper than the tips are)"),
    "sensitive_skin_stiffness": (0.25, 4.0, "x typical", "stiffness of the sensitive skin met"),
    "normal_skin_stiffness": (0.25, 4.0, "x typical", "stiffness of the normal skin met"),
    "thick_skin_stiffness": (0.25, 4.0, "x typical", "stiffness of the thick skin met"),
    "battery_soc": (0.0, 1.0, "of full charge", "battery state of charge at the start"),
    "battery_age": (0.0, 1.0, "of cycle life", "battery age: capacity falls to 80 %, resistance doubles"),
    "ambient_c": (0.0, 45.0, "degC", "room temperature"),
    "clock_error_ppm": (-50_000.0, 50_000.0, "ppm", "crystal error: every timed interval lasts this much longer"),
}
"""Each parameter: where a campaign can take it (the range the simulator's models are meant for), its unit and
what it is. Wide enough for any drawing tolerance and for the conditions of use a pen is labelled for (ambient
0-45 degC covers IEC 60601-1's 10-40 degC operating range; +/-5 % of clock covers an untrimmed RC oscillator)."""
