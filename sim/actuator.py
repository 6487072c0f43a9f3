"""The needle carriage: a voice-coil linear actuator under a position servo.

Mechanics: a moving mass on a return spring with viscous damping, driven by the
coil force ``Kf * i`` and resisted by the skin once the tips pass the surface.
Electrics: ``L di/dt = u - R i - Ke v`` with the drive voltage ``u`` limited by
the loaded battery voltage and the commanded current limited by the current
limit. The pen's inner loop runs at the physics rate: a position/velocity servo
with feed-forward of the reference trajectory's inertia, damping and spring
terms (it does not know the skin, so the skin costs a little depth, as on a real
pen), and a current loop that compensates back-EMF.

:func:`integrate_strokes` steps many strokes side by side, one NumPy vector
element per stroke, because every stroke of a batch follows the same reference
trajectory. Only ``+ - * /``, ``min``, ``max`` and comparisons are used in the
tick loop, which IEEE 754 makes exact and independent of vector length, so a
stroke computed in a batch of 4,000 is bit-identical to the same stroke computed
alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class VoiceCoilParams:
    """The actuator and its drive; defaults describe a plausible pen handpiece."""

    moving_mass_kg: float = 0.005
    spring_n_per_m: float = 400.0
    damping_ns_per_m: float = 0.8
    force_constant_n_per_a: float = 2.5
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
    max_reference_accel_m_s2: float = 1100.0
    """The stroke planner's envelope: a stroke whose reference would need more acceleration
    than this is shortened to fit, so the pen falls short instead of losing control."""
    boost_ratio: float = 2.4
    """The drive bridge runs from a boost converter at this multiple of the loaded battery voltage."""
    boost_efficiency: float = 0.85
    idle_current_a: float = 0.04
    """Battery current of the electronics with the motor still."""


@dataclass(frozen=True)
class ServoGains:
    """The pen's inner position and current loops."""

    position_n_per_m: float = 120_000.0
    velocity_ns_per_m: float = 37.0
    current_v_per_a: float = 4.0


@dataclass
class StrokeInputs:
    """Per-stroke initial state and conditions, one element per stroke (SI units)."""

    x0: FloatArray
    v0: FloatArray
    i0: FloatArray
    battery_current0: FloatArray
    coil_resistance_ohm: FloatArray
    open_circuit_v: FloatArray
    contact_stiffness_n_per_m: FloatArray
    surface_m: FloatArray


@dataclass
class StrokeOutputs:
    """Per-stroke results, one element per stroke (SI units)."""

    x_end: FloatArray
    v_end: FloatArray
    i_end: FloatArray
    battery_current_end: FloatArray
    peak_m: FloatArray
    current_peak_a: FloatArray
    copper_energy_j: FloatArray
    battery_charge_c: FloatArray
    battery_min_v: FloatArray
    current_limited: NDArray[np.bool_]
    voltage_saturated: NDArray[np.bool_]


@dataclass(frozen=True)
class Trajectory:
    """The reference the servo follows in one stroke: extend to depth and back, cosine-shaped."""

    position_m: FloatArray
    velocity_m_s: FloatArray
    accel_m_s2: FloatArray

    @classmethod
    def raised_cosine(
        cls, home_mm: float, depth_mm: float, ticks: int, dt: float, max_accel_m_s2: float, dwell: float = 0.2
    ) -> Trajectory:
        """Home -> depth -> home in the first ``1 - dwell`` of the stroke, then rest at home.

        The dwell at home gives the carriage time to come fully out of the skin
        before the next stroke starts. A stroke too deep for its rate (peak
        reference acceleration above ``max_accel_m_s2``) is shortened to the
        deepest one that fits: the actuator could not follow it, and a servo
        that saturates overshoots unpredictably. The shortfall shows in the
        telemetry (SHORTFALL flag, depth reached), it is not hidden.
        """
        moving = max(2, round(ticks * (1.0 - dwell)))
        omega = 2.0 * np.pi / (moving * dt)
        amplitude = min((depth_mm - home_mm) * 1e-3 / 2.0, max_accel_m_s2 / (omega * omega))
        phase = omega * dt * np.arange(1, ticks + 1, dtype=np.float64)
        phase[moving:] = 0.0
        still = np.arange(ticks) >= moving
        return cls(
            position_m=home_mm * 1e-3 + amplitude * (1.0 - np.cos(phase)),
            velocity_m_s=np.where(still, 0.0, amplitude * omega * np.sin(phase)),
            accel_m_s2=np.where(still, 0.0, amplitude * omega * omega * np.cos(phase)),
        )


