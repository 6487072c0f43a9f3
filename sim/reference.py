"""The reference stroke model: the pen's physics stepped tick by tick in plain Python.

Written to be read, not to be fast: one small function per physical element,
scalars only, the equations as in docs/simulation.md. It is the accuracy oracle
for the compiled kernel in :mod:`sim.kernel` (tests and benchmarks hold them
side by side) and runs about a thousand times slower.
"""

from __future__ import annotations

import numpy as np

from sim.actuator import ServoGains, VoiceCoilParams
from sim.battery import open_circuit_voltage
from sim.stroke_batch import StrokeBatch, StrokeResults
from sim.thermal import ThermalParams, temperature_after


def coil_resistance(coil: VoiceCoilParams, temp_c: float) -> float:
    """Winding resistance at ``temp_c`` (copper)."""
    return coil.coil_resistance_ohm * (1.0 + coil.resistance_tempco_per_k * (temp_c - 25.0))


def current_demand(
    servo: ServoGains, coil: VoiceCoilParams, ff: float, xr: float, vr: float, x: float, v: float
) -> float:
    """Position servo: feed-forward plus PD on the tracking error, as coil current (unclipped)."""
    force = ff + servo.position_n_per_m * (xr - x) + servo.velocity_ns_per_m * (vr - v)
    return force / coil.force_constant_n_per_a


def skin_force(
    d: float, v: float, tent: float, puncture: float, stiffness: float, stiffening_m: float, damping: float
) -> float:
    """Force of the skin on the needles with the tips ``d`` past its resting surface (never pulls).

    It tents until the puncture force, then the punctured tissue resists (sim/tissue.py).
    """
    if d <= 0.0:
        return 0.0
    p = d - puncture / tent
    if p <= 0.0:
        return tent * d
    return max(puncture + stiffness * p * (1.0 + p / stiffening_m) + damping * v, 0.0)


def penetration(d: float, tent: float, puncture: float) -> float:
    """Tissue penetration with the tips ``d`` past the resting surface: what is left after the tent."""
    return max(d - puncture / tent, 0.0)


def run_reference(batch: StrokeBatch) -> StrokeResults:
    """Step every stroke of ``batch``, one after the other, tick by tick."""
    coil, design, servo, dt = batch.coil, batch.design, batch.servo, batch.dt
    m, ks, c, kf = coil.moving_mass_kg, coil.spring_n_per_m, coil.damping_ns_per_m, coil.force_constant_n_per_a
    m_d, ks_d, c_d = design.moving_mass_kg, design.spring_n_per_m, design.damping_ns_per_m
    home = coil.home_mm * 1e-3
    n = batch.strokes
    names = ("x", "v", "i", "ib", "peak", "pen", "load", "ipeak", "vmin", "temp", "charge", "btemp")
    out = {name: np.zeros(n) for name in names}
    limited_all = np.zeros(n, dtype=bool)
    saturated_all = np.zeros(n, dtype=bool)
    x, v, i, ib, temp, charge, btemp = batch.start
    sense = 1.0 if batch.current_sense_ok else 0.0
    smoothing = dt / (coil.bulk_capacitor_time_constant_s + dt)
    bat = batch.battery
    bat_thermal = ThermalParams(
        ambient_c=batch.thermal.ambient_c,
        resistance_k_per_w=bat.thermal_resistance_k_per_w,
        time_constant_s=bat.thermal_time_constant_s,
    )
    tr = batch.trajectory
    for k in range(n):
        r = coil_resistance(coil, temp)
        r_d = coil_resistance(design, temp)  # what the current loop believes the winding's resistance is
        ocv = open_circuit_voltage(1.0 - charge / batch.battery.capacity_c)
        peak, load, ipeak, vmin, energy, drawn, cell_heat = -np.inf, 0.0, 0.0, np.inf, 0.0, 0.0, 0.0
        limited = saturated = False
        for xr, vr, ar in zip(tr.position_m.tolist(), tr.velocity_m_s.tolist(), tr.accel_m_s2.tolist(), strict=True):
            ff = m_d * ar + c_d * vr + ks_d * (xr - home)
            i_dem = current_demand(servo, design, ff, xr, vr, x, v)
            if abs(i_dem) > coil.current_limit_a:
                limited = True
                i_dem = max(-coil.current_limit_a, min(coil.current_limit_a, i_dem))
            battery_v = ocv - batch.battery.internal_resistance_ohm * ib
            supply = coil.boost_ratio * battery_v
            u = r_d * i_dem + design.force_constant_n_per_a * v + servo.current_v_per_a * (i_dem - sense * i)
            if abs(u) > supply:
                saturated = True
                u = max(-supply, min(supply, u))
            i = i + dt / coil.coil_inductance_h * (u - r * i - kf * v)
            demand = max(u * i, 0.0) / (coil.boost_efficiency * battery_v) + coil.idle_current_a
            ib = ib + smoothing * (demand - ib)
            f_skin = skin_force(
                x - batch.surface_m[k],
                v,
                batch.tent_n_per_m[k],
                batch.puncture_n,
                batch.stiffness_n_per_m[k],
                batch.skin_stiffening_m,
                batch.skin_damping_ns_per_m,
            )
            v = v + dt * (kf * i - ks * (x - home) - c * v - f_skin) / m
            x = x + dt * v
            if x <= coil.back_stop_mm * 1e-3:
                x, v = coil.back_stop_mm * 1e-3, max(v, 0.0)
            elif x >= coil.front_stop_mm * 1e-3:
                x, v = coil.front_stop_mm * 1e-3, min(v, 0.0)
            if x > peak:
                peak, load = x, f_skin
            ipeak = max(ipeak, abs(i))
            vmin = min(vmin, battery_v)
            energy += r * i * i * dt
            drawn += ib * dt
            cell_heat += bat.internal_resistance_ohm * ib * ib * dt
        winding_w = energy / batch.period_s + batch.winding_fault_heat_w
        temp = temperature_after(batch.thermal, temp, winding_w, batch.period_s)
        cell_w = cell_heat / batch.period_s + batch.battery_fault_heat_w
        btemp = temperature_after(bat_thermal, btemp, cell_w, batch.period_s)
        charge += drawn
        for name, value in (
            ("x", x),
            ("v", v),
            ("i", i),
            ("ib", ib),
            ("peak", peak),
            ("pen", penetration(peak - batch.surface_m[k], batch.tent_n_per_m[k], batch.puncture_n)),
            ("load", load),
            ("ipeak", ipeak),
            ("vmin", vmin),
            ("temp", temp),
            ("charge", charge),
            ("btemp", btemp),
        ):
            out[name][k] = value
        limited_all[k], saturated_all[k] = limited, saturated
    return StrokeResults(
        x_end=out["x"],
        v_end=out["v"],
        i_end=out["i"],
        battery_current_end=out["ib"],
        peak_m=out["peak"],
        penetration_m=out["pen"],
        load_n=out["load"],
        current_peak_a=out["ipeak"],
        battery_min_v=out["vmin"],
        current_limited=limited_all,
        voltage_saturated=saturated_all,
        motor_temp_end_c=out["temp"],
        charge_end_c=out["charge"],
        battery_temp_end_c=out["btemp"],
    )
