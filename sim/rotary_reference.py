"""The rotary drive's reference stroke model: motor, cam, carriage and depth stop stepped in plain Python.

The accuracy oracle for :mod:`sim.rotary_kernel`, written to be read: one small function per physical element,
scalars only, the equations as in docs/simulation.md. Per tick: the PI speed loop sets the bridge voltage
(limited by the current limit and the loaded cell), the winding current follows exactly over the tick, the cam
pushes the carriage through the follower's compliance, the skin (sim/tissue.py, through
:func:`sim.reference.skin_force`) and the return spring push back, and what the follower transmits loads the
rotor through the cam's lever arm ``e sin(theta)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from sim.battery import open_circuit_voltage
from sim.depth_stop import follow_backlash, nut_step
from sim.reference import penetration, skin_force
from sim.rotary_batch import RotaryBatch, RotaryCarried, RotaryResults
from sim.rotary_drive import RotaryMotorParams, SpeedLoopGains
from sim.thermal import ThermalParams, temperature_after

TWO_PI = 2.0 * math.pi
SATURATED_SHARE = 0.5
"""A revolution counts as voltage-saturated when the loop was at the cell's voltage for more than this share of it:
the cam's torque peaks saturate it briefly in every revolution, which the speed rides out."""


@dataclass(kw_only=True)
class _Revolution:
    """What one revolution records as it goes."""

    ticks: int = 0
    peak: float = -math.inf
    load: float = 0.0
    ipeak: float = 0.0
    vmin: float = math.inf
    copper_j: float = 0.0
    drawn_c: float = 0.0
    cell_j: float = 0.0
    limited: bool = False
    saturated_ticks: int = 0


def winding_resistance(motor: RotaryMotorParams, temp_c: float) -> float:
    return motor.resistance_ohm * (1.0 + motor.resistance_tempco_per_k * (temp_c - 25.0))


def bridge_voltage(
    loop: SpeedLoopGains, motor: RotaryMotorParams, error: float, integral: float, omega: float, r: float, cell: float
) -> tuple[float, bool, bool]:
    """The PI loop's voltage, cut to the current limit and then to the cell: (volts, limited, saturated).

    The limit is the voltage that drives the limit current against the back-EMF; without a current sensor
    (``motor.current_limit_a`` infinite) there is none."""
    current_limit = motor.current_limit_a
    u = loop.proportional_v_per_rad_s * error + integral
    ceiling = r * current_limit + motor.torque_constant_nm_per_a * omega
    limited = u > ceiling
    u = min(u, ceiling)
    saturated = u > cell
    return max(min(u, cell), 0.0), limited, saturated


def winding_current(i: float, u: float, omega: float, r: float, motor: RotaryMotorParams, dt: float) -> float:
    """The current after one tick at voltage ``u``: exact for the winding's L/R, shorter than a tick."""
    steady = (u - motor.torque_constant_nm_per_a * omega) / r
    return steady + (i - steady) * math.exp(-dt * r / motor.inductance_h)


