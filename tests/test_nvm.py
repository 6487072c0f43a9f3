"""The two-slot settings store: survives a power cut at every byte, migrates, and never fails silently."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import pytest

from hal.protocol import Alarm
from hal.settings import SettingValue, defaults
from sim.nvm import (
    HEAD,
    LAYOUT_VERSION,
    RECORD,
    RECORD_COPIES,
    SLOT_SIZE,
    SLOTS,
    STORE_SIZE,
    FileFlash,
    MemoryFlash,
    PowerCut,
    SettingsStore,
    StoreContents,
    encode_image,
    encode_layout_1,
    encode_payload,
    encode_record,
    slot_offset,
)


def committed(*changes: dict[str, SettingValue]) -> tuple[MemoryFlash, list[dict[str, SettingValue]]]:
    flash = MemoryFlash()
    store = SettingsStore(flash)
    store.boot()
    versions = []
    values = defaults()
    for change in changes:
        values = values | change
        store.commit(StoreContents(settings=dict(values)))
        versions.append(dict(values))
    return flash, versions


def boot(flash: MemoryFlash):  # type: ignore[no-untyped-def]
    return SettingsStore(MemoryFlash(data=bytearray(flash.data))).boot()


def test_a_blank_store_boots_with_defaults_and_an_alarm() -> None:
    result = SettingsStore(MemoryFlash()).boot()
    assert result.contents.settings == defaults()
    assert result.alarms == [Alarm.STORE_BLANK]


def test_commits_alternate_slots_and_the_newest_wins() -> None:
    flash, versions = committed({"depth.max_mm": 2.0}, {"depth.max_mm": 1.5}, {"alarm.volume": 3})
    result = boot(flash)
    assert result.contents.settings == versions[-1]
    assert result.alarms == []
    assert (result.counter, result.slot) == (3, 0)


@pytest.mark.parametrize("history", [1, 2])
def test_a_power_cut_at_every_byte_of_a_commit_leaves_the_old_or_the_new_image(history: int) -> None:
    changes: list[dict[str, SettingValue]] = [{"depth.max_mm": 2.0 - 0.1 * k} for k in range(history)]
    flash, versions = committed(*changes)
    old = versions[-1]
    new = old | {"depth.max_mm": 1.2, "pen.serial_number": "MN1-CUT-TEST"}
    length = len(encode_image(LAYOUT_VERSION, 99, encode_payload(StoreContents(settings=new))))
    for cut in range(length + 1):
        trial = MemoryFlash(data=bytearray(flash.data), cut_after=cut)
        store = SettingsStore(trial)
        store.boot()
        with contextlib.suppress(PowerCut):
            store.commit(StoreContents(settings=dict(new)))
        result = boot(trial)
        expected = new if cut >= length else old
        assert result.contents.settings == expected, f"power cut after {cut} of {length} bytes"
        assert result.alarms == []


def test_a_flipped_byte_in_the_newest_image_falls_back_to_the_previous_with_an_alarm() -> None:
    flash, versions = committed({"depth.max_mm": 2.0}, {"depth.max_mm": 1.5})
    flash.data[slot_offset(1) + 20] ^= 0x01  # the second commit went to slot 1
    result = boot(flash)
    assert result.contents.settings == versions[0]
    assert result.alarms == [Alarm.STORE_ROLLED_BACK]


def test_both_slots_corrupt_boots_defaults_with_a_corrupt_alarm() -> None:
    flash, _ = committed({"depth.max_mm": 2.0}, {"depth.max_mm": 1.5})
    flash.data[slot_offset(0) + 10] ^= 0xFF
    flash.data[slot_offset(1) + 10] ^= 0xFF
    result = boot(flash)
    assert result.contents.settings == defaults()
    assert result.alarms == [Alarm.STORE_CORRUPT]


def test_an_old_layout_image_is_migrated_and_says_so() -> None:
    old = defaults() | {"depth.max_mm": 1.75, "session.max_minutes": 45}
    flash = MemoryFlash()
    flash.write(slot_offset(0), encode_image(1, 7, encode_layout_1(old)))
    flash.write(RECORD_COPIES[0], encode_record(7))
    store = SettingsStore(flash)
    result = store.boot()
    assert result.alarms == [Alarm.STORE_MIGRATED]
    assert result.contents.settings["depth.max_mm"] == 1.75
    assert result.contents.settings["session.max_minutes"] == 45
    assert isinstance(result.contents.settings["session.max_minutes"], int)
    assert result.contents.settings["pen.serial_number"] == defaults()["pen.serial_number"]
    store.commit(result.contents)
    again = SettingsStore(flash).boot()
    assert again.alarms == [] and again.contents.settings == result.contents.settings


def test_the_file_store_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "pen.nvm"
    store = SettingsStore(FileFlash(path))
    assert store.boot().alarms == [Alarm.STORE_BLANK]
    store.commit(StoreContents(settings=defaults() | {"depth.max_mm": 2.0}, used_cartridges={1234: 900}))
    result = SettingsStore(FileFlash(path)).boot()
    assert result.contents.settings["depth.max_mm"] == 2.0
    assert result.contents.used_cartridges == {1234: 900}
    path.write_bytes(b"not a store, a text file")
    with pytest.raises(ValueError, match="not a pen store"):
        FileFlash(path)


# --- the census: every kind of damage to a two-commit store ends in a stated outcome, never silently ---

OLDER = defaults() | {"depth.max_mm": 2.0, "session.max_minutes": 45}
NEWEST = defaults() | {"depth.max_mm": 1.0, "session.max_minutes": 30}


def two_commit_store() -> bytes:
    flash = MemoryFlash()
    store = SettingsStore(flash)
    store.commit(StoreContents(settings=dict(OLDER)))
    store.commit(StoreContents(settings=dict(NEWEST), used_cartridges={77: 120}))
    return bytes(flash.data)


def outcome(data: bytes) -> str:
    """Classify one boot: the only acceptable outcomes are named; anything else is 'silent' or 'wrong'."""
    result = SettingsStore(MemoryFlash(data=bytearray(data))).boot()
    settings, alarms = result.contents.settings, set(result.alarms)
    if settings == NEWEST and not alarms:
        return "newest"
    if settings == NEWEST and alarms == {Alarm.STORE_DAMAGED}:
        return "newest, damage alarmed"
    if settings == OLDER and alarms == {Alarm.STORE_ROLLED_BACK}:
        return "older, rolled-back alarm"
    if settings == defaults() and alarms in ({Alarm.STORE_CORRUPT}, {Alarm.STORE_BLANK}):
        return "defaults, alarmed"
    return "silent" if not alarms else f"wrong: {sorted(alarms)}"


def census(variants: list[bytes]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for data in variants:
        kind = outcome(data)
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def flipped(data: bytes, at: int, mask: int) -> bytes:
    out = bytearray(data)
    out[at] ^= mask
    return bytes(out)


def test_census_every_byte_flipped_never_boots_silently() -> None:
    data = two_commit_store()
    counts = census([flipped(data, at, 0xFF) for at in range(STORE_SIZE)])
    assert set(counts) <= {"newest", "newest, damage alarmed", "older, rolled-back alarm"}, counts
    assert counts["older, rolled-back alarm"] > 0 and counts["newest"] > 0


def test_census_every_bit_of_every_header_flipped_never_boots_silently() -> None:
    data = two_commit_store()
    heads = [slot_offset(k) + i for k in range(SLOTS) for i in range(HEAD.size)]
    heads += [at + i for at in RECORD_COPIES for i in range(RECORD.size)]
    counts = census([flipped(data, at, 1 << bit) for at in heads for bit in range(8)])
    assert set(counts) <= {"newest", "newest, damage alarmed", "older, rolled-back alarm"}, counts


def test_census_truncation_at_every_length_never_boots_silently() -> None:
    data = two_commit_store()
    counts = census([data[:length] for length in range(STORE_SIZE + 1)])
    assert "silent" not in counts and not any(k.startswith("wrong") for k in counts), counts


def test_values_that_do_not_survive_migration_make_the_image_unusable() -> None:
    for bad in (math.inf, math.nan, 60.9):
        flash = MemoryFlash()
        flash.write(slot_offset(0), encode_image(1, 1, encode_layout_1(defaults())))
        flash.write(slot_offset(1), encode_image(1, 2, encode_layout_1(defaults() | {"session.max_minutes": bad})))
        flash.write(RECORD_COPIES[0], encode_record(2))
        result = SettingsStore(flash).boot()
        assert result.contents.settings["session.max_minutes"] == 60
        assert Alarm.STORE_ROLLED_BACK in result.alarms, bad


def test_a_store_that_cannot_be_written_refuses_the_commit_and_keeps_the_old_settings(tmp_path: Path) -> None:
    from hal.errors import PenRefusedError
    from sim.pen_settings import PenSettings

    path = tmp_path / "pen.nvm"
    settings = PenSettings(FileFlash(path))
    path.unlink()
    path.mkdir()  # the store file became a directory: every write fails
    settings.stage({"alarm.volume": 2})
    with pytest.raises(PenRefusedError, match="could not be written"):
        settings.commit()
    assert settings.values["alarm.volume"] == defaults()["alarm.volume"]
    with pytest.raises(PenRefusedError, match="could not be written"):
        settings.record_used_cartridge(5, 10)
    assert 5 in settings.contents.used_cartridges, "the lockout holds until power-off even so"


@pytest.mark.parametrize("at", [*range(RECORD.size), *range(16, 16 + RECORD.size), slot_offset(0), slot_offset(1)])
def test_a_store_file_with_a_damaged_magic_still_boots_and_says_so(tmp_path: Path, at: int) -> None:
    path = tmp_path / "pen.nvm"
    path.write_bytes(flipped(two_commit_store(), at, 0xFF))
    kind = outcome(bytes(SettingsStore(FileFlash(path)).flash.read(0, STORE_SIZE)))
    assert kind in ("newest", "older, rolled-back alarm"), kind


def test_an_unusable_newest_image_is_not_a_silent_rollback() -> None:
    flash = MemoryFlash()
    store = SettingsStore(flash)
    store.commit(StoreContents(settings=defaults() | {"depth.max_mm": 1.0}))
    store.commit(StoreContents(settings=defaults() | {"depth.max_mm": 0.8}))
    # Make the newest image (slot 1) intact but invalid: an unknown layout with a fresh CRC.
    import struct
    import zlib

    raw = bytearray(flash.data[slot_offset(1) : slot_offset(1) + SLOT_SIZE])
    raw[4:6] = struct.pack("<H", 9)
    length = struct.unpack_from("<I", raw, 10)[0]
    end = 14 + length
    raw[end : end + 4] = struct.pack("<I", zlib.crc32(bytes(raw[:end])))
    flash.data[slot_offset(1) : slot_offset(1) + SLOT_SIZE] = raw
    result = SettingsStore(flash).boot()
    assert result.contents.settings["depth.max_mm"] == 1.0
    assert Alarm.STORE_ROLLED_BACK in result.alarms
