"""A write needs its access level whatever the value; -0.0 is stored as 0.0.

Swept: every access level (no unlock, service, factory) against every setting, writing its value
unchanged, an equal value made afresh, and -0.0. A key above the level in force is refused with
ACCESS even when the value would change nothing; a value the setting cannot take is refused with
SETTING_RANGE; an accepted -0.0 is committed, read back and booted from the store as +0.0.
"""

from __future__ import annotations

import math
import struct

import pytest

from hal.errors import PenRefusedError
from hal.protocol import ErrorCode, Msg, pack_settings
from hal.service_auth import unlock_response
from hal.settings import ACCESS_LEVELS, SETTINGS, Access, Setting, SettingValue, validate_block
from sim.backend import SimBackend
from sim.nvm import SettingsStore
from tests.test_pen_limits import over_link

KEY = bytes(range(32))
VALUES = ("unchanged", "equal", "-0.0")


def pen_at(level: Access) -> SimBackend:
    sim = SimBackend(service_key=KEY, uptime=lambda: 0.0)
    if level != "user":
        sim.service_unlock(level, unlock_response(KEY, sim.service_challenge(), level, "MN1-000000"))
    return sim


def afresh(value: SettingValue) -> SettingValue:
    """An equal value that is a different object (what a host parsing text would send)."""
    if isinstance(value, bool):
        return bool(int(value))
    if isinstance(value, int):
        return int(str(value))
    if isinstance(value, float):
        return float(repr(value))
    return "".join(list(value))


def expected(sim: SimBackend, setting: Setting, value: SettingValue, level: Access) -> int | None:
    """What the pen must answer: None for ACK, else the NAK code."""
    if setting.check(value):
        return ErrorCode.SETTING_RANGE
    if ACCESS_LEVELS.index(setting.access) > ACCESS_LEVELS.index(level):
        return ErrorCode.ACCESS
    if validate_block(sim.read_settings() | {setting.key: value}):
        return ErrorCode.SETTING_RULE
    return None


@pytest.mark.parametrize("level", ACCESS_LEVELS)
def test_every_level_against_every_setting_unchanged_equal_and_negative_zero(level: Access) -> None:
    sim = pen_at(level)
    outcomes: dict[str, int] = {}
    for setting in SETTINGS:
        for kind in VALUES:
            current = sim.read_settings()[setting.key]
            value = {"unchanged": current, "equal": afresh(current), "-0.0": -0.0}[kind]
            want = expected(sim, setting, value, level)
            case = (level, setting.key, kind)
            try:
                sim.stage_settings({setting.key: value})
                got = None
            except PenRefusedError as exc:
                got = exc.code
                assert exc.key == setting.key, case
            assert got == want, case
            name = "ACK" if got is None else ErrorCode(got).name
            outcomes[name] = outcomes.get(name, 0) + 1
            if got is not None:
                assert sim.settings.staged is None and sim.read_settings()[setting.key] == current, case
                continue
            sim.commit_settings()
            stored = sim.read_settings()[setting.key]
            assert stored == value and type(stored) is type(value), case
            if isinstance(stored, float) and stored == 0.0:
                assert math.copysign(1.0, stored) == 1.0, f"{case}: stored as -0.0"
    assert sum(outcomes.values()) == len(SETTINGS) * len(VALUES)
    print(level, outcomes)
    booted = SettingsStore(sim.settings.store.flash).boot().contents.settings
    assert all(math.copysign(1.0, v) == 1.0 for v in booted.values() if isinstance(v, float) and v == 0.0)


def test_negative_zero_for_the_factory_calibration_offset_without_an_unlock_is_nak_access() -> None:
    """The issue's probe, over the wire: -0.0 was accepted as 'no change'."""
    sim = SimBackend(service_key=KEY)
    host = over_link(sim)
    block = pack_settings({"depth.calibration_offset_mm": 0.0}).replace(struct.pack("<d", 0.0), struct.pack("<d", -0.0))
    with pytest.raises(PenRefusedError) as info:
        host.link.request(Msg.SETTINGS_WRITE, block)
    assert (info.value.code, info.value.key) == (ErrorCode.ACCESS, "depth.calibration_offset_mm")
    assert sim.settings.staged is None


