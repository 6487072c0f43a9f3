"""Service unlocks that expire whatever traffic follows, and a lockout no power cycle or RESET_WORLD clears.

Everything runs on an injected power-on clock, so the minutes of back-off cost no wall time.
"""

from __future__ import annotations

import pytest

from hal.errors import PenRefusedError
from hal.protocol import ErrorCode
from hal.serial_backend import SerialBackend
from hal.service_auth import unlock_response
from sim.backend import SimBackend
from sim.nvm import LockoutRecord, MemoryFlash, WornFlash
from sim.service_access import BACKOFF_FIRST_S, BACKOFF_MAX_S, backoff_s
from tests.test_pen_limits import over_link

KEY = bytes(range(32))
SERIAL = "MN1-000000"


def unlock(host: SerialBackend, level: str = "service") -> None:
    host.service_unlock(level, unlock_response(KEY, host.service_challenge(), level, SERIAL))


def refusal(action: object) -> int:
    assert callable(action)
    with pytest.raises(PenRefusedError) as info:
        action()
    return int(info.value.code)


def test_an_unlock_kept_busy_by_status_requests_still_expires_at_its_timeout() -> None:
    """The issue's probe: unlock_timeout_s = 30, STATUS every 5 s, a service write 33 s after the unlock."""
    clock = [0.0]
    sim = SimBackend(service_key=KEY, uptime=lambda: clock[0])
    host = over_link(sim, clock)
    unlock(host, "factory")
    host.stage_settings({"service.unlock_timeout_s": 30})
    host.commit_settings()
    host.close()
    host = over_link(sim, clock)  # a new connection: a new unlock, under the 30 s now in force
    clock[0] = 100.0
    unlock(host)
    while clock[0] < 129.0:
        clock[0] += 5.0 if clock[0] + 5.0 < 129.0 else 129.0 - clock[0]
        host.status()
    host.stage_settings({"thermal.motor_limit_c": 58.0})  # 29 s after the unlock: still unlocked
    host.abort_settings()
    while clock[0] < 133.0:
        clock[0] += 1.0
        host.status()
    code = refusal(lambda: host.stage_settings({"thermal.motor_limit_c": 57.0}))
    assert code == ErrorCode.ACCESS, "33 s after the unlock, whatever traffic came"


def test_lowering_the_timeout_shortens_the_unlock_in_force() -> None:
    clock = [0.0]
    sim = SimBackend(service_key=KEY, uptime=lambda: clock[0])
    host = over_link(sim, clock)
    unlock(host, "factory")
    clock[0] = 40.0
    host.stage_settings({"service.unlock_timeout_s": 30})
    host.commit_settings()
    code = refusal(lambda: host.stage_settings({"thermal.motor_limit_c": 57.0}))
    assert code == ErrorCode.ACCESS, "40 s after the unlock, with 30 s in force"


def lock_out(host: SerialBackend) -> None:
    codes = []
    for _ in range(3):
        host.service_challenge()
        codes.append(refusal(lambda: host.service_unlock("service", bytes(32))))
    assert codes == [ErrorCode.AUTH_FAILED, ErrorCode.AUTH_FAILED, ErrorCode.AUTH_LOCKED]


@pytest.mark.parametrize("cycle", ["RESET_WORLD", "a power cycle"])
def test_a_lockout_outlives_power_cycles_and_each_one_doubles_the_back_off(cycle: str) -> None:
    clock = [0.0]
    flash = MemoryFlash()
    sim = SimBackend(service_key=KEY, uptime=lambda: clock[0], flash=flash)
    host = over_link(sim, clock)
    for lockouts in (1, 2, 3, 4):
        lock_out(host)
        clock[0] += 10 * BACKOFF_MAX_S
        assert refusal(host.service_challenge) == ErrorCode.AUTH_LOCKED, "until power-off, however long"
        if cycle == "RESET_WORLD":
            host.reset_world(lockouts, None, 0.9)
        else:
            sim.close()
            clock[0] = 0.0
            sim = SimBackend(service_key=KEY, uptime=lambda: clock[0], flash=flash)
            host = over_link(sim, clock)
        assert sim.access.record == LockoutRecord(lockouts=lockouts, locked=True)
        wait = backoff_s(lockouts)
        assert wait == BACKOFF_FIRST_S * 2 ** (lockouts - 1)
        start = clock[0]
        clock[0] = start + wait - 1.0
        assert refusal(host.service_challenge) == ErrorCode.AUTH_LOCKED, (lockouts, "within the back-off")
        clock[0] = start + wait
        host.service_challenge()  # the back-off is over: max_unlock_failures more tries
    unlock(host)
    assert sim.access.record == LockoutRecord(), "a right answer clears the record in the store"


def test_wrong_answers_short_of_a_lockout_are_not_forgiven_by_a_power_cycle() -> None:
    clock = [0.0]
    sim = SimBackend(service_key=KEY, uptime=lambda: clock[0])
    host = over_link(sim, clock)
    for cycle in range(3):
        host.service_challenge()
        code = refusal(lambda: host.service_unlock("service", bytes(32)))
        assert code == (ErrorCode.AUTH_LOCKED if cycle == 2 else ErrorCode.AUTH_FAILED)
        host.reset_world(cycle, None, 0.9)  # two guesses, a "power cycle", one more guess: still the third
    assert refusal(host.service_challenge) == ErrorCode.AUTH_LOCKED


def test_the_back_off_is_capped_at_a_day() -> None:
    assert [backoff_s(k) for k in (0, 1, 2, 3)] == [0.0, 60.0, 120.0, 240.0]
    assert backoff_s(11) == 61_440.0 and backoff_s(12) == BACKOFF_MAX_S == backoff_s(10_000)


def test_a_store_that_cannot_count_a_failure_locks_service_access_until_power_off() -> None:
    sim = SimBackend(service_key=KEY, flash=WornFlash(data=MemoryFlash().data))
    sim.service_challenge()
    code = refusal(lambda: sim.service_unlock("service", bytes(32)))
    assert code == ErrorCode.AUTH_LOCKED, "the first wrong answer: it could not be recorded"
    assert refusal(sim.service_challenge) == ErrorCode.AUTH_LOCKED


def test_a_layout_2_store_without_a_lockout_record_is_migrated_and_a_damaged_record_is_refused() -> None:
    from hal.protocol import Alarm
    from hal.settings import defaults
    from sim.nvm import LOCKOUT, SettingsStore, StoreContents, encode_image, encode_payload, slot_offset

    payload = encode_payload(StoreContents(settings=defaults(), used_cartridges={5: 10}))
    section = 3 + LOCKOUT.size
    flash = MemoryFlash()
    flash.write(slot_offset(0), encode_image(2, 1, payload[:-section]))  # layout 2: the same sections but the last
    boot = SettingsStore(flash).boot()
    assert Alarm.STORE_MIGRATED in boot.alarms, boot.alarms
    assert boot.contents.lockout == LockoutRecord() and boot.contents.used_cartridges == {5: 10}
    locked_flag_2 = payload[:-1] + b"\x02"
    flash = MemoryFlash()
    flash.write(slot_offset(0), encode_image(3, 1, locked_flag_2))
    assert SettingsStore(flash).boot().slot is None, "a lockout flag of 2 makes the image unusable"
