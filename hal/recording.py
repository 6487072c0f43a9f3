"""Recording a pen link frame by frame, and replaying the recording to the same controller code.

Like python-can's logger, :class:`RecordingPort` wraps whatever port the serial backend talks
through (a device, a pty, ``socket://``, ``loop://``): everything written and every frame read goes
to a JSON-lines file with the host's monotonic time, the frames decoded enough to read
(type, sequence number, the telemetry records as fields). The format is in docs/recording.md.
Each line is written and flushed whole, so a crash leaves a readable prefix.

:class:`RecordedLinkBackend` is a :class:`~hal.serial_backend.SerialBackend` whose port is a
:class:`ReplayPort`: when the host writes the frame the recording says it wrote, the port hands
back the frames the pen answered, in recorded order. The controller runs unchanged, so a session
replayed from its recording produces the same report, byte for byte. Every line is sealed
(hal/recording_seal.py: an HMAC chain), so a file that is not a complete recording of this format
and version, sealed in order under the key replay is given, is an :class:`~hal.errors.InputError`
naming the file and the first line that is wrong.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from hal.errors import InputError
from hal.messages import decode
from hal.protocol import ESTOP, Frame, FrameDecoder, Msg, PayloadError, encode_frame
from hal.recording_seal import LineChain, key_id, new_nonce, replay_master_key
from hal.serial_backend import SerialBackend

FORMAT = "penctl-recording"
VERSION = 2
"""Version 2 seals every line (hal/recording_seal.py); version 1 recordings are refused: nothing proves them."""
WAIT_S = 0.005
"""How long a replay read waits when the recording has nothing more before the host's next write
(the live host waited for a reply there and retransmitted): as long as a serial read's timeout."""


def type_name(msg: int) -> str | int:
    """A frame type's name, or the number when the protocol does not know it."""
    return Msg(msg).name if msg in Msg._value2member_map_ else msg


class RecordingPort:
    """A port that passes everything through and logs it (see the module docstring)."""

    def __init__(
        self, port: Any, log: str | Path, *, key: bytes, url: str = "", meta: dict[str, Any] | None = None
    ) -> None:
        """Open ``log`` for writing (an :class:`InputError` if it cannot be) and write the header line.

        Every line is sealed under ``key`` (the master key: hal/recording_seal.py)."""
        self.port = port
        self.path = str(log)
        try:
            self._file: IO[str] = open(log, "w", encoding="utf-8")  # noqa: SIM115 (closed in close())
        except OSError as exc:
            raise InputError(self.path, "", "a recording file penctl can create and write", exc.strerror) from None
        self._start = time.monotonic()
        self._rx = FrameDecoder()
        self._tx = FrameDecoder()
        self.counts = {"tx": 0, "rx": 0}
        started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        nonce = new_nonce()
        self._chain = LineChain(key, nonce)
        seal = {"nonce": nonce, "key_id": key_id(key)}
        header = {"format": FORMAT, "version": VERSION, "url": url, "started_utc": started, "seal": seal}
        self._line(header | {"meta": meta or {}})

    @property
    def in_waiting(self) -> int:
        return int(getattr(self.port, "in_waiting", 0))

    def write(self, data: bytes) -> int | None:
        written: int | None = self.port.write(data)
        self._log_frames("tx", self._tx.feed(data))
        return written

    def read(self, size: int = 1) -> bytes:
        data: bytes = self.port.read(size)
        if data:
            self._log_frames("rx", self._rx.feed(data))
        return data

    complete = True
    """Set False when the session was cut short (Ctrl-C, an error): the end line says so and replay refuses it."""

    def close(self) -> None:
        """Write the end line and close the log, then the port; safe to call twice."""
        if not self._file.closed:
            end = {"end": True, "complete": self.complete, "t": self._now(), "frames": self.counts}
            self._line({**end, "rx_decoder": vars(self._rx.stats)})
            self._file.close()
        close = getattr(self.port, "close", None)
        if close:
            close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.port, name)

    def _log_frames(self, direction: str, items: Iterator[Frame | int]) -> None:
        for item in items:
            if isinstance(item, int):
                self._line({"t": self._now(), "dir": direction, "estop": True, "frame": f"{ESTOP:02x}"})
                continue
            self.counts[direction] += 1
            record: dict[str, Any] = {
                "t": self._now(),
                "dir": direction,
                "seq": item.seq,
                "type": type_name(item.type),
                "frame": encode_frame(item.seq, item.type, item.payload).hex(),
            }
            if item.type == Msg.TELEMETRY:
                record |= _telemetry_fields(item.payload)
            self._line(record)

    def _now(self) -> float:
        return round(time.monotonic() - self._start, 6)

    def _line(self, record: dict[str, Any]) -> None:
        text = json.dumps(record, separators=(",", ":"), allow_nan=False)
        self._file.write(self._chain.seal(text) + "\n")
        self._file.flush()


