"""The in-process simulated pen behind the HAL contract (registered as "sim").

It is the same pen the virtual pen serves over a link (sim/virtual_pen.py):
the hardware (:class:`~sim.pen.SimulatedPen`), its settings store
(:class:`~sim.pen_settings.PenSettings`) and the few things only a simulator can
be told (skin, time passing, a fresh start).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping
from dataclasses import replace

import numpy as np

from hal.backend import CartridgeInfo, PenIdentity, PenStatus, StrokeCommand, cartridge_problem
from hal.errors import PenOperationError, PenRefusedError
from hal.faults import FaultKind, fault_problem
from hal.protocol import PROTOCOL_VERSION, Alarm, ErrorCode
from hal.settings import SCHEMA_VERSION, SettingValue, defaults
from hal.telemetry import Telemetry
from sim.actuator import ServoGains, VoiceCoilParams
from sim.build import NOMINAL, PenBuild
from sim.drives import DEFAULT_DRIVE, drive_class, rate_range_hz
from sim.faults import InjectedFault
from sim.kernel import warm_up
from sim.nvm import Flash, MemoryFlash, SettingsStore, StoreContents
from sim.pen import SimulatedPen
from sim.pen_settings import PenSettings
from sim.rotary_kernel import warm_up_rotary
from sim.service_access import ServiceAccess
from sim.tissue import SKINS

FIRMWARE_VERSION = "0.1.0-sim"
HARDWARE_MAX_DEPTH_MM = 2.5
MAX_WAIT_S = 86_400.0
"""The longest single WAIT: a day of pen time."""


def factory_programmed_flash() -> MemoryFlash:
    """A store as it leaves the factory: one valid image of the defaults (no alarm at boot)."""
    flash = MemoryFlash()
    SettingsStore(flash).commit(StoreContents(settings=defaults()))
    return flash


def pen_seed(seed: int) -> np.random.SeedSequence:
    """The pen's noise seed for a session seed (the session's other streams spawn from the same root)."""
    return np.random.SeedSequence(seed).spawn(2)[0]


def hardware_params(values: Mapping[str, SettingValue]) -> tuple[VoiceCoilParams, ServoGains]:
    """The actuator and servo as the pen's settings configure them."""
    coil = replace(VoiceCoilParams(), current_limit_a=float(values["drive.current_limit_a"]))
    servo = ServoGains(
        position_n_per_m=float(values["servo.position_gain_n_per_m"]),
        velocity_ns_per_m=float(values["servo.velocity_gain_ns_per_m"]),
        current_v_per_a=float(values["servo.current_gain_v_per_a"]),
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
        cartridge: CartridgeInfo | None = None,
        battery_soc: float = 0.9,
        model: str = "kernel",
        flash: Flash | None = None,
        service_key: bytes | None = None,
        uptime: Callable[[], float] | None = None,
        build: PenBuild = NOMINAL,
        drive: str = DEFAULT_DRIVE,
    ) -> None:
        """``build`` is the pen as built and the day it is used on (sim/build.py); ``drive`` names its drive
        (sim/drives.py: the voice coil, or the rotary motor and cam).

        ``uptime`` is the pen's power-on clock (seconds): service unlocks expire on it. By default it
        is pen time carried across world resets; a served pen passes the wall clock, because a real
        pen's clock runs while it sits idle."""
        self.pen_class = drive_class(drive)
        self.drive = drive
        if model == "kernel":
            warm_up()  # a pen is ready to stroke on time from the moment it is on
            if self.pen_class is not SimulatedPen:
                warm_up_rotary()
        self.settings = PenSettings(flash or factory_programmed_flash())
        self.model = model
        self.build = build
        self._in_use: int | None = None
        self._earlier_worlds_s = 0.0
        self._uptime_s = 0.0
        self.uptime = uptime or self._pen_uptime
        self.pen = self._new_pen(seed, cartridge, battery_soc)
        self.access = ServiceAccess(service_key, self.settings, self.uptime())
        self._closed = False

    def _pen_uptime(self) -> float:
        """Pen time carried across world resets, never going back (a rewind takes back strokes, not time)."""
        self._uptime_s = max(self._uptime_s, self._earlier_worlds_s + self.pen.time_s)
        return self._uptime_s

    def _new_pen(self, seed: int | np.random.SeedSequence, cartridge: CartridgeInfo | None, soc: float) -> SimulatedPen:
        coil, servo = hardware_params(self.settings.contents.settings)
        return self.pen_class(
            seed=seed,
            cartridge=cartridge,
            battery_soc=soc,
            coil=coil,
            servo=servo,
            model=self.model,
            build=self._calibrated_build(),
        )

    def _calibrated_build(self) -> PenBuild:
        """The pen as built, seen through its end-of-line calibration.

        The firmware subtracts ``depth.calibration_offset_mm`` from the depth sensor's reading (it is set to
        the zero error the sensor was found to have), so the error the tips see is the build's less the offset:
        on a pen built without one, an offset of +0.01 mm sends the tips 0.01 mm deeper than the pen reports.
        """
        offset = float(self.settings.contents.settings["depth.calibration_offset_mm"])
        return replace(self.build, depth_offset_mm=self.build.depth_offset_mm - offset) if offset else self.build

    # --- PenBackend ---------------------------------------------------------------------------
    def identify(self) -> PenIdentity:
        return PenIdentity(
            model=f"MN-1 (simulated, {self.drive})",
            serial_number=str(self.settings.contents.settings["pen.serial_number"]),
            firmware_version=FIRMWARE_VERSION,
            protocol_version=PROTOCOL_VERSION,
            settings_schema_version=SCHEMA_VERSION,
            max_depth_mm=HARDWARE_MAX_DEPTH_MM,
            min_frequency_hz=self.rate_range_hz[0],
            max_frequency_hz=self.rate_range_hz[1],
        )

    @property
    def rate_range_hz(self) -> tuple[float, float]:
        """The stroke rates this pen's drive can hold (a rotary drive's from its parts): what HELLO reports."""
        return rate_range_hz(self.drive)

    def status(self) -> PenStatus:
        pen = self.pen
        cartridge = None
        if pen.cartridge:
            cid = pen.cartridge.cartridge_id
            cartridge = replace(pen.cartridge, strokes_used=pen.cartridge_strokes(), locked=self._is_locked(cid))
        return PenStatus(
            time_s=pen.time_s,
            battery_v=pen.battery_voltage(),
            battery_soc=pen.battery_soc,
            motor_temp_c=pen.state.motor_temp_c,
            tip_mm=pen.state.x_m * 1e3,
            cartridge=cartridge,
            battery_temp_c=pen.state.battery_temp_c,
            pen_depth_limit_mm=self.depth_limit()[0],
        )

    def depth_limit(self) -> tuple[float, str]:
        """The deepest stroke the pen itself allows now, and whose limit it is.

        The pen enforces this on every command and before every batch, whatever the host says:
        the smallest of its hardware maximum, its ``depth.max_mm`` setting and the attached
        cartridge's rating; 0 ("no cartridge") without a usable cartridge.
        """
        c = self.pen.cartridge
        if c is None or c.cartridge_id == 0 or c.needles <= 0 or not 0.0 < c.max_depth_mm < math.inf:
            return 0.0, "no usable cartridge"
        limits = [
            (HARDWARE_MAX_DEPTH_MM, "hardware"),
            (float(self.settings.contents.settings["depth.max_mm"]), "depth.max_mm"),
            (float(c.max_depth_mm), "cartridge"),
        ]
        return min(limits, key=lambda limit: limit[0])

    def _command_problem(self, command: StrokeCommand) -> PenRefusedError | None:
        """Why the pen refuses to stroke ``command`` now (None: it may)."""
        depth, hz = command.depth_mm, command.frequency_hz
        if not (math.isfinite(depth) and math.isfinite(hz)):
            return PenRefusedError(ErrorCode.COMMAND_RANGE, "", f"depth {depth} mm at {hz} Hz: expected finite numbers")
        if not command.motor_enabled:
            return None
        cartridge = self.pen.cartridge
        limit, owner = self.depth_limit()
        if cartridge is None or limit <= 0.0:
            return PenRefusedError(ErrorCode.NO_CARTRIDGE, "", "no usable cartridge attached: the pen will not stroke")
        if self._is_locked(cartridge.cartridge_id):
            return PenRefusedError(
                ErrorCode.CARTRIDGE_LOCKED, "", f"cartridge {cartridge.cartridge_id} was already used: locked out"
            )
        if not 0.0 < depth <= limit:
            return PenRefusedError(
                ErrorCode.COMMAND_RANGE,
                "",
                f"depth {depth:g} mm is outside 0 < depth <= {limit:g} mm (the {owner} limit)",
            )
        values = self.settings.contents.settings
        drive_low, drive_high = self.rate_range_hz
        low, high = float(values["frequency.min_hz"]), float(values["frequency.max_hz"])
        if not max(low, drive_low) <= hz <= min(high, drive_high):
            return PenRefusedError(
                ErrorCode.COMMAND_RANGE,
                "",
                f"stroke rate {hz:g} Hz is outside {max(low, drive_low):g}-{min(high, drive_high):g} Hz (the "
                f"frequency settings {low:g}-{high:g} Hz and the {self.drive} drive's {drive_low:g}-{drive_high:g} Hz)",
            )
        return None

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
        """Take ``command`` from the next stroke boundary; refused (nothing changes) beyond the pen's limits."""
        self._check_open()
        problem = self._command_problem(command)
        if problem is not None:
            raise problem
        if command.motor_enabled and self.pen.cartridge is not None:
            self._in_use = self.pen.cartridge.cartridge_id
        self.pen.command = command

    def read_strokes(self, max_strokes: int) -> Telemetry:
        """Stroke up to ``max_strokes``; the pen stops itself (retract, refusal) when it must not go on."""
        self._check_open()
        self.pen.activate_due_faults()
        try:
            self._note_use()
            problem = self._command_problem(self.pen.command)
        except PenRefusedError:
            self.retract_only()
            raise
        if problem is None:
            problem = self._swap_problem()
        if problem is not None:
            self.retract_only()
            raise problem
        return self.pen.run(max_strokes)

    def _swap_problem(self) -> PenRefusedError | None:
        """A running pen whose cartridge is not the one it was commanded with stops itself."""
        cartridge = self.pen.cartridge
        if not self.pen.command.motor_enabled or cartridge is None or self._in_use is None:
            return None
        if cartridge.cartridge_id == self._in_use:
            return None
        why = f"cartridge changed from {self._in_use} to {cartridge.cartridge_id} while stroking: the pen stopped"
        return PenRefusedError(ErrorCode.NO_CARTRIDGE, "", why)

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
        """Rewind the last batch to its first ``keep`` strokes (refused when there is nothing to rewind)."""
        try:
            self.pen.discard_after(keep)
        except (RuntimeError, ValueError) as exc:
            raise PenRefusedError(ErrorCode.BAD_PAYLOAD, "", f"DISCARD_AFTER {keep}: {exc}") from None

    def retract(self) -> None:
        self.pen.retract()
        self._note_use()

    def retract_only(self) -> None:
        """Retract without touching the store (the pen's last resort when something failed)."""
        self.pen.retract()

    def close(self) -> None:
        """Power off: retract, record the cartridge as used if it stroked, drop any service unlock (not a lockout)."""
        if not self._closed:
            self._closed = True
            self.pen.retract()
            self.access.power_off()
            with contextlib.suppress(PenRefusedError):  # a store that cannot be written loses only the record
                self._retire_cartridge()

    # --- SimulatedWorld -----------------------------------------------------------------------
    def set_skin(self, skin: str) -> None:
        if skin not in SKINS:
            raise PenRefusedError(ErrorCode.BAD_PAYLOAD, "", f"skin {skin!r}: expected one of {', '.join(SKINS)}")
        self.pen.skin = self.build.skin(skin)

    def wait(self, seconds: float) -> None:
        """Let pen time pass with the motor still (pauses, moving between zones)."""
        if not (math.isfinite(seconds) and 0.0 <= seconds <= MAX_WAIT_S):
            raise PenRefusedError(ErrorCode.BAD_PAYLOAD, "", f"WAIT {seconds} s: expected 0 to {MAX_WAIT_S:g} s")
        self.pen.retract()
        self.pen.wait(seconds)

    def reset_world(self, seed: int, cartridge: CartridgeInfo | None, battery_soc: float) -> None:
        problem = cartridge_problem(cartridge) if cartridge is not None else None
        if problem:
            raise PenRefusedError(ErrorCode.BAD_PAYLOAD, "", f"RESET_WORLD: {problem}")
        if not (math.isfinite(battery_soc) and 0.0 <= battery_soc <= 1.0):
            raise PenRefusedError(ErrorCode.BAD_PAYLOAD, "", f"RESET_WORLD: battery_soc {battery_soc}: expected 0 to 1")
        self.pen.retract()
        self._retire_cartridge()
        hw = replace(cartridge, strokes_used=0, locked=False) if cartridge else None  # the chip, not the record
        self._earlier_worlds_s += self.pen.time_s
        self.pen = self._new_pen(pen_seed(seed), hw, battery_soc)
        self.access.power_on(self.uptime())  # a new power-on: no unlock carries over, a lockout does
        self.settings.abort()  # and nothing staged: the staged block lives in RAM

    def inject_fault(self, at_s: float, kind: str, value: float | None = None) -> None:
        """Schedule a hardware fault (see sim.faults.FaultKind) at pen time ``at_s``."""
        problem = fault_problem(at_s, kind, value)
        if problem:
            raise PenRefusedError(ErrorCode.BAD_PAYLOAD, "", f"INJECT_FAULT: expected {problem}")
        self.pen.inject(InjectedFault(at_s=at_s, kind=FaultKind(kind), value=value))

    # --- SettingsPort -------------------------------------------------------------------------
    def read_settings(self) -> dict[str, SettingValue]:
        return self.settings.values

    def stage_settings(self, changes: Mapping[str, SettingValue]) -> None:
        self._refuse_while_running()
        self._access_in_force()
        self.settings.stage(changes)

    def _access_in_force(self) -> None:
        """Tell the settings which access level, and which unlock, is in force now."""
        self.settings.access = self.access.level(self.uptime())
        self.settings.unlock_id = self.access.unlocks

    def _refuse_while_running(self) -> None:
        if self.pen.command.motor_enabled:
            raise PenRefusedError(ErrorCode.BUSY, "", "settings cannot change while the motor runs")

    # --- service access -----------------------------------------------------------------------
    def service_challenge(self) -> bytes:
        return self.access.challenge(self.uptime())

    def service_unlock(self, level: str, answer: bytes) -> None:
        serial = str(self.settings.contents.settings["pen.serial_number"])
        self.access.unlock(level, answer, serial, self.uptime())

    def drop_unlock(self) -> None:
        """A new host or a disconnect: service access goes back to user level (lockouts stay)."""
        self.access.drop()

    def commit_settings(self) -> None:
        self._refuse_while_running()
        self._access_in_force()
        self.settings.commit()
        self.pen.configure(*hardware_params(self.settings.contents.settings))
        self.pen.build = self._calibrated_build()

    def abort_settings(self) -> None:
        self.settings.abort()

    def stage_factory_reset(self) -> None:
        self._refuse_while_running()
        self._access_in_force()
        self.settings.stage_factory_reset()

    def read_alarms(self) -> list[int]:
        return sorted(int(a) for a in self.settings.alarms)

    def clear_alarm(self, code: int) -> None:
        if code not in Alarm._value2member_map_:
            raise PenRefusedError(ErrorCode.BAD_PAYLOAD, "", f"alarm {code}: expected one of {[int(a) for a in Alarm]}")
        self.settings.alarms.discard(Alarm(code))

    def _check_open(self) -> None:
        if self._closed:
            raise PenOperationError("the simulated pen is closed")
