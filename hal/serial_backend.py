"""A pen over a serial link: the same backend contract, spoken in the wire protocol.

The port is opened with ``serial.serial_for_url``, so a device path
(``/dev/ttyUSB0``), a pty path, ``socket://host:port`` and ``loop://`` all work.
The handshake (HELLO) happens on open; its capability word says whether the pen
is a simulator that can rewind strokes (speculative) and be told about its world.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Mapping
from typing import Any

from hal.backend import CartridgeInfo, PenIdentity, PenStatus, StrokeCommand
from hal.errors import BackendError, InputError, PenError, PenOperationError
from hal.link import Link
from hal.messages import decode, encode
from hal.protocol import PEN_LINK_COUNTERS, PROTOCOL_VERSION, Capability, Msg
from hal.settings import SettingValue
from hal.telemetry import Telemetry

DEFAULT_BAUD = 115_200

log = logging.getLogger(__name__)


def open_port(url: str, baudrate: int = DEFAULT_BAUD) -> Any:
    """Open ``url`` with pyserial; a failure is a named BackendError."""
    import serial

    try:
        return serial.serial_for_url(url, baudrate=baudrate, timeout=0.005, write_timeout=5.0)
    except (ValueError, TypeError) as exc:  # pyserial could not read the URL itself
        expected = "a pen port: a device path, a pty, socket://HOST:PORT or loop://"
        raise InputError("--port", "", expected, url) from exc
    except (serial.SerialException, OSError) as exc:
        if _unreadable_url(exc):
            expected = "a pen port: a device path, a pty, socket://HOST:PORT or loop://"
            raise InputError("--port", "", expected, url) from exc
        raise BackendError(f"cannot open pen port {url!r}: {_why(exc)}") from exc


def _unreadable_url(exc: BaseException) -> bool:
    """pyserial wraps a URL it cannot read (socket://host:notaport) in a SerialException: look inside."""
    seen: BaseException | None = exc.__cause__ or exc.__context__
    while seen is not None:
        if isinstance(seen, (ValueError, TypeError, KeyError)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _why(exc: Exception) -> str:
    """The reason alone: pyserial repeats the port and the errno inside its message ("... [Errno 111] ...")."""
    import os
    import re

    errno = getattr(exc, "errno", None)
    if isinstance(errno, int):
        return os.strerror(errno)
    text = str(exc)
    match = re.search(r"\[Errno (\d+)\]", text) or re.search(r"\((\d+), '", text)
    return os.strerror(int(match.group(1))) if match else text


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

    def _call(self, msg: Msg, expect: Msg = Msg.ACK, **values: Any) -> dict[str, Any]:
        """One request encoded by its layout (hal/messages.py); the reply's fields, decoded by theirs."""
        return decode(expect, self.link.request(msg, encode(msg, **values), expect))

    def _hello(self) -> tuple[PenIdentity, int]:
        f = self._call(Msg.HELLO, Msg.HELLO_REPLY, host_version=PROTOCOL_VERSION)
        identity = PenIdentity(
            model=f["model"],
            serial_number=f["serial_number"],
            firmware_version=f["firmware"],
            protocol_version=f["protocol_version"],
            settings_schema_version=f["settings_schema"],
            max_depth_mm=f["max_depth_mm"],
            min_frequency_hz=f["min_hz"],
            max_frequency_hz=f["max_hz"],
        )
        return identity, int(f["capabilities"])

    # --- PenBackend ---------------------------------------------------------------------------
    def identify(self) -> PenIdentity:
        return self._identity

    def status(self) -> PenStatus:
        f = self._call(Msg.STATUS, Msg.STATUS_REPLY)
        cartridge = (
            CartridgeInfo(
                cartridge_id=f["cartridge_id"],
                needles=f["needles"],
                max_depth_mm=f["max_depth_mm"],
                field_diameter_mm=f["field_diameter_mm"],
                strokes_used=f["strokes_used"],
                locked=f["locked"],
            )
            if f["cartridge_id"]
            else None
        )
        return PenStatus(
            time_s=f["time_s"],
            battery_v=f["battery_v"],
            battery_soc=f["battery_soc"],
            motor_temp_c=f["motor_temp_c"],
            tip_mm=f["tip_mm"],
            cartridge=cartridge,
            battery_temp_c=f["battery_temp_c"],
            pen_depth_limit_mm=f["pen_depth_limit_mm"],
        )

    def apply(self, command: StrokeCommand) -> None:
        self._call(
            Msg.COMMAND,
            depth_mm=command.depth_mm,
            frequency_hz=command.frequency_hz,
            motor_enabled=command.motor_enabled,
        )

    def read_strokes(self, max_strokes: int) -> Telemetry:
        """One telemetry frame: up to ``max_strokes`` (the pen caps a frame at telemetry.batch_max)."""
        strokes: Telemetry = self._call(Msg.READ_STROKES, Msg.TELEMETRY, max_strokes=max_strokes)["strokes"]
        return strokes

    def discard_after(self, keep: int) -> None:
        self._call(Msg.DISCARD_AFTER, keep=keep)

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
        self._call(Msg.SET_SKIN, skin=skin)

    def wait(self, seconds: float) -> None:
        self._call(Msg.WAIT, seconds=seconds)

    def reset_world(self, seed: int, cartridge: CartridgeInfo | None, battery_soc: float) -> None:
        c = cartridge or CartridgeInfo(cartridge_id=0, needles=0, max_depth_mm=0.0, field_diameter_mm=0.0)
        self._call(
            Msg.RESET_WORLD,
            seed=seed,
            cartridge_id=c.cartridge_id,
            needles=c.needles,
            max_depth_mm=c.max_depth_mm,
            field_diameter_mm=c.field_diameter_mm,
            battery_soc=battery_soc,
        )

    def inject_fault(self, at_s: float, kind: str, value: float | None = None) -> None:
        self._call(Msg.INJECT_FAULT, at_s=at_s, value=math.nan if value is None else value, kind=kind)

    def pen_link_stats(self) -> dict[str, int]:
        """The pen's own link counters (LINK_STATS): what it received, dropped and sent."""
        counts = self._call(Msg.LINK_STATS, Msg.LINK_STATS_REPLY)
        return {name: int(counts[name]) for name in PEN_LINK_COUNTERS}

    def _log_link_stats(self) -> None:
        """At the end of a session, at info level: the host's counters and the pen's (when it answers).

        The pen is asked whatever the log level, so that what crosses the wire (and so a recording of the
        session, which replay must match frame by frame) does not depend on ``-v``.
        """
        host = ", ".join(f"{k}={v}" for k, v in vars(self.link.stats).items())
        try:
            pen = ", ".join(f"{k}={v}" for k, v in self.pen_link_stats().items())
        except PenError as exc:
            pen = f"unavailable ({exc})"
        log.info("link statistics for %s: host %s; pen %s", self.url or "the port", host, pen)

    # --- service access -----------------------------------------------------------------------
    def service_challenge(self) -> bytes:
        nonce: bytes = self._call(Msg.SERVICE_CHALLENGE, Msg.CHALLENGE)["nonce"]
        return nonce

    def service_unlock(self, level: str, answer: bytes) -> None:
        self._call(Msg.SERVICE_UNLOCK, level=level, answer=answer)

    # --- SettingsPort ---------------------------------------------------------------------------
    def read_settings(self) -> dict[str, SettingValue]:
        values: dict[str, SettingValue] = self._call(Msg.SETTINGS_READ, Msg.SETTINGS_VALUES)["settings"]
        return values

    def stage_settings(self, changes: Mapping[str, SettingValue]) -> None:
        self._call(Msg.SETTINGS_WRITE, settings=dict(changes))

    def commit_settings(self) -> None:
        self.link.request(Msg.SETTINGS_COMMIT)

    def abort_settings(self) -> None:
        self.link.request(Msg.SETTINGS_ABORT)

    def stage_factory_reset(self) -> None:
        self.link.request(Msg.SETTINGS_FACTORY)

    def read_alarms(self) -> list[int]:
        alarms: list[int] = self._call(Msg.ALARMS_READ, Msg.ALARMS)["alarms"]
        return alarms

    def clear_alarm(self, code: int) -> None:
        self._call(Msg.ALARMS_CLEAR, alarm=code)
