"""The pen enforces its own limits, committed settings govern the next stroke, and access holds.

Each test sweeps its class: every limit owner, every access level, in process and over the link.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from controller.firmware.pen_controller import PenController
from controller.firmware.target import Target
from hal.backend import CartridgeInfo, StrokeCommand
from hal.errors import CommandRefusedError, PenRefusedError
from hal.protocol import (
    ErrorCode,
    Frame,
    FrameDecoder,
    Msg,
    encode_frame,
    unpack_nak,
)
from hal.serial_backend import SerialBackend
from hal.service_auth import unlock_response
from hal.settings import SETTINGS, SettingValue, defaults
from sim.backend import SimBackend
from sim.nvm import MemoryFlash, SettingsStore
from sim.serve import BUSY_TEXT, listen_tcp, serve_tcp
from sim.virtual_pen import VirtualPen
from tests.faulty_link import Faults, FaultyLink

KEY = bytes(range(32))


def over_link(sim: SimBackend, clock: list[float] | None = None) -> SerialBackend:
    pen = VirtualPen(sim, clock=(lambda: clock[0]) if clock else None)
    return SerialBackend(port=FaultyLink(pen, Faults(), np.random.default_rng(0)), timeout_s=0.01)


# --- the pen's own limits: the smallest of hardware, depth.max_mm and the cartridge, and a cartridge at all ---


@pytest.mark.parametrize("rating", [0.25, 0.5, 1.0, 1.5, 2.0, 2.5])
@pytest.mark.parametrize("pen_max", [0.5, 1.0, 2.5])
def test_the_pen_refuses_any_command_beyond_its_own_smallest_limit(rating: float, pen_max: float) -> None:
    sim = SimBackend(cartridge=CartridgeInfo(cartridge_id=3, max_depth_mm=rating))
    sim.settings.stage({"depth.max_mm": pen_max})
    sim.settings.commit()
    limit = min(rating, pen_max)
    assert sim.status().pen_depth_limit_mm == limit
    for depth in np.linspace(0.05, 3.0, 60):
        command = StrokeCommand(depth_mm=float(depth), frequency_hz=100.0)
        if depth <= limit:
            sim.apply(command)
        else:
            with pytest.raises(PenRefusedError) as info:
                sim.apply(command)
            assert info.value.code == ErrorCode.COMMAND_RANGE
    sim.apply(StrokeCommand(depth_mm=limit, frequency_hz=100.0))
    tel = sim.read_strokes(300)
    assert float(tel["depth_mm"].max()) <= limit + 0.05


@pytest.mark.parametrize(
    "cartridge",
    [None, CartridgeInfo(cartridge_id=0, needles=12, max_depth_mm=2.5)],
    ids=["no cartridge", "id 0 (reset_world treats it as none)"],
)
def test_the_pen_does_not_stroke_without_a_cartridge(cartridge: CartridgeInfo | None) -> None:
    sim = SimBackend()
    sim.reset_world(1, cartridge if cartridge and cartridge.cartridge_id else None, 0.9)
    with pytest.raises(PenRefusedError) as info:
        sim.apply(StrokeCommand(depth_mm=0.5, frequency_hz=100.0))
    assert info.value.code == ErrorCode.NO_CARTRIDGE
    assert len(sim.read_strokes(10)) == 0


def test_a_cartridge_removed_mid_run_stops_the_pen_itself() -> None:
    sim = SimBackend(cartridge=CartridgeInfo(cartridge_id=3))
    sim.apply(StrokeCommand(depth_mm=1.0, frequency_hz=100.0))
    sim.inject_fault(0.5, "cartridge_removed")
    assert len(sim.read_strokes(1000)) == 50
    with pytest.raises(PenRefusedError) as info:
        sim.read_strokes(1000)
    assert info.value.code == ErrorCode.NO_CARTRIDGE
    assert not sim.pen.command.motor_enabled and sim.status().tip_mm < 0


# --- a committed setting governs the next stroke, in process and over the link ---


def paused_controller(backend: SimBackend | SerialBackend) -> PenController:
    ctl = PenController(backend)
    ctl.power_on()
    ctl.select(Target(depth_mm=2.0, frequency_hz=100.0, zone_max_mm=None, zone="abdomen"))
    ctl.arm()
    ctl.start()
    ctl.run(100)
    ctl.pause()
    return ctl


LOWERED = [
    ("depth.max_mm", 1.0, "depth 2.0 mm is outside"),
    ("frequency.max_hz", 80.0, "stroke rate 100.0 Hz is outside"),
    ("session.max_minutes", 1, None),
]


@pytest.mark.parametrize("key,value,refusal", LOWERED, ids=[k for k, _, _ in LOWERED])
@pytest.mark.parametrize("where", ["in process", "over the link"])
def test_a_setting_lowered_while_paused_governs_the_next_stroke(
    key: str, value: float, refusal: str | None, where: str
) -> None:
    sim = SimBackend(cartridge=CartridgeInfo(cartridge_id=8), service_key=KEY)
    backend: SimBackend | SerialBackend = sim if where == "in process" else over_link(sim)
    ctl = paused_controller(backend)
    backend.service_unlock("service", unlock_response(KEY, backend.service_challenge(), "service", "MN1-000000"))
    backend.stage_settings({key: value})
    backend.commit_settings()
    if refusal is None:  # the session maximum: 1 minute, of which 1 s is used; resume is allowed, then it stops
        ctl.resume()
        tel = ctl.run(100 * 120)
        assert float(tel["period_s"].astype(float).sum()) + 1.0 == pytest.approx(60.0, abs=0.02)
        return
    with pytest.raises(CommandRefusedError, match=refusal):
        ctl.resume()


def test_the_controller_and_the_pen_agree_on_the_pen_limit_for_every_setting_and_cartridge() -> None:
    for rating in (0.3, 0.8, 1.6, 2.5):
        for pen_max in (0.5, 1.2, 2.5):
            sim = SimBackend(cartridge=CartridgeInfo(cartridge_id=4, max_depth_mm=rating))
            sim.settings.stage({"depth.max_mm": pen_max})
            sim.settings.commit()
            ctl = PenController(sim)
            ctl.power_on()
            ctl.select(Target(depth_mm=0.1, frequency_hz=100.0, zone_max_mm=None, zone="abdomen"))
            assert ctl.depth_limit().depth_mm == sim.depth_limit()[0] == min(rating, pen_max)


# --- service access that holds ---


@pytest.mark.parametrize("level", ["user", "service", "factory"])
def test_a_factory_reset_reverts_only_what_the_access_level_may_change(level: str) -> None:
    sim = SimBackend(service_key=KEY)
    tightened: dict[str, SettingValue] = {
        "thermal.motor_limit_c": 45.0,
        "thermal.motor_clear_c": 40.0,
        "patient.min_age_years": 22,
        "watchdog.timeout_ms": 100,
    }
    user_change: dict[str, SettingValue] = {"alarm.volume": 2}
    factory_change: dict[str, SettingValue] = {"service.unlock_timeout_s": 60}
    sim.access.unlock(
        "factory", unlock_response(KEY, sim.service_challenge(), "factory", "MN1-000000"), "MN1-000000", 0
    )
    sim.stage_settings(tightened | user_change | factory_change)
    sim.commit_settings()
    sim.drop_unlock()
    if level != "user":
        answer = unlock_response(KEY, sim.service_challenge(), level, "MN1-000000")
        sim.service_unlock(level, answer)
    sim.stage_factory_reset()
    sim.commit_settings()
    values = sim.read_settings()
    for setting in SETTINGS:
        levels = ("user", "service", "factory")
        reverts = levels.index(setting.access) <= levels.index(level)
        changed = {**tightened, **user_change, **factory_change}.get(setting.key)
        if changed is not None:
            assert values[setting.key] == (setting.default if reverts else changed), (level, setting.key)


def test_an_unlock_expires_on_the_power_on_clock_while_the_pen_sits_idle() -> None:
    clock = [0.0]
    sim = SimBackend(service_key=KEY, uptime=lambda: clock[0])
    host = over_link(sim, clock)
    host.service_unlock("service", unlock_response(KEY, host.service_challenge(), "service", "MN1-000000"))
    clock[0] = 599.0  # service.unlock_timeout_s is 600: still unlocked, though no pen time passed
    host.stage_settings({"thermal.motor_limit_c": 58.0})
    host.abort_settings()
    clock[0] = 601.0
    with pytest.raises(PenRefusedError, match="needs a service unlock"):
        host.stage_settings({"thermal.motor_limit_c": 57.0})


@pytest.mark.parametrize("how", ["a new HELLO", "a disconnect"])
def test_an_unlock_ends_with_the_host_that_made_it(how: str) -> None:
    sim = SimBackend(service_key=KEY)
    pen = VirtualPen(sim)
    host = SerialBackend(port=FaultyLink(pen, Faults(), np.random.default_rng(0)), timeout_s=0.01)
    host.service_unlock("service", unlock_response(KEY, host.service_challenge(), "service", "MN1-000000"))
    host.stage_settings({"thermal.motor_limit_c": 58.0})
    if how == "a disconnect":
        pen.disconnect()
    host = SerialBackend(port=FaultyLink(pen, Faults(), np.random.default_rng(1)), timeout_s=0.01)
    with pytest.raises(PenRefusedError, match="needs a service unlock"):
        host.stage_settings({"thermal.motor_limit_c": 57.0})
    assert sim.settings.staged is None


# --- one host at a time ---


@pytest.fixture
def tcp_pen() -> Iterator[int]:
    server = listen_tcp(0)
    stop = threading.Event()
    thread = threading.Thread(target=serve_tcp, args=(VirtualPen(SimBackend()), server, stop), daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join(2)
    server.close()


def test_a_second_host_is_refused_busy_while_the_first_is_connected(tcp_pen: int) -> None:
    first = SerialBackend(f"socket://127.0.0.1:{tcp_pen}")
    with socket.create_connection(("127.0.0.1", tcp_pen), timeout=3) as second:
        second.sendall(encode_frame(1, Msg.HELLO, b"\x01"))
        frames: list[Frame] = []
        decoder = FrameDecoder()
        while not frames:
            frames = [f for f in decoder.feed(second.recv(4096)) if isinstance(f, Frame)]
        [nak] = frames
        code, _, message = unpack_nak(nak.payload)
        assert (nak.type, nak.seq, code, message) == (Msg.NAK, 1, ErrorCode.BUSY, BUSY_TEXT)
        assert second.recv(4096) == b"", "then the pen closes the second connection"
    assert first.status().time_s == 0.0, "the first host is served throughout"
    first.close()
    again = SerialBackend(f"socket://127.0.0.1:{tcp_pen}")  # once the first has gone, the next is served
    assert again.identify().serial_number == defaults()["pen.serial_number"]
    again.close()


def test_the_link_counters_of_the_pen_count_what_it_dropped() -> None:
    sim = SimBackend()
    pen = VirtualPen(sim)
    bad = bytearray(encode_frame(9, Msg.STATUS))
    bad[-2] ^= 0x01
    pen.feed(bytes(bad) + b"garbage")
    host = SerialBackend(port=FaultyLink(pen, Faults(), np.random.default_rng(0)), timeout_s=0.01)
    stats = host.pen_link_stats()
    assert stats["bad_frames"] >= 1 and stats["frames"] >= 1 and stats["internal_errors"] == 0
    assert struct.calcsize(f"<{len(stats)}I") == 4 * len(stats)


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
