"""The rotary drive's hardware: a coreless DC motor, an eccentric cam, the return spring and the depth stop.

Most commercial pens (Dermapen, Exceed, SkinPen) turn a small DC motor whose eccentric cam pushes the needle
carriage out once per revolution; a return spring brings it back. The stroke rate is the motor's speed, held by
a speed loop whose PWM cannot exceed the cell's voltage, and the depth is where the cartridge's stop sits, set by
a small positioning motor with a lead screw. The figures and their sources are in docs/simulation.md.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(kw_only=True, frozen=True)
class RotaryMotorParams:
    """A 13 mm coreless DC motor with a 3 V winding, driven straight from the cell by a half bridge."""

    resistance_ohm: float = 2.0
    """Terminal resistance at 25 degC."""
    resistance_tempco_per_k: float = 0.00393
    inductance_h: float = 40e-6
    torque_constant_nm_per_a: float = 3.0e-3
    """Torque per amp; equal to the back-EMF constant in V per rad/s (SI)."""
    rotor_inertia_kg_m2: float = 0.5e-7
    """Rotor, cam and coupling together."""
    viscous_nm_s: float = 1.0e-8
    coulomb_friction_nm: float = 0.1e-3
    """Brush and bearing friction: what the no-load current (about 30 mA) pays for."""
    current_limit_a: float = 1.6
    bridge_efficiency: float = 0.9
    bulk_capacitor_time_constant_s: float = 0.02
    idle_current_a: float = 0.04


@dataclass(kw_only=True, frozen=True)
class CamParams:
    """The eccentric cam, the carriage it pushes, and the cartridge's return spring."""

    eccentricity_mm: float = 1.5
    """Half the stroke: the carriage travels 3 mm from bottom to top dead centre."""
    carriage_mass_kg: float = 0.0012
    """Carriage, needle plate and needles."""
    spring_n_per_m: float = 600.0
    spring_preload_n: float = 1.5
    """Return-spring force with the carriage at bottom dead centre: keeps the follower on the cam."""
    damping_ns_per_m: float = 0.5
    follower_n_per_m: float = 50_000.0
    """Contact stiffness of the follower and needle plate: what the skin's push compresses."""
    follower_ns_per_m: float = 6.0


@dataclass(kw_only=True, frozen=True)
class DepthStopParams:
    """The cartridge's depth stop, moved by a micro gear motor on a lead screw and read by its encoder."""

    time_constant_s: float = 0.02
    """Position loop of the stop's motor, close to the target."""
    max_speed_mm_s: float = 5.0
    """Lead-screw travel speed: a 1 mm change takes about 0.2 s plus settling."""
    backlash_mm: float = 0.02
    """Play between the screw's nut (where the encoder reads) and the stop itself."""
    min_mm: float = 0.0
    max_mm: float = 2.6


@dataclass(kw_only=True, frozen=True)
class SpeedLoopGains:
    """The PI speed loop on the motor's measured speed (encoder), at the physics rate."""

    proportional_v_per_rad_s: float = 0.05
    integral_v_per_rad: float = 2.5
    """Integral gain, V per (rad/s) per s: a 20 ms integral time."""


@dataclass(kw_only=True, frozen=True)
class RotaryDrive:
    """Everything the rotary drive is made of."""

    motor: RotaryMotorParams = RotaryMotorParams()
    cam: CamParams = CamParams()
    stop: DepthStopParams = DepthStopParams()
    loop: SpeedLoopGains = SpeedLoopGains()
    spin_up_s: float = 0.1
    """The motor starts off the skin and spins up this long before the first counted stroke."""
    stop_wait_s: float = 1.0
    """How long the pen waits for the depth stop to settle before it strokes anyway (a seized stop never does)."""
    stall_periods: float = 3.0
    """A revolution not done in this many nominal periods ends as a stalled stroke."""

    def calibration_mm(self) -> float:
        """How far the stop sits beyond the dialled depth: the factory's gauge calibration in air.

        At top dead centre the follower carries the return spring's force and gives a little under it; the
        stop is set that much further out so that a stroke in air reaches the dialled depth.
        """
        cam = self.cam
        spring_n = cam.spring_preload_n + cam.spring_n_per_m * 2.0 * cam.eccentricity_mm * 1e-3
        return spring_n / cam.follower_n_per_m * 1e3
