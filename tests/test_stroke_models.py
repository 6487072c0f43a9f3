"""The compiled kernel against the plain-Python reference model: same physics, within 1 um."""

from __future__ import annotations

import numpy as np
import pytest

from sim.actuator import DriveLimits, ServoGains, Trajectory, VoiceCoilParams
from sim.battery import BatteryParams
from sim.kernel import run_kernel
from sim.pen import SimulatedPen
from sim.reference import run_reference
from sim.stroke_batch import CarriedState, StrokeBatch
from sim.thermal import ThermalParams
from sim.tissue import SKINS

BUILT_OFF_DRAWING = VoiceCoilParams(
    moving_mass_kg=0.0028, spring_n_per_m=360.0, force_constant_n_per_a=2.8, coil_resistance_ohm=2.2
)
"""A pen built at the edge of its tolerances: the servo still believes the nominal design."""


def batch(
    depth_mm: float,
    hz: float,
    skin: str,
    strokes: int = 40,
    soc: float = 0.9,
    seed: int = 0,
    built: VoiceCoilParams | None = None,
) -> StrokeBatch:
    coil = VoiceCoilParams()
    dt = 1.0 / 24_000
    ticks = round(1.0 / (hz * dt))
    rng = np.random.default_rng(seed)
    s = SKINS[skin]
    bat = BatteryParams()
    return StrokeBatch(
        trajectory=Trajectory.raised_cosine(coil.home_mm, depth_mm, ticks, dt, DriveLimits.of(coil, 3.9, 2.0)),
        dt=dt,
        stiffness_n_per_m=s.stiffness_n_per_m * 12 * np.exp(0.1 * rng.standard_normal(strokes)),
        tent_n_per_m=s.tent_stiffness_n_per_m(3.5) * np.exp(0.1 * rng.standard_normal(strokes)),
        puncture_n=12 * s.insertion_force_n,
        surface_m=1e-6 * 5 * rng.standard_normal(strokes),
        skin_stiffening_m=s.stiffening_mm * 1e-3,
        skin_damping_ns_per_m=s.damping_ns_per_m * 12,
        start=CarriedState(coil.home_mm * 1e-3, 0.0, 0.0, 0.0, 40.0, (1 - soc) * bat.capacity_c, 30.0),
        coil=built or coil,
        design=coil,
        servo=ServoGains(),
        thermal=ThermalParams(),
        battery=bat,
    )


@pytest.mark.parametrize(
    "depth_mm,hz,skin,soc",
    [
        (1.0, 100.0, "normal", 0.9),
        (0.25, 150.0, "sensitive", 0.9),
        (2.0, 120.0, "thick", 0.9),
        (2.5, 150.0, "normal", 0.9),
        (2.5, 100.0, "thick", 0.06),
        (0.5, 25.0, "normal", 0.5),
    ],
)
@pytest.mark.parametrize("built", [None, BUILT_OFF_DRAWING], ids=["nominal", "off-drawing"])
def test_kernel_matches_the_reference_within_one_micrometre(
    depth_mm: float, hz: float, skin: str, soc: float, built: VoiceCoilParams | None
) -> None:
    b = batch(depth_mm, hz, skin, soc=soc, built=built)
    fast, ref = run_kernel(b), run_reference(b)
    assert np.abs(fast.peak_m - ref.peak_m).max() <= 1e-6
    assert np.abs(fast.penetration_m - ref.penetration_m).max() <= 1e-6
    assert np.abs(fast.load_n - ref.load_n).max() <= 1e-3  # N: a micrometre of tissue is about a millinewton
    assert np.abs(fast.x_end - ref.x_end).max() <= 1e-6
    assert np.allclose(fast.motor_temp_end_c, ref.motor_temp_end_c, rtol=0, atol=1e-6)
    assert np.allclose(fast.charge_end_c, ref.charge_end_c, rtol=1e-9)
    assert (fast.current_limited == ref.current_limited).all()
    assert (fast.voltage_saturated == ref.voltage_saturated).all()


def test_the_pen_runs_either_model_to_the_same_telemetry() -> None:
    from hal.backend import CartridgeInfo, StrokeCommand

    tels = []
    for model in ("kernel", "reference"):
        pen = SimulatedPen(seed=3, cartridge=CartridgeInfo(cartridge_id=1), model=model)
        pen.command = StrokeCommand(depth_mm=1.0, frequency_hz=120.0)
        tels.append(pen.run(100))
    assert np.abs(tels[0]["depth_mm"] - tels[1]["depth_mm"]).max() <= 1e-3
    assert (tels[0]["flags"] == tels[1]["flags"]).all()


def test_an_unknown_stroke_model_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown stroke model 'magic'"):
        SimulatedPen(model="magic")


def test_a_thirty_minute_session_fits_the_telemetry_budget() -> None:
    """At 150 Hz (the fastest rate) 30 minutes is 270,000 strokes: at most 17 MB of telemetry."""
    from hal.backend import CartridgeInfo, StrokeCommand

    pen = SimulatedPen(seed=1, cartridge=CartridgeInfo(cartridge_id=1))
    pen.command = StrokeCommand(depth_mm=0.5, frequency_hz=150.0)
    tel = pen.run(270_000)
    assert tel.dtype.itemsize <= 64
    assert tel.nbytes <= 17e6
    assert float(tel["period_s"].astype(np.float64).sum()) == pytest.approx(1800.0, rel=1e-6)


def test_the_kernels_battery_voltage_is_np_interp_bit_for_bit() -> None:
    """The kernel's own interpolation replaced numba's ``np.interp`` to cut compile time; no bit may change.

    Compared with ``np.interp`` compiled under the kernel's flags (``fastmath={"contract"}``), which is
    how the kernel ran it before.
    """
    from numba import njit

    from sim.battery import OCV_POINTS, SOC_POINTS
    from sim.kernel import _ocv

    @njit(fastmath={"contract"})
    def both(socs: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ours, theirs = np.empty_like(socs), np.empty_like(socs)
        for k in range(socs.shape[0]):
            ours[k] = _ocv(socs[k], xp, fp)
            theirs[k] = np.interp(socs[k], xp, fp)
        return ours, theirs

    socs = np.concatenate((np.linspace(0.0, 1.0, 20_001), SOC_POINTS, np.nextafter(SOC_POINTS, 2.0), [-0.5, 1.5]))
    ours, theirs = both(socs, SOC_POINTS, OCV_POINTS)
    assert np.array_equal(ours, theirs)
    assert np.isnan(_ocv(float("nan"), SOC_POINTS, OCV_POINTS))


def test_the_kernel_compiles_without_a_writable_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """With nowhere to keep compiled code (numba finds no cache locator), the kernel's decorator compiles uncached.

    numba raises at decoration time in that case, which would make ``import sim.kernel`` fail on a
    read-only install with no writable home directory.
    """
    from numba.core import caching

    from sim.jit import compiled

    monkeypatch.setattr(caching.CacheImpl, "_locator_classes", [])

    def twice(x: float) -> float:
        return 2.0 * x

    kernel = compiled(nogil=True)(twice)
    assert kernel(1.5) == 3.0
    assert isinstance(kernel._cache, caching.NullCache)
