"""The whole ``penctl treat`` command as a user runs it: a new process, the built-in plan, both reports.

What a user waits for is mostly not the simulation (about 45 ms) but starting Python, importing
NumPy, numba and matplotlib, loading (or, the first time, compiling) the kernel and drawing
``report.png``. These benchmarks time exactly that, in a subprocess:

- warm: the numba cache holds the kernel (one run before the timed rounds makes sure);
- first run: every round gets an empty ``NUMBA_CACHE_DIR``, so the kernel is compiled, as on the
  first run after a fresh install.

The CI gates (.ci/check_gates.py) compare them with each other and with the simulation of the
same plan timed in this process, never with absolute times (shared, noisy machines).
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from controller.treatment.plan import load_plan
from controller.treatment.session import run_session

ROUNDS_WARM = 5
ROUNDS_FIRST = 3


def _command(out: Path) -> list[str]:
    """``penctl treat --out OUT``: the installed console script, as a user types it."""
    script = Path(sys.executable).with_name("penctl")
    if script.exists():
        return [str(script), "treat", "--out", str(out)]
    found = shutil.which("penctl")
    if found:
        return [found, "treat", "--out", str(out)]
    code = "import sys; from controller.cli import main; sys.exit(main())"
    return [sys.executable, "-c", code, "treat", "--out", str(out)]


CPU_S: list[float] = []
"""CPU time (user + system) of each command run: steadier than wall time on a machine shared with others."""


def _treat(out: Path, cache_dir: str | None = None) -> None:
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(_command(out), env=env, capture_output=True, text=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU_S.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    assert proc.returncode == 0, proc.stderr
    assert (out / "report.png").stat().st_size > 0


def _simulation_cpu_s(rounds: int = 5) -> float:
    """CPU time of the built-in plan simulated in this process (kernel loaded): the best of ``rounds``."""
    plan = load_plan(None)
    run_session(plan, seed=0)
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        run_session(plan, seed=0)
        best = min(best, time.process_time() - start)
    return best


def test_treat_command_warm(benchmark: Any, tmp_path: Path) -> None:
    """``penctl treat --out DIR``, kernel in the numba cache: target <= 0.6 s."""
    _treat(tmp_path)  # fills the numba cache if this checkout has never run
    CPU_S.clear()
    benchmark.pedantic(_treat, args=(tmp_path,), rounds=ROUNDS_WARM, iterations=1)
    cpu = min(CPU_S)
    stats = benchmark.stats.stats
    simulation = _simulation_cpu_s()
    benchmark.extra_info.update(
        command=" ".join(_command(Path("DIR"))),
        warm_min_s=stats.min,
        warm_median_s=stats.median,
        warm_cpu_min_s=cpu,
        simulation_cpu_s=simulation,
        warm_cpu_over_simulation=cpu / simulation,
    )


def test_treat_command_first_run(benchmark: Any, tmp_path: Path) -> None:
    """``penctl treat --out DIR`` with an empty numba cache (the kernel compiles): target <= 2 s."""
    caches: list[str] = []

    def cold_cache() -> tuple[tuple[Path, str], dict[str, Any]]:
        caches.append(tempfile.mkdtemp(prefix="penctl-numba-"))
        return (tmp_path, caches[-1]), {}

    CPU_S.clear()
    try:
        benchmark.pedantic(_treat, setup=cold_cache, rounds=ROUNDS_FIRST, iterations=1)
    finally:
        for cache in caches:
            shutil.rmtree(cache, ignore_errors=True)
    stats = benchmark.stats.stats
    benchmark.extra_info.update(
        command="NUMBA_CACHE_DIR=<empty dir> " + " ".join(_command(Path("DIR"))),
        first_min_s=stats.min,
        first_median_s=stats.median,
        first_cpu_min_s=min(CPU_S),
    )
