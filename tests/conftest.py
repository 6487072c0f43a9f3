"""Shared fixtures: a simulated pen and a controller on it, plan text helpers, and one Dask cluster per test process.

A module runs on one pytest-xdist worker (``--dist loadfile`` in pyproject.toml): its module-scoped fixtures
are built once, and the malformed-input corpus, whose runner starts every case of the module at once, runs
once (spread over both workers, it ran on each).
"""

from __future__ import annotations

import compileall
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.firmware.pen_controller import PenController
from controller.firmware.target import Target
from hal.backend import CartridgeInfo, StrokeCommand
from sim.backend import SimBackend
from sim.pen import SimulatedPen

ROOT = Path(__file__).resolve().parent.parent
DASK = Path(sys.executable).parent / "dask"


def make_pen(
    seed: int = 7,
    depth_mm: float = 1.0,
    frequency_hz: float = 100.0,
    skin: str = "normal",
    needles: int = 12,
    battery_soc: float = 0.9,
) -> SimulatedPen:
    """A simulated pen already commanded to stroke."""
    from sim.tissue import SKINS

    pen = SimulatedPen(seed=seed, cartridge=CartridgeInfo(cartridge_id=101, needles=needles), battery_soc=battery_soc)
    pen.skin = SKINS[skin]
    pen.command = StrokeCommand(depth_mm=depth_mm, frequency_hz=frequency_hz, motor_enabled=True)
    return pen


def running(backend: SimBackend, depth: float = 1.0, hz: float = 120.0) -> PenController:
    """A controller stroking ``depth`` at ``hz`` on the abdomen (no zone maximum of its own)."""
    ctl = PenController(backend)
    ctl.power_on()
    ctl.select(Target(depth_mm=depth, frequency_hz=hz, zone_max_mm=None, zone="abdomen"))
    ctl.arm()
    ctl.start()
    return ctl


@pytest.fixture
def backend() -> Iterator[SimBackend]:
    b = SimBackend(seed=3, cartridge=CartridgeInfo(cartridge_id=555))
    yield b
    b.close()


@pytest.fixture
def controller(backend: SimBackend) -> PenController:
    """A controller powered on, self-tested and idle, with 1.0 mm at 100 Hz on the cheeks selected."""
    ctl = PenController(backend)
    ctl.power_on()
    ctl.select(Target(depth_mm=1.0, frequency_hz=100.0, zone_max_mm=1.0, zone="cheeks"))
    return ctl


@pytest.fixture(scope="session")
def stock_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A scheduler and two single-threaded workers on 127.0.0.1, started with the stock ``dask`` commands."""
    folder = tmp_path_factory.mktemp("dask")
    info = folder / "scheduler.json"
    base = ["--no-dashboard"]
    scheduler = subprocess.Popen(
        [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", "0", "--scheduler-file", str(info), *base],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers = None
    try:
        deadline = time.monotonic() + 60
        while not info.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(info.read_text())["address"]
        workers = subprocess.Popen(
            [str(DASK), "worker", address, "--nworkers", "2", "--nthreads", "1", *base],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for process in (workers, scheduler):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)


LONGEST_FIRST = (
    "test_verification_runs",
    "test_cli",
    "test_malformed_inputs",
    "test_dossier",
    "test_verdicts",
    "test_cli_link",
    "test_protocol_probe",
    "test_painter",
    "test_record_replay",
    "test_trust_probe",
    "test_rotary_duty",
    "test_service_access",
)
"""The modules that take longest (pytest --durations, summed per module), longest first.

With ``--dist loadfile`` a module runs whole on one worker, handed out in the order collected: a long
module handed out last keeps one worker busy while the other has nothing left. These go first, then the
rest in their usual order; within a module the order does not change.
"""


def pytest_configure(config: pytest.Config) -> None:
    """Compile penctl's bytecode once, before any test starts a ``penctl`` process.

    Hundreds of tests start one, and each imported about a hundred of penctl's modules from source
    where the environment tells Python not to write its bytecode cache (``PYTHONDONTWRITEBYTECODE``, as
    in CI): about 60 ms of every start. An installed penctl has its bytecode (pip compiles it; an editable
    install writes it on the first run), so this is also what a user's ``penctl`` does. Done by the
    process that hands out the tests, before the workers start.
    """
    if not hasattr(config, "workerinput"):
        for package in ("controller", "hal", "sim"):
            compileall.compile_dir(ROOT / package, quiet=1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: k for k, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))  # stable: the rest keep their order
