"""Issue 23: one plan per clinical fact, its outcome checked against what the rule table says a breach does.

Every row of every clinical table is a fact. A row that refuses gets a plan breaking it and must exit with
a problem; a caution row gets a plan that must pass with that caution; a shown row must reach the report's
clinical section and, with a patient text, the patient sheet. Plans are only validated (every rule here is a
pre-check), so the sweep is fast. A row without a source fails.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from controller.host.table_reader import InputFileError
from controller.treatment.aftercare import expected_course, instructions, practice_list, side_effect_list
from controller.treatment.names import resolve
from controller.treatment.patient_sheet import patient_sheet
from controller.treatment.plan import Plan, parse_plan
from controller.treatment.presets import areas, indications
from controller.treatment.rules import limits, read_table
from controller.treatment.screening import rules
from tests.test_cli import penctl
from tests.test_clinical import text

TABLES = (
    "contraindications.csv",
    "limits.csv",
    "aftercare.csv",
    "side_effects.csv",
    "areas.csv",
    "indications.csv",
    "practice.csv",
    "aliases.csv",
)
FINDING = {"fitzpatrick_caution": "darker_skin"}
"""A limit whose caution is reported under its contraindication row's name."""
ACTS = {"hard": "refused", "interval": "refused", "caution": "cautioned"}


def mn(*dates: str, indication: str = "") -> str:
    extra = f'\nindication = "{indication}"' if indication else ""
    return "".join(f'\n[[patient.history]]\nkind = "microneedling"\ndate = {d}{extra}\n' for d in dates)


def outcome(plan_text: str) -> tuple[str, Plan | None, list[str]]:
    """refused (with the problems), cautioned (with the plan), or passed."""
    try:
        plan = parse_plan(plan_text.encode(), "fact.toml")
    except InputFileError as error:
        return "refused", None, [str(p) for p in error.problems]
    return ("cautioned" if plan.cautions else "passed"), plan, [c.rule for c in plan.cautions]


def contraindication_plan(rule: str) -> str:
    row = rules()[rule]
    if row.kind == "flag":
        return text(patient_extra=f"{rule} = true")
    if row.kind == "condition":
        return text(patient_extra=f'conditions = ["{rule}"]')
    if row.kind == "history":
        session = dt.date(2026, 11, 22)
        edge = row.window.before(session) if row.window else session  # the window's first day: still inside it
        date = (edge + dt.timedelta(days=1 if row.severity == "interval" else 0)).isoformat()
        area = '\narea = "cheeks"' if row.area_specific else ""
        return text(patient_extra=f'\n[[patient.history]]\nkind = "{rule}"\ndate = {date}{area}\n')
    if row.kind == "indication":
        return text(depth="", zone_extra=f'indication = "{rule}"')
    if rule == "min_age":
        return text(age=17)
    if rule == "fda_age":
        return text(age=20)
    return text(fitz=5)


def stretch(extra: str) -> str:
    return text(area="thighs", depth="depth_mm = 1.2", zone_extra='indication = "stretch_marks"', patient_extra=extra)


YEAR = ("2026-01-10", "2026-03-01", "2026-05-01", "2026-07-01", "2026-09-01")
LIMIT_PLANS: dict[str, Callable[[], str]] = {
    "session_stroking_max": lambda: text().replace("duration_s = 3", "duration_s = 3601"),
    "session_total_max": lambda: text(plan_extra="preparation_min = 100").replace(
        "duration_s = 3", "duration_s = 1800"
    ),
    "session_total_advised": lambda: text(plan_extra="preparation_min = 50"),
    "anaesthetic_max_age": lambda: text(patient_extra="anaesthetic_applied = 2026-11-22T08:00:00"),
    "anaesthetic_wait": lambda: text(patient_extra="anaesthetic_applied = 2026-11-22T09:40:00"),
    "interval_min": lambda: text(patient_extra=mn("2026-11-01")),
    "interval_max": lambda: text(patient_extra=mn("2026-09-13")),
    "course_sessions_high": lambda: text(
        zone_extra='indication = "fine_lines"',
        patient_extra=mn("2026-06-20", "2026-07-20", "2026-08-20", "2026-09-20", "2026-10-20"),
    ),
    "yearly_max:stretch_marks": lambda: stretch(mn(*YEAR)),
    "yearly_max:burn_scars": lambda: text(zone_extra='indication = "burn_scars"', patient_extra=mn(*YEAR)),
    "min_age": lambda: text(age=17),
    "fda_age": lambda: text(age=21),
    "fitzpatrick_caution": lambda: text(fitz=4),
}


