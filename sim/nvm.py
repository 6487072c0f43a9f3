"""The pen's non-volatile settings store: two slots, written alternately, so a power cut never loses both.

An image is ``magic "MNPS" | layout u16 | write counter u32 | length u32 |
payload | CRC-32 u32`` (CRC over everything before it, little-endian). A commit
writes the next image (counter + 1) into the slot that does not hold the current
one, so a power cut at any byte leaves the current image intact; at boot the
valid image with the highest counter wins. An image of an older layout is
migrated. With no valid image the pen boots with factory defaults AND raises an
alarm (blank or corrupt) that the host can read: never silently.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from hal.protocol import Alarm, PayloadError, Reader, pack_settings, unpack_settings
from hal.settings import BY_ID, SettingValue, defaults, validate_block

MAGIC = b"MNPS"
LAYOUT_VERSION = 2
SLOT_SIZE = 4096
SLOTS = 2
HEAD = struct.Struct("<4sHII")
ERASED = 0xFF


class PowerCut(Exception):
    """Raised by a test flash when the power goes mid-write."""


class Flash(Protocol):
    """Byte-addressable non-volatile memory of ``SLOTS * SLOT_SIZE`` bytes."""

    def read(self, offset: int, size: int) -> bytes: ...

    def write(self, offset: int, data: bytes) -> None: ...


@dataclass
class MemoryFlash:
    """Flash in RAM; ``cut_after`` makes the next write stop after that many bytes (a power cut)."""

    data: bytearray = field(default_factory=lambda: bytearray([ERASED]) * (SLOTS * SLOT_SIZE))
    cut_after: int | None = None
    writes: int = 0

    def read(self, offset: int, size: int) -> bytes:
        return bytes(self.data[offset : offset + size])

    def write(self, offset: int, data: bytes) -> None:
        self.writes += 1
        cut = self.cut_after
        if cut is not None and cut < len(data):
            self.data[offset : offset + cut] = data[:cut]
            self.cut_after = None
            raise PowerCut(f"power cut after {cut} of {len(data)} bytes")
        self.data[offset : offset + len(data)] = data


class FileFlash:
    """Flash kept in a file (``penctl serve --nvm FILE``); a new file starts erased."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            self.path.write_bytes(bytes([ERASED]) * (SLOTS * SLOT_SIZE))
        elif self.path.stat().st_size != SLOTS * SLOT_SIZE:
            raise ValueError(
                f"{self.path}: not a pen store ({self.path.stat().st_size} bytes, expected {SLOTS * SLOT_SIZE})"
            )

    def read(self, offset: int, size: int) -> bytes:
        with open(self.path, "rb") as f:
            f.seek(offset)
            return f.read(size)

    def write(self, offset: int, data: bytes) -> None:
        fd = os.open(self.path, os.O_WRONLY)
        try:
            os.pwrite(fd, data, offset)
            os.fsync(fd)
        finally:
            os.close(fd)


def encode_image(layout: int, counter: int, payload: bytes) -> bytes:
    body = HEAD.pack(MAGIC, layout, counter, len(payload)) + payload
    image = body + struct.pack("<I", zlib.crc32(body))
    if len(image) > SLOT_SIZE:
        raise ValueError(f"image of {len(image)} bytes does not fit a {SLOT_SIZE}-byte slot")
    return image


@dataclass(frozen=True)
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
    return Image(slot, layout, counter, raw[HEAD.size : end])


# --- payload layouts ----------------------------------------------------------------------------

SECTION_SETTINGS = 1
SECTION_USED_CARTRIDGES = 2


@dataclass
class StoreContents:
    """What the store holds: the settings block and the ids of cartridges already used."""

    settings: dict[str, SettingValue]
    used_cartridges: dict[int, int] = field(default_factory=dict)
    """Cartridge id -> strokes it delivered."""


def encode_payload(contents: StoreContents) -> bytes:
    """Layout 2: sections of ``id u8 | length u16 | data``."""
    sections = [(SECTION_SETTINGS, pack_settings(contents.settings))]
    used = b"".join(struct.pack("<II", cid, strokes) for cid, strokes in sorted(contents.used_cartridges.items()))
    sections.append((SECTION_USED_CARTRIDGES, struct.pack("<H", len(contents.used_cartridges)) + used))
    return b"".join(struct.pack("<BH", sid, len(data)) + data for sid, data in sections)


