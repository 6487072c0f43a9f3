"""The clinical rule tables: limits, windows and side effects, each row with its source and the text it shows.

Every clinical figure the host enforces or reports is a row of a packaged table
under ``data/`` (contraindications, after-care, side effects, areas,
indications and the limits here), so a reviewer reads the whole clinical content
in one page (docs/clinical.md, generated from these tables). A limit that a pen
setting can change names that setting; its value in the table is the setting's
factory default, and the checks read the setting, so the table and the pen
never disagree silently.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources

from hal.settings import BY_KEY as SETTINGS_BY_KEY


@dataclass(kw_only=True, frozen=True)
class Limit:
    """One clinical figure: a window, a count or a length, with the text it shows and its source."""

    rule: str
    value: float
    unit: str
    setting: str
    """The pen setting that holds the figure ("" when the figure is fixed by the texts)."""
    acts: str
    """What a breach does: ``refused`` (unless an override is documented, where the text says so),
    ``cautioned`` (printed before the pass and reported), or ``shown`` (a fact told, not a limit to break)."""
    text: str
    patient_text: str
    """The fact in the patient's words, for the patient sheet ("" when the patient is not told it)."""
    source: str


@dataclass(kw_only=True, frozen=True)
class SideEffect:
    """A side effect the patient is told about."""

    effect: str
    text: str
    source: str


def read_table(name: str) -> list[dict[str, str]]:
    """The rows of the packaged table ``data/<name>`` (CSV with a header)."""
    text = resources.files("controller.treatment").joinpath(f"data/{name}").read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


@cache
def limits() -> dict[str, Limit]:
    """Every clinical limit by rule name, in table order."""
    return {
        row["rule"]: Limit(
            rule=row["rule"],
            value=float(row["value"]),
            unit=row["unit"],
            setting=row["setting"],
            acts=row["acts"],
            text=row["text"],
            patient_text=row["patient_text"],
            source=row["source"],
        )
        for row in read_table("limits.csv")
    }


def limit(rule: str) -> float:
    """A limit's value: its setting's factory default when a setting holds it, else the table's figure."""
    entry = limits()[rule]
    if entry.setting:
        value = SETTINGS_BY_KEY[entry.setting].default
        assert isinstance(value, (int, float))
        return float(value)
    return entry.value


def yearly_max(indication: str) -> int | None:
    """Most sessions for ``indication`` in any 365 days, if the texts limit it."""
    entry = limits().get(f"yearly_max:{indication}")
    return None if entry is None else int(entry.value)


@cache
def side_effects() -> list[SideEffect]:
    """The side effects to tell the patient, in table order."""
    return [SideEffect(effect=r["effect"], text=r["text"], source=r["source"]) for r in read_table("side_effects.csv")]


@dataclass(kw_only=True, frozen=True)
class Practice:
    """Who gives the treatment and where: told to the clinician (report) and to the patient (sheet)."""

    rule: str
    text: str
    patient_text: str
    source: str


@cache
def practice() -> list[Practice]:
    """The conditions of practice the clinic texts set (consultation, professional, sterile setting)."""
    return [
        Practice(rule=r["rule"], text=r["text"], patient_text=r["patient_text"], source=r["source"])
        for r in read_table("practice.csv")
    ]
