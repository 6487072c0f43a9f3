"""The pen link end to end: real pty, TCP socket, e-stop mid-frame, duplicates, and a lossy link."""

from __future__ import annotations

import json
import struct
import threading
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from controller.host.settings_flash import UnverifiedError, flash
from controller.treatment.plan import load_plan
from controller.treatment.report import build_report
from controller.treatment.session import run_session
from hal.errors import BackendError, PenError, PenOperationError, PenRefusedError
from hal.protocol import ESTOP, Alarm, ErrorCode, EventKind, Msg, encode_frame, pack_settings
from hal.serial_backend import SerialBackend
from hal.settings import BY_KEY, SettingValue, defaults
from sim.backend import SimBackend
from sim.nvm import MemoryFlash, SettingsStore
from sim.serve import listen_tcp, open_pty, serve_fd, serve_tcp
from sim.virtual_pen import VirtualPen
from tests.faulty_link import Faults, FaultyLink


@pytest.fixture
def pty_pen() -> Iterator[tuple[VirtualPen, str]]:
    pen = VirtualPen(SimBackend())
    master, slave, path = open_pty()
    stop = threading.Event()
    thread = threading.Thread(target=serve_fd, args=(pen, master, stop), daemon=True)
    thread.start()
    yield pen, path
    stop.set()
    thread.join(2)
    import os

    os.close(master)
    os.close(slave)


@pytest.fixture
def tcp_pen() -> Iterator[tuple[VirtualPen, str]]:
    pen = VirtualPen(SimBackend())
    server = listen_tcp(0)
    stop = threading.Event()
    thread = threading.Thread(target=serve_tcp, args=(pen, server, stop), daemon=True)
    thread.start()
    yield pen, f"socket://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(2)
    server.close()


def comparable(report: dict) -> str:  # type: ignore[type-arg]
    return json.dumps({k: report[k] for k in ("total", "zones", "faults", "transitions", "outcome")})


@pytest.mark.parametrize("transport", ["pty_pen", "tcp_pen"])
def test_a_pass_over_the_link_equals_the_in_process_pass(transport: str, request: pytest.FixtureRequest) -> None:
    _, url = request.getfixturevalue(transport)
    backend = SerialBackend(url)
    assert backend.speculative and backend.simulated
    plan = load_plan(None)
    over_link = build_report(run_session(plan, seed=11, backend=backend))
    in_process = build_report(run_session(plan, seed=11))
    assert comparable(over_link) == comparable(in_process)


def test_settings_over_a_pty(pty_pen: tuple[VirtualPen, str]) -> None:
    pen, path = pty_pen
    backend = SerialBackend(path)
    assert backend.read_alarms() == [], "a pen leaves the factory with a valid store"
    result = flash(backend, {"depth.max_mm": 2.0, "alarm.volume": 2})
    assert result.read_back["depth.max_mm"] == 2.0
    assert pen.backend.settings.store.counter == 2
    assert backend.link.stats.round_trips == 1 + 1 + 1 + 1 + 1  # hello, alarms, write, commit, read-back
    with pytest.raises(PenRefusedError, match="thermal.motor_limit_c: service setting"):
        flash(backend, {"thermal.motor_limit_c": 50.0})
    assert pen.backend.settings.staged is None
    backend.close()


def test_the_pen_validates_writes_itself_and_stages_nothing_on_a_bad_one(pty_pen: tuple[VirtualPen, str]) -> None:
    pen, path = pty_pen
    backend = SerialBackend(path)
    bad = pack_settings({"depth.max_mm": 1.0}).replace(struct.pack("<d", 1.0), struct.pack("<d", 9.0))
    with pytest.raises(PenRefusedError) as info:
        backend.link.request(Msg.SETTINGS_WRITE, bad)
    assert (info.value.code, info.value.key) == (ErrorCode.SETTING_RANGE, "depth.max_mm")
    with pytest.raises(PenRefusedError) as info:
        backend.commit_settings()
    assert info.value.code == ErrorCode.NOTHING_STAGED
    pen.backend.access._level, pen.backend.access._unlocked_s = "service", pen.backend.uptime()  # as unlocked now
    with pytest.raises(PenRefusedError, match="frequency.min_hz must not exceed"):
        backend.stage_settings({"frequency.min_hz": 120.0, "frequency.max_hz": 100.0})
    assert pen.backend.settings.store.counter == 1, "only the factory image"


