"""The main install (``pip install -e .``) leaves out what only ``penctl verify`` needs (the ``[verify]``
extra): no module outside the verification harness may import those packages at module level, or
``treat``, ``serve`` and ``settings`` would fail on the main install."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from controller.cli import verify
from tests.conftest import ROOT

VERIFY_ONLY = {name.lower() for name in verify.VERIFY_PACKAGES}
VERIFICATION_HARNESS = ROOT / "controller" / "qa" / "verification"


def module_level_imports(tree: ast.Module) -> set[str]:
    """Top-level package names imported outside any function (a function's import runs only when called)."""
    names: set[str] = set()
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.If | ast.Try | ast.With | ast.ClassDef):
            pending.extend(child for child in ast.iter_child_nodes(node) if isinstance(child, ast.stmt))
    return names


def main_install_modules() -> list[Path]:
    files = [path for room in ("controller", "hal", "sim") for path in sorted((ROOT / room).rglob("*.py"))]
    return [path for path in files if VERIFICATION_HARNESS not in path.parents]


@pytest.mark.parametrize("path", main_install_modules(), ids=lambda path: str(path.relative_to(ROOT)))
def test_main_install_module_imports_no_verify_only_package(path: Path) -> None:
    imported = {name.lower() for name in module_level_imports(ast.parse(path.read_text()))}
    assert not imported & VERIFY_ONLY, f"{path.relative_to(ROOT)} imports {sorted(imported & VERIFY_ONLY)}"


def test_the_sweep_would_see_a_verify_only_import() -> None:
    assert module_level_imports(ast.parse("try:\n    import scipy.stats\nexcept ImportError:\n    pass\n")) == {"scipy"}


@pytest.mark.parametrize(
    "args", [["verify", str(ROOT / "examples" / "campaign.toml")], ["dossier", "--out", "{tmp}"]], ids=lambda a: a[0]
)
def test_verify_without_the_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str]
) -> None:
    monkeypatch.setattr(verify, "missing_verify_packages", lambda: ["pyarrow"])
    from controller.cli import main

    assert main([a.replace("{tmp}", str(tmp_path / "d")) for a in args]) == 2
    assert not (tmp_path / "d").exists()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install -e '.[verify]'" in err and "Traceback" not in err
