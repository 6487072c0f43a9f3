"""Verification campaign throughput: pen-minutes simulated per second of wall time, with 1 and with 2 workers.

Each worker count gets its own local Dask cluster, started once and warmed up (its processes have imported the
simulator and loaded the kernel), then timed on a fresh campaign folder each round: that is the engine's
throughput, and the ratio of the two (scaling efficiency, gated in .ci/check_gates.py) says whether the second
core is put to work. The whole command a user waits for, cluster start, outputs and all, is timed too
(``test_verify_command_*``), with the same campaign.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.qa.verification.campaign import Campaign, parse_campaign
from controller.qa.verification.engine import ChunkStore, dask_client, run_all
from controller.qa.verification.runner import Engine, run_campaign

PENS = 160
SECONDS = 60.0
RATE_HZ = 120.0
CAMPAIGN = f"""
[campaign]
name = "throughput"
seed = 1
pens = {PENS}
seconds = {SECONDS}
chunk_pens = 20

[parameters.moving_mass_kg]
distribution = "normal"
sd = 0.0001
min = 0.0022
max = 0.0028

[parameters.force_constant_n_per_a]
distribution = "normal"
sd = 0.09
min = 2.7
max = 3.3

[parameters.needle_length_error_mm]
distribution = "normal"
sd = 0.02
min = -0.06
max = 0.06

[parameters.battery_soc]
distribution = "uniform"
min = 0.3
max = 1.0

[[points]]
depth_mm = 1.0
frequency_hz = {RATE_HZ}

[[criteria]]
metric = "depth_error_mean_mm"
min = -0.1
max = 0.1
"""
PEN_MINUTES = PENS * SECONDS / 60.0


def campaign() -> Campaign:
    return parse_campaign(CAMPAIGN.encode(), "throughput")


@pytest.fixture(scope="module", params=[1, 2], ids=["1_worker", "2_workers"])
def warm_client(request: pytest.FixtureRequest) -> Iterator[tuple[int, Any]]:
    workers = int(request.param)
    with dask_client(workers, None) as client, tempfile.TemporaryDirectory() as folder:
        warm = parse_campaign(CAMPAIGN.replace(f"pens = {PENS}", "pens = 4").encode(), "warm-up")
        run_all(warm, ChunkStore(Path(folder), warm), client)  # every worker imports and loads the kernel
        yield workers, client


def test_verify_engine_throughput(benchmark: Any, warm_client: tuple[int, Any]) -> None:
    workers, client = warm_client
    c = campaign()
    folders: list[tempfile.TemporaryDirectory[str]] = []

    def fresh() -> tuple[tuple[Campaign, ChunkStore, Any], dict[str, Any]]:
        folders.append(tempfile.TemporaryDirectory())
        return (c, ChunkStore(Path(folders[-1].name), c), client), {}

    benchmark.pedantic(run_all, setup=fresh, rounds=2, iterations=1)
    benchmark.extra_info.update(
        workers=workers,
        pen_minutes=PEN_MINUTES,
        pen_minutes_per_s=PEN_MINUTES / benchmark.stats.stats.min,
    )
    for folder in folders:
        folder.cleanup()


@pytest.mark.parametrize("workers", [1, 2])
def test_verify_command(benchmark: Any, workers: int) -> None:
    """What the user waits for: the local cluster starting, every chunk, and the outputs written."""
    c = campaign()
    folders: list[tempfile.TemporaryDirectory[str]] = []

    def fresh() -> tuple[tuple[Campaign, Path, Engine], dict[str, Any]]:
        folders.append(tempfile.TemporaryDirectory())
        return (c, Path(folders[-1].name), Engine(workers=workers)), {}

    benchmark.pedantic(run_campaign, setup=fresh, rounds=1, iterations=1)
    benchmark.extra_info.update(
        workers=workers, pen_minutes=PEN_MINUTES, pen_minutes_per_s=PEN_MINUTES / benchmark.stats.stats.min
    )
    for folder in folders:
        folder.cleanup()
