"""A pen over a serial link: the same backend contract, spoken in the wire protocol.

The port is opened with ``serial.serial_for_url``, so a device path
(``/dev/ttyUSB0``), a pty path, ``socket://host:port`` and ``loop://`` all work.
The handshake (HELLO) happens on open; its capability word says whether the pen
is a simulator that can rewind strokes (speculative) and be told about its world.
"""

from __future__ import annotations

import contextlib
import logging
import struct
from collections.abc import Mapping
from typing import Any

import numpy as np

from hal.backend import CartridgeInfo, PenIdentity, PenStatus, StrokeCommand
from hal.errors import BackendError, PenError, PenOperationError
from hal.link import Link
from hal.protocol import (
    PEN_LINK_COUNTERS,
    PROTOCOL_VERSION,
    Capability,
    Msg,
    Reader,
    pack_settings,
    pack_str,
    unpack_settings,
)
from hal.settings import SettingValue
from hal.telemetry import TELEMETRY_DTYPE, Telemetry

DEFAULT_BAUD = 115_200

log = logging.getLogger(__name__)


def open_port(url: str, baudrate: int = DEFAULT_BAUD) -> Any:
    """Open ``url`` with pyserial; a failure is a named BackendError."""
    import serial

    try:
        return serial.serial_for_url(url, baudrate=baudrate, timeout=0.005, write_timeout=5.0)
    except (serial.SerialException, ValueError, OSError) as exc:
        raise BackendError(f"cannot open pen port {url!r}: {_why(exc)}") from exc


def _why(exc: Exception) -> str:
    """The reason alone (pyserial repeats the port and the errno inside its message)."""
    import os

    errno = getattr(exc, "errno", None)
    return os.strerror(errno) if isinstance(errno, int) else str(exc)