def test_estop_in_the_middle_of_a_frame() -> None:
    pen = VirtualPen(SimBackend())
    port = FaultyLink(pen, Faults(), np.random.default_rng(0))
    backend = SerialBackend(port=port, timeout_s=0.01)
    backend.reset_world(1, __import__("hal").CartridgeInfo(cartridge_id=5, needles=12, max_depth_mm=2.5), 0.9)
    backend.apply(__import__("hal").StrokeCommand(depth_mm=1.0, frequency_hz=100.0))
    assert len(backend.read_strokes(10)) == 10
    frame = encode_frame(77, Msg.STATUS)
    reply = pen.feed(frame[:4] + bytes([ESTOP]) + frame[4:])
    assert pen.estop_latched and not pen.backend.pen.command.motor_enabled
    assert reply.count(b"\x7e") == 4, "an EVENT frame, then the STATUS reply"
    with pytest.raises(PenRefusedError) as info:
        backend.apply(__import__("hal").StrokeCommand(depth_mm=1.0, frequency_hz=100.0))
    assert info.value.code == ErrorCode.ESTOP_LATCHED
    backend.release_estop()
    backend.apply(__import__("hal").StrokeCommand(depth_mm=1.0, frequency_hz=100.0))


def test_a_retransmitted_request_is_answered_but_not_acted_on_twice() -> None:
    pen = VirtualPen(SimBackend())
    write = encode_frame(5, Msg.SETTINGS_WRITE, pack_settings({"alarm.volume": 1}))
    commit = encode_frame(6, Msg.SETTINGS_COMMIT)
    first = pen.feed(write) + pen.feed(commit)
    again = pen.feed(commit)
    assert pen.backend.settings.store.counter == 2, "factory image + one commit"
    assert again == first[-len(again) :]


def test_loop_url_opens_but_an_echo_is_no_pen() -> None:
    with pytest.raises(PenOperationError, match="the port echoes what it is sent .* not a pen"):
        SerialBackend("loop://", timeout_s=0.05, retries=1)
    with pytest.raises(BackendError, match="cannot open pen port '/dev/does-not-exist': No such file") as info:
        SerialBackend("/dev/does-not-exist")
    assert "Errno" not in str(info.value), "the reason once, without pyserial's repeated errno"


def _store_values(pen: VirtualPen) -> dict[str, SettingValue]:
    data = pen.backend.settings.store.flash
    assert isinstance(data, MemoryFlash)
    return dict(SettingsStore(MemoryFlash(data=bytearray(data.data))).boot().contents.settings)


def _connect(port: FaultyLink) -> SerialBackend:
    # The in-memory link answers at once, so short timeouts lose nothing but waiting.
    for _ in range(50):
        try:
            return SerialBackend(port=port, timeout_s=0.0005, retries=40, max_timeout_s=0.001)
        except PenError:
            continue
    raise AssertionError("no handshake in 50 tries")


def _flash_repeatedly(faults: Faults, flashes: int, seed: int) -> tuple[dict[str, int], FaultyLink]:
    """Flash full blocks over a lossy link; each outcome must say truly what the pen holds afterwards.

    verified: the new block is in force; not applied: the old block is in force, exactly;
    unverified (applied, not verified): the old or the new block, never anything else.
    """
    pen = VirtualPen(SimBackend())
    port = FaultyLink(pen, faults, np.random.default_rng(seed))
    backend = _connect(port)
    outcomes = {"verified": 0, "not applied": 0, "unverified": 0}
    current = _store_values(pen)
    for k in range(flashes):
        block = {key: value for key, value in current.items() if BY_KEY[key].access == "user"}  # every key it may write
        block["depth.max_mm"] = round(1.0 + 0.01 * k, 2)
        block["alarm.volume"] = k % 11
        try:
            flash(backend, block)
            outcome, allowed = "verified", [current | block]
        except UnverifiedError:
            outcome, allowed = "unverified", [current, current | block]
        except PenError:
            outcome, allowed = "not applied", [current]
        outcomes[outcome] += 1
        stored = _store_values(pen)
        assert stored in allowed, f"flash {k}: said {outcome!r}, but the store holds something else"
        assert pen.backend.settings.values == stored, "what the pen uses is what it stored"
        current = stored
    print(f"{faults}: {outcomes}; {backend.link.stats}")
    return outcomes, port


