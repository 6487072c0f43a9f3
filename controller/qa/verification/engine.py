"""Running a campaign's chunks on Dask: a local cluster of every core, or a cluster the user already runs.

The work is cut into chunks of whole pens (``chunk_pens`` each, 50 by default: a few seconds of work, so the
scheduler's few milliseconds per task stay under 1 %). A chunk's result depends only on the campaign and the
chunk's number (cases.py), so any number of workers, local or remote, gives the same rows; they are put back
in chunk order. Each finished chunk is saved at once as a Parquet file of its own in ``DIR/chunks/``; a run that
was interrupted (Ctrl-C, a lost worker, a power cut) picks up where it stopped, and a finished one is not
recomputed. The store remembers which campaign file it belongs to and refuses another's.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.qa.verification.campaign import Campaign
from controller.qa.verification.cases import run_chunk
from controller.qa.verification.sensitivity import evaluations, run_sobol_chunk
from hal.errors import InputError, PenOperationError

log = logging.getLogger(__name__)
STORE_VERSION = 1
CONNECT_TIMEOUT_S = 5.0


@dataclass(kw_only=True, frozen=True)
class Task:
    kind: str
    """"pens" (the campaign's cases) or "sobol" (the sensitivity analysis' sample pens)."""
    chunk: int

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.chunk:05d}"


def tasks_of(campaign: Campaign) -> list[Task]:
    sobol_chunks = -(-evaluations(campaign) // campaign.chunk_pens)
    return [Task(kind="pens", chunk=k) for k in range(campaign.chunks)] + [
        Task(kind="sobol", chunk=k) for k in range(sobol_chunks)
    ]


def rows_in(campaign: Campaign, task: Task) -> int:
    """Rows a finished chunk holds: one per pen (or sample pen) and operating point."""
    return pens_in(campaign, task) * len(campaign.points)


def pens_in(campaign: Campaign, task: Task) -> int:
    """How many pens (or sample pens) a task strokes: the progress bar's unit."""
    if task.kind == "pens":
        return len(campaign.pens_of(task.chunk))
    return min(evaluations(campaign), (task.chunk + 1) * campaign.chunk_pens) - task.chunk * campaign.chunk_pens


def progress_label(campaign: Campaign) -> str:
    """What the progress bar counts, by kind: "pens: 1000 tolerance + 896 sensitivity" (the header says 1000)."""
    tolerance, sensitivity = campaign.pens, evaluations(campaign)
    return f"pens: {tolerance} tolerance + {sensitivity} sensitivity" if sensitivity else f"pens: {tolerance} tolerance"


def run_task(campaign: Campaign, task: Task) -> Any:
    """One chunk, in a worker: its rows as an Arrow table (compact to send back)."""
    import pyarrow as pa

    rows = run_chunk(campaign, task.chunk) if task.kind == "pens" else run_sobol_chunk(campaign, task.chunk)
    return pa.Table.from_pylist(rows)


class ChunkStore:
    """Finished chunks on disk, one Parquet file each, for resuming."""

    def __init__(self, folder: Path, campaign: Campaign) -> None:
        self.folder = folder
        self.digest = campaign.digest
        manifest = folder / "campaign.json"
        wanted = {"version": STORE_VERSION, "campaign_sha256": campaign.digest}
        if manifest.exists():
            try:
                found = json.loads(manifest.read_text())
            except (OSError, ValueError):
                found = None
            if found != wanted:
                raise InputError(
                    str(folder.parent),
                    "--out",
                    "a folder of this campaign's results, or a new one (it holds the chunks of another campaign "
                    "file, or of another version of this one)",
                )
        self.manifest = (manifest, json.dumps(wanted) + "\n")

    def path(self, task: Task) -> Path:
        return self.folder / f"{task.name}.parquet"

    def identity(self, task: Task) -> dict[bytes, bytes]:
        """What a chunk file says it is: which campaign, which chunk (kept in the Parquet file's metadata)."""
        return {b"penctl.campaign_sha256": self.digest.encode(), b"penctl.chunk": task.name.encode()}

    def has(self, task: Task, rows: int) -> bool:
        """Whether the chunk is in the store whole: a readable file of ``rows`` rows that says it is this chunk.

        A damaged one (a disk that filled up, a hand that truncated it) or one of another chunk or campaign (a
        file copied over it) is removed, to be computed again.
        """
        import pyarrow.parquet as pq

        path = self.path(task)
        if not path.exists():
            return False
        try:
            meta = pq.read_metadata(path)
            found = meta.metadata or {}
            whole = meta.num_rows == rows and all(found.get(k) == v for k, v in self.identity(task).items())
        except (OSError, ValueError):  # pyarrow's ArrowInvalid is a ValueError
            whole = False
        if not whole:
            log.warning("%s is damaged, incomplete or not this chunk: computing it again", path)
            path.unlink()
        return whole

    def save(self, task: Task, table: Any) -> None:
        import pyarrow.parquet as pq

        manifest, text = self.manifest
        if not manifest.exists():  # written with the first chunk: a run that never started leaves nothing
            self.folder.mkdir(parents=True, exist_ok=True)
            manifest.write_text(text)
        partial = self.path(task).with_suffix(".partial")
        schema = table.schema.with_metadata({**(table.schema.metadata or {}), **self.identity(task)})
        pq.write_table(table.replace_schema_metadata(schema.metadata), partial)
        os.replace(partial, self.path(task))  # a chunk is in the store whole, or not at all

    def table(self, tasks: list[Task]) -> Any:
        import pyarrow as pa
        import pyarrow.parquet as pq

        tables = [pq.read_table(self.path(t)) for t in tasks]
        return pa.concat_tables([t.replace_schema_metadata(None) for t in tables]) if tables else None


