"""sim/jit.py: numba loads the stroke kernels without SciPy or YAML, and refuses nothing to anyone else."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from sim.jit import NUMBA_CONFIG_FILE, _UnusedImportsRefused, refusals

ROOT = Path(__file__).resolve().parent.parent
LOADED = "import sys, sim.kernel; print(' '.join(m for m in ('scipy', 'yaml') if m in sys.modules))"


def _python(code: str, cwd: Path) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_kernels_load_without_scipy_or_yaml(tmp_path: Path) -> None:
    pytest.importorskip("scipy.linalg")
    pytest.importorskip("yaml")
    assert _python(LOADED, tmp_path) == ""


def test_what_numba_was_refused_still_imports_afterwards(tmp_path: Path) -> None:
    pytest.importorskip("scipy.linalg")
    pytest.importorskip("yaml")
    code = "import sim.kernel, scipy.linalg, yaml; print(scipy.linalg.cython_blas.__name__, yaml.safe_load('a: 1'))"
    assert _python(code, tmp_path) == "scipy.linalg.cython_blas {'a': 1}"


def test_a_numba_config_file_is_still_read(tmp_path: Path) -> None:
    """numba reads ``.numba_config.yaml`` from the working directory with yaml: there, yaml is not refused."""
    pytest.importorskip("yaml")
    (tmp_path / NUMBA_CONFIG_FILE).write_text("debug_cache: 1\n")
    code = "import sim.kernel; from numba.core import config; print(config._HAVE_YAML, config.DEBUG_CACHE)"
    assert _python(code, tmp_path) == "True 1"


def test_yaml_is_refused_only_where_there_is_no_numba_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert refusals()["numba.core.config"] == {"yaml"}
    (tmp_path / NUMBA_CONFIG_FILE).write_text("debug_cache: 1\n")
    assert "numba.core.config" not in refusals()


@pytest.mark.parametrize("asker", ["numba", "numba.np.linalg", "numba.core.config"])
@pytest.mark.parametrize("wanted", ["scipy", "scipy.linalg", "scipy.linalg.cython_blas", "yaml", "yaml.cyaml"])
def test_only_the_named_numba_modules_are_refused_and_only_their_package(asker: str, wanted: str) -> None:
    refused = {
        "numba": frozenset({"scipy"}),
        "numba.np.linalg": frozenset({"scipy"}),
        "numba.core.config": frozenset({"yaml"}),
    }
    finder = _UnusedImportsRefused(refused)
    scope = {"__name__": asker, "finder": finder, "wanted": wanted}
    if wanted.partition(".")[0] in refused[asker]:
        with pytest.raises(ImportError, match=asker):
            exec("finder.find_spec(wanted, None)", scope)
    else:
        exec("finder.find_spec(wanted, None)", scope)
    assert finder.find_spec(wanted, None) is None  # asked by this module: never refused


def test_another_thread_is_never_refused() -> None:
    finder = _UnusedImportsRefused({"numba": frozenset({"scipy"})})
    answers: list[object] = []
    scope = {"__name__": "numba", "finder": finder, "answers": answers}
    thread = threading.Thread(target=exec, args=("answers.append(finder.find_spec('scipy', None))", scope))
    thread.start()
    thread.join()
    assert answers == [None]
