"""The pen's side of the link: what the virtual pen does with odd requests, and the host with odd replies."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hal.backend import CartridgeInfo
from hal.errors import PenError, PenOperationError
from hal.protocol import Msg, PayloadError, Reader, encode_frame, pack_settings, pack_str
from sim.backend import SimBackend
from sim.virtual_pen import VirtualPen
from tests.conftest import running


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


def test_a_new_host_does_not_inherit_what_another_left_staged() -> None:
    backend = SimBackend()
    pen = VirtualPen(backend)
    pen.feed(encode_frame(1, Msg.HELLO, b"\x01"))
    pen.feed(encode_frame(2, Msg.SETTINGS_WRITE, pack_settings({"depth.max_mm": 0.5})))
    assert backend.settings.staged is not None
    pen.feed(encode_frame(1, Msg.HELLO, b"\x01"))  # another host connects
    assert backend.settings.staged is None