@contextmanager
def dask_client(workers: int, scheduler: str | None, connect_timeout_s: float = CONNECT_TIMEOUT_S) -> Iterator[Any]:
    """A client of the user's scheduler, or of a local cluster of ``workers`` single-threaded processes."""
    from distributed import Client, LocalCluster

    # Its start-up chatter is not the user's news, nor its complaints while a Ctrl-C tears the cluster down;
    # what goes wrong with the work reaches the user as an exception.
    logging.getLogger("distributed").setLevel(logging.CRITICAL)
    if scheduler is not None:
        with connect(scheduler, connect_timeout_s) as client:
            yield client
        return
    # One thread per process: the kernel holds the GIL's worth of a core, and processes keep numba's state apart.
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address="127.0.0.1:0",  # the scheduler's web server on a free local port: never a clash
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


@contextmanager
def connect(scheduler: str, timeout_s: float = CONNECT_TIMEOUT_S) -> Iterator[Any]:
    """A client of the scheduler at ``scheduler``, or one line saying why not, within a bounded time.

    Dask's own timeout covers an address nobody answers at, not a peer that accepts the connection and then
    says nothing, or says something that is not Dask (a web server, another protocol): the connection is made
    in a thread of its own and abandoned when it takes too long.
    """
    from distributed import Client

    outcome: dict[str, Any] = {}

    def attempt() -> None:
        try:
            outcome["client"] = Client(scheduler, timeout=f"{timeout_s:g}s")
        except Exception as exc:  # anything at all from a peer that is not a Dask scheduler
            outcome["error"] = exc

    thread = threading.Thread(target=attempt, name="dask-connect", daemon=True)
    thread.start()
    thread.join(timeout_s * 3)
    if "client" not in outcome:
        why = outcome.get("error") or f"no Dask handshake within {timeout_s * 3:g} s"
        raise PenOperationError(f"cannot reach a Dask scheduler at {scheduler}: {why}".splitlines()[0])
    with outcome["client"] as client:
        yield client


def run_all(
    campaign: Campaign,
    store: ChunkStore,
    client: Any,
    on_progress: Callable[[int, int], None] | None = None,
) -> None:
    """Every task not yet in the store, on ``client``; each saved as soon as it arrives."""
    from distributed import as_completed

    tasks = tasks_of(campaign)
    total = sum(pens_in(campaign, t) for t in tasks)
    pending = [t for t in tasks if not store.has(t, rows_in(campaign, t))]
    done = total - sum(pens_in(campaign, t) for t in pending)
    if on_progress:
        on_progress(done, total)
    if not pending:
        return
    check_workers(client)
    # Keys of this run only: the same campaign run again on the same client (a resumed run, a benchmark's rounds)
    # reused the keys whose release from the run before was still on its way to the scheduler, which then
    # forgot the new run's data ("lost dependencies").
    run = secrets.token_hex(4)
    [shared] = client.scatter([campaign], broadcast=True, hash=False)
    futures = {client.submit(run_task, shared, t, key=f"{campaign.digest[:12]}-{run}-{t.name}"): t for t in pending}
    for future in as_completed(futures):
        task = futures[future]
        store.save(task, future.result())
        future.release()
        done += pens_in(campaign, task)
        if on_progress:
            on_progress(done, total)


def worker_version() -> str:
    """Run on each worker: the version of penctl it would run the chunks with."""
    from controller import __version__

    return __version__


def check_workers(client: Any) -> None:
    """Every worker runs this version of penctl, or nothing is sent (results would differ without a word)."""
    from controller import __version__

    try:
        versions = client.run(worker_version)
    except (ImportError, AttributeError) as exc:  # ModuleNotFoundError, or an older penctl without this function
        raise PenOperationError(
            f"the Dask workers cannot run penctl ({exc}): install this project on every worker"
        ) from None
    if not versions:
        raise PenOperationError("the Dask cluster has no workers")
    other = {worker: version for worker, version in versions.items() if version != __version__}
    if other:
        worker, version = sorted(other.items())[0]
        raise PenOperationError(
            f"worker {worker} runs penctl {version}, this is {__version__}: every worker must run the same version"
        )


def results(campaign: Campaign, store: ChunkStore) -> tuple[Any, Any]:
    """(cases, sensitivity rows or None) as Arrow tables, in chunk order."""
    tasks = tasks_of(campaign)
    cases = store.table([t for t in tasks if t.kind == "pens"])
    sobol = store.table([t for t in tasks if t.kind == "sobol"])
    return cases, sobol
