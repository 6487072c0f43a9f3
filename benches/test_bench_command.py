"""The whole ``penctl treat`` command as a user runs it: a new process, the built-in plan, both reports.

What a user waits for is mostly not the simulation (about 45 ms) but starting Python, importing
NumPy, numba and matplotlib, loading (or, the first time, compiling) the kernel and drawing
``report.png``. These benchmarks time exactly that, in a subprocess:

- warm: the numba cache holds the kernel (one run before the timed rounds makes sure);
- first run: every round gets an empty ``NUMBA_CACHE_DIR``, so the kernel is compiled, as on the
  first run after a fresh install.

The CI gates (.ci/check_gates.py) are ratios of CPU times (user + system of the child), which other
jobs on a shared machine disturb far less than wall time, between runs made in alternation, so that
both sides of a ratio saw the same load: the warm command against a bare interpreter that imports
NumPy (run before each warm round), and the first run against a warm run (run before each first-run
round). The wall times, and the ratio to the simulation timed in this process, are recorded too.
"""

from __future__ import annotations

import compileall
import importlib
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
BARE_PYTHON = [sys.executable, "-c", "import numpy"]
"""The yardstick of the warm run: an interpreter that starts and imports NumPy, nothing of penctl."""
MATPLOTLIB_FLOOR = (
    "import sys, numpy\n"
    "from matplotlib.backends.backend_agg import FigureCanvasAgg\n"
    "from matplotlib.figure import Figure\n"
    "figure = Figure()\n"
    "FigureCanvasAgg(figure)\n"
    "figure.add_subplot()\n"
    "figure.savefig(sys.argv[1])\n"
)
"""The least any command that draws a PNG with matplotlib does: start, import, save one empty plot."""
NUMBA_FLOOR = "import floor_kernel\nfloor_kernel.add_one(1.0)\n"
FLOOR_KERNEL = "from numba import njit\n\n\n@njit(cache=True)\ndef add_one(x):\n    return x + 1.0\n"
"""The least any command that runs a numba kernel does: start, import numba, load one trivial cached function."""


PACKAGES = ("controller", "hal", "sim")


def _package_bytecode(present: bool) -> None:
    """Compile penctl's bytecode, or remove it.

    A warm run finds it: pip compiles it at install, and an editable install writes it on its first run.
    The first run after an editable install compiles it instead. Left to Python, the benchmark's runs would
    find it only where the environment lets Python write it: under ``PYTHONDONTWRITEBYTECODE`` (as in CI)
    every warm run compiled about a hundred of penctl's modules from source, about 60 ms.
    """
    for name in PACKAGES:
        module_file = importlib.import_module(name).__file__
        assert module_file is not None
        root = Path(module_file).parent
        if present:
            compileall.compile_dir(root, quiet=1)
        else:
            for cached in root.rglob("__pycache__/*.pyc"):  # numba's cache beside it (.nbi, .nbc) stays
                cached.unlink(missing_ok=True)


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


