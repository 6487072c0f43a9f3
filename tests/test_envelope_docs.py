"""docs/envelope.md: every rotary envelope table is what `penctl envelope` prints now, one test per table."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def gen_reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_reference", ROOT / "tools" / "gen_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SECTIONS = gen_reference().ENVELOPE_SECTIONS


@pytest.mark.parametrize(("doc", "section"), [(d, s) for d, sections in SECTIONS.items() for s in sections])
def test_the_envelope_table_in_the_docs_is_the_models(doc: str, section: str) -> None:
    text = (ROOT / doc).read_text()
    match = re.search(rf"<!-- generated:{section} -->\n(.*?)\n<!-- /generated:{section} -->", text, re.S)
    assert match is not None, f"{doc}: no {section} section"
    assert match.group(1) == SECTIONS[doc][section](), f"{doc}: {section} (run tools/gen_reference.py)"


def test_every_skin_and_charge_the_issue_names_is_in_the_docs() -> None:
    from hal.skin import SKIN_TYPES

    names = set(SECTIONS["docs/envelope.md"])
    assert "voice_coil_normal_90" in SECTIONS["docs/simulation.md"]
    assert names == {f"rotary_cam_{skin}_{pct}" for skin in SKIN_TYPES for pct in (20, 50, 90)}
