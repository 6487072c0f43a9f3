"""Docs that list what the code defines must agree with the code."""

from __future__ import annotations

import re

import pytest

from controller.host.table_reader import InputFileError
from controller.treatment.plan import parse_plan
from controller.treatment.presets import areas
from tests.conftest import ROOT

PLAN_DOC = (ROOT / "docs/plan-format.md").read_text()
README = (ROOT / "README.md").read_text()


def doc_table_keys(section: str) -> set[str]:
    """Keys in the first column of the table under the heading that starts with ``section``."""
    block = PLAN_DOC.split(f"## `{section}`" if "history" not in section else f"### `{section}`", 1)[1]
    block = block.split("\n## ", 1)[0].split("\n### ", 1)[0]
    return set(re.findall(r"^\| `([a-z_0-9]+)` \|", block, flags=re.M))


SECTION_BODIES = {
    "[[fault]]": 'at_s = 1.0\nkind = "stall"\n',
    "[patient]": "age = 40\nfitzpatrick = 2\n",
    "[[patient.history]]": 'kind = "filler"\ndate = 2020-01-01\n',
}


def code_keys(section: str) -> set[str]:
    """The keys the plan reader knows in a section, from its own 'unknown key' message."""
    text = (ROOT / "examples/full_face.toml").read_text().replace("[plan]\n", "[plan]\nstart = 2026-11-22T09:30:00\n")
    if f"\n{section}\n" not in text:
        if section == "[[patient.history]]":
            text += "\n[patient]\n" + SECTION_BODIES["[patient]"]
        text += f"\n{section}\n" + SECTION_BODIES[section]
    text = text.replace(f"\n{section}\n", f"\n{section}\nzzz_unknown = 1\n", 1)
    with pytest.raises(InputFileError) as info:
        parse_plan(text.encode(), "doc-check")
    [problem] = info.value.problems
    return set(problem.expected.split("(this table has: ")[1].split(")")[0].split(", "))


@pytest.mark.parametrize(
    "section", ["[plan]", "[pen]", "[cartridge]", "[[zone]]", "[[fault]]", "[patient]", "[[patient.history]]"]
)
def test_plan_doc_lists_exactly_the_keys_the_reader_knows(section: str) -> None:
    assert doc_table_keys(section) == code_keys(section)


def test_plan_doc_area_and_indication_tables_match_the_data_files() -> None:
    from controller.treatment.presets import indications

    rows = {
        m.group(1): (float(m.group(2)), float(m.group(3)), float(m.group(4)))
        for m in re.finditer(r"^\| ([a-z_]+) \| ([0-9.]+) \| ([0-9.]+) \| ([0-9.]+) \|$", PLAN_DOC, flags=re.M)
    }
    expected = {a.name: (a.min_depth_mm, a.default_depth_mm, a.max_depth_mm) for a in areas().values()}
    expected |= {i.name: (i.min_depth_mm, i.default_depth_mm, i.max_depth_mm) for i in indications().values()}
    assert rows == expected


def test_plan_doc_lists_every_condition_and_history_kind() -> None:
    from controller.treatment.screening import conditions, history_kinds

    for name in [*conditions(), *history_kinds()]:
        assert f"`{name}`" in PLAN_DOC, name


def test_every_preset_has_a_source_and_a_sane_range() -> None:
    from controller.treatment.presets import indications

    for preset in [*areas().values(), *indications().values()]:
        assert preset.source
        assert 0 < preset.min_depth_mm <= preset.default_depth_mm <= preset.max_depth_mm <= 2.5


def test_ci_runs_the_readme_test_command() -> None:
    commands = re.findall(r"```sh\n\s*(.+?)\n\s*```", README)
    assert len(commands) == 2 and "penctl treat" in commands[0] and "pytest" in commands[1]
    assert commands[1] in (ROOT / ".ci/run").read_text()


def test_readme_documents_the_exit_codes_of_the_cli() -> None:
    from controller import cli

    for code in (
        cli.EXIT_OK,
        cli.EXIT_FAULT,
        cli.EXIT_INPUT,
        cli.EXIT_UNVERIFIED,
        cli.EXIT_SHORT,
        cli.EXIT_INTERNAL,
        cli.EXIT_INTERRUPTED,
        cli.EXIT_OUTPUT,
        cli.EXIT_TERMINATED,
    ):
        assert f"\n| {code} |" in README