def facts() -> list[tuple[str, str, str]]:
    """(table, row, what a breach does) for every row of every clinical table."""
    found = [("contraindications.csv", r.rule, ACTS[r.severity]) for r in rules().values()]
    found += [("limits.csv", e.rule, e.acts) for e in limits().values()]
    found += [("aftercare.csv", r["topic"], "shown") for r in read_table("aftercare.csv")]
    found += [("side_effects.csv", r["effect"], "shown") for r in read_table("side_effects.csv")]
    found += [("areas.csv", name, "refused") for name in areas()]
    found += [
        ("indications.csv", r["indication"], "cautioned" if r["min_depth_mm"] else "shown")
        for r in read_table("indications.csv")
    ]
    found += [("practice.csv", r["rule"], "shown") for r in read_table("practice.csv")]
    found += [("aliases.csv", r["alias"], "shown") for r in read_table("aliases.csv")]
    return found


def test_every_row_of_every_clinical_table_names_its_source() -> None:
    for name in TABLES:
        for row in read_table(name):
            assert row["source"].strip(), (name, row)


def test_every_limit_says_what_a_breach_does() -> None:
    assert {e.acts for e in limits().values()} <= {"refused", "cautioned", "shown"}
    for rule, entry in limits().items():
        if entry.acts != "shown":
            assert rule in LIMIT_PLANS, f"{rule} acts but has no plan breaking it"


def sheet_and_clinical() -> tuple[str, str]:
    """The clinical section as the report builds it (without a pass), and its patient sheet."""
    clinical = {
        "screening": None,
        "session_date": "2026-11-22",
        "aftercare": instructions(),
        "side_effects": side_effect_list(),
        "expected_course": expected_course(),
        "practice": practice_list(),
        "next_session": {"earliest": "2026-12-20", "latest": "2027-01-03"},
        "cautions": [],
    }
    return patient_sheet({"plan": {"name": "x"}, "clinical": clinical}), repr(clinical)


@pytest.mark.parametrize(("table", "row", "acts"), facts(), ids=lambda v: str(v))
def test_one_plan_per_fact_acts_as_its_row_says(table: str, row: str, acts: str) -> None:
    if table == "contraindications.csv":
        got, _, found = outcome(contraindication_plan(row))
        assert got == acts, found
        if acts == "cautioned":
            assert row in found
    elif table == "limits.csv" and acts != "shown":
        got, _, found = outcome(LIMIT_PLANS[row]())
        assert got == acts, found
        if acts == "cautioned":
            assert FINDING.get(row, row) in found
    elif table == "areas.csv":
        top = areas()[row].max_depth_mm
        got, _, found = outcome(text(area=row, depth=f"depth_mm = {top + 0.05:g}"))
        assert got == "refused" and found[0].startswith("zone[0].depth_mm"), found
        ok, _, _ = outcome(text(area=row, depth=f"depth_mm = {top:g}"))
        assert ok != "refused"
    elif table == "indications.csv" and acts == "cautioned":
        preset = indications()[row]
        got, plan, found = outcome(
            text(area="thighs", depth="depth_mm = 2.5", zone_extra=f'indication = "{row}"')
            if preset.max_depth_mm < 2.5
            else text(area="thighs", depth="depth_mm = 0.9", zone_extra=f'indication = "{row}"')
        )
        assert got == "cautioned" and row in found, found
    elif table == "indications.csv":
        got, plan, _ = outcome(text(zone_extra=f'indication = "{row}"', depth=""))
        assert plan is not None and plan.zones[0].indication == row
        assert plan.zones[0].depth_mm == areas()["cheeks"].default_depth_mm
    elif table == "aliases.csv":
        entry = next(r for r in read_table("aliases.csv") if r["alias"] == row)
        spoken = row.replace("_", " ").title()
        assert resolve(entry["kind"], spoken) == entry["name"]
    else:
        sheet, clinical = sheet_and_clinical()
        if table == "limits.csv":
            limit_row = limits()[row]
            assert limit_row.text in clinical
            if limit_row.patient_text:
                assert f"- {limit_row.patient_text}" in sheet
        elif table == "aftercare.csv":
            line = next(r["instruction"] for r in read_table(table) if r["topic"] == row)
            assert f"- {line}" in sheet
        elif table == "side_effects.csv":
            line = next(r["text"] for r in read_table(table) if r["effect"] == row)
            assert f"- {line}" in sheet
        else:
            line = next(r["patient_text"] for r in read_table(table) if r["rule"] == row)
            assert f"- {line}" in sheet


