"""The simulated pen's operating envelope: what it delivers at each depth and rate, and for how long.

A datasheet of the drive, measured on the simulated hardware itself: at each (depth, rate) the pen strokes
for a short while on the given skin and battery, and the point records what the planner aimed at, what the
needles reached, how often the drive ran out of current, and the winding's copper loss. The continuous-duty
limit follows from that loss through the winding's first-order thermal model (sim/thermal.py), with the
copper's resistance rising as it warms (the servo holds the current, so the loss rises with the resistance):
``P(T) = P0 * (1 + a (T - 25)) / (1 + a (T0 - 25))`` makes ``tau dT/dt = ambient + R_th P(T) - T`` linear in
``T``, with a steady temperature ``T_ss`` and a time constant ``tau'`` of its own. If ``T_ss`` is above the trip,
the time to reach the trip from ambient is ``t = -tau' * ln((T_ss - T_trip) / (T_ss - ambient))``; if the loss
grows faster than the winding sheds it, the winding runs away and always trips.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from hal.backend import CartridgeInfo, StrokeCommand
from hal.telemetry import StrokeFlag
from sim.drives import DEFAULT_DRIVE, drive_class, rate_range_hz
from sim.pen import SimulatedPen
from sim.tissue import SKINS, SkinType

DEPTHS_MM = tuple(round(0.25 * k, 2) for k in range(1, 11))
"""0.25 to 2.5 mm by 0.25 mm."""
RATES_HZ = (25.0, 50.0, 75.0, 100.0, 125.0, 150.0)
"""The voice coil's grid: every rate the settings allow, by 25 Hz."""
ROTARY_RATE_STEP_HZ = 10.0


def rates_hz(drive: str = DEFAULT_DRIVE) -> tuple[float, ...]:
    """The rates an envelope of ``drive`` is measured at: its whole range (:func:`sim.drives.rate_range_hz`), ends
    included, so the lowest and highest rate a plan may ask are always measured."""
    low, high = rate_range_hz(drive)
    if (low, high) == (RATES_HZ[0], RATES_HZ[-1]):
        return RATES_HZ
    steps = round((high - low) / ROTARY_RATE_STEP_HZ)
    return tuple(float(low + k * (high - low) / steps) for k in range(steps + 1))


SAMPLE_S = 1.0
"""Pen time stroked at each point: long enough for the stroke-to-stroke spread of the skin to show."""
STIFF_SIGMAS = 4.0
"""The stiffest tissue a point is checked in: this many standard deviations of the skin's stroke-to-stroke
spread. One stroke in about 30,000 is stiffer, so a zone of a few minutes meets it: a point that stalls
there will stall in a session."""
STIFF_SAMPLE_S = 0.25


@dataclass(kw_only=True, frozen=True)
class EnvelopePoint:
    """What the pen delivers at one depth and rate."""

    depth_mm: float
    frequency_hz: float
    target_mm: float
    """What the stroke planner aimed at (less than the command where the drive cannot give it)."""
    reached_mean_mm: float
    reached_min_mm: float
    error_mean_mm: float
    error_worst_mm: float
    """The largest depth error of any stroke, with its sign."""
    penetration_mean_mm: float
    tissue_mean_mm: float
    """Into the tissue on average over the strokes that punctured it (0: none did), as the pass's verdict judges."""
    load_mean_n: float
    shortfall_fraction: float
    current_limited_fraction: float
    winding_w: float
    """Copper loss in the winding at this point (at the temperature it started from)."""
    steady_temp_c: float
    duty_limit_s: float | None
    """How long the pen can run here from a cold start before the winding trips; None: it never does."""
    stiff_reached_mm: float
    """The shallowest stroke in the stiffest tissue checked (``STIFF_SIGMAS``)."""
    stall_risk: bool
    """In that tissue the drive reaches its current limit short of the target by more than the stall margin:
    the firmware will stop a session here with a stall fault."""
    rate_mean_hz: float = 0.0
    """The stroke rate the drive delivered (a rotary pen's speed loop may not hold the command)."""
    rate_worst_hz: float = 0.0
    """The rate of the stroke furthest from the command, in either tissue: on a rotary pen the first revolutions
    on the skin, which slow the flywheel before the speed loop can answer (more so with more needles)."""
    rate_risk: bool = False
    """That stroke misses the command by more than the rate tolerance: the firmware judges every stroke's rate,
    so it will stop a session here with a rate fault at first skin contact."""


