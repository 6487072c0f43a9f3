"""The outside probe's sweep of campaign files, kept: every key of every table, every wrong kind of value.

Each variant of a valid base campaign puts one wrong value in one key (a string, a bool, an array, an inline
table, a 401-digit integer, -1, 0, NaN, +/-infinity, an empty and a 5,000-character string), or duplicates a
key, or adds an unknown one. Unless the value is legitimately valid there, the file is refused with the key
named (exit 2 at the command line; tests/test_verification_runs.py covers the exit codes).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.host.table_reader import InputFileError
from controller.qa.verification.campaign import parse_campaign
from sim.factories import PARAMETERS

BASE: list[tuple[str, list[tuple[str, str]]]] = [
    ("[campaign]", [("name", '"sweep"'), ("seed", "7"), ("pens", "2"), ("seconds", "0.1"), ("chunk_pens", "1")]),
    ("[pen]", [("battery_soc", "0.8")]),
    ("[cartridge]", [("id", "1"), ("needles", "12"), ("max_depth_mm", "2.5"), ("field_diameter_mm", "3.5")]),
    (
        "[parameters.needle_length_error_mm]",
        [("distribution", '"normal"'), ("mean", "0.0"), ("sd", "0.02"), ("min", "-0.06"), ("max", "0.06")],
    ),
    ("[[points]]", [("depth_mm", "1.0"), ("frequency_hz", "120.0"), ("skin", '"normal"')]),
    ("[grid]", [("depths_mm", "[0.5]"), ("rates_hz", "[100.0]"), ("skins", '["normal"]')]),
    (
        "[[criteria]]",
        [
            ("metric", '"depth_error_mean_mm"'),
            ("min", "-1.0"),
            ("max", "1.0"),
            ("coverage", "0.95"),
            ("confidence", "0.95"),
            ("method", '"normal"'),
        ],
    ),
    ("[sensitivity]", [("samples", "8"), ("seconds", "0.1"), ("metric", '"depth_error_mean_mm"')]),
]
VALUES = {
    "string": '"abc"',
    "bool": "true",
    "array": "[1, 2]",
    "inline table": "{ a = 1 }",
    "401 digits": "1" + "0" * 400,
    "-1": "-1",
    "0": "0",
    "nan": "nan",
    "inf": "inf",
    "-inf": "-inf",
    "empty string": '""',
    "5000 characters": '"' + "x" * 5000 + '"',
}
VALID = {
    ("campaign", "name", "string"),
    ("campaign", "name", "empty string"),
    ("campaign", "seed", "0"),
    ("parameters", "mean", "0"),
    ("parameters", "min", "-1"),
    ("parameters", "min", "0"),
    ("parameters", "max", "0"),
    ("grid", "depths_mm", "array"),
    ("criteria", "min", "-1"),
    ("criteria", "min", "0"),
    ("criteria", "max", "0"),
    *(("pen", p, "0") for p in ("needle_length_error_mm", "depth_offset_mm", "battery_soc", "battery_age")),
    ("pen", "ambient_c", "0"),
    ("pen", "clock_error_ppm", "0"),
    ("pen", "clock_error_ppm", "-1"),
}
"""Values that are right where they are put (the pen's nominal may be 0; a name may be any short text)."""


def render(tables: list[tuple[str, list[tuple[str, str]]]]) -> str:
    return "\n".join(f"{head}\n" + "".join(f"{k} = {v}\n" for k, v in pairs) for head, pairs in tables)


def variants() -> Iterator[tuple[str, str, str]]:
    """(case id, campaign text, the key the message must name)."""
    for t, (head, pairs) in enumerate(BASE):
        table = head.strip("[]").split(".")[0]
        keys = [k for k, _ in pairs] + (["plan"] if table == "campaign" else [])
        keys = list(PARAMETERS) if table == "pen" else keys
        for key in keys:
            for label, value in VALUES.items():
                if (table, key, label) in VALID:
                    continue
                tables = [(h, list(p)) for h, p in BASE]
                changed = dict(tables[t][1])
                changed[key] = value
                tables[t] = (head, list(changed.items()))
                yield f"{table}.{key}={label}", render(tables), key
        tables = [(h, list(p)) for h, p in BASE]
        tables[t] = (head, [*pairs, ("bogus_key", "1")])
        yield f"{table}.unknown", render(tables), "bogus_key"
        tables = [(h, list(p)) for h, p in BASE]
        tables[t] = (head, [*pairs, pairs[0]])
        yield f"{table}.duplicate", render(tables), "TOML"


CASES = list(variants())


@pytest.mark.parametrize(("case", "body", "key"), CASES, ids=[c[0] for c in CASES])
def test_every_wrong_value_in_every_key_is_refused_naming_it(case: str, body: str, key: str, tmp_path: Path) -> None:
    with pytest.raises(InputFileError) as refused:
        parse_campaign(body.encode(), "c.toml", base=tmp_path)
    message = str(refused.value)
    assert key in message, message[:300]
    assert len(message) < 20_000  # a 5,000-character value is echoed at most once per problem


def test_the_sweep_is_as_large_as_the_probe_made_it() -> None:
    assert len(CASES) >= 500
    base = render(BASE)
    assert parse_campaign(base.encode(), "c.toml").pens == 2  # the base is valid: every refusal is the value's
