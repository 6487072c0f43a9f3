"""The in-process simulated pen behind the HAL contract (registered as "sim").

It is the same pen the virtual pen serves over a link (sim/virtual_pen.py):
the hardware (:class:`~sim.pen.SimulatedPen`), its settings store
(:class:`~sim.pen_settings.PenSettings`) and the few things only a simulator can
be told (skin, time passing, a fresh start).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from hal.backend import CartridgeInfo, PenIdentity, PenStatus, StrokeCommand
from hal.errors import PenOperationError, PenRefusedError
from hal.protocol import PROTOCOL_VERSION, Alarm, ErrorCode
from hal.settings import SCHEMA_VERSION, SettingValue, defaults
from hal.telemetry import Telemetry
from sim.actuator import ServoGains, VoiceCoilParams
from sim.cartridge import Cartridge
from sim.faults import FaultKind, InjectedFault
from sim.kernel import warm_up
from sim.nvm import Flash, MemoryFlash, SettingsStore, StoreContents
from sim.pen import SimulatedPen
from sim.pen_settings import PenSettings
from sim.service_access import ServiceAccess
from sim.tissue import SKIN_TYPES

FIRMWARE_VERSION = "0.1.0-sim"
HARDWARE_MAX_DEPTH_MM = 2.5


def factory_programmed_flash() -> MemoryFlash:
    """A store as it leaves the factory: one valid image of the defaults (no alarm at boot)."""
    flash = MemoryFlash()
    SettingsStore(flash).commit(StoreContents(defaults()))
    return flash


def pen_seed(seed: int) -> np.random.SeedSequence:
    """The pen's noise seed for a session seed (the session's other streams spawn from the same root)."""
    return np.random.SeedSequence(seed).spawn(2)[0]


def hardware_params(values: Mapping[str, SettingValue]) -> tuple[VoiceCoilParams, ServoGains]:
    """The actuator and servo as the pen's settings configure them."""
    coil = replace(VoiceCoilParams(), current_limit_a=float(values["drive.current_limit_a"]))
    servo = ServoGains(
        float(values["servo.position_gain_n_per_m"]),
        float(values["servo.velocity_gain_ns_per_m"]),
        float(values["servo.current_gain_v_per_a"]),
    )
    return coil, servo