def characterise(
    depth_mm: float,
    frequency_hz: float,
    *,
    skin: str = "normal",
    battery_soc: float = 0.9,
    trip_c: float = 60.0,
    stall_margin_mm: float = 0.3,
    seed: int = 0,
    cartridge: CartridgeInfo | None = None,
    drive: str = DEFAULT_DRIVE,
    rate_tolerance: float = 0.02,
) -> EnvelopePoint:
    """Stroke ``SAMPLE_S`` of pen time at one point, and a moment in the stiffest tissue, and report it.

    The winding's loss is measured from the first stroke on, after the rotary drive's spin-up in the air: a
    spin-up happens once a zone, so counting it as continuous would overstate the loss of a session.
    """
    cartridge = cartridge or CartridgeInfo(cartridge_id=1)
    pen = _pen(SKINS[skin], depth_mm, frequency_hz, battery_soc, seed, cartridge, drive)
    first = pen.run(1)  # (the rotary drive spins up first, off the skin)
    start_c = pen.state.motor_temp_c
    rest = pen.run(max(1, round(SAMPLE_S * frequency_hz)) - 1)
    tel = np.concatenate((first, rest))
    stiff = _pen(_stiffest(SKINS[skin]), depth_mm, frequency_hz, battery_soc, seed, cartridge, drive)
    stiff_tel = stiff.run(max(1, round(STIFF_SAMPLE_S * frequency_hz)))
    error = tel["depth_mm"].astype(np.float64) - depth_mm
    worst = int(np.argmax(np.abs(error)))
    watts = _copper_loss(pen, start_c, float(rest["period_s"].astype(np.float64).sum())) if len(rest) else 0.0
    steady, tau = _warming(pen, watts, start_c)
    rates = 1.0 / np.concatenate((tel["period_s"], stiff_tel["period_s"])).astype(np.float64)
    rate_worst = float(rates[int(np.argmax(np.abs(rates - frequency_hz)))])
    return EnvelopePoint(
        depth_mm=depth_mm,
        frequency_hz=frequency_hz,
        target_mm=float(tel["depth_target_mm"][0]),
        reached_mean_mm=float(tel["depth_mm"].astype(np.float64).mean()),
        reached_min_mm=float(tel["depth_mm"].astype(np.float64).min()),
        error_mean_mm=float(error.mean()),
        error_worst_mm=float(error[worst]),
        penetration_mean_mm=float(tel["penetration_mm"].astype(np.float64).mean()),
        tissue_mean_mm=_tissue_mean(tel),
        load_mean_n=float(tel["load_n"].astype(np.float64).mean()),
        shortfall_fraction=_fraction(tel["flags"], StrokeFlag.SHORTFALL),
        current_limited_fraction=_fraction(tel["flags"], StrokeFlag.CURRENT_LIMITED),
        winding_w=watts,
        steady_temp_c=steady,
        duty_limit_s=_time_to_trip(pen.thermal.ambient_c, steady, tau, trip_c),
        stiff_reached_mm=float(stiff_tel["depth_mm"].astype(np.float64).min()),
        stall_risk=_stalls(stiff_tel, stall_margin_mm),
        rate_mean_hz=float(len(tel) / tel["period_s"].astype(np.float64).sum()),
        rate_worst_hz=rate_worst,
        rate_risk=not abs(rate_worst - frequency_hz) <= rate_tolerance * frequency_hz,
    )


