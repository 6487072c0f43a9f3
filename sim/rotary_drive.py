"""The rotary drive's hardware: a coreless DC motor, an eccentric cam, the return spring and the depth stop.

Most commercial pens (Dermapen, Exceed, SkinPen) turn a small DC motor whose eccentric cam pushes the needle
carriage out once per revolution; a return spring brings it back. The stroke rate is the motor's speed, held by
a speed loop whose PWM cannot exceed the cell's voltage, and the depth is where the cartridge's stop sits, set by
a small positioning motor with a lead screw. The figures and their sources are in docs/simulation.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sim.battery import open_circuit_voltage

RIPPLE_LIMIT = 0.05
"""The largest speed ripple within a revolution the drive is rated for: the cam's spring energy taken out and
given back each revolution swings the flywheel's speed by ``E_spring / (J w^2)``; above a few per cent the
needle enters the skin at a speed that depends on where the loop happens to be (and at a third or more the cam
stalls near top dead centre)."""
LOW_BATTERY_SOC = 0.10
"""The charge at which the drive must still make its top rate: the pen's low-battery cut-off region."""
RATE_STEP_HZ = 5.0
SKIN_WORK_SHARE = 0.5
"""The skin's work per stroke at a deep setting, as a share of the spring's: with friction, what the motor pays
for on average (an engineering estimate; the simulated 2.5 mm stroke in thick skin takes about this)."""
"""The selectable rates come in steps of this (Dermapen, Exceed: 5-10 Hz steps)."""


@dataclass(kw_only=True, frozen=True)
class RotaryMotorParams:
    """A 13 mm coreless DC motor with a 3 V winding, driven straight from the cell by a half bridge."""

    resistance_ohm: float = 2.0
    """Terminal resistance at 25 degC."""
    resistance_tempco_per_k: float = 0.00393
    inductance_h: float = 40e-6
    torque_constant_nm_per_a: float = 3.0e-3
    """Torque per amp; equal to the back-EMF constant in V per rad/s (SI)."""
    rotor_inertia_kg_m2: float = 3.0e-7
    """Rotor (0.63-0.71 g cm2 for a 13 mm x 31 mm coreless motor, Faulhaber 1331 T SR datasheet), the cam, and a
    brass flywheel disc 18 mm across and 2.6 mm thick (8.5 g/cm3: 5.6 g, J = m r^2 / 2 = 2.3 g cm2): the
    flywheel carries the cam through the spring's torque swing, so the motor supplies only the mean torque (an
    engineering estimate; a disc that size fits a pen body of 20-25 mm)."""
    viscous_nm_s: float = 1.0e-8
    coulomb_friction_nm: float = 0.1e-3
    """Brush and bearing friction: what the no-load current (about 30 mA) pays for."""
    current_limit_a: float = 1.6
    bridge_efficiency: float = 0.9
    bulk_capacitor_time_constant_s: float = 0.02
    idle_current_a: float = 0.04
    thermal_resistance_k_per_w: float = 31.0
    """Winding to ambient: winding to housing 6 K/W plus housing to ambient 25 K/W (Faulhaber 1331 T SR datasheet,
    Rth1 / Rth2), as one node: at the minutes a session lasts the housing's time constant governs."""
    thermal_time_constant_s: float = 190.0
    """The housing's thermal time constant, 190 s (same datasheet, tau_w2; the winding's own is 5 s)."""


