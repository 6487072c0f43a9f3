"""Regressions for holes a review found: each test names the promise it keeps."""

from __future__ import annotations

import math

import numpy as np
import pytest

from controller.firmware.limits import DepthLimit, FirmwareLimits
from controller.firmware.pen_controller import PenController
from controller.firmware.supervisor import Supervisor
from controller.firmware.target import Target
from controller.host.table_reader import InputFileError
from controller.treatment.plan import parse_plan
from hal.backend import CartridgeInfo
from hal.errors import CommandRefusedError, PenError, PenOperationError
from hal.protocol import Alarm, Msg, PayloadError, Reader, encode_frame, pack_settings, pack_str
from hal.settings import defaults
from sim.backend import SimBackend
from sim.nvm import SLOT_SIZE, MemoryFlash, SettingsStore, StoreContents, slot_offset
from sim.virtual_pen import VirtualPen
from tests.test_clinical import text as clinical_plan
from tests.test_supervisor import LIMIT, healthy


def running(backend: SimBackend, depth: float = 1.0, hz: float = 120.0) -> PenController:
    ctl = PenController(backend)
    ctl.power_on()
    ctl.select(Target(depth_mm=depth, frequency_hz=hz, zone_max_mm=None, zone="abdomen"))
    ctl.arm()
    ctl.start()
    return ctl


def test_a_latched_fault_survives_estop_release_and_a_second_fault() -> None:
    backend = SimBackend(cartridge=CartridgeInfo(cartridge_id=1))
    ctl = running(backend)
    backend.pen.state.motor_temp_c = 61.0
    ctl.run(5)
    assert ctl.state == "fault"
    backend.pen.state.motor_temp_c = 57.9  # cooler, not cool enough to clear
    ctl.estop()
    ctl.release()
    assert ctl.state == "fault", "releasing an e-stop does not clear a latched fault"
    ctl.fault("overrun", "a second fault")
    with pytest.raises(CommandRefusedError, match="must cool"):
        ctl.clear()
    backend.wait(900.0)
    ctl.clear()
    assert ctl.state == "idle"


def test_a_high_alarm_still_active_blocks_arming() -> None:
    ctl = PenController(SimBackend(cartridge=CartridgeInfo(cartridge_id=1)))
    ctl.power_on()
    ctl.alarms.raise_alarm(0.0, "overcurrent", "seen elsewhere")
    ctl.select(Target(depth_mm=0.5, frequency_hz=100.0))
    with pytest.raises(CommandRefusedError, match="unresolved high alarm overcurrent"):
        ctl.arm()


def test_a_garbled_reply_is_a_pen_error_and_faults_the_pen() -> None:
    assert issubclass(PayloadError, PenError)
    with pytest.raises(PenOperationError):
        Reader(b"\x01").take("H")
    backend = SimBackend(cartridge=CartridgeInfo(cartridge_id=1))
    ctl = running(backend)

    def garbled(n: int) -> np.ndarray:
        raise PayloadError("telemetry frame holds 1 byte for 3 strokes")

    backend.read_strokes = garbled  # type: ignore[method-assign, assignment]
    ctl.run(10)
    assert ctl.state == "fault" and ctl.faults[-1].kind == "link_loss"
    assert not backend.pen.command.motor_enabled


def test_text_is_cut_on_a_character_boundary() -> None:
    packed = pack_str("é" * 200)
    assert Reader(packed).text() == "é" * 127


@pytest.mark.parametrize("field", ["depth_mm", "end_mm", "current_a", "motor_temp_c", "battery_temp_c", "battery_v"])
def test_a_reading_that_is_not_a_number_is_a_violation(field: str) -> None:
    tel = healthy()
    tel[field][3] = np.nan
    violation = Supervisor(FirmwareLimits()).first_violation(tel, LIMIT, 100.0, 42)
    assert violation is not None and violation.position == 3