def test_a_documented_override_lets_a_refused_interval_or_maximum_through_and_keeps_it() -> None:
    plan = parse_plan(stretch(mn(*YEAR)).replace("[plan]", '[plan]\ninterval_override_reason = "trial"').encode(), "p")
    assert plan.screening is not None and [f.rule for f in plan.screening.interval] == ["yearly_max:stretch_marks"]


def test_past_sessions_without_an_indication_count_toward_every_cap() -> None:
    got, _, found = outcome(stretch(mn(*YEAR)))
    assert got == "refused" and "session 6 in 365 days" in " ".join(found)
    got, _, _ = outcome(stretch(mn(*YEAR[:4])))
    assert got != "refused"


def test_a_gap_of_six_months_or_more_is_maintenance_not_a_late_session() -> None:
    _, _, found = outcome(text(patient_extra=mn("2026-05-01")))
    assert "interval_max" not in found
    _, _, found = outcome(text(patient_extra=mn("2026-09-13")))
    assert "interval_max" in found


def test_sheet_is_in_patient_words_with_patient_date_and_window() -> None:
    sheet, _ = sheet_and_clinical()
    for clinician in ("end point", "indication", "some sources", "grade"):
        assert clinician not in sheet, clinician
    assert "date of the session: 2026-11-22" in sheet and "between 2026-12-20 and 2027-01-03" in sheet


@pytest.mark.parametrize(
    ("key", "value", "wanted"),
    [("area", "elbows", "zone[0].area"), ("indication", "wrinkels", "zone[0].indication")],
)
def test_an_unknown_name_exits_2_naming_the_zone_and_the_closest_name(key: str, value: str, wanted: str) -> None:
    plan = text(zone_extra=f'indication = "{value}"') if key == "indication" else text(area=value)
    got, _, found = outcome(plan)
    assert got == "refused" and found[0].startswith(wanted), found
    if key == "indication":
        assert "zone[0] (cheeks area)" in found[0] and "did you mean 'wrinkles'" in found[0]


# --- the outside probe (written from docs/clinical.md and the CLI alone), kept ---------------------------


@pytest.mark.parametrize("area", ["Under Eye", "under-eye", "UNDER_EYES", "periorbital "])
def test_an_alias_never_lifts_the_areas_maximum(area: str) -> None:
    got, _, found = outcome(text(area=area, depth="depth_mm = 1.0", zone_extra='indication = "wrinkles"'))
    assert got == "refused" and "periorbital area 0.3 mm" in found[0], found


def test_an_indication_without_a_depth_figure_keeps_the_areas_range() -> None:
    got, _, found = outcome(text(area="under eye", depth="depth_mm = 0.5", zone_extra='indication = "Skin Laxity"'))
    assert got == "refused", found
    _, plan, _ = outcome(text(area="under eye", depth="", zone_extra='indication = "sun spots"'))
    assert plan is not None and plan.zones[0].indication == "age_spots" and plan.zones[0].depth_mm == 0.25


def test_an_alias_on_a_past_session_counts_as_its_indication() -> None:
    past = mn("2026-06-20", "2026-07-20", "2026-08-20", "2026-09-20", "2026-10-20", indication="Wrinkles")
    got, _, found = outcome(text(zone_extra='indication = "fine lines"', patient_extra=past))
    assert got == "cautioned" and "course_sessions_high" in found


def test_an_unknown_indication_exits_2_on_the_command_line(tmp_path: Path) -> None:
    plan = tmp_path / "p.toml"
    plan.write_text(text(zone_extra='indication = "wrinkels"'))
    proc = penctl("treat", str(plan), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and "zone[0] (cheeks area)" in proc.stderr and "'wrinkles'" in proc.stderr
    assert not (tmp_path / "out").exists()
