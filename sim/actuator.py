"""The needle carriage: a voice-coil linear actuator under a position servo, and its stroke reference.

Mechanics: a moving mass on a return spring with viscous damping, driven by the
coil force ``Kf * i`` and resisted by the skin once the tips pass the surface.
Electrics: ``L di/dt = u - R i - Ke v`` with the drive voltage ``u`` limited by
the boosted, loaded battery voltage and the commanded current limited by the
current limit. The pen's inner loop runs at the physics rate: a
position/velocity servo with feed-forward of the reference trajectory's inertia,
damping and spring terms (it does not know the skin, so the skin costs a little
depth, as on a real pen), and a current loop that compensates back-EMF.

The equations are stepped tick by tick twice over: readably in
:mod:`sim.reference` (the accuracy oracle) and compiled in :mod:`sim.kernel`
(what the pen runs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(kw_only=True, frozen=True)
class VoiceCoilParams:
    """The actuator and its drive; defaults describe a plausible pen handpiece."""

    moving_mass_kg: float = 0.0025
    spring_n_per_m: float = 400.0
    damping_ns_per_m: float = 0.8
    force_constant_n_per_a: float = 3.0
    """Force per amp; equal to the back-EMF constant in V per m/s (SI)."""
    coil_resistance_ohm: float = 2.0
    """Winding resistance at 25 degC."""
    resistance_tempco_per_k: float = 0.00393
    """Copper's temperature coefficient of resistance."""
    coil_inductance_h: float = 0.3e-3
    current_limit_a: float = 1.6
    home_mm: float = -0.3
    """Tip position at rest: behind the cartridge face, which rests on the skin."""
    back_stop_mm: float = -0.8
    """Mechanical end stop behind home; the carriage cannot travel further back."""
    front_stop_mm: float = 3.2
    """Mechanical end stop in front: no drive fault can push the tips beyond it."""
    retract_threshold_mm: float = -0.05
    """A stroke that ends with the tips in front of this has not retracted."""
    boost_ratio: float = 2.4
    """The drive bridge runs from a boost converter at this multiple of the loaded battery voltage."""
    boost_efficiency: float = 0.85
    bulk_capacitor_time_constant_s: float = 0.02
    """The boost converter's input capacitor: the cell sees the drive's current pulses smoothed."""
    idle_current_a: float = 0.04
    """Battery current of the electronics with the motor still."""


@dataclass(kw_only=True, frozen=True)
class ServoGains:
    """The pen's inner position and current loops."""

    position_n_per_m: float = 120_000.0
    velocity_ns_per_m: float = 37.0
    current_v_per_a: float = 4.0


FORCE_HEADROOM = 0.8
"""The share of the drive's peak force (current limit x force constant) a stroke's reference may use; the rest
is the servo's for correcting tracking errors. A reference that used all of it would leave the servo saturated
at launch, and a saturated servo catches up with a surge that overshoots the target."""
SKIN_FORCE_MARGIN_N = 0.5
"""Force kept back for the skin, which the planner does not know (about what 12 needles meet in normal skin at
1 mm; thicker skin makes strokes fall short, never overshoot)."""
VOLTAGE_HEADROOM = 0.85
"""The share of the drive's supply voltage the reference's speed may use up as back-EMF."""


@dataclass(kw_only=True, frozen=True)
class DriveLimits:
    """What the drive can give a stroke now: the stroke planner's envelope, derived from the hardware.

    Acceleration comes from the force the coil makes at its current limit, less the servo's headroom and the
    skin margin, over the moving mass. Speed comes from the supply: the back-EMF (``Kf * v``) and the hot
    winding's resistive drop at the current limit must fit in the boosted, loaded battery voltage, so a tired
    battery or a hot coil gives a smaller envelope.
    """

    accel_m_s2: float
    speed_m_s: float

    @classmethod
    def of(cls, coil: VoiceCoilParams, battery_v: float, coil_resistance_ohm: float) -> DriveLimits:
        force = coil.force_constant_n_per_a * coil.current_limit_a * FORCE_HEADROOM - SKIN_FORCE_MARGIN_N
        supply = coil.boost_ratio * battery_v * VOLTAGE_HEADROOM
        emf = max(supply - coil_resistance_ohm * coil.current_limit_a, 0.0)
        return cls(accel_m_s2=max(force, 0.0) / coil.moving_mass_kg, speed_m_s=emf / coil.force_constant_n_per_a)

    def reachable_mm(self, home_mm: float, depth_mm: float, moving_s: float) -> float:
        """The deepest tip position a raised-cosine stroke moving for ``moving_s`` reaches within these limits."""
        omega = 2.0 * np.pi / moving_s
        amplitude = min((depth_mm - home_mm) * 1e-3 / 2.0, self.accel_m_s2 / (omega * omega), self.speed_m_s / omega)
        return home_mm + 2.0 * amplitude * 1e3


@dataclass(kw_only=True, frozen=True)
class Trajectory:
    """The reference the servo follows in one stroke: extend to depth and back, cosine-shaped."""

    position_m: FloatArray
    velocity_m_s: FloatArray
    accel_m_s2: FloatArray
    target_mm: float
    """The depth this stroke aims at: the command, or less when the planner had to shorten it."""

    @classmethod
    def raised_cosine(
        cls, home_mm: float, depth_mm: float, ticks: int, dt: float, limits: DriveLimits, dwell: float = 0.2
    ) -> Trajectory:
        """Home -> depth -> home in the first ``1 - dwell`` of the stroke, then rest at home.

        The dwell at home gives the carriage time to come fully out of the skin
        before the next stroke starts. A stroke too deep for its rate (more
        acceleration or speed than ``limits`` give) is shortened to the deepest
        one that fits: the actuator could not follow it, and a servo that
        saturates overshoots unpredictably. The shortfall shows in the
        telemetry (SHORTFALL flag, depth reached), it is not hidden.
        """
        moving = max(2, round(ticks * (1.0 - dwell)))
        omega = 2.0 * np.pi / (moving * dt)
        target_mm = limits.reachable_mm(home_mm, depth_mm, moving * dt)
        amplitude = (target_mm - home_mm) * 1e-3 / 2.0
        phase = omega * dt * np.arange(1, ticks + 1, dtype=np.float64)
        phase[moving:] = 0.0
        still = np.arange(ticks) >= moving
        return cls(
            target_mm=target_mm,
            position_m=home_mm * 1e-3 + amplitude * (1.0 - np.cos(phase)),
            velocity_m_s=np.where(still, 0.0, amplitude * omega * np.sin(phase)),
            accel_m_s2=np.where(still, 0.0, amplitude * omega * omega * np.cos(phase)),
        )