def test_negative_zero_over_the_wire_is_stored_and_read_back_as_zero() -> None:
    sim = pen_at("factory")
    host = over_link(sim)
    unlock = unlock_response(KEY, host.service_challenge(), "factory", "MN1-000000")
    host.service_unlock("factory", unlock)
    block = pack_settings({"depth.calibration_offset_mm": 0.0}).replace(struct.pack("<d", 0.0), struct.pack("<d", -0.0))
    host.link.request(Msg.SETTINGS_WRITE, block)
    host.commit_settings()
    assert math.copysign(1.0, float(host.read_settings()["depth.calibration_offset_mm"])) == 1.0


def new_value(setting: Setting, block: dict[str, SettingValue]) -> SettingValue:
    """A valid value other than the one in ``block`` that the rules between settings accept."""
    current = block[setting.key]
    if setting.kind == "bool":
        candidates: list[SettingValue] = [not current]
    elif setting.kind == "str":
        candidates = ["MN1-999999", "MN1-888888"]
    else:
        steps = [setting.low + (setting.high - setting.low) * k / 8 for k in range(9)]
        candidates = [int(v) if setting.kind == "int" else float(v) for v in steps]
    valid = [v for v in candidates if v != current and not validate_block(block | {setting.key: v})]
    assert valid, f"{setting.key}: no other value passes the rules between settings"
    return valid[0]


ENDINGS = ("expiry", "expiry, then a new unlock", "new host", "new host, then a new unlock", "power-on (RESET_WORLD)")


@pytest.mark.parametrize("ending", ENDINGS)
@pytest.mark.parametrize(
    "setting", [s for s in SETTINGS if s.access != "user" and s.low != s.high], ids=lambda s: s.key
)  # (cartridge.max_uses can only be 1)
def test_a_block_staged_under_an_unlock_is_not_committed_once_the_unlock_ended(setting: Setting, ending: str) -> None:
    """The outside probe's break: a block staged at unlock + 28 s was committed 30 s after the unlock expired,
    and one staged before a RESET_WORLD was committed with no unlock; a later probe committed it under the next
    unlock. Swept: every service and factory setting x every way an unlock ends; the commit is refused (ACCESS,
    or NOTHING_STAGED where the ending already dropped the block), and the settings in force and those the store
    boots with stay as they were."""
    now = [0.0]
    sim = SimBackend(service_key=KEY, uptime=lambda: now[0])
    level = setting.access
    sim.service_unlock(level, unlock_response(KEY, sim.service_challenge(), level, "MN1-000000"))
    before = sim.read_settings()
    sim.stage_settings({setting.key: new_value(setting, before)})
    if ending.startswith("expiry"):
        now[0] = float(before["service.unlock_timeout_s"]) + 1.0
    elif ending.startswith("new host"):
        sim.drop_unlock()
    else:
        sim.reset_world(1, None, 0.9)
    if ending.endswith("a new unlock"):  # the third probe's break: the next unlock revived the stale block
        sim.service_unlock("factory", unlock_response(KEY, sim.service_challenge(), "factory", "MN1-000000"))
    with pytest.raises(PenRefusedError) as info:
        sim.commit_settings()
    assert info.value.code in (ErrorCode.ACCESS, ErrorCode.NOTHING_STAGED), info.value
    assert sim.read_settings() == before and sim.settings.staged is None
    assert SettingsStore(sim.settings.store.flash).boot().contents.settings == before


def test_a_block_staged_and_committed_within_the_unlock_is_stored() -> None:
    """The control: the same commit inside the unlock goes through."""
    now = [0.0]
    sim = SimBackend(service_key=KEY, uptime=lambda: now[0])
    sim.service_unlock("factory", unlock_response(KEY, sim.service_challenge(), "factory", "MN1-000000"))
    sim.stage_settings({"depth.calibration_offset_mm": 0.01})
    now[0] = float(sim.read_settings()["service.unlock_timeout_s"]) - 1.0
    sim.commit_settings()
    assert sim.read_settings()["depth.calibration_offset_mm"] == 0.01
