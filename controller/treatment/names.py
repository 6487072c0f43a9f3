"""Area and indication names as people say them: the table's names, their aliases, and a "did you mean".

A plan may name an area or an indication the way a clinician or patient says it
("under eye", "Wrinkles", "upper-lip"): case, spaces and hyphens do not matter,
and an alias from ``data/aliases.csv`` (each with its source) stands for its
row. The plan keeps the table's name, so reports and rules see one name per
row. An unknown name is refused with the closest known name.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from controller.host.table_reader import TableReader, did_you_mean
from controller.treatment.presets import areas, indication_names
from controller.treatment.rules import read_table
from controller.treatment.screening import conditions


def normalised(name: str) -> str:
    """Lower case, with spaces and hyphens as underscores: "Under-eye" and "under eye" are ``under_eye``."""
    return "_".join(name.strip().lower().replace("-", " ").replace("_", " ").split())


@cache
def known(kind: str) -> dict[str, str]:
    """Every accepted spelling of ``kind`` ("area", "indication" or "condition") to the table's name."""
    listing: dict[str, Callable[[], list[str]]] = {
        "area": lambda: list(areas()),
        "indication": indication_names,
        "condition": conditions,
    }
    names = listing[kind]()
    spellings = {name: name for name in names}
    spellings |= {row["alias"]: row["name"] for row in read_table("aliases.csv") if row["kind"] == kind}
    return spellings


def resolve(kind: str, name: str) -> str | None:
    """The table's name for ``name``, or ``None`` when no row or alias has it."""
    return known(kind).get(normalised(name))


def read_conditions(reader: TableReader) -> list[str]:
    """``patient.conditions`` as people write them ("Cold sores", "moles"), each resolved to its table row."""
    spellings = known("condition")
    return reader.choice_list("conditions", conditions(), lambda name: resolve("condition", name), list(spellings))


def read_name(reader: TableReader, key: str, kind: str, where: str, required: bool = True) -> str | None:
    """Read ``key`` as a ``kind`` name; an unknown one is a problem naming ``where`` and the closest name."""
    raw = reader.text(key, required=required, max_len=64)
    if raw is None:
        return None
    name = resolve(kind, raw)
    if name is None:
        spellings = known(kind)
        names = list(dict.fromkeys(spellings.values()))
        aliases = sorted(a for a, n in spellings.items() if a != n)
        reader.problem(
            key,
            f"a known {kind} for {where}: one of {', '.join(names)} (or a common name: {', '.join(aliases)})"
            f"{did_you_mean(normalised(raw), list(spellings))}",
            raw,
        )
    return name
