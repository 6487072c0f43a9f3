"""The two-slot settings store: survives a power cut at every byte, migrates, and never fails silently."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from hal.protocol import Alarm
from hal.settings import defaults
from sim.nvm import (
    LAYOUT_VERSION,
    SLOT_SIZE,
    FileFlash,
    MemoryFlash,
    PowerCut,
    SettingsStore,
    StoreContents,
    encode_image,
    encode_layout_1,
    encode_payload,
)


def committed(*changes: dict[str, object]) -> tuple[MemoryFlash, list[dict[str, object]]]:
    flash = MemoryFlash()
    store = SettingsStore(flash)
    store.boot()
    versions = []
    values = defaults()
    for change in changes:
        values = values | change
        store.commit(StoreContents(dict(values)))  # type: ignore[arg-type]
        versions.append(dict(values))
    return flash, versions


def boot(flash: MemoryFlash):  # type: ignore[no-untyped-def]
    return SettingsStore(MemoryFlash(bytearray(flash.data))).boot()


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
    flash, versions = committed(*({"depth.max_mm": 2.0 - 0.1 * k} for k in range(history)))
    old = versions[-1]
    new = old | {"depth.max_mm": 1.2, "pen.serial_number": "MN1-CUT-TEST"}
    length = len(encode_image(LAYOUT_VERSION, 99, encode_payload(StoreContents(new))))  # type: ignore[arg-type]
    for cut in range(length + 1):
        trial = MemoryFlash(bytearray(flash.data), cut_after=cut)
        store = SettingsStore(trial)
        store.boot()
        with contextlib.suppress(PowerCut):
            store.commit(StoreContents(dict(new)))  # type: ignore[arg-type]
        result = boot(trial)
        expected = new if cut >= length else old
        assert result.contents.settings == expected, f"power cut after {cut} of {length} bytes"
        assert result.alarms == []


def test_a_flipped_byte_in_the_newest_image_falls_back_to_the_previous() -> None:
    flash, versions = committed({"depth.max_mm": 2.0}, {"depth.max_mm": 1.5})
    flash.data[1 * SLOT_SIZE + 20] ^= 0x01  # the second commit went to slot 1
    result = boot(flash)
    assert result.contents.settings == versions[0]


def test_both_slots_corrupt_boots_defaults_with_a_corrupt_alarm() -> None:
    flash, _ = committed({"depth.max_mm": 2.0}, {"depth.max_mm": 1.5})
    flash.data[10] ^= 0xFF
    flash.data[SLOT_SIZE + 10] ^= 0xFF
    result = boot(flash)
    assert result.contents.settings == defaults()
    assert result.alarms == [Alarm.STORE_CORRUPT]


def test_an_old_layout_image_is_migrated_and_says_so() -> None:
    old = defaults() | {"depth.max_mm": 1.75, "session.max_minutes": 45}
    flash = MemoryFlash()
    flash.write(0, encode_image(1, 7, encode_layout_1(old)))
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
    store.commit(StoreContents(defaults() | {"depth.max_mm": 2.0}, {1234: 900}))
    result = SettingsStore(FileFlash(path)).boot()
    assert result.contents.settings["depth.max_mm"] == 2.0
    assert result.contents.used_cartridges == {1234: 900}
    path.write_bytes(b"short")
    with pytest.raises(ValueError, match="not a pen store"):
        FileFlash(path)