def test_a_hundred_flashes_over_a_link_corrupting_one_percent_of_bytes() -> None:
    outcomes, port = _flash_repeatedly(Faults(corrupt=0.01), 100, seed=2026)
    assert sum(outcomes.values()) == 100
    assert outcomes["verified"] >= 30, f"only {outcomes} of 100 flashes got through"
    assert port.mangled_bytes > 100


def test_flashes_over_a_link_that_drops_duplicates_and_delays() -> None:
    outcomes, port = _flash_repeatedly(Faults(drop=0.003, duplicate=0.003, delay=0.05), 30, seed=7)
    assert sum(outcomes.values()) == 30 and outcomes["verified"] >= 10
    assert port.mangled_bytes > 20


def test_defaults_are_the_settings_of_a_fresh_virtual_pen() -> None:
    assert VirtualPen(SimBackend()).backend.read_settings() == defaults()


def test_a_blank_store_announces_its_alarm_after_the_handshake() -> None:
    pen = VirtualPen(SimBackend(flash=MemoryFlash()))
    backend = SerialBackend(port=FaultyLink(pen, Faults(), np.random.default_rng(0)), timeout_s=0.01)
    assert backend.read_alarms() == [Alarm.STORE_BLANK]
    assert len(backend.link.events) == 1 and backend.link.events[0][0] == EventKind.ALARM


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def stroking_pen() -> tuple[VirtualPen, FakeClock]:
    from hal.backend import CartridgeInfo, StrokeCommand

    clock = FakeClock()
    pen = VirtualPen(SimBackend(), clock=clock)
    pen.backend.reset_world(1, CartridgeInfo(cartridge_id=5, needles=12, max_depth_mm=2.5), 0.9)
    pen.backend.apply(StrokeCommand(depth_mm=1.0, frequency_hz=100.0))
    return pen, clock


def fault_events(data: bytes) -> list[bytes]:
    from hal.protocol import Frame, FrameDecoder

    return [
        f.payload
        for f in FrameDecoder().feed(data)
        if isinstance(f, Frame) and f.type == Msg.EVENT and f.payload[0] == EventKind.FAULT
    ]


def test_the_pen_retracts_by_itself_when_the_host_falls_silent() -> None:
    pen, clock = stroking_pen()
    clock.t = 0.3
    assert pen.poll() == b"", "within watchdog.timeout_ms (500 ms)"
    pen.feed(encode_frame(1, Msg.STATUS))  # a valid request feeds the watchdog
    clock.t = 0.6
    assert pen.poll() == b""
    clock.t = 0.9
    assert len(fault_events(pen.poll())) == 1
    assert not pen.backend.pen.command.motor_enabled
    clock.t = 2.0
    assert pen.poll() == b"", "once retracted, nothing more to do"


NOISE: dict[str, Callable[[int], bytes]] = {
    "bad-CRC frames": lambda k: encode_frame(k, Msg.STATUS)[:-3] + b"\x00\x00\x7e",
    "bare flag bytes": lambda k: b"\x7e\x7e",
    "garbage outside frames": lambda k: bytes([0x41 + k % 20]) * 3,
    "unknown message types": lambda k: encode_frame(k, 0x7F),
    "malformed payloads": lambda k: encode_frame(k, Msg.STATUS, b"\x01"),
}


@pytest.mark.parametrize("kind", NOISE)
def test_only_valid_requests_feed_the_watchdog(kind: str) -> None:
    pen, clock = stroking_pen()
    sent = b""
    for k in range(150):  # 1.5 s of noise, every 10 ms, with the motor enabled
        clock.t = 0.01 * (k + 1)
        sent += pen.feed(NOISE[kind](k + 1)) + pen.poll()
    assert len(fault_events(sent)) == 1, f"{kind} kept the watchdog quiet"
    assert not pen.backend.pen.command.motor_enabled
