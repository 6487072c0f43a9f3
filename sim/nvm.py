"""The pen's non-volatile settings store: two image slots and a commit record, so no damage boots silently.

Layout: a commit record area (two copies of ``magic "MNPC" | counter u32 | CRC-32 u32``), then two
image slots. An image is ``magic "MNPS" | layout u16 | write counter u32 | length u32 | payload |
CRC-32 u32`` (CRC over everything before it, little-endian).

A commit writes the next image (counter + 1) into the slot that does not hold the current one,
then the commit record (copy A, then copy B). A power cut at any byte leaves the current image
intact, and the record tells the boot which counter was last committed. So every boot ends in
exactly one of:

- the newest image, no alarm (its counter is at least the record's);
- an older image with ``STORE_ROLLED_BACK`` (the record names a newer image that is damaged or
  unusable);
- the newest intact image with ``STORE_DAMAGED`` (the record itself is unreadable, so the pen
  cannot prove the image is the newest);
- factory defaults with ``STORE_CORRUPT`` (no usable image) or ``STORE_BLANK`` (never written).

A decoded value that is out of range, not finite, or not of its setting's type makes the image
unusable: a damaged image is never "repaired" into something that looks valid. Nothing raises
out of :meth:`SettingsStore.boot`.
"""

from __future__ import annotations

import math
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from hal.protocol import Alarm, PayloadError, Reader, pack_settings, unpack_settings
from hal.settings import BY_ID, SettingValue, defaults, validate_block

MAGIC = b"MNPS"
RECORD_MAGIC = b"MNPC"
LAYOUT_VERSION = 3
RECORD = struct.Struct("<4sII")
RECORD_COPIES = (0, 16)
"""Offsets of the two copies of the commit record."""
RECORD_AREA = 256
SLOT_SIZE = 4096
SLOTS = 2
STORE_SIZE = RECORD_AREA + SLOTS * SLOT_SIZE
HEAD = struct.Struct("<4sHII")
ERASED = 0xFF


def slot_offset(slot: int) -> int:
    """Where image slot ``slot`` starts in the store."""
    return RECORD_AREA + slot * SLOT_SIZE


class PowerCut(Exception):
    """Raised by a test flash when the power goes mid-write."""


class StoreWriteError(OSError):
    """The store could not be written (worn flash, a file that became unwritable)."""


class Flash(Protocol):
    """Byte-addressable non-volatile memory of :data:`STORE_SIZE` bytes.

    ``read`` always returns ``size`` bytes: bytes the medium does not have (a truncated file)
    read as erased. ``write`` raises :class:`StoreWriteError` when the medium refuses.
    """

    def read(self, offset: int, size: int) -> bytes: ...

    def write(self, offset: int, data: bytes) -> None: ...


def _padded(data: bytes, size: int) -> bytes:
    return data + bytes([ERASED]) * (size - len(data))


@dataclass(kw_only=True)
class MemoryFlash:
    """Flash in RAM; ``cut_after`` makes the next write stop after that many bytes (a power cut)."""

    data: bytearray = field(default_factory=lambda: bytearray([ERASED]) * STORE_SIZE)
    cut_after: int | None = None
    writes: int = 0

    def read(self, offset: int, size: int) -> bytes:
        return _padded(bytes(self.data[offset : offset + size]), size)

    def write(self, offset: int, data: bytes) -> None:
        self.writes += 1
        if len(self.data) < offset:
            self.data += bytes([ERASED]) * (offset - len(self.data))
        cut = self.cut_after
        if cut is not None and cut < len(data):
            self.data[offset : offset + cut] = data[:cut]
            self.cut_after = None
            raise PowerCut(f"power cut after {cut} of {len(data)} bytes")
        self.data[offset : offset + len(data)] = data


@dataclass
class WornFlash(MemoryFlash):
    """Flash that still reads but no longer accepts writes (worn out, write-protected)."""

    def write(self, offset: int, data: bytes) -> None:
        raise StoreWriteError("the flash no longer accepts writes")


