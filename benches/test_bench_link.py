"""Benchmarks of the pen link: frame codec, and a full settings flash over a real pty, unpaced and at 115,200 baud."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from controller.host.settings_flash import flash
from hal.protocol import FrameDecoder, Msg, encode_frame
from hal.serial_backend import SerialBackend
from hal.service_auth import unlock_response
from hal.settings import defaults
from hal.telemetry import TELEMETRY_DTYPE
from sim.backend import SimBackend
from sim.clock import WireLine
from sim.serve import open_pty, serve_fd
from sim.virtual_pen import VirtualPen

BAUD = 115_200
KEY = bytes(range(32))
"""The served pen's service key: a full block holds service and factory settings, which need an unlock."""
TELEMETRY_FRAME = bytes(range(256)) * (256 * TELEMETRY_DTYPE.itemsize // 256)
"""A payload the size of a 256-stroke telemetry frame, with every byte value (so stuffing is exercised)."""


def test_frame_encode(benchmark: Any) -> None:
    wire = benchmark(encode_frame, 7, Msg.TELEMETRY, TELEMETRY_FRAME)
    benchmark.extra_info.update(payload_bytes=len(TELEMETRY_FRAME), wire_bytes=len(wire))


def test_frame_decode(benchmark: Any) -> None:
    wire = encode_frame(7, Msg.TELEMETRY, TELEMETRY_FRAME)
    frames = benchmark(lambda: list(FrameDecoder().feed(wire)))
    assert len(frames) == 1
    benchmark.extra_info.update(wire_bytes=len(wire))


def serve_on_pty(baud: int | None) -> Iterator[str]:
    pen = VirtualPen(SimBackend(service_key=KEY))
    master, slave, path = open_pty()
    stop = threading.Event()
    thread = threading.Thread(target=serve_fd, args=(pen, master, stop, WireLine(baud)), daemon=True)
    thread.start()
    yield path
    stop.set()
    thread.join(2)
    os.close(master)
    os.close(slave)


@pytest.fixture
def pty_path() -> Iterator[str]:
    yield from serve_on_pty(None)


@pytest.fixture
def paced_pty_path() -> Iterator[str]:
    """The virtual pen behind a line paced to 115,200 baud (``penctl serve --baud 115200``)."""
    yield from serve_on_pty(BAUD)


def test_full_settings_flash_over_a_pty(benchmark: Any, pty_path: str) -> None:
    """Handshake, factory unlock, one batched write of every setting, one commit, one read-back."""
    flash_benchmark(benchmark, pty_path)


def test_full_settings_flash_over_a_paced_115200_baud_link(benchmark: Any, paced_pty_path: str) -> None:
    """The same flash through a line paced to 115,200 baud: the time a real UART link would take.

    extra_info compares the measured time with the wire time of the bytes exchanged; the
    difference is the host's and the pen's processing plus the scheduling on this machine.
    """
    exchanged = flash_benchmark(benchmark, paced_pty_path)
    wire_s = exchanged * 10 / BAUD
    measured_s = benchmark.stats.stats.mean
    benchmark.extra_info.update(
        measured_ms=1e3 * measured_s, wire_ms=1e3 * wire_s, measured_over_wire=measured_s / wire_s
    )
    assert measured_s >= wire_s * 0.95, "a paced link cannot be faster than its wire"


def flash_benchmark(benchmark: Any, path: str) -> int:
    """Benchmark a full flash on ``path``, as an engineer does it; return the bytes exchanged in one flash.

    Every key written needs its access level whatever its value (docs/protocol.md), so a block of all
    settings starts with a factory unlock (challenge, answer) on the same connection.
    """
    blocks = iter(range(10_000))

    def one_flash() -> SerialBackend:
        backend = SerialBackend(path)
        serial = backend.identify().serial_number
        backend.service_unlock("factory", unlock_response(KEY, backend.service_challenge(), "factory", serial))
        block = defaults() | {"alarm.volume": next(blocks) % 11}
        flash(backend, block)
        backend.port.close()
        return backend

    backend = benchmark.pedantic(one_flash, rounds=10, iterations=1)
    stats = backend.link.stats
    exchanged = int(stats.bytes_sent + stats.bytes_received)
    benchmark.extra_info.update(
        settings=len(defaults()),
        round_trips=stats.round_trips,
        bytes_exchanged=exchanged,
        wire_time_at_115200_ms=1e3 * exchanged * 10 / BAUD,
    )
    assert stats.round_trips == 6, "handshake, challenge, unlock, one write, one commit, one read-back"
    return exchanged