def decode_payload(layout: int, payload: bytes) -> StoreContents:
    """Decode (and migrate) a payload; raises PayloadError if it is not a valid block."""
    if layout == 1:
        contents = _migrate_layout_1(payload)
    elif layout == 2:
        contents = StoreContents(settings={})
        r = Reader(payload)
        while r.pos < len(payload):
            sid, length = r.take("BH")
            data = Reader(r.data[r.pos : r.pos + int(length)])
            r.pos += int(length)
            if sid == SECTION_SETTINGS:
                contents.settings = unpack_settings(data.rest())
            elif sid == SECTION_USED_CARTRIDGES:
                count = int(data.one("H"))
                for _ in range(count):
                    cid, strokes = data.take("II")
                    contents.used_cartridges[int(cid)] = int(strokes)
                data.done()
    else:
        raise PayloadError(f"unknown layout {layout}")
    block = defaults() | contents.settings
    if validate_block(block):
        raise PayloadError("stored settings fail validation")
    contents.settings = block
    return contents


def _migrate_layout_1(payload: bytes) -> StoreContents:
    """Layout 1 (firmware 0.x): ``count u16`` then ``id u16 | value f64`` for numeric settings only."""
    r = Reader(payload)
    values: dict[str, SettingValue] = {}
    for _ in range(int(r.one("H"))):
        sid, value = r.take("Hd")
        setting = BY_ID.get(int(sid))
        if setting is None or setting.kind == "str":
            continue
        number = float(value)
        values[setting.key] = (
            bool(number) if setting.kind == "bool" else (int(number) if setting.kind == "int" else number)
        )
    r.done()
    return StoreContents(settings=values)


def encode_layout_1(values: dict[str, SettingValue]) -> bytes:
    """An old-layout payload (for tests of migration)."""
    numeric = [(BY_ID_KEY[k], float(v)) for k, v in values.items() if not isinstance(v, str)]
    return struct.pack("<H", len(numeric)) + b"".join(struct.pack("<Hd", sid, v) for sid, v in numeric)


BY_ID_KEY = {s.key: s.id for s in BY_ID.values()}


@dataclass
class BootResult:
    contents: StoreContents
    alarms: list[Alarm]
    counter: int
    slot: int | None


class SettingsStore:
    """The two-slot store over a :class:`Flash` (see the module docstring)."""

    def __init__(self, flash: Flash) -> None:
        self.flash = flash
        self.counter = 0
        self.slot: int | None = None

    def boot(self) -> BootResult:
        """Load the newest intact image, migrating an old layout; defaults and an alarm if none."""
        raws = [self.flash.read(k * SLOT_SIZE, SLOT_SIZE) for k in range(SLOTS)]
        images = sorted(
            (img for k, raw in enumerate(raws) if (img := read_image(raw, k))),
            key=lambda img: img.counter,
            reverse=True,
        )
        skipped = False
        for image in images:
            try:
                contents = decode_payload(image.layout, image.payload)
            except (PayloadError, ValueError):
                skipped = True  # intact but unusable: never fall back silently
                continue
            self.counter, self.slot = max(i.counter for i in images), image.slot
            alarms = [Alarm.STORE_MIGRATED] if image.layout != LAYOUT_VERSION else []
            if skipped:
                alarms.append(Alarm.STORE_ROLLED_BACK)
            return BootResult(contents, alarms, image.counter, image.slot)
        blank = all(raw == bytes([ERASED]) * SLOT_SIZE for raw in raws)
        self.counter, self.slot = 0, None
        return BootResult(StoreContents(defaults()), [Alarm.STORE_BLANK if blank else Alarm.STORE_CORRUPT], 0, None)

    def commit(self, contents: StoreContents) -> None:
        """Write ``contents`` as the next image into the other slot."""
        target = 0 if self.slot is None else 1 - self.slot
        image = encode_image(LAYOUT_VERSION, self.counter + 1, encode_payload(contents))
        self.flash.write(target * SLOT_SIZE, image)
        self.counter += 1
        self.slot = target
