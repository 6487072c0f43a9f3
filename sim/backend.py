"""The in-process simulated pen behind the HAL contract (registered as "sim")."""

from __future__ import annotations

import numpy as np

from hal.backend import PenIdentity, PenStatus, StrokeCommand
from hal.errors import PenOperationError
from hal.telemetry import Telemetry
from sim.cartridge import Cartridge
from sim.pen import SimulatedPen
from sim.tissue import SKIN_TYPES

PROTOCOL_VERSION = 1
SETTINGS_SCHEMA_VERSION = 1
FIRMWARE_VERSION = "0.1.0-sim"


class SimBackend:
    """A :class:`~sim.pen.SimulatedPen` that satisfies :class:`hal.backend.PenBackend`.

    It is speculative: asked for many strokes it computes them all, and the
    stroke loop rewinds it with :meth:`discard_after` when it acts mid-batch.
    """

    name = "sim"
    speculative = True

    def __init__(
        self,
        seed: int | np.random.SeedSequence = 0,
        cartridge: Cartridge | None = None,
        battery_soc: float = 0.9,
        serial_number: str = "SIM-000001",
        max_depth_mm: float = 2.5,
        pen: SimulatedPen | None = None,
        model: str = "kernel",
    ) -> None:
        self.pen = pen or SimulatedPen(seed=seed, cartridge=cartridge, battery_soc=battery_soc, model=model)
        self._identity = PenIdentity(
            model="MN-1 (simulated)",
            serial_number=serial_number,
            firmware_version=FIRMWARE_VERSION,
            protocol_version=PROTOCOL_VERSION,
            settings_schema_version=SETTINGS_SCHEMA_VERSION,
            max_depth_mm=max_depth_mm,
            min_frequency_hz=25.0,
            max_frequency_hz=150.0,
        )
        self._closed = False

    def identify(self) -> PenIdentity:
        return self._identity

    def status(self) -> PenStatus:
        pen = self.pen
        cartridge = pen.cartridge.info(pen.cartridge_strokes()) if pen.cartridge else None
        return PenStatus(
            time_s=pen.time_s,
            battery_v=pen.battery_voltage(),
            battery_soc=pen.battery_soc,
            motor_temp_c=pen.state.motor_temp_c,
            tip_mm=pen.state.x_m * 1e3,
            cartridge=cartridge,
        )

    def apply(self, command: StrokeCommand) -> None:
        self._check_open()
        self.pen.command = command

    def read_strokes(self, max_strokes: int) -> Telemetry:
        self._check_open()
        return self.pen.run(max_strokes)

    def discard_after(self, keep: int) -> None:
        self.pen.discard_after(keep)

    def retract(self) -> None:
        self.pen.retract()

    def wait(self, seconds: float) -> None:
        """Let pen time pass with the motor still (pauses, moving between zones)."""
        self.pen.wait(seconds)

    def set_skin(self, skin: str) -> None:
        try:
            self.pen.skin = SKIN_TYPES[skin]
        except KeyError:
            raise PenOperationError(f"unknown skin type {skin!r} (known: {', '.join(SKIN_TYPES)})") from None

    def attach_cartridge(self, cartridge: Cartridge | None) -> None:
        """Insert a cartridge (or remove it with ``None``), as an operator would."""
        self.pen.retract()
        self.pen.cartridge = cartridge

    def close(self) -> None:
        if not self._closed:
            self.pen.retract()
            self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise PenOperationError("the simulated pen is closed")