def _telemetry_fields(payload: bytes) -> dict[str, Any]:
    """The stroke records of a TELEMETRY frame as columns (NaN and infinities as strings, for JSON)."""
    try:
        strokes = decode(Msg.TELEMETRY, payload)["strokes"]
    except PayloadError as exc:
        return {"telemetry_error": str(exc)}
    names = strokes.dtype.names or ()
    return {"telemetry": {n: [_json_number(v) for v in strokes[n].tolist()] for n in names}}


def _json_number(value: float | int) -> float | int | str:
    return value if value == value and abs(value) != float("inf") else repr(value)


# --- reading and replaying ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Recording:
    """A complete recording, checked line by line: its header and the frames both ways, in order."""

    path: str
    url: str
    meta: dict[str, Any]
    frames: tuple[tuple[str, bytes], ...]
    """(direction "tx" or "rx", the frame's wire bytes), in the order the host met them."""


def read_recording(path: str | Path, key: bytes) -> Recording:
    """Read a recording and check its seal under master ``key``, line by line.

    Anything but a complete recording sealed under ``key``, in order, is an :class:`InputError`
    naming the file and the first line that is not what it should be.
    """
    source = str(path)
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as exc:
        raise InputError(source, "", "a readable penctl recording file", exc.strerror) from None
    except UnicodeDecodeError:
        raise InputError(source, "", f"a {FORMAT} file (JSON lines, UTF-8)", "bytes that are not UTF-8") from None
    lines = text.split("\n")
    if lines[-1] != "":  # the recorder ends every line, the last one too: a file without it was cut
        raise InputError(source, f"line {len(lines)}", "a line ended by a newline (the file was cut short)")
    lines.pop()
    header, chain = _header(source, lines[0] if lines else "", key)
    frames: list[tuple[str, bytes]] = []
    for number, line in enumerate(lines[1:], start=2):
        record = _json_object(source, number, _opened(source, number, line, chain))
        if record.get("end") is True:
            if record.get("complete", True) is not True:
                raise InputError(source, f"line {number}", "a complete recording (this session was cut short)")
            if number != len(lines):
                raise InputError(source, f"line {number + 1}", "nothing after the end line", lines[number][:60])
            return Recording(path=source, url=str(header.get("url", "")), meta=header["meta"], frames=tuple(frames))
        frames.append(_frame(source, number, record))
    raise InputError(
        source, "", f"a complete recording ending in an end line (this one stops after {len(lines)} lines: truncated)"
    )


def _opened(source: str, number: int, line: str, chain: LineChain) -> str:
    text = chain.open(line)
    if text is None:
        raise InputError(
            source,
            f"line {number}",
            "the line sealed here (its mac does not match: this line was edited, moved or inserted, "
            "or one before it deleted)",
            line[:60],
        )
    return text


