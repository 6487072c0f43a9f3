"""The compiled stroke model: the same physics as :mod:`sim.reference`, fast.

The tick loop is compiled with numba. Strokes are stepped one after the other,
exactly as the pen does them, so a batch of any size gives the same result as
one stroke at a time, and the coupling between strokes (carriage state, winding
temperature, charge drawn) needs no approximation. Only the loop layout
differs from the reference: parameters travel in one flat array, the
feed-forward is precomputed for the batch, and outputs are written into
preallocated arrays.

Why numba: a 30-minute pass at 120 Hz is 216,000 strokes of 200 ticks, 43
million servo steps with nonlinear skin contact and saturation. Pure NumPy can
only vectorise across strokes, which needs iterations to resolve their coupling
(it managed about 80x real time); compiled scalar code does one pass at several
nanoseconds a tick. See docs/performance.md for the figures.
"""

from __future__ import annotations

from functools import cache
from typing import Protocol

import numpy as np

from sim import battery as battery_model
from sim.jit import compiled
from sim.stroke_batch import FloatArray, StrokeBatch, StrokeResults

# Indices into the flat parameter array.
(
    M,
    KS,
    C,
    KF,
    ILIM,
    HOME,
    BACK,
    FRONT,
    KP,
    KD,
    KC,
    DT_L,
    R25,
    TEMPCO,
    BOOST,
    EFF,
    IDLE,
    RINT,
    CAPACITY,
    INV_STIFFENING,
    DAMPING,
    DT,
    PERIOD,
    AMBIENT,
    SENSE,
    WINDING_FAULT_W,
    BATTERY_FAULT_W,
    BATTERY_RTH,
    BATTERY_DECAY,
    SMOOTH,
    RTH,
    DECAY,
    PUNCTURE,
    D_KF,
    D_R25,
    N_PARAMS,
) = range(36)
"""``D_`` parameters are the design's, which the servo believes; the others are the hardware as built."""
# Columns of the float output.
(O_X, O_V, O_I, O_IB, O_PEAK, O_PEN, O_LOAD, O_IPEAK, O_VMIN, O_TEMP, O_CHARGE, O_BTEMP, N_OUT) = range(13)


@compiled(nogil=True, fastmath={"contract"})
def _ocv(soc, soc_points, ocv_points):  # type: ignore[no-untyped-def]
    """Open-circuit voltage at ``soc``: the arithmetic of ``np.interp`` for one point, without its overhead.

    numba's ``np.interp`` builds arrays and types a chain of overloads: typing it was about three
    fifths of the kernel's compile time. This is the same formula on the same operands, compiled
    with the same flags it had inside :func:`_run` (numba compiles a callee with its caller's
    ``fastmath``, so slope times offset plus value was a fused multiply-add there, and is here),
    so the voltage, and every stroke after it, is bit for bit what it was. The flag is given
    here too, so the result does not depend on who calls this first.
    """
    last = soc_points.shape[0] - 1
    if soc != soc:
        return soc
    if soc < soc_points[0]:
        return ocv_points[0]
    if soc >= soc_points[last]:
        return ocv_points[last]
    j = 0
    while soc >= soc_points[j + 1]:
        j += 1
    if soc_points[j] == soc:
        return ocv_points[j]
    slope = (ocv_points[j + 1] - ocv_points[j]) / (soc_points[j + 1] - soc_points[j])
    return slope * (soc - soc_points[j]) + ocv_points[j]


