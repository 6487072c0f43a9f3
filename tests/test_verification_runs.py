"""Campaigns run end to end: same results on any engine and worker count, resumable, with honest exit codes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from controller.qa.verification.campaign import parse_campaign
from controller.qa.verification.cases import run_chunk
from tests.test_cli import PENCTL, penctl

TINY = """
[campaign]
name = "tiny"
seed = 3
pens = 8
seconds = 0.2
chunk_pens = 3

[parameters.needle_length_error_mm]
distribution = "normal"
mean = 0.0
sd = 0.03
min = -0.09
max = 0.09

[parameters.ambient_c]
distribution = "uniform"
min = 24.0
max = 26.0

[parameters.force_constant_n_per_a]
distribution = "normal"
sd = 0.09
min = 2.7
max = 3.3

[[points]]
depth_mm = 1.0
frequency_hz = 120.0

[[points]]
depth_mm = 1.5
frequency_hz = 100.0
skin = "thick"

[[criteria]]
metric = "depth_error_mean_mm"
min = -0.2
max = 0.2

[[criteria]]
metric = "rate_error_pct"
min = -1.0
max = 1.0

[sensitivity]
samples = 8
seconds = 0.1
"""


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path


def verify(campaign: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return penctl("verify", str(campaign), "--out", str(out), *extra)


def test_chunking_never_changes_a_pen() -> None:
    by_three = parse_campaign(TINY.encode(), "t")
    by_five = parse_campaign(TINY.replace("chunk_pens = 3", "chunk_pens = 5").encode(), "t")
    rows3 = [row for k in range(by_three.chunks) for row in run_chunk(by_three, k)]
    rows5 = [row for k in range(by_five.chunks) for row in run_chunk(by_five, k)]
    assert rows3 == rows5
    assert len(rows3) == 8 * 2 and len({row["needle_length_error_mm"] for row in rows3}) == 8


def test_one_worker_two_workers_and_a_stock_cluster_give_the_same_results(
    tiny: Path, tmp_path: Path, stock_cluster: str
) -> None:
    engines = {"one": ("--workers", "1"), "two": ("--workers", "2"), "stock": ("--scheduler", stock_cluster)}
    with ThreadPoolExecutor(len(engines)) as pool:  # at the same time: mostly clusters starting and stopping
        started = {name: pool.submit(verify, tiny, tmp_path / name, *args) for name, args in engines.items()}
        runs = {name: future.result() for name, future in started.items()}
    for name, run in runs.items():
        assert run.returncode == 0, (name, run.stderr)
        assert "Traceback" not in run.stderr
    summaries = {name: (tmp_path / name / "summary.json").read_bytes() for name in runs}
    assert summaries["one"] == summaries["two"] == summaries["stock"]
    tables = {name: pq.read_table(tmp_path / name / "cases.parquet") for name in runs}
    assert tables["one"].equals(tables["two"]) and tables["one"].equals(tables["stock"])
    assert tables["one"].num_rows == 16
    summary = json.loads(summaries["one"])
    assert summary["verdict"] == "pass" and summary["sensitivity"]["ranking"]
    assert (tmp_path / "one" / "verify.png").stat().st_size > 10_000


def test_the_tolerance_that_drives_the_error_tops_the_ranking(tiny: Path, tmp_path: Path, stock_cluster: str) -> None:
    run = verify(tiny, tmp_path / "out", "--scheduler", stock_cluster, "--json")
    assert run.returncode == 0, run.stderr
    ranking = json.loads(run.stdout)["sensitivity"]["ranking"]
    assert ranking[0]["parameter"] == "needle_length_error_mm" and ranking[0]["mean_ST"] > 0.5
    ambient = next(entry for entry in ranking if entry["parameter"] == "ambient_c")
    assert ambient["mean_ST"] < 0.1


def test_finished_chunks_are_never_redone_and_damaged_ones_never_trusted(
    tiny: Path, tmp_path: Path, stock_cluster: str
) -> None:
    out = tmp_path / "out"
    assert verify(tiny, out, "--scheduler", stock_cluster).returncode == 0
    first = (out / "summary.json").read_bytes()
    chunks = sorted((out / "chunks").glob("*.parquet"))
    missing, damaged = chunks[0], chunks[1]
    kept = {path: path.stat().st_mtime_ns for path in chunks[2:]}
    swapped = chunks[3]
    missing.unlink()
    damaged.write_bytes(damaged.read_bytes()[:100])  # truncated, as by a full disk
    swapped.write_bytes(chunks[2].read_bytes())  # a valid file of another chunk, copied over it
    del kept[swapped]
    run = verify(tiny, out, "--scheduler", stock_cluster)
    assert run.returncode == 0 and "damaged, incomplete or not this chunk" in run.stderr
    assert missing.exists() and damaged.stat().st_size > 100 and swapped.read_bytes() != chunks[2].read_bytes()
    assert {path: path.stat().st_mtime_ns for path in kept} == kept
    assert (out / "summary.json").read_bytes() == first


def test_an_interrupted_campaign_resumes_to_the_same_results(tmp_path: Path, stock_cluster: str) -> None:
    """Interrupted on a local cluster, resumed and run afresh on the session's cluster (the engines give the same
    results: the test above)."""
    campaign = tmp_path / "c.toml"
    campaign.write_text(TINY.replace("pens = 8", "pens = 30").replace("seconds = 0.2", "seconds = 1.0"))
    out = tmp_path / "out"
    process = subprocess.Popen(
        [str(PENCTL), "verify", str(campaign), "--out", str(out), "--workers", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not list((out / "chunks").glob("pens-*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    done = len(list((out / "chunks").glob("*.parquet")))
    assert done > 0  # some chunks...
    assert not (out / "summary.json").exists()
    assert verify(campaign, out, "--scheduler", stock_cluster).returncode == 0
    assert verify(campaign, tmp_path / "fresh", "--scheduler", stock_cluster).returncode == 0
    assert done < len(list((tmp_path / "fresh" / "chunks").glob("*.parquet")))  # ...not all: it stopped part-way
    assert (out / "summary.json").read_bytes() == (tmp_path / "fresh" / "summary.json").read_bytes()


def test_another_campaign_is_refused_in_a_folder_of_results(tiny: Path, tmp_path: Path, stock_cluster: str) -> None:
    out = tmp_path / "out"
    assert verify(tiny, out, "--scheduler", stock_cluster).returncode == 0
    other = tmp_path / "other.toml"
    other.write_text(TINY.replace("seed = 3", "seed = 4"))
    run = verify(other, out, "--scheduler", stock_cluster)
    assert run.returncode == 2 and "another campaign" in run.stderr


def test_a_failed_criterion_exits_1_and_says_where(tmp_path: Path, stock_cluster: str) -> None:
    campaign = tmp_path / "c.toml"
    campaign.write_text(TINY.replace("min = -0.2\nmax = 0.2", "min = -0.001\nmax = 0.001"))
    run = verify(campaign, tmp_path / "out", "--scheduler", stock_cluster)
    assert run.returncode == 1, run.stderr
    assert "FAIL  depth_error_mean_mm within [-0.001, 0.001]" in run.stdout
    assert "verdict: FAIL" in run.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("--workers", "0"),
        ("--workers", "two"),
        ("--scheduler", "localhost"),
        ("--scheduler", "tcp://127.0.0.1:99999"),
        ("--scheduler", "tcp://127.0.0.1:1", "--workers", "2"),
    ],
)
def test_bad_arguments_exit_2_and_run_nothing(tiny: Path, tmp_path: Path, args: tuple[str, ...]) -> None:
    run = verify(tiny, tmp_path / "out", *args)
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "out" / "chunks").exists()


def test_an_unreachable_scheduler_is_one_line_and_exit_1(tiny: Path, tmp_path: Path) -> None:
    run = verify(tiny, tmp_path / "out", "--scheduler", "tcp://127.0.0.1:9", "--connect-timeout", "1")
    assert run.returncode == 1
    assert run.stderr.strip().count("\n") == 0 and "cannot reach a Dask scheduler" in run.stderr
    assert not (tmp_path / "out" / "chunks").exists()


def test_a_peer_that_is_not_a_dask_scheduler_is_one_line_and_exit_1(tiny: Path, tmp_path: Path) -> None:
    """A web server accepts the connection and answers nothing Dask understands: it used to hang for ever."""
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = server.stdout.readline().split("port ")[1].split()[0]
        run = verify(tiny, tmp_path / "out", "--scheduler", f"tcp://127.0.0.1:{port}", "--connect-timeout", "1")
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert run.returncode == 1, run.stderr
    assert run.stderr.strip().count("\n") == 0 and "cannot reach a Dask scheduler" in run.stderr


def test_treat_loads_none_of_the_campaign_tools(tmp_path: Path) -> None:
    """SciPy is not in the list: numba itself imports it when it is installed (about 15 ms)."""
    code = (
        "import sys; from controller.cli.main import main; "
        f"main(['treat', '--out', {str(tmp_path)!r}]); "
        "print(sorted(m for m in ('dask', 'distributed', 'pyarrow', 'SALib', 'pandas') if m in sys.modules))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.stdout.strip().splitlines()[-1] == "[]", run.stderr


class FakeClient:
    """What ``check_workers`` sees of a cluster: the answer of ``client.run`` on every worker."""

    def __init__(self, answer: object) -> None:
        self.answer = answer

    def run(self, function: object) -> object:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"tcp://10.0.0.2:4000": "0.0.9"}, "runs penctl 0.0.9"),
        (ModuleNotFoundError("No module named 'controller'"), "install this project on every worker"),
        ({}, "no workers"),
    ],
)
def test_workers_that_cannot_give_the_same_results_are_refused(answer: object, message: str) -> None:
    from controller.qa.verification.engine import check_workers
    from hal.errors import PenOperationError

    with pytest.raises(PenOperationError, match=message):
        check_workers(FakeClient(answer))


def test_the_same_campaign_run_again_at_once_on_one_client_loses_nothing(tmp_path: Path, stock_cluster: str) -> None:
    """The CI's throughput benchmark ran the same campaign twice on one client: the second run reused the first's
    keys while their release was still on its way to the scheduler, which then forgot the second run's data
    ("lost dependencies", about one run in four). Each run now has keys of its own."""
    from controller.qa.verification.engine import ChunkStore, connect, rows_in, run_all, tasks_of

    campaign = parse_campaign(TINY.encode(), "tiny")
    with connect(stock_cluster) as client:
        for k in range(6):
            store = ChunkStore(tmp_path / str(k), campaign)
            run_all(campaign, store, client)
            assert all(store.has(task, rows_in(campaign, task)) for task in tasks_of(campaign))