def _header(source: str, line: str, key: bytes) -> tuple[dict[str, Any], LineChain]:
    expected = f'a {FORMAT} file: a first line {{"format": "{FORMAT}", "version": {VERSION}, ...}}'
    try:
        header = json.loads(line)
    except (ValueError, RecursionError):
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise InputError(source, "line 1", expected, line[:60] if line else "an empty file")
    version = header.get("version")
    if type(version) is not int or version != VERSION:
        raise InputError(source, "line 1", f"{FORMAT} version {VERSION} (sealed)", f"version {version!r}")
    seal = header.get("seal")
    nonce = seal.get("nonce") if isinstance(seal, dict) else None
    if not isinstance(seal, dict) or not isinstance(nonce, str) or not nonce.isascii():
        raise InputError(source, "line 1", 'a header with a seal {"nonce": ..., "key_id": ...}')
    if seal.get("key_id") != key_id(key):
        raise InputError(source, "line 1", "a recording sealed with the key given (it names another key)")
    chain = LineChain(key, nonce)
    if chain.open(line) is None:
        raise InputError(source, "line 1", "the header sealed as recorded (its mac does not match: it was edited)")
    if not isinstance(header.get("meta"), dict):
        raise InputError(source, "line 1", "a header with a meta object")
    return header, chain


def _json_object(source: str, number: int, line: str) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        record = None
    if not isinstance(record, dict):
        raise InputError(source, f"line {number}", "a JSON object (one frame, or the end line)", line[:60])
    return record


def _frame(source: str, number: int, record: dict[str, Any]) -> tuple[str, bytes]:
    """One frame line: its direction and wire bytes, checked to be exactly one valid frame or an e-stop byte."""
    direction, hexes = record.get("dir"), record.get("frame")
    try:
        wire = bytes.fromhex(hexes) if isinstance(hexes, str) else b""
    except ValueError:
        wire = b""
    items = list(FrameDecoder().feed(wire))
    if direction not in ("tx", "rx") or len(items) != 1 or wire[-1:] not in (b"\x7e", bytes([ESTOP])):
        raise InputError(
            source,
            f"line {number}",
            'a frame line {"dir": "tx" or "rx", "frame": hex of one valid frame}',
            str(record)[:80],
        )
    return str(direction), wire


class ReplayPort:
    """A port that answers the host with the pen's recorded frames (see the module docstring)."""

    def __init__(self, recording: Recording) -> None:
        self.recording = recording
        self._next = 0
        self._inbound = bytearray()
        self._sent = bytearray()

    @property
    def in_waiting(self) -> int:
        return len(self._inbound)

    def write(self, data: bytes) -> int:
        """Match what the host sent against the recorded frames; queue the pen's recorded answers."""
        self._sent += data
        while self._sent and self._take_sent_frame():
            self._queue_answers()
        if self._sent:
            self._diverged()
        return len(data)

    def _take_sent_frame(self) -> bool:
        frames = self.recording.frames
        if self._next >= len(frames) or frames[self._next][0] != "tx":
            return False
        wire = frames[self._next][1]
        if bytes(self._sent[: len(wire)]) != wire:
            return False
        del self._sent[: len(wire)]
        self._next += 1
        return True

    def _queue_answers(self) -> None:
        frames = self.recording.frames
        while self._next < len(frames) and frames[self._next][0] == "rx":
            self._inbound += frames[self._next][1]
            self._next += 1

    def read(self, size: int = 1) -> bytes:
        if not self._inbound:
            time.sleep(WAIT_S)
            return b""
        out = bytes(self._inbound[:size])
        del self._inbound[:size]
        return out

    def close(self) -> None:
        self._inbound.clear()

    def _diverged(self) -> None:
        sent = bytes(self._sent)
        self._sent.clear()
        frames = self.recording.frames
        if self._next >= len(frames):
            expected = "a recording that goes on (the host sent more than was recorded)"
        else:
            expected = f"the host to send {frames[self._next][1].hex()} next, as recorded (frame {self._next + 1})"
        raise InputError(
            self.recording.path, "", f"{expected}; a recording of this plan made by this penctl", sent.hex()
        )


class RecordedLinkBackend(SerialBackend):
    """A serial backend over a :class:`ReplayPort`: the recorded pen, replayed."""

    name = "recorded"

    def __init__(self, recording: Recording | str | Path, key_file: str | Path | None = None) -> None:
        """A path is read with the key in ``key_file`` (default: the one beside the recording)."""
        if not isinstance(recording, Recording):
            recording = read_recording(recording, replay_master_key(recording, key_file))
        rec = recording
        super().__init__(url=rec.url, port=ReplayPort(rec))
