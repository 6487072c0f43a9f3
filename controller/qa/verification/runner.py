"""A campaign end to end: its chunks on Dask (resumable), then cases.parquet, summary.json and verify.png.

The outputs are written as one set (controller/host/atomic.py): a reader never finds a summary.json without
the cases it summarises. Nothing about the run itself (workers, engine, wall time) goes into them; the command
line prints that.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from controller.host.atomic import atomic_files
from controller.qa.verification.campaign import Campaign
from controller.qa.verification.engine import CONNECT_TIMEOUT_S, ChunkStore, dask_client, results, run_all
from controller.qa.verification.plot import draw
from controller.qa.verification.sensitivity import analyse
from controller.qa.verification.summary import summarise

CHUNK_FOLDER = "chunks"


@dataclass(kw_only=True, frozen=True)
class Engine:
    """Where the chunks run: a local cluster of ``workers`` processes, or the cluster at ``scheduler``."""

    workers: int = 1
    scheduler: str | None = None
    connect_timeout_s: float = CONNECT_TIMEOUT_S
    """How long a scheduler may take to answer (Dask's own connect timeout; a silent peer is given three times it)."""


def run_campaign(
    campaign: Campaign,
    out: Path,
    engine: Engine,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Run (or resume) ``campaign`` into ``out``; return the summary."""
    store = ChunkStore(out / CHUNK_FOLDER, campaign)
    # While the workers stroke, this process only waits: it loads what the outputs need meanwhile (about a
    # second of imports that would otherwise come after the last chunk).
    loader = threading.Thread(target=_load_output_tools, name="load-output-tools", daemon=True)
    loader.start()
    with dask_client(engine.workers, engine.scheduler, engine.connect_timeout_s) as client:
        run_all(campaign, store, client, on_progress)
    loader.join()
    return write_outputs(campaign, store, out)


def _load_output_tools() -> None:
    import matplotlib.backends.backend_agg
    import matplotlib.figure  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    import scipy.stats  # noqa: F401
    from SALib.analyze import sobol  # noqa: F401


def write_outputs(campaign: Campaign, store: ChunkStore, out: Path) -> dict[str, Any]:
    import pyarrow.parquet as pq

    cases_table, sobol_table = results(campaign, store)
    cases = {name: cases_table.column(name).to_numpy(zero_copy_only=False) for name in cases_table.column_names}
    sensitivity = None
    if sobol_table is not None:
        values = _sobol_matrix(campaign, sobol_table)
        sensitivity = analyse(campaign, values)
    summary = summarise(campaign, cases, sensitivity)
    with atomic_files(out) as files:
        pq.write_table(cases_table, files.path("cases.parquet"))
        files.write_text("summary.json", json.dumps(summary, indent=2, allow_nan=False) + "\n")
        draw(campaign, cases, summary, files.path("verify.png"))
    return summary


def _sobol_matrix(campaign: Campaign, table: Any) -> np.ndarray:
    """Sample x point values from the sensitivity rows (NaN where a sample pen did not stroke)."""
    sample = table.column("sample").to_numpy()
    point = table.column("point").to_numpy()
    values = np.full((int(sample.max()) + 1, len(campaign.points)), np.nan)
    values[sample, point] = table.column("value").to_numpy(zero_copy_only=False)
    return values
