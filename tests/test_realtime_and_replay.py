"""Real-time pacing, the replay backend, and penctl bench (figures printed, never asserted as times)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from controller.firmware.pen_controller import PenController
from controller.firmware.target import Target
from controller.host.clock import Pacer, WallClock
from controller.host.realtime import run_paced
from hal.errors import InputError, PenOperationError
from hal.registry import open_backend
from hal.telemetry import empty_telemetry
from tests.conftest import make_pen
from tests.test_cli import penctl


def test_paced_run_serves_every_boundary_in_order() -> None:
    from hal.backend import CartridgeInfo

    ctl = PenController(open_backend("sim", seed=2, cartridge=CartridgeInfo(cartridge_id=3)), batch_strokes=1)
    ctl.power_on()
    ctl.select(Target(depth_mm=0.5, frequency_hz=50.0, zone_max_mm=0.5, zone="forehead"))
    ctl.arm()
    ctl.start()
    clock = WallClock()
    late = run_paced(ctl, 30, Pacer(1.0 / 50.0), stop_on_overrun=False)  # a busy machine must not flake this
    took = clock.now()
    assert len(late.seconds) == 30 and ctl.counters.strokes == 30
    # Paced, not run free: boundary 29 is 29 periods after boundary 0, so the run cannot take less. (A slow
    # machine only makes it longer.) Unpaced, 30 simulated strokes take about a millisecond.
    assert took >= 29 / 50.0


def test_replayed_telemetry_is_supervised_like_live_telemetry() -> None:
    recording = make_pen(depth_mm=1.0).run(200)
    recording["depth_mm"][150] = 1.2  # a stroke that went too deep, as recorded
    ctl = PenController(open_backend("replay", telemetry=recording))
    ctl.power_on()
    ctl.select(Target(depth_mm=1.0, frequency_hz=100.0, zone_max_mm=1.0, zone="cheeks"))
    ctl.arm()
    ctl.start()
    done = ctl.run(1000)
    assert len(done) == 200, "a recording's strokes all happened: none is dropped from the record"
    assert ctl.counters.strokes == 200
    assert ctl.state == "fault"
    assert (ctl.faults[0].kind, ctl.faults[0].stroke) == ("over_depth", 150)


def test_replay_refuses_what_is_not_telemetry_and_cannot_rewind(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match="at least one recorded stroke"):
        open_backend("replay", telemetry=empty_telemetry())
    path = tmp_path / "x.npy"
    np.save(path, np.zeros(3))
    with pytest.raises(InputError, match="TELEMETRY_DTYPE"):
        open_backend("replay", telemetry=path)
    backend = open_backend("replay", telemetry=make_pen().run(5))
    with pytest.raises(PenOperationError):
        backend.discard_after(1)


def test_penctl_bench_prints_its_figures() -> None:
    proc = penctl("bench", "--seconds", "0.2", "--json")
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout)
    assert figures["reference_vs_kernel"]["max_depth_diff_um"] <= 1.0
    assert figures["simulator"]["strokes"] == 7200
    assert set(figures["realtime_lateness_us"]) == {"p50", "p99", "max", "strokes", "rate_hz", "overruns"}
    assert figures["realtime_lateness_us"]["strokes"] == 30, "measurement runs through overruns"
    assert penctl("bench", "--rate", "400").returncode == 2


def test_penctl_bench_full_times_a_whole_30_minute_pass() -> None:
    """It used to stop with "'run' refused in state 'paused'": five 30-minute passes in one session."""
    proc = penctl("bench", "--seconds", "0.1", "--full", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["simulator"]["strokes"] == 216_000
