"""The rotary drive's compiled stroke model: the physics of :mod:`sim.rotary_reference`, fast.

The same tick loop compiled with numba (see sim/kernel.py for why). Revolutions are stepped one after the other
as the pen does them, so a batch of any size gives the result of one revolution at a time; the batch ends at the
first revolution boundary at or after its tick budget, which is where a scheduled fault starts.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np

from sim import battery as battery_model
from sim.jit import compiled
from sim.kernel import _ocv, skin_arrays
from sim.rotary_batch import RotaryBatch, RotaryCarried, RotaryResults
from sim.rotary_reference import SATURATED_SHARE

# Indices into the flat parameter array.
(
    R25, TEMPCO, INV_L, KT, INERTIA, VISCOUS, COULOMB, ILIM, EFF, SMOOTH, IDLE,
    ECC, MASS, KS, PRELOAD, CDAMP, KF, CF, TAU_S, VMAX_S, HALF_PLAY,
    KP, KI, DT, W_REF, TARGET, FRONT, BACK, LOST, STOP_JAM, WEAR_RATE,
    RINT, CAPACITY, AMBIENT, RTH, TAU_TH, BRTH, BTAU, WIND_W, BATT_W, PUNCTURE, INV_STIFF, SKIN_C,
    MAX_TICKS, BUDGET, N_PARAMS,
) = range(46)  # fmt: skip
N_STATE = len(RotaryCarried._fields)
TWO_PI = 2.0 * math.pi


@compiled(nogil=True, error_model="numpy", fastmath={"contract"})
def _run(p, stiffness, tent, surface, s, soc_points, ocv_points, ticks_out, out, flags, state_out):  # type: ignore[no-untyped-def]
    th, w, i, integ, x, v, ib = s[0], s[1], s[2], s[3], s[4], s[5], s[6]
    temp, charge, btemp, nut, stop, wear = s[7], s[8], s[9], s[10], s[11], s[12]
    dt, w_ref, kp, ki, kt, ilim, rint, smooth, eff, idle = (
        p[DT], p[W_REF], p[KP], p[KI], p[KT], p[ILIM], p[RINT], p[SMOOTH], p[EFF], p[IDLE]
    )  # fmt: skip
    ecc, kf, cf, lost, puncture, inv_stiff, skin_c, preload, ks, cdamp, mass = (
        p[ECC], p[KF], p[CF], p[LOST], p[PUNCTURE], p[INV_STIFF], p[SKIN_C], p[PRELOAD], p[KS], p[CDAMP], p[MASS]
    )  # fmt: skip
    front, back, viscous, coulomb, inertia = p[FRONT], p[BACK], p[VISCOUS], p[COULOMB], p[INERTIA]
    stop_jam, vmax_s, target, tau_s, half_play = p[STOP_JAM], p[VMAX_S], p[TARGET], p[TAU_S], p[HALF_PLAY]
    max_ticks = p[MAX_TICKS]
    rest_gap, dt_m, dt_j, inv_tau = preload / ks, dt / mass, dt / inertia, 1.0 / tau_s  # divisions out of the loop
    used = 0
    done = 0
    while done < stiffness.shape[0] and used < p[BUDGET]:
        k = done
        r = p[R25] * (1.0 + p[TEMPCO] * (temp - 25.0))
        soc = min(max(1.0 - charge / p[CAPACITY], 0.0), 1.0)
        ocv = _ocv(soc, soc_points, ocv_points)
        decay_l = math.exp(-dt * r * p[INV_L])
        surf, k_tent, k_skin = surface[k], tent[k], stiffness[k]
        d_p = puncture / k_tent
        ceiling_i = r * ilim
        inv_r = 1.0 / r
        n = 0
        peak = -np.inf
        load = ipeak = copper = drawn = cell_j = 0.0
        vmin = np.inf
        limited_any = False
        saturated_n = 0
        while n < max_ticks and th < TWO_PI:
            cell = ocv - rint * ib
            error = w_ref - w
            u = kp * error + integ
            ceiling = ceiling_i + kt * w
            limited = u > ceiling
            u = min(u, ceiling)
            saturated = u > cell
            u = max(min(u, cell), 0.0)
            integ = min(max(integ + ki * error * dt, 0.0), cell)
            steady = (u - kt * w) * inv_r
            i = steady + (i - steady) * decay_l
            ib += smooth * (max(u * i, 0.0) / (eff * cell) + idle - ib)
            e = ecc - 0.5 * wear
            top = stop - 2.0 * ecc
            sin_t = math.sin(th)
            x_cam = top + e * (1.0 - math.cos(th))
            push = 0.0
            if lost == 0.0:
                push = max(kf * (x_cam - x) + cf * (e * sin_t * w - v), 0.0)
            d = x - surf
            f_skin = 0.0
            if d > 0.0:
                pen = d - d_p
                f_skin = k_tent * d
                if pen > 0.0:
                    f_skin = max(puncture + k_skin * pen * (1.0 + pen * inv_stiff) + skin_c * v, 0.0)
            rest = top - rest_gap
            v += dt_m * (push - ks * (x - rest) - cdamp * v - f_skin)
            x += dt * v
            if x >= front:
                x = front
                v = min(v, 0.0)
            elif x <= back:
                x = back
                v = max(v, 0.0)
            torque = kt * i - viscous * w - (coulomb if w > 0.0 else 0.0)
            w = max(w + dt_j * (torque - push * e * sin_t), 0.0)
            th += dt * w
            if stop_jam == stop_jam:
                nut = stop_jam
            else:
                nut += dt * max(-vmax_s, min(vmax_s, (target - nut) * inv_tau))
            if stop < nut - half_play:
                stop = nut - half_play
            elif stop > nut + half_play:
                stop = nut + half_play
            n += 1
            if x > peak:
                peak = x
                load = f_skin
            ipeak = max(ipeak, abs(i))
            vmin = min(vmin, cell)
            copper += r * i * i * dt
            drawn += ib * dt
            cell_j += rint * ib * ib * dt
            limited_any = limited_any or limited
            saturated_n += saturated
        if th >= TWO_PI:
            th -= TWO_PI
        period = n * dt
        steady_t = p[AMBIENT] + p[RTH] * (copper / period + p[WIND_W])
        temp = steady_t + (temp - steady_t) * math.exp(-period / p[TAU_TH])
        steady_b = p[AMBIENT] + p[BRTH] * (cell_j / period + p[BATT_W])
        btemp = steady_b + (btemp - steady_b) * math.exp(-period / p[BTAU])
        charge += drawn
        wear += p[WEAR_RATE]
        ticks_out[k] = n
        used += n
        out[k, 0] = peak
        out[k, 1] = max(peak - surface[k] - p[PUNCTURE] / tent[k], 0.0)
        out[k, 2] = load
        out[k, 3] = ipeak
        out[k, 4] = vmin
        out[k, 5] = nut
        flags[k, 0] = limited_any
        flags[k, 1] = saturated_n > SATURATED_SHARE * n
        for j, value in enumerate((th, w, i, integ, x, v, ib, temp, charge, btemp, nut, stop, wear)):
            state_out[k, j] = value
        done += 1
    return done


def _params(b: RotaryBatch) -> np.ndarray:
    d, m, c, st = b.drive, b.drive.motor, b.drive.cam, b.drive.stop
    p = np.zeros(N_PARAMS)
    limit = m.current_limit_a if b.current_sense_ok else np.inf  # no sensor, no current limit
    p[[R25, TEMPCO, INV_L, KT, INERTIA, VISCOUS, COULOMB, ILIM, EFF, IDLE]] = (
        m.resistance_ohm, m.resistance_tempco_per_k, 1.0 / m.inductance_h, m.torque_constant_nm_per_a,
        m.rotor_inertia_kg_m2, m.viscous_nm_s, m.coulomb_friction_nm, limit, m.bridge_efficiency,
        m.idle_current_a,
    )  # fmt: skip
    p[SMOOTH] = b.dt / (m.bulk_capacitor_time_constant_s + b.dt)
    p[[ECC, MASS, KS, PRELOAD, CDAMP, KF, CF]] = (
        c.eccentricity_mm * 1e-3, c.carriage_mass_kg, c.spring_n_per_m, c.spring_preload_n, c.damping_ns_per_m,
        c.follower_n_per_m, c.follower_ns_per_m,
    )  # fmt: skip
    p[[TAU_S, VMAX_S, HALF_PLAY]] = st.time_constant_s, st.max_speed_mm_s * 1e-3, st.backlash_mm * 0.5e-3
    p[[KP, KI, DT, W_REF, TARGET, FRONT, BACK]] = (
        d.loop.proportional_v_per_rad_s, d.loop.integral_v_per_rad, b.dt, b.omega_ref_rad_s, b.stop_target_m,
        b.front_stop_m, b.back_stop_m,
    )  # fmt: skip
    p[[LOST, STOP_JAM, WEAR_RATE]] = float(b.load_lost), b.stop_jam_m, b.wear_m_per_stroke
    bat, th = b.battery, b.thermal
    p[[RINT, CAPACITY, AMBIENT, RTH, TAU_TH, BRTH, BTAU, WIND_W, BATT_W]] = (
        bat.internal_resistance_ohm, bat.capacity_c, th.ambient_c, th.resistance_k_per_w, th.time_constant_s,
        bat.thermal_resistance_k_per_w, bat.thermal_time_constant_s, b.winding_fault_heat_w, b.battery_fault_heat_w,
    )  # fmt: skip
    p[[PUNCTURE, INV_STIFF, SKIN_C, MAX_TICKS, BUDGET]] = (
        b.puncture_n, 1.0 / b.skin_stiffening_m, b.skin_damping_ns_per_m, b.max_ticks, b.tick_budget,
    )  # fmt: skip
    return p


def run_rotary_kernel(batch: RotaryBatch) -> RotaryResults:
    """Step the revolutions of ``batch`` with the compiled kernel."""
    n = batch.strokes
    ticks = np.zeros(n, dtype=np.int64)
    out = np.zeros((n, 6))
    flags = np.zeros((n, 2), dtype=np.bool_)
    state = np.zeros((n, N_STATE))
    done = _run(
        _params(batch),
        *skin_arrays(batch),
        np.array(batch.start, dtype=np.float64),
        battery_model.SOC_POINTS,
        battery_model.OCV_POINTS,
        ticks,
        out,
        flags,
        state,
    )
    return RotaryResults(
        ticks=ticks,
        peak_m=out[:, 0],
        penetration_m=out[:, 1],
        load_n=out[:, 2],
        current_peak_a=out[:, 3],
        battery_min_v=out[:, 4],
        encoder_m=out[:, 5],
        current_limited=flags[:, 0],
        voltage_saturated=flags[:, 1],
        state=state,
        done=int(done),
    )


@cache
def warm_up_rotary() -> None:
    """Load (or compile) the rotary kernel before the first stroke of a paced run."""
    p = np.ones(N_PARAMS)
    p[[STOP_JAM, BUDGET, MAX_TICKS]] = np.nan, 1.0, 2.0
    z = np.zeros(1)
    bat = battery_model
    out = (np.zeros(1, dtype=np.int64), np.zeros((1, 6)), np.zeros((1, 2), dtype=np.bool_), np.zeros((1, N_STATE)))
    _run(p, z, np.ones(1), z, np.zeros(N_STATE), bat.SOC_POINTS, bat.OCV_POINTS, *out)
