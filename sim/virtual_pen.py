"""The virtual pen: the simulated pen behind the pen side of the wire protocol.

:meth:`VirtualPen.feed` takes the bytes that arrived and returns the bytes to
send back, with no I/O of its own, so the same object serves a pty, a TCP
socket or a test's in-memory link. It keeps the last request and its reply: a
request that repeats the last one's sequence number and content is a
retransmission, answered from the cache without acting twice. A realtime e-stop
byte is acted on the moment the decoder meets it, mid-frame or not.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hal.backend import CartridgeInfo, StrokeCommand
from hal.errors import PenError, PenRefusedError
from hal.messages import decode, encode
from hal.protocol import (
    ALARM_TEXT,
    ERROR_TEXT,
    ESTOP,
    PEN_LINK_COUNTERS,
    PROTOCOL_VERSION,
    Alarm,
    Capability,
    ErrorCode,
    EventKind,
    Frame,
    FrameDecoder,
    Msg,
    PayloadError,
    UnknownSettingIdError,
    encode_frame,
    pack_nak,
)
from hal.settings import BY_KEY, SCHEMA_VERSION
from sim.backend import SimBackend

CAPABILITIES = Capability.SPECULATIVE | Capability.SIMULATED_WORLD
Fields = dict[str, Any]
"""A request's payload decoded by its layout in hal/messages.py, field name -> value."""
ACK: tuple[int, bytes] = (Msg.ACK, b"")


def reply(msg: Msg, **values: Any) -> tuple[int, bytes]:
    """A reply of type ``msg`` encoded by its layout."""
    return msg, encode(msg, **values)


@dataclass(kw_only=True, frozen=True)
class _Answered:
    """The last request and the reply it got: a retransmission of it is answered from here."""

    seq: int
    type: int
    payload: bytes
    reply: bytes
    accepted: bool
    """Not refused (any reply but NAK): only then does the request, or a retransmission of it, feed the watchdog."""

    def repeated_by(self, frame: Frame) -> bool:
        return (self.seq, self.type, self.payload) == (frame.seq, frame.type, frame.payload) and frame.type != Msg.HELLO


@dataclass(kw_only=True)
class PenLinkStats:
    """What the pen counted on its side of the link (LINK_STATS reads them)."""

    frames: int = 0
    """CRC-valid frames received."""
    bad_frames: int = 0
    """Frames dropped: bad CRC, length, version or escape."""
    garbage_bytes: int = 0
    """Bytes outside any frame."""
    estops: int = 0
    duplicates: int = 0
    """Retransmitted requests answered from the cache."""
    naks: int = 0
    events: int = 0
    """Unsolicited events sent."""
    internal_errors: int = 0
    """Requests whose handling failed inside the pen (each retracted the needles and sent a fault event)."""