@dataclass(kw_only=True, frozen=True)
class CamParams:
    """The eccentric cam, the carriage it pushes, and the cartridge's return spring."""

    eccentricity_mm: float = 1.5
    """Half the stroke: the carriage travels 3 mm from bottom to top dead centre."""
    carriage_mass_kg: float = 0.0012
    """Carriage, needle plate and needles."""
    spring_n_per_m: float = 300.0
    spring_preload_n: float = 1.0
    """Return-spring force with the carriage at bottom dead centre: keeps the follower on the cam."""
    damping_ns_per_m: float = 0.5
    follower_n_per_m: float = 300_000.0
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
    """The PI speed loop on the motor's measured speed (encoder), at the physics rate.

    Its output is the volts the motor is to see; the PWM duty is that over the measured cell voltage (the
    ``1/Vbat`` feed-forward of a real controller), so a fuller cell gives the same motor voltage at a smaller
    duty and the loop's behaviour does not change with charge until the duty reaches 100 %. The loop is slow
    next to a revolution (crossover near 10 Hz): it holds the mean speed and leaves the within-revolution
    torque swing to the flywheel, instead of fighting it with current (which is what overheated the winding
    of the earlier, stiff loop)."""

    proportional_v_per_rad_s: float = 0.005
    integral_v_per_rad: float = 0.1
    """Integral gain, V per (rad/s) per s: a 50 ms integral time."""


@dataclass(kw_only=True, frozen=True)
class RotaryDrive:
    """Everything the rotary drive is made of."""

    motor: RotaryMotorParams = RotaryMotorParams()
    cam: CamParams = CamParams()
    stop: DepthStopParams = DepthStopParams()
    loop: SpeedLoopGains = SpeedLoopGains()
    spin_up_s: float = 0.3
    """The motor starts off the skin and spins up this long before the first counted stroke."""
    stop_wait_s: float = 1.0
    """How long the pen waits for the depth stop to settle before it strokes anyway (a seized stop never does)."""
    stall_periods: float = 3.0
    """A revolution not done in this many nominal periods ends as a stalled stroke."""

    def spring_energy_j(self) -> float:
        """The work the cam does on the return spring from bottom to top dead centre (given back on the way in)."""
        cam, travel = self.cam, 2.0 * self.cam.eccentricity_mm * 1e-3
        return cam.spring_preload_n * travel + 0.5 * cam.spring_n_per_m * travel**2

    def rate_range_hz(self) -> tuple[float, float]:
        """The stroke rates this drive can hold, from its own parts, in the selectable steps.

        Lowest: where the flywheel's speed ripple (:meth:`spring_energy_j` over ``J w^2``) reaches
        ``RIPPLE_LIMIT``. Highest: the lower of where the return spring at top dead centre can no longer
        decelerate the carriage (``F_tdc = m e w^2``: the follower would leave the cam) and where the back-EMF
        and the winding's drop at the stroke's mean current use up a cell at ``LOW_BATTERY_SOC``.
        """
        m, cam = self.motor, self.cam
        e = cam.eccentricity_mm * 1e-3
        low = math.sqrt(self.spring_energy_j() / (m.rotor_inertia_kg_m2 * RIPPLE_LIMIT))
        f_tdc = cam.spring_preload_n + cam.spring_n_per_m * 2.0 * e
        lift_off = math.sqrt(f_tdc / (cam.carriage_mass_kg * e))
        mean_torque = m.coulomb_friction_nm + self.spring_energy_j() / (2.0 * math.pi) * SKIN_WORK_SHARE
        volts = open_circuit_voltage(LOW_BATTERY_SOC) - m.resistance_ohm * mean_torque / m.torque_constant_nm_per_a
        back_emf = volts / m.torque_constant_nm_per_a
        high = min(lift_off, back_emf)
        to_hz = 1.0 / (2.0 * math.pi)
        return (
            math.ceil(low * to_hz / RATE_STEP_HZ) * RATE_STEP_HZ,
            math.floor(high * to_hz / RATE_STEP_HZ) * RATE_STEP_HZ,
        )

    def calibration_mm(self) -> float:
        """How far the stop sits beyond the dialled depth: the factory's gauge calibration in air.

        At top dead centre the follower carries the return spring's force and gives a little under it; the
        stop is set that much further out so that a stroke in air reaches the dialled depth.
        """
        cam = self.cam
        spring_n = cam.spring_preload_n + cam.spring_n_per_m * 2.0 * cam.eccentricity_mm * 1e-3
        return spring_n / cam.follower_n_per_m * 1e3