@compiled(nogil=True, fastmath={"contract"})
def _run(g, stiffness, tent, surface, p, start, soc_points, ocv_points, out, flags):  # type: ignore[no-untyped-def]
    x, v, i, ib, temp, charge, btemp = start[0], start[1], start[2], start[3], start[4], start[5], start[6]
    sense = p[SENSE]
    smooth = p[SMOOTH]
    m, ks, c, kf, ilim, home = p[M], p[KS], p[C], p[KF], p[ILIM], p[HOME]
    back, front, kp, kd, kc, dt_l = p[BACK], p[FRONT], p[KP], p[KD], p[KC], p[DT_L]
    boost, eff, idle, rint, dt = p[BOOST], p[EFF], p[IDLE], p[RINT], p[DT]
    inv_s, ct, puncture = p[INV_STIFFENING], p[DAMPING], p[PUNCTURE]
    d_kf = p[D_KF]
    kp_kf = kp / d_kf
    kd_kf = kd / d_kf
    dt_m = dt / m
    ticks = g.shape[0]
    for k in range(stiffness.shape[0]):
        r = p[R25] * (1.0 + p[TEMPCO] * (temp - 25.0))
        r_d = p[D_R25] * (1.0 + p[TEMPCO] * (temp - 25.0))
        soc = min(max(1.0 - charge / p[CAPACITY], 0.0), 1.0)
        ocv = _ocv(soc, soc_points, ocv_points)
        kt = stiffness[k]
        k_tent = tent[k]
        d_p = puncture / k_tent
        surf = surface[k]
        peak = -np.inf
        load = 0.0
        ipeak = 0.0
        vmin = np.inf
        i2 = 0.0
        drawn = 0.0
        ib2 = 0.0
        limited = False
        saturated = False
        r_kc = r_d + kc
        i_keep = 1.0 - dt_l * r
        dt_l_kf = dt_l * kf
        for n in range(ticks):
            # Servo: g[n] folds the reference and feed-forward, so only the state terms remain.
            i_dem = g[n] - kp_kf * x - kd_kf * v
            if i_dem > ilim:
                limited = True
                i_dem = ilim
            elif i_dem < -ilim:
                limited = True
                i_dem = -ilim
            battery_v = ocv - rint * ib
            supply = boost * battery_v
            u = r_kc * i_dem + d_kf * v - kc * sense * i
            if u > supply:
                saturated = True
                u = supply
            elif u < -supply:
                saturated = True
                u = -supply
            i = i_keep * i + dt_l * u - dt_l_kf * v
            ib = ib + smooth * (max(u * i, 0.0) / (eff * battery_v) + idle - ib)
            d = x - surf
            f_skin = 0.0
            if d > 0.0:
                pen = d - d_p  # the tented skin is punctured at d_p; before it, only the tent pushes back
                f_skin = k_tent * d if pen <= 0.0 else max(puncture + kt * pen * (1.0 + pen * inv_s) + ct * v, 0.0)
            v = v + dt_m * (kf * i - ks * (x - home) - c * v - f_skin)
            x = x + dt * v
            if x <= back:
                x = back
                v = max(v, 0.0)
            elif x >= front:
                x = front
                v = min(v, 0.0)
            if x > peak:
                peak = x
                load = f_skin
            ipeak = max(ipeak, abs(i))
            vmin = min(vmin, battery_v)
            i2 += i * i
            drawn += ib
            ib2 += ib * ib
        steady = p[AMBIENT] + p[RTH] * (r * i2 * dt / p[PERIOD] + p[WINDING_FAULT_W])
        temp = steady + (temp - steady) * p[DECAY]
        charge += drawn * dt
        cell = p[AMBIENT] + p[BATTERY_RTH] * (rint * ib2 * dt / p[PERIOD] + p[BATTERY_FAULT_W])
        btemp = cell + (btemp - cell) * p[BATTERY_DECAY]
        out[k, O_X] = x
        out[k, O_V] = v
        out[k, O_I] = i
        out[k, O_IB] = ib
        out[k, O_PEAK] = peak
        out[k, O_PEN] = max(peak - surf - d_p, 0.0)
        out[k, O_LOAD] = load
        out[k, O_IPEAK] = ipeak
        out[k, O_VMIN] = vmin
        out[k, O_TEMP] = temp
        out[k, O_CHARGE] = charge
        out[k, O_BTEMP] = btemp
        flags[k, 0] = limited
        flags[k, 1] = saturated


class SkinPerStroke(Protocol):
    """What a batch of either drive says of the skin each stroke meets."""

    @property
    def stiffness_n_per_m(self) -> FloatArray: ...
    @property
    def tent_n_per_m(self) -> FloatArray: ...
    @property
    def surface_m(self) -> FloatArray: ...