class SerialBackend:
    """A :class:`hal.backend.PenBackend` and :class:`hal.backend.SettingsPort` over the wire protocol."""

    name = "serial"

    def __init__(
        self,
        url: str = "",
        baudrate: int = DEFAULT_BAUD,
        port: Any = None,
        timeout_s: float = 0.25,
        retries: int = 6,
        max_timeout_s: float = 2.0,
    ) -> None:
        self.url = url
        self.port = port if port is not None else open_port(url, baudrate)
        self.link = Link(port=self.port, timeout_s=timeout_s, retries=retries, max_timeout_s=max_timeout_s)
        self._closed = False
        try:
            self._identity, caps = self._hello()
        except Exception:
            self._close_port()
            raise
        self.speculative = bool(caps & Capability.SPECULATIVE)
        self.simulated = bool(caps & Capability.SIMULATED_WORLD)
        log.debug("connected to %s: %s", url or "a port", self._identity)

    def _hello(self) -> tuple[PenIdentity, int]:
        r = Reader(self.link.request(Msg.HELLO, bytes([PROTOCOL_VERSION]), Msg.HELLO_REPLY))
        version, schema, caps, max_depth, min_hz, max_hz = r.take("BHIddd")
        model, firmware, serial_number = r.text(), r.text(), r.text()
        identity = PenIdentity(
            model=model,
            serial_number=serial_number,
            firmware_version=firmware,
            protocol_version=int(version),
            settings_schema_version=int(schema),
            max_depth_mm=float(max_depth),
            min_frequency_hz=float(min_hz),
            max_frequency_hz=float(max_hz),
        )
        return identity, int(caps)

    # --- PenBackend ---------------------------------------------------------------------------
    def identify(self) -> PenIdentity:
        return self._identity

    def status(self) -> PenStatus:
        r = Reader(self.link.request(Msg.STATUS, b"", Msg.STATUS_REPLY))
        t, volts, soc, temp, battery_temp, tip, _estop, pen_limit = r.take("ddddddBd")
        cid, needles, max_depth, field, used, locked = r.take("IBddIB")
        r.done()
        cartridge = (
            CartridgeInfo(
                cartridge_id=int(cid),
                needles=int(needles),
                max_depth_mm=float(max_depth),
                field_diameter_mm=float(field),
                strokes_used=int(used),
                locked=bool(locked),
            )
            if cid
            else None
        )
        return PenStatus(
            time_s=float(t),
            battery_v=float(volts),
            battery_soc=float(soc),
            motor_temp_c=float(temp),
            tip_mm=float(tip),
            cartridge=cartridge,
            battery_temp_c=float(battery_temp),
            pen_depth_limit_mm=float(pen_limit),
        )

    def apply(self, command: StrokeCommand) -> None:
        self.link.request(
            Msg.COMMAND, struct.pack("<ddB", command.depth_mm, command.frequency_hz, command.motor_enabled)
        )

    def read_strokes(self, max_strokes: int) -> Telemetry:
        """One telemetry frame: up to ``max_strokes`` (the pen caps a frame at telemetry.batch_max)."""
        r = Reader(self.link.request(Msg.READ_STROKES, struct.pack("<I", max_strokes), Msg.TELEMETRY))
        count = int(r.one("H"))
        raw = r.rest()
        if len(raw) != count * TELEMETRY_DTYPE.itemsize:
            raise PenOperationError(f"telemetry frame holds {len(raw)} bytes for {count} strokes")
        return np.frombuffer(raw, dtype=TELEMETRY_DTYPE).copy()

    def discard_after(self, keep: int) -> None:
        self.link.request(Msg.DISCARD_AFTER, struct.pack("<I", keep))

    def retract(self) -> None:
        self.link.request(Msg.RETRACT)

    def estop(self) -> None:
        """Realtime emergency stop (one byte, acted on at once by the pen)."""
        self.link.estop()

    def release_estop(self) -> None:
        self.link.request(Msg.ESTOP_RELEASE)

    def close(self) -> None:
        if self._closed:
            return
        try:
            self._log_link_stats()
            with contextlib.suppress(PenOperationError, TimeoutError):
                self.link.request(Msg.RETRACT)
        finally:
            self._close_port()

    def _close_port(self) -> None:
        self._closed = True
        close = getattr(self.port, "close", None)
        if close:
            close()

    # --- SimulatedWorld (virtual pens only) -----------------------------------------------------
    def set_skin(self, skin: str) -> None:
        self.link.request(Msg.SET_SKIN, pack_str(skin))

    def wait(self, seconds: float) -> None:
        self.link.request(Msg.WAIT, struct.pack("<d", seconds))

    def reset_world(self, seed: int, cartridge: CartridgeInfo | None, battery_soc: float) -> None:
        c = cartridge
        payload = struct.pack(
            "<QIBddd",
            seed,
            c.cartridge_id if c else 0,
            c.needles if c else 0,
            c.max_depth_mm if c else 0.0,
            c.field_diameter_mm if c else 0.0,
            battery_soc,
        )
        self.link.request(Msg.RESET_WORLD, payload)

    def inject_fault(self, at_s: float, kind: str, value: float | None = None) -> None:
        self.link.request(
            Msg.INJECT_FAULT, struct.pack("<dd", at_s, float("nan") if value is None else value) + pack_str(kind)
        )

    def pen_link_stats(self) -> dict[str, int]:
        """The pen's own link counters (LINK_STATS): what it received, dropped and sent."""
        names = PEN_LINK_COUNTERS
        values = Reader(self.link.request(Msg.LINK_STATS, b"", Msg.LINK_STATS_REPLY)).take(f"{len(names)}I")
        return dict(zip(names, (int(v) for v in values), strict=True))

    def _log_link_stats(self) -> None:
        """At the end of a session, at info level: the host's counters and the pen's (when it answers)."""
        if not log.isEnabledFor(logging.INFO):
            return
        host = ", ".join(f"{k}={v}" for k, v in vars(self.link.stats).items())
        try:
            pen = ", ".join(f"{k}={v}" for k, v in self.pen_link_stats().items())
        except PenError as exc:
            pen = f"unavailable ({exc})"
        log.info("link statistics for %s: host %s; pen %s", self.url or "the port", host, pen)

    # --- service access -----------------------------------------------------------------------
    def service_challenge(self) -> bytes:
        return self.link.request(Msg.SERVICE_CHALLENGE, b"", Msg.CHALLENGE)

    def service_unlock(self, level: str, answer: bytes) -> None:
        self.link.request(Msg.SERVICE_UNLOCK, pack_str(level) + answer)

    # --- SettingsPort ---------------------------------------------------------------------------
    def read_settings(self) -> dict[str, SettingValue]:
        return unpack_settings(self.link.request(Msg.SETTINGS_READ, b"", Msg.SETTINGS_VALUES))

    def stage_settings(self, changes: Mapping[str, SettingValue]) -> None:
        self.link.request(Msg.SETTINGS_WRITE, pack_settings(dict(changes)))

    def commit_settings(self) -> None:
        self.link.request(Msg.SETTINGS_COMMIT)

    def abort_settings(self) -> None:
        self.link.request(Msg.SETTINGS_ABORT)

    def stage_factory_reset(self) -> None:
        self.link.request(Msg.SETTINGS_FACTORY)

    def read_alarms(self) -> list[int]:
        r = Reader(self.link.request(Msg.ALARMS_READ, b"", Msg.ALARMS))
        count = int(r.one("H"))
        return [int(r.one("H")) for _ in range(count)]

    def clear_alarm(self, code: int) -> None:
        self.link.request(Msg.ALARMS_CLEAR, struct.pack("<H", code))