def test_readme_documents_the_command_line_conventions() -> None:
    from controller.cli.common import PORT_ENV
    from controller.cli.main import build_parser

    top = build_parser()._option_string_actions
    for option in ("-v", "-vv", "--log-level", "--version", "--json"):
        assert re.search(rf"`[^`]*(?<![\w-]){re.escape(option)}(?![\w-])[^`]*`", README), option
    assert {"-v", "--log-level", "--version"} <= set(top)
    assert f"`{PORT_ENV}`" in README and "stdout" in README and "stderr" in README


def test_simulation_doc_skin_table_matches_the_code() -> None:
    from sim.tissue import SKINS

    doc = (ROOT / "docs/simulation.md").read_text()
    rows = re.findall(
        r"^\| (sensitive|normal|thick) \| ([0-9.]+) \| ([0-9.]+) \| ([0-9.]+) \| ([0-9.]+) \| ([0-9.]+)"
        r" \| ([0-9]+) % \| ([0-9.]+) \|$",
        doc,
        flags=re.M,
    )
    table = {r[0]: tuple(float(v) for v in r[1:]) for r in rows}
    assert table == {
        s.name: (
            s.youngs_modulus_pa / 1e6,
            s.insertion_force_n,
            s.stiffness_n_per_m,
            s.stiffening_mm,
            s.damping_ns_per_m,
            round(s.variability * 100),
            s.surface_jitter_mm,
        )
        for s in SKINS.values()
    }


def test_skin_type_names_agree_between_contract_and_simulator() -> None:
    from hal.backend import Skin
    from sim.tissue import SKINS

    assert tuple(SKINS) == tuple(Skin)


PROTOCOL_DOC = (ROOT / "docs/protocol.md").read_text()
SETTINGS_DOC = (ROOT / "docs/settings.md").read_text()


def test_protocol_doc_tables_match_the_code() -> None:
    from hal.protocol import ALARM_TEXT, ERROR_TEXT, Alarm, Capability, ErrorCode, Msg

    type_table = PROTOCOL_DOC.split("## Message types", 1)[1].split("\n\n###", 1)[0]
    types = dict(re.findall(r"^\| 0x([0-9A-F]{2}) \| `([A-Z_]+)` \|", type_table, flags=re.M))
    assert {int(k, 16): v for k, v in types.items()} == {m.value: m.name for m in Msg}
    errors = re.findall(r"^\| (\d+) \| `([A-Z_]+)` \| (.+) \|$", PROTOCOL_DOC, flags=re.M)
    documented = {(int(c), n, t) for c, n, t in errors}
    assert documented == {(e.value, e.name, ERROR_TEXT[e]) for e in ErrorCode} | {
        (a.value, a.name, ALARM_TEXT[a]) for a in Alarm
    }
    cap_table = PROTOCOL_DOC.split("| capability bit |", 1)[1].split("\n\n", 1)[0]
    caps = dict(re.findall(r"^\| 0x([0-9a-f]{2}) \| `([A-Z_]+)` \|", cap_table, flags=re.M))
    assert {int(k, 16): v for k, v in caps.items()} == {c.value: c.name for c in Capability}


def test_protocol_doc_telemetry_layout_matches_the_record() -> None:
    from hal.telemetry import TELEMETRY_DTYPE

    rows = re.findall(r"^\| `([a-z_]+)` \| (\d+) \| ([<|][a-z]\d) \|$", PROTOCOL_DOC, flags=re.M)
    fields, names = TELEMETRY_DTYPE.fields, TELEMETRY_DTYPE.names
    assert fields is not None and names is not None
    assert [(n, int(o), t) for n, o, t in rows] == [(n, fields[n][1], fields[n][0].str) for n in names]