def test_a_bad_wait_changes_nothing() -> None:
    backend = SimBackend(cartridge=CartridgeInfo(cartridge_id=1))
    before = (backend.pen.state.motor_temp_c, backend.pen.state.ticks, backend.pen.state.charge_used_c)
    for bad in (math.nan, -5.0, math.inf):
        with pytest.raises(PenOperationError):
            backend.wait(bad)
    assert (backend.pen.state.motor_temp_c, backend.pen.state.ticks, backend.pen.state.charge_used_c) == before
    reply = VirtualPen(backend).feed(encode_frame(1, Msg.WAIT, np.float64(np.nan).tobytes()))
    assert b"\x81" in reply  # NAK
    assert backend.pen.state.ticks == before[1]


def test_a_stuck_carriage_keeps_the_fault_latched() -> None:
    backend = SimBackend(cartridge=CartridgeInfo(cartridge_id=1))
    ctl = running(backend)
    backend.inject_fault(0.05, "retract_failure")
    ctl.run(100)
    assert ctl.faults[-1].kind == "not_retracted"
    assert backend.status().tip_mm > 0, "the needles are honestly still out"
    with pytest.raises(CommandRefusedError, match="needles still out"):
        ctl.clear()


def test_the_used_cartridge_record_does_not_depend_on_batching() -> None:
    stores = []
    for batch in (1, 64, 2048):
        backend = SimBackend(cartridge=CartridgeInfo(cartridge_id=555))
        backend.inject_fault(0.0, "depth_overshoot", 2.0)
        ctl = PenController(backend, batch_strokes=batch)
        ctl.power_on()
        ctl.select(Target(depth_mm=1.0, frequency_hz=120.0, zone_max_mm=None, zone="abdomen"))
        ctl.arm()
        ctl.start()
        ctl.run(3000)
        backend.close()
        flash = backend.settings.store.flash
        assert isinstance(flash, MemoryFlash)
        stores.append(bytes(flash.data))
    assert stores[0] == stores[1] == stores[2]
    assert SettingsStore(MemoryFlash(data=bytearray(stores[0]))).boot().contents.used_cartridges == {555: 1}


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


def test_a_new_host_does_not_inherit_what_another_left_staged() -> None:
    backend = SimBackend()
    pen = VirtualPen(backend)
    pen.feed(encode_frame(1, Msg.HELLO, b"\x01"))
    pen.feed(encode_frame(2, Msg.SETTINGS_WRITE, pack_settings({"depth.max_mm": 0.5})))
    assert backend.settings.staged is not None
    pen.feed(encode_frame(1, Msg.HELLO, b"\x01"))  # another host connects
    assert backend.settings.staged is None


def test_a_zone_change_while_running_is_refused() -> None:
    ctl = running(SimBackend(cartridge=CartridgeInfo(cartridge_id=1)))
    with pytest.raises(CommandRefusedError, match="pause before moving to another zone"):
        ctl.select(Target(depth_mm=0.5, frequency_hz=120.0, zone_max_mm=None, zone="forehead"))
    ctl.select(
        Target(depth_mm=0.8, frequency_hz=120.0, zone_max_mm=None, zone="abdomen")
    )  # the same zone: takes effect at the next stroke


def test_a_preset_depth_beyond_the_cartridge_is_refused() -> None:
    body = clinical_plan(area="forehead", depth="", patient=False).replace("max_depth_mm = 2.5", "max_depth_mm = 0.3")
    with pytest.raises(InputFileError) as info:
        parse_plan(body.encode(), "p")
    assert str(info.value.problems[0]).startswith("zone[0].depth_mm: expected a depth within the cartridge limit")


def test_a_history_date_after_the_session_is_an_error() -> None:
    body = clinical_plan(patient_extra='[[patient.history]]\nkind = "isotretinoin"\ndate = 2027-09-01')
    with pytest.raises(InputFileError) as info:
        parse_plan(body.encode(), "p")
    assert [p.key for p in info.value.problems] == ["patient.history[0].date"]


def test_a_cartridge_with_an_unreadable_rating_is_not_recognised() -> None:
    ctl = PenController(SimBackend(cartridge=CartridgeInfo(cartridge_id=9, max_depth_mm=math.nan)))
    ctl.power_on()
    assert ctl.depth_limit() == DepthLimit(depth_mm=0.0, owner="cartridge")
    with pytest.raises(CommandRefusedError, match="outside 0 < depth <= 0.0 mm"):
        ctl.select(Target(depth_mm=0.5, frequency_hz=100.0))
