"""The served pen's line rate (penctl serve --baud): bytes take 10 bits each, both ways."""

from __future__ import annotations

import time

import pytest

from controller.cli.main import main
from sim.clock import WireLine


def drain(line: WireLine, inbound: bool, until_s: float) -> tuple[bytes, float]:
    """Collect what falls due within ``until_s`` seconds; return it and when the last byte came."""
    got, last, start = b"", 0.0, time.monotonic()
    while time.monotonic() - start < until_s:
        part = line.arrived() if inbound else line.sendable()
        if part:
            got, last = got + part, time.monotonic() - start
        time.sleep(line.wait_s(0.001))
    return got, last


@pytest.mark.parametrize("inbound", [True, False], ids=["received", "sent"])
def test_a_paced_line_moves_bytes_at_the_wire_rate(inbound: bool) -> None:
    line = WireLine(9600)  # 1.04 ms a byte
    data = bytes(range(96))  # 100 ms of wire time
    (line.received if inbound else line.send)(data)
    assert (line.arrived() if inbound else line.sendable()) == b"", "nothing is there at once"
    got, last = drain(line, inbound, 0.3)
    assert got == data
    assert 0.095 <= last <= 0.2


def test_an_unpaced_line_passes_bytes_at_once() -> None:
    line = WireLine()
    line.received(b"abc")
    line.send(b"xyz")
    assert line.arrived() == b"abc" and line.sendable() == b"xyz" and line.wait_s(0.05) == 0.05


def test_a_bad_baud_rate_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--baud", "0"])
    assert exit_info.value.code == 2
    assert "expected a baud rate" in capsys.readouterr().err