def test_every_protocol_example_decodes_to_the_message_it_names() -> None:
    from hal.protocol import Frame, FrameDecoder, Msg

    examples = re.findall(r"^### ([A-Z_]+) [^\n]*\n```\n([0-9a-f ]+)\n```", PROTOCOL_DOC, flags=re.M)
    assert len(examples) >= 35
    named = set()
    for name, hexes in examples:
        frames = [f for f in FrameDecoder().feed(bytes.fromhex(hexes)) if isinstance(f, Frame)]
        assert len(frames) == 1, name
        assert Msg(frames[0].type).name == name
        named.add(name)
    assert named == {m.name for m in Msg}, "an example for every message type"


def test_settings_doc_matches_the_schema() -> None:
    from hal.settings import CROSS_RULES, SETTINGS

    rows = re.findall(
        r"^\| (\d+) \| `([a-z_.]+)` \| (\w+) \| [^|]* \| [^|]+ \| [^|]+ \| (\w+) \|", SETTINGS_DOC, flags=re.M
    )
    assert [(int(i), k, t, a) for i, k, t, a in rows] == [(s.id, s.key, s.kind, s.access) for s in SETTINGS]
    for _, _, message in CROSS_RULES:
        assert message in SETTINGS_DOC
    assert len(SETTINGS) >= 20


def test_hazard_doc_matches_the_hazard_table() -> None:
    from controller.firmware.hazards import HAZARDS

    doc = (ROOT / "docs/hazards.md").read_text()
    rows = re.findall(r"^\| (H\d\d) \| ([^|]+) \|.*\| (high|medium|low) \| `([a-z_]+)` \|", doc, flags=re.M)
    assert [(i, n.strip(), p, k) for i, n, p, k in rows] == [(h.id, h.name, h.priority.value, h.kind) for h in HAZARDS]


def test_every_hazard_names_a_test_that_exists() -> None:
    from controller.firmware.hazards import HAZARDS

    for hazard in HAZARDS:
        module, name = hazard.tests.split("::")
        text = (ROOT / "tests" / module).read_text()
        assert f"def {name.split('[')[0]}(" in text, hazard.id


def test_simulation_doc_tent_table_matches_the_model() -> None:
    from sim.tissue import SKINS

    doc = (ROOT / "docs/simulation.md").read_text()
    rows = re.findall(
        r"^\| (sensitive|normal|thick) \| ([0-9,]+) \| ([0-9.]+) \| ([0-9.]+) \| ([0-9.]+) \|$", doc, re.M
    )
    table = {r[0]: (int(r[1].replace(",", "")), *(float(v) for v in r[2:])) for r in rows}
    assert table == {
        s.name: (round(s.tent_stiffness_n_per_m(3.5)), *(round(s.tent_mm(n, 3.5), 3) for n in (6, 12, 36)))
        for s in SKINS.values()
    }


def test_protocol_doc_describes_every_telemetry_field_and_flag() -> None:
    from hal.telemetry import TELEMETRY_DTYPE, StrokeFlag

    section = PROTOCOL_DOC.split("### Telemetry record", 1)[1].split("## ", 1)[0]
    described = section.split("<!-- /generated:telemetry -->", 1)[1]  # the prose after the generated layout
    for name in TELEMETRY_DTYPE.names or ():
        assert f"`{name}`" in described, name
    for flag in StrokeFlag:
        if flag.value:
            assert f"0x{flag.value:02x} {str(flag.name).lower().replace('_', ' ')}" in described, flag


def test_every_generated_doc_section_is_what_the_code_makes_now() -> None:
    """docs/*.md generated sections (tools/gen_reference.py) against the code, so no table drifts."""
    import importlib.util
    import re as regex

    spec = importlib.util.spec_from_file_location("gen_reference", ROOT / "tools" / "gen_reference.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    for name, sections in gen.SECTIONS.items():
        text = (ROOT / name).read_text()
        for section, make in sections.items():
            match = regex.search(rf"<!-- generated:{section} -->\n(.*?)\n<!-- /generated:{section} -->", text, regex.S)
            assert match is not None and match.group(1) == make(), f"{name}: {section} (run tools/gen_reference.py)"


def test_the_cases_columns_in_the_verification_doc_are_the_ones_written() -> None:
    from dataclasses import fields

    from controller.qa.verification.cases import CaseResult

    doc = (ROOT / "docs/verification.md").read_text()
    for field in fields(CaseResult):
        assert f"`{field.name}`" in doc, field.name