class VirtualPen:
    """Protocol adapter over a :class:`~sim.backend.SimBackend` (see the module docstring)."""

    def __init__(self, backend: SimBackend, clock: Callable[[], float] | None = None) -> None:
        """``clock`` is the pen's power-on clock in seconds (the watchdog runs on it); default: the pen's uptime."""
        self.backend = backend
        self.clock = clock or backend.uptime
        self.decoder = FrameDecoder()
        self.estop_latched = False
        self._last: _Answered | None = None
        self._event_seq = 0
        self._last_request_s = self.clock()
        self._counts = PenLinkStats()
        self.handlers: dict[int, Callable[[Fields], tuple[int, bytes]]] = {
            Msg.HELLO: self._hello,
            Msg.STATUS: self._status,
            Msg.COMMAND: self._command,
            Msg.READ_STROKES: self._read_strokes,
            Msg.DISCARD_AFTER: self._discard_after,
            Msg.RETRACT: self._ack_after(self.backend.retract),
            Msg.SET_SKIN: self._set_skin,
            Msg.WAIT: self._wait,
            Msg.RESET_WORLD: self._reset_world,
            Msg.ESTOP_RELEASE: self._ack_after(self._release_estop),
            Msg.SETTINGS_READ: self._settings_read,
            Msg.SETTINGS_WRITE: self._settings_write,
            Msg.SETTINGS_COMMIT: self._ack_after(self.backend.commit_settings),
            Msg.SETTINGS_ABORT: self._ack_after(self.backend.abort_settings),
            Msg.SETTINGS_FACTORY: self._ack_after(self.backend.stage_factory_reset),
            Msg.ALARMS_READ: self._alarms_read,
            Msg.ALARMS_CLEAR: self._alarms_clear,
            Msg.INJECT_FAULT: self._inject_fault,
            Msg.SERVICE_CHALLENGE: self._service_challenge,
            Msg.SERVICE_UNLOCK: self._service_unlock,
            Msg.LINK_STATS: self._link_stats,
        }

    @property
    def stats(self) -> PenLinkStats:
        """The pen's link counters, the decoder's included."""
        d = self.decoder.stats
        c = self._counts
        c.frames, c.bad_frames, c.garbage_bytes, c.estops = d.frames, d.bad_frames, d.garbage_bytes, d.estops
        return c

    def poll(self) -> bytes:
        """The pen's watchdog; call it often (the server does, after every read and every idle wait).

        A host that falls silent while the motor is enabled can no longer supervise the strokes, so
        after ``watchdog.timeout_ms`` without a valid request the pen retracts and disables the
        motor itself and sends a fault EVENT. Only requests the pen accepted feed the watchdog (a
        retransmission counts as its original did): refusals, noise, bad frames and bare flag bytes
        do not. Returns the bytes to send (empty when nothing happened).
        """
        silent_s = self.clock() - self._last_request_s
        timeout = float(self.backend.read_settings()["watchdog.timeout_ms"]) / 1000.0
        if not silent_s >= timeout or not self.backend.pen.command.motor_enabled:
            return b""
        self.backend.retract_only()
        return self.event(
            EventKind.FAULT,
            0,
            f"watchdog: no accepted host request for {silent_s * 1000:.0f} ms; needles retracted, motor disabled",
        )

    def disconnect(self) -> None:
        """The host went away: retract, drop any service unlock and anything staged."""
        self.backend.retract_only()
        self.backend.drop_unlock()
        self.backend.abort_settings()

    def feed(self, data: bytes) -> bytes:
        """Process received bytes; return the bytes to send."""
        out = bytearray()
        for item in self.decoder.feed(data):
            if isinstance(item, int):
                if item == ESTOP:
                    out += self._estop()
            else:
                out += self._reply(item)
        return bytes(out)

    def _reply(self, frame: Frame) -> bytes:
        last = self._last
        if last is not None and last.repeated_by(frame):
            self._counts.duplicates += 1
            self._feed_watchdog(last.accepted)
            return last.reply
        kind, payload = self._handle(frame)
        self._feed_watchdog(kind != Msg.NAK)
        reply = encode_frame(frame.seq, kind, payload)
        self._last = _Answered(
            seq=frame.seq, type=frame.type, payload=frame.payload, reply=reply, accepted=kind != Msg.NAK
        )
        if kind == Msg.NAK:
            self._counts.naks += 1
            if payload[0] == ErrorCode.INTERNAL:
                reply += self.event(EventKind.FAULT, ErrorCode.INTERNAL, ERROR_TEXT[ErrorCode.INTERNAL])
        if kind == Msg.HELLO_REPLY:
            # A new host hears about every alarm the pen holds (it can also read them with ALARMS_READ).
            for alarm in self.backend.read_alarms():
                reply += self.event(EventKind.ALARM, alarm, ALARM_TEXT[Alarm(alarm)])
        return reply

    def _feed_watchdog(self, accepted: bool) -> None:
        """One rule: a request the pen accepted feeds the watchdog, a refused one never does.

        A retransmission is answered from the cache and counts as its original did, so resending
        a refused frame cannot keep a motor running that no host supervises.
        """
        if accepted:
            self._last_request_s = self.clock()

    def _handle(self, frame: Frame) -> tuple[int, bytes]:
        """Run the frame's handler; any failure becomes a NAK, and an unforeseen one also retracts."""
        kind: int
        try:
            handler = self.handlers.get(frame.type)
            if handler is None:
                kind, payload = Msg.NAK, pack_nak(ErrorCode.UNKNOWN_TYPE, 0, f"unknown message type 0x{frame.type:02x}")
            else:
                kind, payload = handler(decode(Msg(frame.type), frame.payload))
        except PenRefusedError as exc:
            setting = BY_KEY.get(exc.key)
            kind, payload = Msg.NAK, pack_nak(ErrorCode(exc.code), setting.id if setting else 0, str(exc.reason))
        except PayloadError as exc:
            code = ErrorCode.SETTING_UNKNOWN if isinstance(exc, UnknownSettingIdError) else ErrorCode.BAD_PAYLOAD
            kind, payload = Msg.NAK, pack_nak(code, 0, str(exc))
        except PenError as exc:
            kind, payload = Msg.NAK, pack_nak(ErrorCode.UNSUPPORTED, 0, str(exc))
        except Exception as exc:  # the pen never dies on a request: it stops the needles and says so
            self._counts.internal_errors += 1
            self.backend.retract_only()
            kind, payload = Msg.NAK, pack_nak(ErrorCode.INTERNAL, 0, f"internal error ({type(exc).__name__}): {exc}")
        if kind == Msg.NAK and frame.type == Msg.SETTINGS_WRITE:
            self.backend.abort_settings()  # a flash is all or nothing: a refused write leaves nothing staged to commit
        return kind, payload

    def _estop(self) -> bytes:
        self.backend.retract()
        self.estop_latched = True
        return self.event(EventKind.ESTOP, 0, "emergency stop: needles retracted, motor disabled")

    def event(self, kind: EventKind, code: int, message: str) -> bytes:
        """An unsolicited EVENT frame (pen time, kind, code, text)."""
        self._event_seq = (self._event_seq + 1) & 0xFF
        self._counts.events += 1
        payload = encode(Msg.EVENT, kind=kind, time_s=self.backend.pen.time_s, code=code, message=message)
        return encode_frame(self._event_seq, Msg.EVENT, payload)

    # --- handlers: each takes the decoded request and returns (reply type, reply payload) -----------
    def _hello(self, f: Fields) -> tuple[int, bytes]:
        version = f["host_version"]
        if version != PROTOCOL_VERSION:
            return Msg.NAK, pack_nak(ErrorCode.VERSION, 0, f"pen speaks protocol {PROTOCOL_VERSION}, host {version}")
        self.backend.abort_settings()  # a new host starts with nothing staged by an earlier one
        self.backend.drop_unlock()  # ... and with no service unlock another host obtained
        ident = self.backend.identify()
        return reply(
            Msg.HELLO_REPLY,
            protocol_version=PROTOCOL_VERSION,
            settings_schema=SCHEMA_VERSION,
            capabilities=CAPABILITIES,
            max_depth_mm=ident.max_depth_mm,
            min_hz=ident.min_frequency_hz,
            max_hz=ident.max_frequency_hz,
            model=ident.model,
            firmware=ident.firmware_version,
            serial_number=ident.serial_number,
        )

    def _status(self, f: Fields) -> tuple[int, bytes]:
        s = self.backend.status()
        c = s.cartridge or CartridgeInfo(cartridge_id=0, needles=0, max_depth_mm=0.0, field_diameter_mm=0.0)
        return reply(
            Msg.STATUS_REPLY,
            time_s=s.time_s,
            battery_v=s.battery_v,
            battery_soc=s.battery_soc,
            motor_temp_c=s.motor_temp_c,
            battery_temp_c=s.battery_temp_c,
            tip_mm=s.tip_mm,
            estop_latched=self.estop_latched,
            pen_depth_limit_mm=s.pen_depth_limit_mm or 0.0,
            cartridge_id=c.cartridge_id,
            needles=c.needles,
            max_depth_mm=c.max_depth_mm,
            field_diameter_mm=c.field_diameter_mm,
            strokes_used=c.strokes_used,
            locked=c.locked,
        )

    def _command(self, f: Fields) -> tuple[int, bytes]:
        command = StrokeCommand(
            depth_mm=f["depth_mm"], frequency_hz=f["frequency_hz"], motor_enabled=f["motor_enabled"]
        )
        if command.motor_enabled and self.estop_latched:
            return Msg.NAK, pack_nak(ErrorCode.ESTOP_LATCHED)
        self.backend.apply(command)  # the pen checks depth and rate against its own limits
        return ACK

    def _read_strokes(self, f: Fields) -> tuple[int, bytes]:
        batch = int(self.backend.read_settings()["telemetry.batch_max"])
        return reply(Msg.TELEMETRY, strokes=self.backend.read_strokes(min(f["max_strokes"], batch)))

    def _discard_after(self, f: Fields) -> tuple[int, bytes]:
        self.backend.discard_after(f["keep"])
        return ACK

    def _set_skin(self, f: Fields) -> tuple[int, bytes]:
        self.backend.set_skin(f["skin"])
        return ACK

    def _wait(self, f: Fields) -> tuple[int, bytes]:
        self.backend.wait(f["seconds"])
        return ACK

    def _reset_world(self, f: Fields) -> tuple[int, bytes]:
        cid = f["cartridge_id"]
        cartridge = (
            CartridgeInfo(
                cartridge_id=cid,
                needles=f["needles"],
                max_depth_mm=f["max_depth_mm"],
                field_diameter_mm=f["field_diameter_mm"],
            )
            if cid
            else None
        )
        self.backend.reset_world(f["seed"], cartridge, f["battery_soc"])
        return ACK

    def _release_estop(self) -> None:
        self.estop_latched = False

    def _settings_read(self, f: Fields) -> tuple[int, bytes]:
        return reply(Msg.SETTINGS_VALUES, settings=self.backend.read_settings())

    def _settings_write(self, f: Fields) -> tuple[int, bytes]:
        self.backend.stage_settings(f["settings"])
        return ACK

    def _ack_after(self, action: Callable[[], None]) -> Callable[[Fields], tuple[int, bytes]]:
        def handler(f: Fields) -> tuple[int, bytes]:
            action()
            return ACK

        return handler

    def _alarms_read(self, f: Fields) -> tuple[int, bytes]:
        return reply(Msg.ALARMS, alarms=self.backend.read_alarms())

    def _inject_fault(self, f: Fields) -> tuple[int, bytes]:
        value = f["value"]
        self.backend.inject_fault(f["at_s"], f["kind"], None if math.isnan(value) else value)
        return ACK

    def _service_challenge(self, f: Fields) -> tuple[int, bytes]:
        return reply(Msg.CHALLENGE, nonce=self.backend.service_challenge())

    def _service_unlock(self, f: Fields) -> tuple[int, bytes]:
        self.backend.service_unlock(f["level"], f["answer"])
        return ACK

    def _link_stats(self, f: Fields) -> tuple[int, bytes]:
        stats = self.stats
        return reply(Msg.LINK_STATS_REPLY, **{name: getattr(stats, name) & 0xFFFFFFFF for name in PEN_LINK_COUNTERS})

    def _alarms_clear(self, f: Fields) -> tuple[int, bytes]:
        self.backend.clear_alarm(f["alarm"])
        return ACK
