"""A backend that replays recorded telemetry: a pen session played back through the firmware.

Useful for re-checking a recorded session against new limits, and for measuring
the firmware's own cost per stroke with no physics behind it. It is not
speculative: what it returns is what was recorded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hal.backend import CartridgeInfo, PenIdentity, PenStatus, StrokeCommand
from hal.errors import InputError, PenOperationError
from hal.telemetry import TELEMETRY_DTYPE, Telemetry


class ReplayBackend:
    """Plays back a telemetry array (or a ``.npy`` file of one), looping if ``loop``."""

    name = "replay"
    speculative = False
    simulated = False

    def __init__(
        self, telemetry: Telemetry | str | Path, cartridge: CartridgeInfo | None = None, loop: bool = False
    ) -> None:
        source = str(telemetry) if isinstance(telemetry, (str, Path)) else "telemetry"
        recording: Telemetry = (
            np.load(telemetry, allow_pickle=False) if isinstance(telemetry, (str, Path)) else telemetry
        )
        if recording.dtype != TELEMETRY_DTYPE:
            raise InputError(source, "", "a telemetry recording with dtype TELEMETRY_DTYPE", str(recording.dtype))
        if len(recording) == 0:
            raise InputError(source, "", "at least one recorded stroke")
        self.telemetry = recording
        first = recording[0]
        self.cartridge = cartridge or CartridgeInfo(
            cartridge_id=int(first["cartridge_id"]), needles=12, max_depth_mm=2.5
        )
        self.loop = loop
        self._pos = 0
        self._enabled = False

    def identify(self) -> PenIdentity:
        return PenIdentity(
            model="replay",
            serial_number="REPLAY",
            firmware_version="0",
            protocol_version=1,
            settings_schema_version=1,
            max_depth_mm=2.5,
            min_frequency_hz=25.0,
            max_frequency_hz=150.0,
        )

    def status(self) -> PenStatus:
        row = self.telemetry[min(self._pos, len(self.telemetry) - 1)]
        return PenStatus(
            time_s=float(row["t_s"]),
            battery_v=float(row["battery_v"]),
            battery_soc=1.0,
            motor_temp_c=float(row["motor_temp_c"]),
            tip_mm=-0.3,
            cartridge=self.cartridge,
            battery_temp_c=float(row["battery_temp_c"]),
        )

    def apply(self, command: StrokeCommand) -> None:
        self._enabled = command.motor_enabled

    def read_strokes(self, max_strokes: int) -> Telemetry:
        if not self._enabled:
            return self.telemetry[:0]
        if self.loop and self._pos >= len(self.telemetry):
            self._pos = 0
        part = self.telemetry[self._pos : self._pos + max_strokes]
        self._pos += len(part)
        return part

    def discard_after(self, keep: int) -> None:
        raise PenOperationError("a replayed recording cannot be rewound")

    def retract(self) -> None:
        self._enabled = False

    def close(self) -> None:
        self._enabled = False
