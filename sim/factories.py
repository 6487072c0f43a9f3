"""Public factories for simulated pens: what tooling outside ``sim`` builds pens with.

Like Opentrons' ``build_hardware_simulator()``: the QA harness, the bench and the
tests ask for a pen in a named condition (a fresh factory store, a corrupt one,
worn flash that no longer takes writes) instead of building flash images and
flipping their bytes themselves. What a condition means is defined here, once,
next to the simulator that gives it meaning; faults that happen while the pen
runs go through the documented fault API (``inject_fault``, hal/faults.py).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

import numpy as np

from hal.backend import CartridgeInfo
from sim.backend import SimBackend, factory_programmed_flash
from sim.build import NOMINAL, PARAMETERS, RANGES, PenBuild, gauge_depth_mm, gauge_rate_hz
from sim.drives import rate_range_hz
from sim.nvm import SLOT_SIZE, Flash, MemoryFlash, WornFlash, slot_offset

__all__ = [
    "DEFAULT_CARTRIDGE",
    "NOMINAL",
    "PARAMETERS",
    "RANGES",
    "Flash",
    "PenBuild",
    "SimBackend",
    "StoreCondition",
    "build_simulated_pen",
    "gauge_depth_mm",
    "gauge_rate_hz",
    "new_store",
    "rate_range_hz",
]
"""``Flash`` and ``SimBackend`` are re-exported as the types of what the factories return; ``PenBuild`` and
the gauges (sim/build.py) as what a verification campaign builds pens from and measures them with;
``rate_range_hz`` (sim/drives.py) as the rates a pen's drive can hold, which plan checks refuse outside."""

DEFAULT_CARTRIDGE = CartridgeInfo(cartridge_id=1)
"""A fresh 12-needle cartridge rated for 2.5 mm."""


class StoreCondition(StrEnum):
    """The state a pen's settings store is in at power-on."""

    FACTORY = "factory"
    """One valid image of the default settings: boots without an alarm."""
    CORRUPT = "corrupt"
    """The only image has a damaged byte and the other slot is empty: boots defaults with STORE_CORRUPT."""
    BLANK = "blank"
    """Erased flash, never programmed: boots defaults with STORE_BLANK."""
    WORN = "worn"
    """A valid factory image on flash that no longer accepts writes: every commit fails (NAK STORE)."""


def new_store(condition: StoreCondition = StoreCondition.FACTORY) -> Flash:
    """A settings store in ``condition``; pass the same object to two pens to model a power cycle."""
    if condition is StoreCondition.BLANK:
        return MemoryFlash()
    flash = factory_programmed_flash()
    if condition is StoreCondition.WORN:
        return WornFlash(data=flash.data)
    if condition is StoreCondition.CORRUPT:
        flash.data[slot_offset(0) + 20] ^= 0xFF  # a payload byte of the only image
        flash.data[slot_offset(1) : slot_offset(1) + SLOT_SIZE] = b"\x00" * SLOT_SIZE
    return flash


def build_simulated_pen(
    *,
    seed: int | np.random.SeedSequence = 0,
    cartridge: CartridgeInfo | None = DEFAULT_CARTRIDGE,
    battery_soc: float | None = None,
    store: Flash | StoreCondition = StoreCondition.FACTORY,
    model: str = "kernel",
    service_key: bytes | None = None,
    uptime: Callable[[], float] | None = None,
    build: PenBuild = NOMINAL,
    drive: str = "voice_coil",
) -> SimBackend:
    """A powered simulated pen behind the HAL contract.

    ``cartridge=None`` is a pen with no cartridge attached; ``model`` is
    ``"kernel"`` (compiled, fast) or ``"reference"`` (plain Python, the oracle).
    ``build`` is the pen as built and used (nominal by default); ``battery_soc``
    defaults to the build's. ``drive`` is ``"voice_coil"`` or ``"rotary_cam"`` (sim/drives.py).
    """
    flash = new_store(store) if isinstance(store, StoreCondition) else store
    return SimBackend(
        seed=seed,
        cartridge=cartridge,
        battery_soc=build.battery_soc if battery_soc is None else battery_soc,
        build=build,
        model=model,
        flash=flash,
        service_key=service_key,
        uptime=uptime,
        drive=drive,
    )