def _tick(b: RotaryBatch, s: list[float], k: int, rev: _Revolution, r: float, ocv: float) -> None:
    """One physics tick of revolution ``k``; ``s`` is the carried state in :class:`RotaryCarried` order."""
    d, dt = b.drive, b.dt
    th, w, i, integ, x, v, ib, _temp, _charge, _bt, nut, stop, wear = s
    cell = ocv - b.battery.internal_resistance_ohm * ib
    error = b.omega_ref_rad_s - w
    motor = d.motor if b.current_sense_ok else replace(d.motor, current_limit_a=math.inf)
    u, limited, saturated = bridge_voltage(d.loop, motor, error, integ, w, r, cell)
    integ = min(max(integ + d.loop.integral_v_per_rad * error * dt, 0.0), cell)  # clamped: no windup past the cell
    i = winding_current(i, u, w, r, d.motor, dt)
    ib += (
        dt
        / (d.motor.bulk_capacitor_time_constant_s + dt)
        * (max(u * i, 0.0) / (d.motor.bridge_efficiency * cell) + d.motor.idle_current_a - ib)
    )
    e = d.cam.eccentricity_mm * 1e-3 - 0.5 * wear
    top = stop - d.cam.eccentricity_mm * 2e-3
    x_cam, v_cam, arm = top + e * (1.0 - math.cos(th)), e * math.sin(th) * w, e * math.sin(th)
    push = (
        0.0 if b.load_lost else max(d.cam.follower_n_per_m * (x_cam - x) + d.cam.follower_ns_per_m * (v_cam - v), 0.0)
    )
    f_skin = skin_force(
        x - b.surface_m[k],
        v,
        b.tent_n_per_m[k],
        b.puncture_n,
        b.stiffness_n_per_m[k],
        b.skin_stiffening_m,
        b.skin_damping_ns_per_m,
    )
    rest = top - d.cam.spring_preload_n / d.cam.spring_n_per_m
    v += dt * (push - d.cam.spring_n_per_m * (x - rest) - d.cam.damping_ns_per_m * v - f_skin) / d.cam.carriage_mass_kg
    x += dt * v
    if x >= b.front_stop_m:
        x, v = b.front_stop_m, min(v, 0.0)
    elif x <= b.back_stop_m:
        x, v = b.back_stop_m, max(v, 0.0)
    m = d.motor
    torque = m.torque_constant_nm_per_a * i - m.viscous_nm_s * w - (m.coulomb_friction_nm if w > 0.0 else 0.0)
    w = max(w + dt * (torque - push * arm) / m.rotor_inertia_kg_m2, 0.0)
    th += dt * w
    nut = nut_step(d.stop, nut, b.stop_target_m, b.stop_jam_m, dt)
    stop = follow_backlash(d.stop, nut, stop)
    s[0:7], s[10:12] = [th, w, i, integ, x, v, ib], [nut, stop]
    rev.ticks += 1
    if x > rev.peak:
        rev.peak, rev.load = x, f_skin
    rev.ipeak, rev.vmin = max(rev.ipeak, abs(i)), min(rev.vmin, cell)
    rev.copper_j += r * i * i * dt
    rev.drawn_c += ib * dt
    rev.cell_j += b.battery.internal_resistance_ohm * ib * ib * dt
    rev.limited |= limited
    rev.saturated_ticks += saturated


def _revolution(b: RotaryBatch, s: list[float], k: int) -> _Revolution:
    """Step one revolution of the cam (or until it counts as stalled) and settle its heat and charge."""
    r = winding_resistance(b.drive.motor, s[7])
    ocv = open_circuit_voltage(1.0 - s[8] / b.battery.capacity_c)
    rev = _Revolution()
    while rev.ticks < b.max_ticks and s[0] < TWO_PI:
        _tick(b, s, k, rev, r, ocv)
    if s[0] >= TWO_PI:
        s[0] -= TWO_PI
    period = rev.ticks * b.dt
    s[7] = temperature_after(b.thermal, s[7], rev.copper_j / period + b.winding_fault_heat_w, period)
    cell = ThermalParams(
        ambient_c=b.thermal.ambient_c,
        resistance_k_per_w=b.battery.thermal_resistance_k_per_w,
        time_constant_s=b.battery.thermal_time_constant_s,
    )
    s[9] = temperature_after(cell, s[9], rev.cell_j / period + b.battery_fault_heat_w, period)
    s[8] += rev.drawn_c
    s[12] += b.wear_m_per_stroke
    return rev


def run_rotary_reference(batch: RotaryBatch) -> RotaryResults:
    """Step the revolutions of ``batch`` one after the other, tick by tick, until the strokes or ticks run out."""
    n = batch.strokes
    s = [float(v) for v in batch.start]
    ticks = np.zeros(n, dtype=np.int64)
    floats = np.zeros((n, 6))
    flags = np.zeros((n, 2), dtype=bool)
    state = np.zeros((n, len(RotaryCarried._fields)))
    used, done = 0, 0
    while done < n and used < batch.tick_budget:
        rev = _revolution(batch, s, done)
        pen = penetration(rev.peak - batch.surface_m[done], batch.tent_n_per_m[done], batch.puncture_n)
        ticks[done], used = rev.ticks, used + rev.ticks
        floats[done] = (rev.peak, pen, rev.load, rev.ipeak, rev.vmin, s[10])
        flags[done] = (rev.limited, rev.saturated_ticks > SATURATED_SHARE * rev.ticks)
        state[done] = s
        done += 1
    return RotaryResults(
        ticks=ticks,
        peak_m=floats[:, 0],
        penetration_m=floats[:, 1],
        load_n=floats[:, 2],
        current_peak_a=floats[:, 3],
        battery_min_v=floats[:, 4],
        encoder_m=floats[:, 5],
        current_limited=flags[:, 0],
        voltage_saturated=flags[:, 1],
        state=state,
        done=done,
    )