class SimBackend:
    """A simulated pen that satisfies :class:`hal.backend.PenBackend` and :class:`hal.backend.SettingsPort`.

    It is speculative: asked for many strokes it computes them all, and the
    stroke loop rewinds it with :meth:`discard_after` when it acts mid-batch.
    """

    name = "sim"
    speculative = True
    simulated = True

    def __init__(
        self,
        seed: int | np.random.SeedSequence = 0,
        cartridge: Cartridge | None = None,
        battery_soc: float = 0.9,
        model: str = "kernel",
        flash: Flash | None = None,
        service_key: bytes | None = None,
    ) -> None:
        if model == "kernel":
            warm_up()  # a pen is ready to stroke on time from the moment it is on
        self.settings = PenSettings(flash or factory_programmed_flash())
        self.model = model
        self._in_use: int | None = None
        values = self.settings.contents.settings
        self.access = ServiceAccess(
            service_key, int(values["service.max_unlock_failures"]), float(values["service.unlock_timeout_s"])
        )
        self.pen = self._new_pen(seed, cartridge, battery_soc)
        self._closed = False

    def _new_pen(self, seed: int | np.random.SeedSequence, cartridge: Cartridge | None, soc: float) -> SimulatedPen:
        coil, servo = hardware_params(self.settings.contents.settings)
        return SimulatedPen(seed=seed, cartridge=cartridge, battery_soc=soc, coil=coil, servo=servo, model=self.model)

    # --- PenBackend ---------------------------------------------------------------------------
    def identify(self) -> PenIdentity:
        return PenIdentity(
            model="MN-1 (simulated)",
            serial_number=str(self.settings.contents.settings["pen.serial_number"]),
            firmware_version=FIRMWARE_VERSION,
            protocol_version=PROTOCOL_VERSION,
            settings_schema_version=SCHEMA_VERSION,
            max_depth_mm=HARDWARE_MAX_DEPTH_MM,
            min_frequency_hz=25.0,
            max_frequency_hz=150.0,
        )

    def status(self) -> PenStatus:
        pen = self.pen
        cartridge = None
        if pen.cartridge:
            cid = pen.cartridge.cartridge_id
            cartridge = replace(pen.cartridge.info(pen.cartridge_strokes()), locked=self._is_locked(cid))
        return PenStatus(
            time_s=pen.time_s,
            battery_v=pen.battery_voltage(),
            battery_soc=pen.battery_soc,
            motor_temp_c=pen.state.motor_temp_c,
            tip_mm=pen.state.x_m * 1e3,
            cartridge=cartridge,
            battery_temp_c=pen.state.battery_temp_c,
        )

    def _is_locked(self, cartridge_id: int) -> bool:
        """Used before this attachment: the store lists it, and it is not the one in use now."""
        return cartridge_id in self.settings.contents.used_cartridges and cartridge_id != self._in_use

    def _retire_cartridge(self) -> None:
        """A cartridge that stroked is recorded, with its stroke count, when it leaves the pen."""
        pen = self.pen
        if pen.cartridge is not None and pen.cartridge_strokes() > 0:
            self.settings.record_used_cartridge(pen.cartridge.cartridge_id, pen.cartridge_strokes())
        self._in_use = None

    def apply(self, command: StrokeCommand) -> None:
        self._check_open()
        cartridge = self.pen.cartridge
        if command.motor_enabled and cartridge is not None:
            if self._is_locked(cartridge.cartridge_id):
                raise PenRefusedError(
                    ErrorCode.CARTRIDGE_LOCKED, "", f"cartridge {cartridge.cartridge_id} was already used: locked out"
                )
            self._in_use = cartridge.cartridge_id
        self.pen.command = command

    def read_strokes(self, max_strokes: int) -> Telemetry:
        self._check_open()
        self._note_use()
        return self.pen.run(max_strokes)

    def _note_use(self) -> None:
        """Record a cartridge as used once strokes it did are final (not rewound).

        Called before every new batch and on retract, detach and power-off, so a power cut cannot
        forget a used cartridge, and the record does not depend on how strokes were batched.
        """
        cartridge = self.pen.cartridge
        if (
            cartridge is not None
            and self.pen.cartridge_strokes() > 0
            and cartridge.cartridge_id not in self.settings.contents.used_cartridges
        ):
            self.settings.record_used_cartridge(cartridge.cartridge_id, 0)

    def discard_after(self, keep: int) -> None:
        self.pen.discard_after(keep)

    def retract(self) -> None:
        self.pen.retract()
        self._note_use()

    def close(self) -> None:
        """Power off: retract, record the cartridge as used if it stroked, drop any service unlock."""
        if not self._closed:
            self.pen.retract()
            self._retire_cartridge()
            self.access.power_off()
            self._closed = True

    # --- SimulatedWorld -----------------------------------------------------------------------
    def set_skin(self, skin: str) -> None:
        try:
            self.pen.skin = SKIN_TYPES[skin]
        except KeyError:
            raise PenOperationError(f"unknown skin type {skin!r} (known: {', '.join(SKIN_TYPES)})") from None

    def wait(self, seconds: float) -> None:
        """Let pen time pass with the motor still (pauses, moving between zones)."""
        try:
            self.pen.wait(seconds)
        except ValueError as exc:
            raise PenOperationError(str(exc)) from None

    def reset_world(self, seed: int, cartridge: CartridgeInfo | None, battery_soc: float) -> None:
        c = cartridge
        if c is not None and not (
            math.isfinite(c.max_depth_mm)
            and c.max_depth_mm > 0
            and c.needles > 0
            and (math.isfinite(c.field_diameter_mm) and c.field_diameter_mm > 0)
        ):
            raise PenOperationError(f"cartridge {c}: expected positive, finite needles, depth and field")
        if not (math.isfinite(battery_soc) and 0.0 <= battery_soc <= 1.0):
            raise PenOperationError(f"battery state of charge {battery_soc}: expected 0 to 1")
        self._retire_cartridge()
        c = cartridge
        hw = Cartridge(c.cartridge_id, c.needles, c.max_depth_mm, c.field_diameter_mm) if c else None
        self.pen = self._new_pen(pen_seed(seed), hw, battery_soc)

    def inject_fault(self, at_s: float, kind: str, value: float | None = None) -> None:
        """Schedule a hardware fault (see sim.faults.FaultKind) at pen time ``at_s``."""
        try:
            fault = InjectedFault(at_s, FaultKind(kind), value)
        except ValueError:
            known = ", ".join(k.value for k in FaultKind)
            raise PenOperationError(f"unknown fault kind {kind!r} (known: {known})") from None
        try:
            self.pen.inject(fault)
        except ValueError as exc:
            raise PenOperationError(str(exc)) from None

    def attach_cartridge(self, cartridge: Cartridge | None) -> None:
        """Insert a cartridge (or remove it with ``None``), as an operator would."""
        self.pen.retract()
        self._retire_cartridge()
        self.pen.cartridge = cartridge

    # --- SettingsPort -------------------------------------------------------------------------
    def read_settings(self) -> dict[str, SettingValue]:
        return self.settings.values

    def stage_settings(self, changes: Mapping[str, SettingValue]) -> None:
        if self.pen.command.motor_enabled:
            raise PenRefusedError(ErrorCode.BUSY, "", "settings cannot change while the motor runs")
        self.settings.access = self.access.level(self.pen.time_s)
        self.settings.stage(changes)

    # --- service access -----------------------------------------------------------------------
    def service_challenge(self) -> bytes:
        return self.access.challenge()

    def service_unlock(self, level: str, answer: bytes) -> None:
        serial = str(self.settings.contents.settings["pen.serial_number"])
        self.access.unlock(level, answer, serial, self.pen.time_s)

    def commit_settings(self) -> None:
        self.settings.commit()
        self.pen.coil, self.pen.servo = hardware_params(self.settings.contents.settings)

    def abort_settings(self) -> None:
        self.settings.abort()

    def stage_factory_reset(self) -> None:
        self.settings.stage_factory_reset()

    def read_alarms(self) -> list[int]:
        return sorted(int(a) for a in self.settings.alarms)

    def clear_alarm(self, code: int) -> None:
        self.settings.alarms.discard(Alarm(code))

    def _check_open(self) -> None:
        if self._closed:
            raise PenOperationError("the simulated pen is closed")
