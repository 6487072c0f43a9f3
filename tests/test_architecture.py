"""House rules a newcomer must not have to remember: who imports whom, and where time comes from."""

from __future__ import annotations

import ast

import pytest

from tests.conftest import ROOT


def imported_packages(folder: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / folder).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


@pytest.mark.parametrize("folder,forbidden", [("hal", {"controller", "sim"}), ("sim", {"controller"})])
def test_import_direction(folder: str, forbidden: set[str]) -> None:
    offenders = {path: names & forbidden for path, names in imported_packages(folder).items() if names & forbidden}
    assert offenders == {}


def test_firmware_logic_reads_no_wall_clock_and_never_sleeps() -> None:
    # clock.py holds the wall-clock pacer; progress.py is user interface, not firmware.
    allowed = {"clock.py", "progress.py"}
    banned = ("time.sleep", "time.time", "time.monotonic", "time.perf_counter", "datetime.now", "threading.Timer")
    for folder in ("controller", "sim"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name in allowed:
                continue
            text = path.read_text()
            assert not [b for b in banned if b in text], path


def test_sim_uses_only_seeded_generators() -> None:
    for path in (ROOT / "sim").rglob("*.py"):
        text = path.read_text()
        for banned in ("np.random.rand", "np.random.seed", "np.random.normal", "np.random.uniform", "import random"):
            assert banned not in text, path
