"""`penctl faults`: the table fits 100 columns, never prints `None`, never cuts a word; --json keeps every text."""

from __future__ import annotations

import json

import pytest

from controller.firmware.hazards import HAZARDS
from tests.test_cli import penctl


@pytest.mark.parametrize("drive", ["voice_coil", "rotary_cam"])
def test_the_faults_table_is_whole_words_in_100_columns(drive: str) -> None:
    table = penctl("faults", "--drive", drive)
    assert table.returncode == 0, table.stdout + table.stderr
    lines = table.stdout.splitlines()
    assert all(len(line) <= 100 for line in lines), max(lines, key=len)
    assert "None" not in table.stdout
    words = set(" ".join(lines).split())
    for hazard in HAZARDS:
        assert set(hazard.name.split()) <= words, hazard.name
    full = json.loads(penctl("faults", "--drive", drive, "--json").stdout)
    assert [r["name"] for r in full] == [h.name for h in HAZARDS]
    for row in full:
        assert " ".join(row["detail"].split()) in " ".join(table.stdout.split())