def _cpu_s(command: list[str], env: dict[str, str] | None = None, wall: list[float] | None = None) -> float:
    """Run ``command``; its CPU time (user + system), and its wall time appended to ``wall``. Fails the
    benchmark if it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert proc.returncode == 0, proc.stderr
    if wall is not None:
        wall.append(elapsed)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def _treat(out: Path, cpu: list[float], cache_dir: str | None = None) -> None:
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    cpu.append(_cpu_s(_command(out), env))
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
    """``penctl treat --out DIR``, kernel in the numba cache: target <= 0.6 s.

    Each round also times the two floors under any such command on this machine, in alternation
    with it: an interpreter that imports numba and loads one trivial cached function, and one that
    imports matplotlib and saves an empty plot. ``penctl treat`` does both (the second in a process
    of its own, at the same time as the first), so its wall time cannot go below the larger.
    """
    warm: list[float] = []
    bare: list[float] = []
    floors: dict[str, list[float]] = {"numba": [], "matplotlib": []}
    (tmp_path / "floor_kernel.py").write_text(FLOOR_KERNEL)
    floor_env = dict(os.environ, PYTHONPATH=str(tmp_path), NUMBA_CACHE_DIR=str(tmp_path / "floor-cache"))
    numba_floor = [sys.executable, "-c", NUMBA_FLOOR]
    matplotlib_floor = [sys.executable, "-c", MATPLOTLIB_FLOOR, str(tmp_path / "floor.png")]

    def yardsticks_first() -> tuple[tuple[Path, list[float]], dict[str, Any]]:
        bare.append(_cpu_s(BARE_PYTHON))
        _cpu_s(numba_floor, floor_env, floors["numba"])
        _cpu_s(matplotlib_floor, floor_env, floors["matplotlib"])
        return (tmp_path, warm), {}

    _package_bytecode(present=True)
    _treat(tmp_path, [])  # fills the numba cache if this checkout has never run
    _cpu_s(numba_floor, floor_env)  # and the floor's
    benchmark.pedantic(_treat, setup=yardsticks_first, rounds=ROUNDS_WARM, iterations=1)
    stats = benchmark.stats.stats
    simulation = _simulation_cpu_s()
    benchmark.extra_info.update(
        command=" ".join(_command(Path("DIR"))),
        warm_min_s=stats.min,
        warm_median_s=stats.median,
        warm_cpu_min_s=min(warm),
        bare_python_cpu_min_s=min(bare),
        warm_cpu_over_bare_python=min(warm) / min(bare),
        simulation_cpu_s=simulation,
        warm_cpu_over_simulation=min(warm) / simulation,
        numba_floor_min_s=min(floors["numba"]),
        matplotlib_floor_min_s=min(floors["matplotlib"]),
        warm_over_floor=stats.min / max(min(floors["numba"]), min(floors["matplotlib"])),
    )


def test_treat_command_first_run(benchmark: Any, tmp_path: Path) -> None:
    """``penctl treat --out DIR`` with an empty numba cache (the kernel compiles) and none of penctl's bytecode, as
    the first run after an editable install: target <= 2 s."""
    first: list[float] = []
    warm: list[float] = []
    caches: list[str] = []

    def warm_run_and_empty_caches() -> tuple[tuple[Path, list[float], str], dict[str, Any]]:
        _package_bytecode(present=True)
        _treat(tmp_path, warm)
        _package_bytecode(present=False)
        caches.append(tempfile.mkdtemp(prefix="penctl-numba-"))
        return (tmp_path, first, caches[-1]), {}

    try:
        benchmark.pedantic(_treat, setup=warm_run_and_empty_caches, rounds=ROUNDS_FIRST, iterations=1)
    finally:
        _package_bytecode(present=True)
        for cache in caches:
            shutil.rmtree(cache, ignore_errors=True)
    stats = benchmark.stats.stats
    benchmark.extra_info.update(
        command="NUMBA_CACHE_DIR=<empty dir> " + " ".join(_command(Path("DIR"))),
        first_min_s=stats.min,
        first_median_s=stats.median,
        first_cpu_min_s=min(first),
        warm_cpu_min_s=min(warm),
        first_cpu_over_warm=min(first) / min(warm),
    )


def test_dossier_command(benchmark: Any, tmp_path: Path) -> None:
    """The default ``penctl dossier`` (built-in campaign on a local cluster, nine envelopes, the fault campaign,
    the page) as a user waits for it; issue 25's target is 60 s on this 2-core machine. Exit 1 is expected: no
    test report is given, so the dossier is incomplete."""
    script = Path(sys.executable).with_name("penctl")
    outs = iter(range(100))

    def one() -> None:
        done = subprocess.run(
            [str(script), "dossier", "--out", str(tmp_path / f"d{next(outs)}")], capture_output=True, text=True
        )
        assert done.returncode == 1 and "dossier: incomplete" in done.stdout, done.stdout + done.stderr

    benchmark.pedantic(one, rounds=1, iterations=1)  # one round: it is measured against a target ten times longer
    benchmark.extra_info.update(wall_min_s=benchmark.stats.stats.min, target_s=60.0)
