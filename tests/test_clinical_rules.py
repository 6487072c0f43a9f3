"""Issue 13, row by row: every rule of the treatment texts acts, seen from the outside (CLI and public functions).

Each test names the row of the issue's table it covers and fails if the rule stops acting.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from controller.treatment.aftercare import expected_course
from controller.treatment.course import maintenance_window
from controller.treatment.plan import parse_plan
from controller.treatment.presets import areas, default_depth, indications
from controller.treatment.rules import limit, limits, read_table, side_effects
from hal.settings import BY_KEY
from tests.test_cli import penctl
from tests.test_clinical import problems, text

ANAESTHETIC = "anaesthetic_applied = 2026-11-22T{}:00"
"""The session starts at 09:30 (tests.test_clinical.HEAD)."""


def history(kind: str, *dates: str, indication: str = "") -> str:
    extra = f'\nindication = "{indication}"' if indication else ""
    return "".join(f'\n[[patient.history]]\nkind = "{kind}"\ndate = {d}{extra}\n' for d in dates)


# --- row 1: oral herpes ------------------------------------------------------------------------------------


def test_a_history_of_cold_sores_is_a_caution_asking_for_antiviral_cover_and_active_herpes_a_hard_stop() -> None:
    plan = parse_plan(text(patient_extra='conditions = ["herpes_history"]').encode(), "p")
    [caution] = [c for c in plan.cautions if c.rule != "anaesthetic_missing"]
    assert caution.key == "patient.conditions[0]" and "antiviral cover" in caution.text
    [found] = problems(text(patient_extra='conditions = ["herpes_simplex"]'))
    assert found.startswith("patient.conditions[0]: expected no contraindication: active herpes simplex (cold sores)")


# --- row 2: the whole session -------------------------------------------------------------------------------


def whole(stroke_s: int, anaesthetic: str = "", preparation: int = 0) -> str:
    return text(
        zone_extra="",
        plan_extra=f"preparation_min = {preparation}",
        patient_extra=ANAESTHETIC.format(anaesthetic) if anaesthetic else "",
    ).replace("duration_s = 3", f"duration_s = {stroke_s}")


def test_59_min_of_strokes_plus_a_15_min_anaesthetic_wait_is_refused() -> None:
    [found] = problems(whole(59 * 60 - 10, anaesthetic="09:30"))
    assert found.startswith("plan: expected a whole session of at most 60 min (session.max_total_minutes)")
    assert "anaesthetic 15.0 min" in found
    assert BY_KEY["session.max_total_minutes"].default == limit("session_total_max") == 60


def test_preparation_counts_toward_the_whole_session() -> None:
    assert [c.rule for c in parse_plan(whole(30 * 60).encode(), "p").cautions] == ["anaesthetic_missing"]
    [found] = problems(whole(40 * 60, preparation=25))
    assert "preparation 25 min" in found and found.startswith("plan: expected a whole session of at most 60 min")


def test_a_whole_session_over_the_advised_45_min_is_a_caution() -> None:
    plan = parse_plan(whole(25 * 60, anaesthetic="09:20", preparation=10).encode(), "p")
    [caution] = plan.cautions
    assert caution.rule == "session_total_advised" and "longer than 45 min" in caution.text
    assert BY_KEY["session.advised_total_minutes"].default == 45


# --- row 3: the anaesthetic's validity window ---------------------------------------------------------------


def test_an_anaesthetic_older_than_20_min_has_worn_off_and_is_refused() -> None:
    [found] = problems(text(patient_extra=ANAESTHETIC.format("07:30")))
    assert found.startswith("patient.anaesthetic_applied: expected an application at most 20 min before plan.start")
    assert found.endswith("got '120 min before'")
    assert parse_plan(text(patient_extra=ANAESTHETIC.format("09:10")).encode(), "p").patient is not None
    assert problems(text(patient_extra=ANAESTHETIC.format("09:35")))[0].startswith(
        "patient.anaesthetic_applied: expected a time before plan.start"
    )


# --- row 4: course obeys the interval rule -------------------------------------------------------------------


def test_course_refuses_sessions_closer_than_four_weeks_as_treat_does() -> None:
    proc = penctl("course", "--sessions", "3", "--start", "2026-12-01", "--interval-weeks", "1-2")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "penctl course: error: --interval-weeks: expected sessions at least 4 weeks apart (the interval rule "
        "penctl treat applies), got '1-2'"
    ]


# --- rows 5 and 6: at least four sessions; maintenance and yearly maxima ------------------------------------


def test_the_course_says_at_least_four_sessions_and_at_least_two_maintenance_sessions_a_year() -> None:
    proc = penctl("course", "--sessions", "3", "--start", "2026-12-01")
    assert proc.returncode == 0
    assert "note: the treatment texts advise at least 4 sessions for the best results" in proc.stdout
    assert "maintenance: 2027-07-26 to 2028-01-26 (every 6 to 12 months after the course)" in proc.stdout
    course = expected_course()
    assert "at least 4 for the best results" in course["sessions"] and course["maintenance"].startswith(
        "every 6 to 12 months"
    )
    assert maintenance_window(dt.date(2027, 1, 1)) == (dt.date(2027, 7, 1), dt.date(2028, 1, 1))
    assert course["yearly_maximum"] == {"stretch_marks": 5, "burn_scars": 5}


def stretch_marks(dates: tuple[str, ...], plan_extra: str = "") -> str:
    return text(
        area="abdomen",
        depth="depth_mm = 1.2",
        zone_extra='indication = "stretch_marks"',
        plan_extra=plan_extra,
        patient_extra=history("microneedling", *dates, indication="stretch_marks"),
    )


FIVE_IN_A_YEAR = ("2026-01-05", "2026-03-02", "2026-05-04", "2026-07-06", "2026-09-07")


def test_a_sixth_stretch_mark_session_within_a_year_is_refused_unless_documented() -> None:
    [found] = problems(stretch_marks(FIVE_IN_A_YEAR))
    assert "stretch marks: at most five sessions in any 365 days" in found
    assert "this would be session 6 in 365 days" in found
    assert parse_plan(stretch_marks(("2025-11-01", *FIVE_IN_A_YEAR[1:])).encode(), "p").screening is not None
    reason = 'interval_override_reason = "dermatologist Dr. A: sixth session, consent on file"'
    plan = parse_plan(stretch_marks(FIVE_IN_A_YEAR, plan_extra=reason).encode(), "p")
    assert plan.screening is not None and plan.screening.interval[0].rule == "yearly_max:stretch_marks"


def test_the_report_keeps_the_yearly_session_count_per_indication() -> None:
    from controller.treatment.report import build_report
    from controller.treatment.session import run_session

    plan = parse_plan(stretch_marks(("2025-11-01", *FIVE_IN_A_YEAR[1:])).encode(), "p")
    screening = build_report(run_session(plan, seed=0))["clinical"]["screening"]
    assert screening["sessions_in_365_days"] == {"stretch_marks": {"count": 5, "maximum": 5}}


def test_other_indications_of_the_history_do_not_count_toward_the_yearly_maximum() -> None:
    body = stretch_marks(()) + history("microneedling", *FIVE_IN_A_YEAR, indication="acne_scars")
    assert parse_plan(body.encode(), "p").screening is not None


def test_an_indication_on_a_history_item_other_than_microneedling_is_refused() -> None:
    [found] = problems(text(patient_extra=history("filler", "2025-01-01", indication="acne_scars")))
    assert found.startswith("patient.history[0].indication: expected no indication except on a microneedling session")


# --- rows 7-10: after-care, side effects, indications, shown where people look -------------------------------


def test_burn_scars_and_incisional_scars_are_indications_with_a_depth_and_a_source() -> None:
    for name in ("burn_scars", "incisional_scars"):
        preset = indications()[name]
        assert preset.source.startswith("issue 13")
        assert default_depth(areas()["cheeks"], preset, "normal") == 1.0
        zone = parse_plan(text(depth="", zone_extra=f'indication = "{name}"').encode(), "p").zones[0]
        assert zone.indication == name and zone.depth_mm == 1.0


def test_treat_prints_cautions_before_the_pass_and_after_care_and_side_effects_after_it(tmp_path: Path) -> None:
    plan = tmp_path / "p.toml"
    plan.write_text(text(patient_extra='conditions = ["herpes_history"]\n' + ANAESTHETIC.format("09:15")))
    proc = penctl("treat", str(plan), "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    assert "penctl treat: caution (patient.conditions[0]): history of oral herpes (cold sores)" in proc.stderr
    after = proc.stdout[proc.stdout.index("after-care:") :]
    for phrase in ("prolonged direct sunlight", "SPF 30", "hat", "painkiller"):
        assert phrase in after, phrase
    effects = after[after.index("side effects to tell the patient:") :]
    for phrase in ("Redness", "swelling", "flaking", "bleeding", "Bruising", "Infection", "lighter or darker"):
        assert phrase in effects, phrase
    assert "next session: 2026-12-20 to 2027-01-03" in proc.stdout
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    clinical = report["clinical"]
    assert [c["key"] for c in clinical["cautions"]] == ["patient.conditions[0]"]
    assert {a["topic"] for a in clinical["aftercare"]} >= {"sun", "direct_sunlight", "spf", "hat", "painkiller"}
    assert [s["effect"] for s in clinical["side_effects"]] == [
        "redness",
        "swelling",
        "flaking",
        "bleeding",
        "bruising",
        "infection",
        "pigmentation",
        "irritation",
        "sensitivity",
        "discomfort",
        "radiant_look",
        "persistent_pigmentation",
        "tram_track_scarring",
        "granulomas",
    ]
    assert clinical["next_session"] == {"kind": "course", "earliest": "2026-12-20", "latest": "2027-01-03"}
    sheet = (tmp_path / "out" / "patient-sheet.md").read_text()
    assert "- After 24 hours, also wear a hat outdoors." in sheet
    assert "- Bruising, which fades on its own." in sheet
    assert "- Your next session: between 2026-12-20 and 2027-01-03." in sheet
    assert "At least 4 sessions give the best results." in sheet
    assert "intended end point" not in sheet and "some sources" not in sheet


# --- one rule table -----------------------------------------------------------------------------------------


def test_every_rule_row_has_a_text_and_a_source_and_a_setting_holds_its_table_value() -> None:
    tables = (
        "contraindications.csv",
        "aftercare.csv",
        "side_effects.csv",
        "limits.csv",
        "areas.csv",
        "indications.csv",
    )
    for name in tables:
        for row in read_table(name):
            assert row["source"].strip(), (name, row)
    for entry in limits().values():
        assert entry.text and entry.source
        if entry.setting:
            assert BY_KEY[entry.setting].default == entry.value, entry.rule
    assert all(s.text and s.source for s in side_effects())


def test_the_clinical_doc_lists_every_rule_with_its_source() -> None:
    doc = (Path(__file__).resolve().parent.parent / "docs" / "clinical.md").read_text()
    for name, key in (
        ("contraindications.csv", "rule"),
        ("aftercare.csv", "topic"),
        ("side_effects.csv", "effect"),
        ("limits.csv", "rule"),
        ("indications.csv", "indication"),
    ):
        for row in read_table(name):
            assert f"| `{row[key]}` |" in doc and row["source"] in doc, (name, row[key])


def test_a_pen_whose_whole_session_setting_is_lower_refuses_the_plan() -> None:
    from controller.treatment.session import run_session
    from hal.backend import CartridgeInfo
    from sim.backend import SimBackend

    plan = parse_plan(text(patient_extra=ANAESTHETIC.format("09:30")).encode(), "p")
    sim = SimBackend(cartridge=CartridgeInfo(cartridge_id=77))
    sim.settings.stage({"session.max_total_minutes": 12, "session.advised_total_minutes": 10})
    sim.settings.commit()
    result = run_session(plan, seed=0, backend=sim)
    assert result.outcome == "refused"
    assert result.zones[0].refusal == (
        "whole session of 15.1 min (preparation, anaesthetic, strokes and pauses) exceeds the pen's maximum "
        "of 12 min (session.max_total_minutes)"
    )


# --- found by the outside probe of issue 13 ------------------------------------------------------------------


def test_the_next_session_waits_for_the_yearly_maximum_so_the_sheet_never_books_a_refused_session() -> None:
    """Four stretch-mark sessions in the year (two courses: the second 6 months after the first), this the fifth:
    the next may not come before the first is a year old, though the 4-6 week interval would allow it sooner."""
    from controller.treatment.report import build_report
    from controller.treatment.session import run_session

    four = ("2026-01-01", "2026-02-01", "2026-08-02", "2026-09-02")
    plan = parse_plan(stretch_marks(four).encode(), "p")
    nxt = build_report(run_session(plan, seed=0))["clinical"]["next_session"]
    assert nxt["kind"] == "course" and nxt["earliest"] == "2027-01-01" and "at most five" in nxt["held_back_by"]
    assert nxt["held_back_for_the_patient"] == "for stretch marks, at most 5 sessions in any 12 months"
    booked = stretch_marks((*four, "2026-11-22")).replace("start = 2026-11-22", f"start = {nxt['earliest']}")
    assert parse_plan(booked.replace("2026-11-22T", f"{nxt['earliest']}T").encode(), "p").screening is not None
    day_before = dt.date.fromisoformat(nxt["earliest"]) - dt.timedelta(days=1)
    early = stretch_marks((*four, "2026-11-22")).replace("start = 2026-11-22", f"start = {day_before}")
    assert any("this would be session 6" in p for p in problems(early.replace("2026-11-22T", f"{day_before}T")))


@pytest.mark.parametrize("blank", ["   ", "\u00a0", "\t "])
@pytest.mark.parametrize("where", ["plan", "zone"])
def test_a_reason_that_is_only_blank_documents_nothing(blank: str, where: str) -> None:
    reason = json.dumps(blank)
    if where == "plan":
        body = stretch_marks(FIVE_IN_A_YEAR, plan_extra=f"interval_override_reason = {reason}")
        key = "plan.interval_override_reason"
    else:
        body = text(depth="depth_mm = 2.0", zone_extra=f"override_reason = {reason}")
        key = "zone[0].override_reason"
    assert any(p.startswith(key) for p in problems(body))


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\u202e", "\u200b", "\u2066", "\ufeff", "\x1b", "\x85"])
@pytest.mark.parametrize("key", ["name", "interval_override_reason"])
def test_no_control_format_or_separator_character_reaches_the_terminal(char: str, key: str) -> None:
    body = text(plan_extra=f"{key} = {json.dumps('a' + char + 'b')}").replace('name = "clinical"\n', "", key == "name")
    assert any(p.startswith(f"plan.{key}") for p in problems(body))


def test_the_course_always_says_at_least_four_and_the_yearly_maxima() -> None:
    proc = penctl("course", "--sessions", "5", "--start", "2026-12-01")
    assert proc.returncode == 0
    assert "note: the treatment texts advise at least 4 sessions for the best results" in proc.stdout
    assert "stretch marks: at most five sessions in any 365 days" in proc.stdout


# --- the second outside probe's findings -----------------------------------------------------------------------


def test_a_session_with_a_patient_and_no_anaesthetic_recorded_is_cautioned() -> None:
    plan = parse_plan(whole(20 * 60).encode(), "p")
    [caution] = [c for c in plan.cautions if c.rule == "anaesthetic_missing"]
    assert caution.key == "patient.anaesthetic_applied" and "15-20 minutes" in caution.text
    recorded = parse_plan(whole(20 * 60, anaesthetic="09:10").encode(), "p")
    assert "anaesthetic_missing" not in [c.rule for c in recorded.cautions]


@pytest.mark.parametrize(("area", "depth"), [("cheeks", 0.3), ("periorbital", 0.1), ("abdomen", 0.25)])
def test_a_depth_below_the_areas_usual_range_is_cautioned(area: str, depth: float) -> None:
    plan = parse_plan(text(area=area, depth=f"depth_mm = {depth}").encode(), "p")
    [caution] = [c for c in plan.cautions if c.rule == "area_min"]
    assert caution.key == "zone[0].depth_mm" and f"{area} at {depth:g} mm" in caution.text


@pytest.mark.parametrize(
    ("written", "row"),
    [("Cold sores", "herpes_simplex"), ("moles", "skin_cancer"), ("Scleroderma", "collagen_vascular_disease"),
     ("Active Acne", "active_acne"), ("warts", "skin_cancer")],
)  # fmt: skip
def test_conditions_as_people_write_them_are_their_rows_hard_stops(written: str, row: str) -> None:
    [found] = problems(text(patient_extra=f'conditions = ["{written}"]'))
    assert found.startswith("patient.conditions[0]: expected no contraindication:"), found


def test_a_mistyped_condition_gets_did_you_mean() -> None:
    [found] = problems(text(patient_extra='conditions = ["ezcema"]'))
    assert "did you mean 'eczema'?" in found


def test_a_maintenance_window_held_back_by_the_yearly_maximum_keeps_its_12_month_end() -> None:
    """The third probe: four past sessions without an indication, this the fifth (the course complete): the sheet
    booked 2027-07-05 to 2028-01-05, 409 days on, against "every 6 to 12 months" on the same sheet."""
    from controller.treatment.report import build_report
    from controller.treatment.session import run_session

    four = ("2026-06-01", "2026-07-06", "2026-08-10", "2026-09-14")
    body = text(area="abdomen", depth="depth_mm = 1.2", patient_extra=history("microneedling", *four))
    nxt = build_report(run_session(parse_plan(body.encode(), "p"), seed=0))["clinical"]["next_session"]
    assert nxt["kind"] == "maintenance"
    assert dt.date.fromisoformat(nxt["latest"]) <= dt.date(2027, 11, 22)  # 12 months after this session
    assert dt.date.fromisoformat(nxt["earliest"]) >= dt.date(2027, 5, 22)  # and 6 months at the earliest


def test_after_a_maintenance_session_the_next_is_maintenance_too() -> None:
    """The third probe: after a maintenance session that follows a full course, the sheet offered a course session
    4 to 6 weeks later."""
    from controller.treatment.report import build_report
    from controller.treatment.session import run_session

    course = ("2025-09-01", "2025-10-06", "2025-11-10", "2025-12-15", "2026-01-19")
    body = text(patient_extra=history("microneedling", *course))  # this session, 2026-11-22: 10 months on
    nxt = build_report(run_session(parse_plan(body.encode(), "p"), seed=0))["clinical"]["next_session"]
    assert nxt["kind"] == "maintenance" and nxt["earliest"] == "2027-05-22", nxt
