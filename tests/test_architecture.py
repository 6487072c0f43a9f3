"""House rules a newcomer must not have to remember: who imports whom, and where time comes from."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

ROOMS: dict[str, set[str]] = {
    "hal": {"hal"},
    "sim": {"hal", "sim"},
    "controller.firmware": {"hal", "controller.firmware"},
    "controller.host": {"hal", "controller.firmware", "controller.host"},
    "controller.treatment": {"hal", "controller.firmware", "controller.host", "controller.treatment"},
    "controller.qa": {
        "hal",
        "sim.factories",
        "sim.envelope",
        "controller.firmware",
        "controller.host",
        "controller.treatment",
        "controller.qa",
    },
    "controller.cli": {"hal", "sim", "controller"},
    "controller": {"controller"},
}
"""Room -> the project packages it may import (a prefix allows everything under it). ``controller`` alone
is the package's ``__init__``. The QA harness sees the simulator only through its public factories and its
envelope measurement."""

FIRMWARE_THIRD_PARTY = {"numpy", "transitions"}
"""All the firmware may import besides the standard library and ``hal``: what an MCU port would replace."""

PROJECT = ("controller", "hal", "sim")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def room_of(module: str) -> str:
    return max((room for room in ROOMS if module == room or module.startswith(room + ".")), key=len)


def is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function, with relative imports resolved.

    ``from sim import factories`` counts as importing ``sim.factories``; ``from sim.factories import
    build_simulated_pen`` as importing ``sim.factories``.
    """
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]) if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            for alias in node.names:
                names.add(f"{module}.{alias.name}" if is_module(f"{module}.{alias.name}") else module)
    return names


def project_files() -> list[Path]:
    return [p for folder in PROJECT for p in sorted((ROOT / folder).rglob("*.py"))]


def allowed(room: str, imported: str) -> bool:
    if imported == "controller" and room.startswith("controller"):
        return True  # the package's __init__ holds only the version
    return any(imported == ok or imported.startswith(ok + ".") for ok in ROOMS[room])


@pytest.mark.parametrize("path", project_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_each_module_imports_only_what_its_room_may(path: Path) -> None:
    room = room_of(module_name(path))
    ours = {name for name in imports_of(path) if name.split(".")[0] in PROJECT}
    assert {name for name in ours if not allowed(room, name)} == set(), room


def test_the_rules_catch_a_forbidden_import(tmp_path: Path) -> None:
    """The rule test itself can fail: a firmware module importing the treatment tooling is caught."""
    assert not allowed("controller.firmware", "controller.treatment.plan")
    assert not allowed("controller.qa", "sim.nvm")
    assert not allowed("sim", "controller.cli")
    assert not allowed("hal", "sim.backend")
    assert allowed("controller.qa", "sim.factories")
    assert room_of("controller.firmware.supervisor") == "controller.firmware"


def test_firmware_imports_only_the_standard_library_numpy_and_transitions() -> None:
    for path in (ROOT / "controller" / "firmware").rglob("*.py"):
        top = {name.split(".")[0] for name in imports_of(path)} - set(sys.stdlib_module_names)
        assert top - FIRMWARE_THIRD_PARTY - {"hal", "controller", "__future__"} == set(), path


def test_no_dynamic_imports_outside_the_backend_registry() -> None:
    """``__import__`` and ``importlib.import_module`` would pass the rules above unseen (hal/registry.py may)."""
    for path in project_files():
        if path in (ROOT / "hal" / "registry.py", ROOT / "hal" / "__init__.py"):
            continue  # the backend registry, and hal's own names loaded on first use (PEP 562), checked below
        tree = ast.parse(path.read_text())
        dynamic = {"__import__", "import_module", "importlib.import_module"}
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and ast.unparse(n.func) in dynamic]
        assert calls == [], path


STDLIB_UNDERSCORED = {"_exit", "_actions", "_SubParsersAction"}
"""Public by use, private by name: ``os._exit``, and argparse's parser tree, which has no other way to walk it."""


def test_hal_loads_on_first_use_only_its_own_submodules() -> None:
    import hal

    assert all(home.startswith("hal.") for home in vars(hal)["_HOME"].values())
    for name in hal.__all__:
        getattr(hal, name)  # every name resolves from its submodule


@pytest.mark.parametrize("room", ["controller/qa", "controller/cli", "controller/treatment"])
def test_tooling_touches_no_private_attribute_of_another_object(room: str) -> None:
    """The harness drives pens through their documented API, never through ``obj._private``."""
    for path in (ROOT / room).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                owner = ast.unparse(node.value)
                if node.attr in STDLIB_UNDERSCORED:
                    continue
                assert owner in {"self", "cls"}, f"{path.relative_to(ROOT)}:{node.lineno} {owner}.{node.attr}"


def test_records_are_keyword_only() -> None:
    """A dataclass of several fields built by position would swap two depths silently if its fields moved."""
    loose = []
    for path in project_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ClassDef):
                continue
            fields = [s for s in node.body if isinstance(s, ast.AnnAssign) and "ClassVar" not in ast.unparse(s)]
            for decorator in node.decorator_list:
                text = ast.unparse(decorator)
                if text.startswith("dataclass") and len(fields) >= 2 and "kw_only=True" not in text:
                    loose.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert loose == []


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


def test_the_architecture_doc_lists_exactly_the_modules_of_the_tree() -> None:
    doc = (ROOT / "docs/architecture.md").read_text()
    listed = set(re.findall(r"`((?:controller|hal|sim)/[\w/]+\.py)`", doc))
    tree = {str(p.relative_to(ROOT)) for p in project_files() if p.name != "__init__.py"}
    assert listed == tree