def _pen(
    skin: SkinType,
    depth_mm: float,
    frequency_hz: float,
    battery_soc: float,
    seed: int,
    cartridge: CartridgeInfo,
    drive: str = DEFAULT_DRIVE,
) -> SimulatedPen:
    pen = drive_class(drive)(seed=seed, cartridge=cartridge, battery_soc=battery_soc)
    pen.skin = skin
    pen.command = StrokeCommand(depth_mm=depth_mm, frequency_hz=frequency_hz)
    return pen


def _stiffest(skin: SkinType) -> SkinType:
    """The skin at ``STIFF_SIGMAS`` of its stroke-to-stroke spread, without the spread."""
    factor = math.exp(STIFF_SIGMAS * skin.variability)
    return replace(
        skin,
        stiffness_n_per_m=skin.stiffness_n_per_m * factor,
        youngs_modulus_pa=skin.youngs_modulus_pa * factor,
        variability=0.0,
    )


def _stalls(tel: np.ndarray, margin_mm: float) -> bool:
    """The firmware's stall rule: a current-limited stroke short of its target by the margin (or half of it)."""
    target = tel["depth_target_mm"].astype(np.float64)
    short = target - tel["depth_mm"].astype(np.float64)
    limited = (tel["flags"] & StrokeFlag.CURRENT_LIMITED) != 0
    return bool((limited & (short > np.minimum(margin_mm, 0.5 * target))).any())


def sweep(
    *,
    skin: str = "normal",
    battery_soc: float = 0.9,
    trip_c: float = 60.0,
    stall_margin_mm: float = 0.3,
    drive: str = DEFAULT_DRIVE,
    cartridge: CartridgeInfo | None = None,
    rate_tolerance: float = 0.02,
) -> list[EnvelopePoint]:
    """Every point of depth x rate, rate-major, on a pen with ``drive`` and ``cartridge`` (its needles load it)."""
    return [
        characterise(
            depth,
            hz,
            skin=skin,
            battery_soc=battery_soc,
            trip_c=trip_c,
            stall_margin_mm=stall_margin_mm,
            drive=drive,
            cartridge=cartridge,
            rate_tolerance=rate_tolerance,
        )
        for hz in rates_hz(drive)
        for depth in DEPTHS_MM
    ]


def _tissue_mean(tel: np.ndarray) -> float:
    punctured = (tel["flags"] & StrokeFlag.PUNCTURED) != 0
    return float(tel["penetration_mm"][punctured].astype(np.float64).mean()) if punctured.any() else 0.0


def _fraction(flags: np.ndarray, flag: StrokeFlag) -> float:
    return float(np.count_nonzero(flags & flag)) / max(1, len(flags))


def _copper_loss(pen: SimulatedPen, start_c: float, seconds: float) -> float:
    """The winding's copper loss, from how far it warmed in ``seconds`` (exact for the first-order model)."""
    thermal = pen.thermal
    decay = math.exp(-seconds / thermal.time_constant_s)
    steady = (pen.state.motor_temp_c - start_c * decay) / (1.0 - decay)
    return (steady - thermal.ambient_c) / thermal.resistance_k_per_w


def _warming(pen: SimulatedPen, watts: float, at_c: float) -> tuple[float, float]:
    """(steady temperature, time constant) of the winding with its loss rising with its resistance.

    A steady temperature of infinity means thermal runaway: the loss outgrows what the winding sheds.
    """
    thermal, tempco = pen.thermal, pen.coil.resistance_tempco_per_k
    scale = watts / (1.0 + tempco * (at_c - 25.0))
    c0, c1 = scale * (1.0 - 25.0 * tempco), scale * tempco  # P(T) = c0 + c1 T
    shed = 1.0 - thermal.resistance_k_per_w * c1
    if shed <= 0.0:
        return math.inf, thermal.time_constant_s
    return (thermal.ambient_c + thermal.resistance_k_per_w * c0) / shed, thermal.time_constant_s / shed


def _time_to_trip(ambient_c: float, steady_c: float, tau_s: float, trip_c: float) -> float | None:
    if steady_c <= trip_c:
        return None
    if math.isinf(steady_c):
        return tau_s  # runaway: an estimate, about one time constant
    return -tau_s * math.log((steady_c - trip_c) / (steady_c - ambient_c))