class FileFlash:
    """Flash kept in a file (``penctl serve --nvm FILE``); a new file starts erased.

    A file that is not a pen store (larger than one, or holding neither a commit record nor an
    image anywhere, nor only erased bytes) is refused rather than overwritten. A damaged or shorter
    one is a damaged store: its missing bytes read as erased, and the boot says what that means.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            self.path.write_bytes(bytes([ERASED]) * STORE_SIZE)
            return
        if not self.path.is_file():
            raise ValueError(f"{self.path}: not a pen store (not a regular file)")
        data = self.path.read_bytes()
        if len(data) > STORE_SIZE:
            raise ValueError(f"{self.path}: not a pen store ({len(data)} bytes; a pen store has at most {STORE_SIZE})")
        erased = data == bytes([ERASED]) * len(data)
        if not (erased or RECORD_MAGIC in data or MAGIC in data):
            raise ValueError(f"{self.path}: not a pen store (no commit record or settings image in it)")

    def read(self, offset: int, size: int) -> bytes:
        try:
            with open(self.path, "rb") as f:
                f.seek(offset)
                return _padded(f.read(size), size)
        except OSError:
            return bytes([ERASED]) * size  # an unreadable medium reads as nothing written

    def write(self, offset: int, data: bytes) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR)
            try:
                size = os.fstat(fd).st_size
                if size < STORE_SIZE:  # a truncated store: fill the hole as erased flash, not zeros
                    os.pwrite(fd, bytes([ERASED]) * (STORE_SIZE - size), size)
                os.pwrite(fd, data, offset)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise StoreWriteError(f"{self.path}: {exc.strerror or exc}") from exc


def encode_image(layout: int, counter: int, payload: bytes) -> bytes:
    body = HEAD.pack(MAGIC, layout, counter, len(payload)) + payload
    image = body + struct.pack("<I", zlib.crc32(body))
    if len(image) > SLOT_SIZE:
        raise ValueError(f"image of {len(image)} bytes does not fit a {SLOT_SIZE}-byte slot")
    return image


def encode_record(counter: int) -> bytes:
    head = RECORD_MAGIC + struct.pack("<I", counter)
    return head + struct.pack("<I", zlib.crc32(head))


def read_record(raw: bytes) -> int | None:
    """The counter in a commit-record copy, or None if the copy is not intact."""
    magic, counter, crc = RECORD.unpack_from(raw)
    if magic != RECORD_MAGIC or crc != zlib.crc32(raw[:8]):
        return None
    return int(counter)


@dataclass(kw_only=True, frozen=True)
class Image:
    slot: int
    layout: int
    counter: int
    payload: bytes


def read_image(raw: bytes, slot: int) -> Image | None:
    """The image in ``raw`` if it is intact, else None."""
    if len(raw) < HEAD.size + 4:
        return None
    magic, layout, counter, length = HEAD.unpack_from(raw)
    if magic != MAGIC or length > SLOT_SIZE - HEAD.size - 4:
        return None
    end = HEAD.size + length
    (crc,) = struct.unpack_from("<I", raw, end)
    if crc != zlib.crc32(raw[:end]):
        return None
    return Image(slot=slot, layout=layout, counter=counter, payload=raw[HEAD.size : end])


# --- payload layouts ----------------------------------------------------------------------------

SECTION_SETTINGS = 1
SECTION_USED_CARTRIDGES = 2
SECTION_SERVICE_LOCKOUT = 3
LOCKOUT = struct.Struct("<HHB")
"""The service-lockout section: failures u16, lockouts u16, locked u8."""


@dataclass(kw_only=True, frozen=True)
class LockoutRecord:
    """Wrong service-unlock answers, kept in the store so that a power cycle does not forgive them."""

    failures: int = 0
    """Wrong answers in a row since the last right answer or the last lockout."""
    lockouts: int = 0
    """Lockouts since the last right answer: each one doubles the back-off after a power-on."""
    locked: bool = False
    """A lockout is in force: it holds until power-off, then for its back-off after every power-on."""


@dataclass(kw_only=True)
class StoreContents:
    """What the store holds: the settings block and the ids of cartridges already used."""

    settings: dict[str, SettingValue]
    used_cartridges: dict[int, int] = field(default_factory=dict)
    """Cartridge id -> strokes it delivered."""
    lockout: LockoutRecord = field(default_factory=LockoutRecord)


def encode_payload(contents: StoreContents) -> bytes:
    """Layout 3: sections of ``id u8 | length u16 | data`` (layout 2 had no service-lockout section)."""
    sections = [(SECTION_SETTINGS, pack_settings(contents.settings))]
    used = b"".join(struct.pack("<II", cid, strokes) for cid, strokes in sorted(contents.used_cartridges.items()))
    sections.append((SECTION_USED_CARTRIDGES, struct.pack("<H", len(contents.used_cartridges)) + used))
    lockout = contents.lockout
    sections.append((SECTION_SERVICE_LOCKOUT, LOCKOUT.pack(lockout.failures, lockout.lockouts, lockout.locked)))
    return b"".join(struct.pack("<BH", sid, len(data)) + data for sid, data in sections)


def decode_payload(layout: int, payload: bytes) -> StoreContents:
    """Decode (and migrate) a payload; raises PayloadError if it is not a complete, valid block."""
    if layout == 1:
        contents = _migrate_layout_1(payload)
    elif layout in (2, 3):
        contents = _decode_sections(payload, with_lockout=layout == 3)
    else:
        raise PayloadError(f"unknown layout {layout}")
    block = defaults() | contents.settings
    problems = validate_block(block)
    if problems:
        raise PayloadError(f"stored settings fail validation: {problems[0]}")
    contents.settings = block
    return contents


def _decode_sections(payload: bytes, with_lockout: bool) -> StoreContents:
    sections: dict[int, bytes] = {}
    r = Reader(payload)
    while r.pos < len(payload):
        sid, length = r.take("BH")
        if sid in sections:
            raise PayloadError(f"section {sid} twice")
        sections[int(sid)] = r.raw(int(length))
    expected = {SECTION_SETTINGS, SECTION_USED_CARTRIDGES} | ({SECTION_SERVICE_LOCKOUT} if with_lockout else set())
    if set(sections) != expected:
        raise PayloadError(f"sections {sorted(sections)}, expected {sorted(expected)}")
    used = Reader(sections[SECTION_USED_CARTRIDGES])
    cartridges: dict[int, int] = {}
    for _ in range(int(used.one("H"))):
        cid, strokes = used.take("II")
        if cid == 0 or cid in cartridges:
            raise PayloadError(f"used-cartridge list holds id {cid} (0 or twice)")
        cartridges[int(cid)] = int(strokes)
    used.done()
    lockout = _decode_lockout(sections[SECTION_SERVICE_LOCKOUT]) if with_lockout else LockoutRecord()
    settings = unpack_settings(sections[SECTION_SETTINGS])
    return StoreContents(settings=settings, used_cartridges=cartridges, lockout=lockout)


def _decode_lockout(data: bytes) -> LockoutRecord:
    if len(data) != LOCKOUT.size:
        raise PayloadError(f"service-lockout section of {len(data)} bytes, expected {LOCKOUT.size}")
    failures, lockouts, locked = LOCKOUT.unpack(data)
    if locked not in (0, 1):
        raise PayloadError(f"service-lockout flag {locked} is neither 0 nor 1")
    return LockoutRecord(failures=failures, lockouts=lockouts, locked=bool(locked))


def _migrate_layout_1(payload: bytes) -> StoreContents:
    """Layout 1 (firmware 0.x): ``count u16`` then ``id u16 | value f64`` for numeric settings only.

    A value that does not convert exactly (60.9 for a whole number, inf, 2 for a flag) makes the
    image unusable: migration never rounds a stored value into a different one.
    """
    r = Reader(payload)
    values: dict[str, SettingValue] = {}
    for _ in range(int(r.one("H"))):
        sid, number = r.take("Hd")
        setting = BY_ID.get(int(sid))
        if setting is None or setting.kind == "str":
            continue
        if not math.isfinite(number):
            raise PayloadError(f"{setting.key}: stored value {number} is not finite")
        value: SettingValue = float(number)
        if setting.kind in ("int", "bool"):
            if not float(number).is_integer():
                raise PayloadError(f"{setting.key}: stored value {number} is not a whole number")
            value = int(number)
            if setting.kind == "bool":
                if value not in (0, 1):
                    raise PayloadError(f"{setting.key}: stored flag {number} is neither 0 nor 1")
                value = bool(value)
        values[setting.key] = value
    r.done()
    return StoreContents(settings=values)


def encode_layout_1(values: dict[str, SettingValue]) -> bytes:
    """An old-layout payload (for tests of migration)."""
    numeric = [(BY_ID_KEY[k], float(v)) for k, v in values.items() if not isinstance(v, str)]
    return struct.pack("<H", len(numeric)) + b"".join(struct.pack("<Hd", sid, v) for sid, v in numeric)


BY_ID_KEY = {s.key: s.id for s in BY_ID.values()}


@dataclass(kw_only=True)
class BootResult:
    contents: StoreContents
    alarms: list[Alarm]
    counter: int
    slot: int | None


class SettingsStore:
    """The two-slot store with its commit record over a :class:`Flash` (see the module docstring)."""

    def __init__(self, flash: Flash) -> None:
        self.flash = flash
        self.counter = 0
        self.slot: int | None = None

    def boot(self) -> BootResult:
        """Load the newest usable image; say with an alarm whenever it is not provably the newest."""
        raw = self.flash.read(0, STORE_SIZE)
        copies = [read_record(raw[at : at + RECORD.size]) for at in RECORD_COPIES]
        recorded = max((c for c in copies if c is not None), default=None)
        images = sorted(
            (img for k in range(SLOTS) if (img := read_image(raw[slot_offset(k) : slot_offset(k + 1)], k))),
            key=lambda img: img.counter,
            reverse=True,
        )
        self.counter = max([recorded or 0, *(i.counter for i in images)])
        for image in images:
            try:
                contents = decode_payload(image.layout, image.payload)
            except PayloadError:
                continue  # intact but unusable: an older image is used, and the alarm says so
            self.slot = image.slot
            alarms = [Alarm.STORE_MIGRATED] if image.layout != LAYOUT_VERSION else []
            if recorded is None:
                alarms.append(Alarm.STORE_DAMAGED)
            elif image.counter < recorded or image is not images[0]:
                alarms.append(Alarm.STORE_ROLLED_BACK)
            return BootResult(contents=contents, alarms=alarms, counter=image.counter, slot=image.slot)
        self.slot = None
        blank = raw == bytes([ERASED]) * STORE_SIZE
        return BootResult(
            contents=StoreContents(settings=defaults()),
            alarms=[Alarm.STORE_BLANK if blank else Alarm.STORE_CORRUPT],
            counter=0,
            slot=None,
        )

    def commit(self, contents: StoreContents) -> None:
        """Write ``contents`` as the next image into the other slot, then the commit record."""
        target = 0 if self.slot is None else 1 - self.slot
        counter = self.counter + 1
        image = encode_image(LAYOUT_VERSION, counter, encode_payload(contents))
        self.flash.write(slot_offset(target), image)
        record = encode_record(counter)
        for at in RECORD_COPIES:
            self.flash.write(at, record)
        self.counter = counter
        self.slot = target
