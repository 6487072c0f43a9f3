"""Shared fixtures: a simulated pen and a controller on it, and plan text helpers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.firmware.pen_controller import PenController
from controller.firmware.target import Target
from hal.backend import CartridgeInfo, StrokeCommand
from sim.backend import SimBackend
from sim.pen import SimulatedPen

ROOT = Path(__file__).resolve().parent.parent


def make_pen(
    seed: int = 7,
    depth_mm: float = 1.0,
    frequency_hz: float = 100.0,
    skin: str = "normal",
    needles: int = 12,
    battery_soc: float = 0.9,
) -> SimulatedPen:
    """A simulated pen already commanded to stroke."""
    from sim.tissue import SKINS

    pen = SimulatedPen(seed=seed, cartridge=CartridgeInfo(cartridge_id=101, needles=needles), battery_soc=battery_soc)
    pen.skin = SKINS[skin]
    pen.command = StrokeCommand(depth_mm=depth_mm, frequency_hz=frequency_hz, motor_enabled=True)
    return pen


def running(backend: SimBackend, depth: float = 1.0, hz: float = 120.0) -> PenController:
    """A controller stroking ``depth`` at ``hz`` on the abdomen (no zone maximum of its own)."""
    ctl = PenController(backend)
    ctl.power_on()
    ctl.select(Target(depth_mm=depth, frequency_hz=hz, zone_max_mm=None, zone="abdomen"))
    ctl.arm()
    ctl.start()
    return ctl


@pytest.fixture
def backend() -> Iterator[SimBackend]:
    b = SimBackend(seed=3, cartridge=CartridgeInfo(cartridge_id=555))
    yield b
    b.close()


@pytest.fixture
def controller(backend: SimBackend) -> PenController:
    """A controller powered on, self-tested and idle, with 1.0 mm at 100 Hz on the cheeks selected."""
    ctl = PenController(backend)
    ctl.power_on()
    ctl.select(Target(depth_mm=1.0, frequency_hz=100.0, zone_max_mm=1.0, zone="cheeks"))
    return ctl