def integrate_strokes(
    inputs: StrokeInputs,
    trajectory: Trajectory,
    dt: float,
    coil: VoiceCoilParams,
    servo: ServoGains,
    skin_stiffening_m: float,
    skin_damping_ns_per_m: float,
    battery_resistance_ohm: float,
) -> StrokeOutputs:
    """Step every stroke of a batch through the same trajectory, tick by tick.

    Semi-implicit Euler for the mechanics and explicit Euler for the coil
    current are stable here by a wide margin (servo natural frequency times dt is
    about 0.14; the current loop's ``dt (R + Kc) / L`` is below 0.8).
    """
    m = coil.moving_mass_kg
    ks = coil.spring_n_per_m
    c = coil.damping_ns_per_m
    kf = coil.force_constant_n_per_a
    ilim = coil.current_limit_a
    home = coil.home_mm * 1e-3
    back_stop, front_stop = coil.back_stop_mm * 1e-3, coil.front_stop_mm * 1e-3
    kp, kd, kc = servo.position_n_per_m, servo.velocity_ns_per_m, servo.current_v_per_a
    dt_over_l = dt / coil.coil_inductance_h
    inv_stiffening = 1.0 / skin_stiffening_m
    boost, efficiency, idle = coil.boost_ratio, coil.boost_efficiency, coil.idle_current_a

    x = inputs.x0.copy()
    v = inputs.v0.copy()
    i = inputs.i0.copy()
    ib = inputs.battery_current0.copy()
    r = inputs.coil_resistance_ohm
    ocv = inputs.open_circuit_v
    kt = inputs.contact_stiffness_n_per_m
    surface = inputs.surface_m
    ct = skin_damping_ns_per_m

    n = x.shape[0]
    peak = np.full(n, -np.inf)
    ipeak = np.zeros(n)
    energy = np.zeros(n)
    charge = np.zeros(n)
    vmin = np.full(n, np.inf)
    limited = np.zeros(n, dtype=bool)
    saturated = np.zeros(n, dtype=bool)

    # Feed-forward of the known dynamics, the same for every stroke of the batch.
    feed_forward = m * trajectory.accel_m_s2 + c * trajectory.velocity_m_s + ks * (trajectory.position_m - home)
    reference = zip(
        trajectory.position_m.tolist(), trajectory.velocity_m_s.tolist(), feed_forward.tolist(), strict=True
    )
    for xr, vr, ff in reference:
        # Position servo -> current demand, clipped by the current limit.
        i_dem = (ff + kp * (xr - x) + kd * (vr - v)) / kf
        limited |= np.abs(i_dem) > ilim
        i_dem = np.clip(i_dem, -ilim, ilim)
        # Current loop with back-EMF compensation, clipped by the boosted, loaded battery voltage.
        battery_v = ocv - battery_resistance_ohm * ib
        supply = boost * battery_v
        u_dem = r * i_dem + kf * v + kc * (i_dem - i)
        saturated |= np.abs(u_dem) > supply
        u = np.clip(u_dem, -supply, supply)
        i = i + dt_over_l * (u - r * i - kf * v)
        ib = np.maximum(u * i, 0.0) / (efficiency * battery_v) + idle
        # Mechanics: skin pushes back only while the tips are past the surface.
        p = np.maximum(x - surface, 0.0)
        skin = kt * p * (1.0 + p * inv_stiffening) + (p > 0.0) * (ct * v)
        skin = np.maximum(skin, 0.0)
        v = v + dt * (kf * i - ks * (x - home) - c * v - skin) / m
        x = x + dt * v
        # Inelastic end stops.
        np.clip(x, back_stop, front_stop, out=x)
        v = np.where(((x <= back_stop) & (v < 0.0)) | ((x >= front_stop) & (v > 0.0)), 0.0, v)
        np.maximum(peak, x, out=peak)
        np.maximum(ipeak, np.abs(i), out=ipeak)
        np.minimum(vmin, battery_v, out=vmin)
        energy += r * i * i * dt
        charge += ib * dt

    return StrokeOutputs(
        x_end=x,
        v_end=v,
        i_end=i,
        battery_current_end=ib,
        peak_m=peak,
        current_peak_a=ipeak,
        copper_energy_j=energy,
        battery_charge_c=charge,
        battery_min_v=vmin,
        current_limited=limited,
        voltage_saturated=saturated,
    )