def skin_arrays(batch: SkinPerStroke) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Stiffness, tent and surface per stroke as both kernels take them: contiguous float64."""
    return (
        np.ascontiguousarray(batch.stiffness_n_per_m, dtype=np.float64),
        np.ascontiguousarray(batch.tent_n_per_m, dtype=np.float64),
        np.ascontiguousarray(batch.surface_m, dtype=np.float64),
    )


def run_kernel(batch: StrokeBatch) -> StrokeResults:
    """Step every stroke of ``batch`` with the compiled kernel."""
    coil, design, servo, thermal, bat = batch.coil, batch.design, batch.servo, batch.thermal, batch.battery
    tr = batch.trajectory
    home = coil.home_mm * 1e-3
    p = np.zeros(N_PARAMS)
    p[[M, KS, C, KF, ILIM, HOME, BACK, FRONT]] = (
        coil.moving_mass_kg,
        coil.spring_n_per_m,
        coil.damping_ns_per_m,
        coil.force_constant_n_per_a,
        coil.current_limit_a,
        home,
        coil.back_stop_mm * 1e-3,
        coil.front_stop_mm * 1e-3,
    )
    p[[KP, KD, KC, DT_L, R25, TEMPCO]] = (
        servo.position_n_per_m,
        servo.velocity_ns_per_m,
        servo.current_v_per_a,
        batch.dt / coil.coil_inductance_h,
        coil.coil_resistance_ohm,
        coil.resistance_tempco_per_k,
    )
    p[[BOOST, EFF, IDLE, RINT, CAPACITY]] = (
        coil.boost_ratio,
        coil.boost_efficiency,
        coil.idle_current_a,
        bat.internal_resistance_ohm,
        bat.capacity_c,
    )
    p[[INV_STIFFENING, DAMPING, DT, PERIOD, PUNCTURE]] = (
        1.0 / batch.skin_stiffening_m,
        batch.skin_damping_ns_per_m,
        batch.dt,
        batch.period_s,
        batch.puncture_n,
    )
    p[[AMBIENT, RTH, DECAY]] = (
        thermal.ambient_c,
        thermal.resistance_k_per_w,
        np.exp(-batch.period_s / thermal.time_constant_s),
    )
    p[[D_KF, D_R25]] = design.force_constant_n_per_a, design.coil_resistance_ohm
    p[SMOOTH] = batch.dt / (coil.bulk_capacitor_time_constant_s + batch.dt)
    p[[SENSE, WINDING_FAULT_W, BATTERY_FAULT_W, BATTERY_RTH, BATTERY_DECAY]] = (
        1.0 if batch.current_sense_ok else 0.0,
        batch.winding_fault_heat_w,
        batch.battery_fault_heat_w,
        bat.thermal_resistance_k_per_w,
        np.exp(-batch.period_s / bat.thermal_time_constant_s),
    )
    ff = (
        design.moving_mass_kg * tr.accel_m_s2
        + design.damping_ns_per_m * tr.velocity_m_s
        + design.spring_n_per_m * (tr.position_m - home)
    )
    n = batch.strokes
    out = np.empty((n, N_OUT))
    flags = np.zeros((n, 2), dtype=np.bool_)
    g = (ff + servo.position_n_per_m * tr.position_m + servo.velocity_ns_per_m * tr.velocity_m_s) / (
        design.force_constant_n_per_a
    )
    _run(
        g,
        *skin_arrays(batch),
        p,
        np.array(batch.start, dtype=np.float64),
        battery_model.SOC_POINTS,
        battery_model.OCV_POINTS,
        out,
        flags,
    )
    return StrokeResults(
        x_end=out[:, O_X],
        v_end=out[:, O_V],
        i_end=out[:, O_I],
        battery_current_end=out[:, O_IB],
        peak_m=out[:, O_PEAK],
        penetration_m=out[:, O_PEN],
        load_n=out[:, O_LOAD],
        current_peak_a=out[:, O_IPEAK],
        battery_min_v=out[:, O_VMIN],
        current_limited=flags[:, 0],
        voltage_saturated=flags[:, 1],
        motor_temp_end_c=out[:, O_TEMP],
        charge_end_c=out[:, O_CHARGE],
        battery_temp_end_c=out[:, O_BTEMP],
    )


@cache
def warm_up() -> None:
    """Load (or compile) the kernel now rather than on the first stroke of a paced, real-time run."""
    _run(
        np.zeros(2),
        np.zeros(1),
        np.ones(1),
        np.zeros(1),
        np.zeros(N_PARAMS) + 1.0,
        np.zeros(7),
        battery_model.SOC_POINTS,
        battery_model.OCV_POINTS,
        np.empty((1, N_OUT)),
        np.zeros((1, 2), dtype=np.bool_),
    )
