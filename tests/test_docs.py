"""Docs that list what the code defines must agree with the code."""

from __future__ import annotations

import re

import pytest

from controller.areas import areas
from controller.plan import parse_plan
from controller.table_reader import InputFileError
from tests.conftest import ROOT

PLAN_DOC = (ROOT / "docs/plan-format.md").read_text()
README = (ROOT / "README.md").read_text()


def doc_table_keys(section: str) -> set[str]:
    """Keys in the first column of the table under the heading that starts with ``section``."""
    block = PLAN_DOC.split(f"## `{section}`", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z_0-9]+)` \|", block, flags=re.M))


def code_keys(section: str) -> set[str]:
    """The keys the plan reader knows in a section, from its own 'unknown key' message."""
    text = (ROOT / "examples/full_face.toml").read_text()
    assert f"\n{section}\n" in text
    text = text.replace(f"\n{section}\n", f"\n{section}\nzzz_unknown = 1\n", 1)
    with pytest.raises(InputFileError) as info:
        parse_plan(text.encode(), "doc-check")
    [problem] = info.value.problems
    return set(problem.expected.split("(known: ")[1].rstrip(")").split(", "))


@pytest.mark.parametrize("section", ["[plan]", "[pen]", "[cartridge]", "[[zone]]"])
def test_plan_doc_lists_exactly_the_keys_the_reader_knows(section: str) -> None:
    assert doc_table_keys(section) == code_keys(section)


def test_plan_doc_area_table_matches_the_data_file() -> None:
    rows = dict(
        (m.group(1), (float(m.group(2)), float(m.group(3))))
        for m in re.finditer(r"^\| ([a-z]+) \| ([0-9.]+) \| ([0-9.]+) \|$", PLAN_DOC, flags=re.M)
    )
    assert rows == {a.name: (a.default_depth_mm, a.max_depth_mm) for a in areas().values()}


def test_every_area_has_a_source_and_a_sane_range() -> None:
    for area in areas().values():
        assert area.source
        assert 0 < area.default_depth_mm <= area.max_depth_mm <= 2.5


def test_ci_runs_the_readme_test_command() -> None:
    commands = re.findall(r"```sh\n\s*(.+?)\n\s*```", README)
    assert len(commands) == 2 and "penctl treat" in commands[0] and "pytest" in commands[1]
    assert commands[1] in (ROOT / ".ci/run").read_text()


def test_readme_documents_the_exit_codes_of_the_cli() -> None:
    from controller import cli

    for code in (cli.EXIT_OK, cli.EXIT_FAULT, cli.EXIT_INPUT):
        assert f"\n| {code} |" in README


def test_simulation_doc_skin_table_matches_the_code() -> None:
    from sim.tissue import SKIN_TYPES

    doc = (ROOT / "docs/simulation.md").read_text()
    rows = re.findall(
        r"^\| (sensitive|normal|thick) \| ([0-9.]+) \| ([0-9.]+) \| ([0-9.]+) \| ([0-9]+) % \| ([0-9.]+) \|$",
        doc,
        flags=re.M,
    )
    table = {r[0]: tuple(float(v) for v in r[1:]) for r in rows}
    assert table == {
        s.name: (
            s.stiffness_n_per_m,
            s.stiffening_mm,
            s.damping_ns_per_m,
            round(s.variability * 100),
            s.surface_jitter_mm,
        )
        for s in SKIN_TYPES.values()
    }


def test_skin_type_names_agree_between_contract_and_simulator() -> None:
    from hal.backend import SKIN_TYPES as NAMES
    from sim.tissue import SKIN_TYPES

    assert tuple(SKIN_TYPES) == NAMES
