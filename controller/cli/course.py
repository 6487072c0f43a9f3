"""``penctl course``: the session dates of a treatment course."""

from __future__ import annotations

import argparse
import json
from typing import Any

from controller.cli.common import EXIT_OK, add_json, described, iso_date, week_range
from hal.errors import InputError


def register(commands: Any) -> None:
    """Add the subcommand to ``penctl``."""
    course = commands.add_parser(
        "course",
        help="print the session dates of a treatment course",
        **described(
            "Session dates of a course: 3 to 5 sessions (at least 4 for the best results), 4 to 6 weeks "
            "apart (treatment texts); each date is the earliest, with its latest. Sessions less than "
            "4 weeks apart are refused, as penctl treat refuses them.",
            "penctl course --sessions 4 --start 2026-12-01",
            "penctl course --sessions 3 --start 2026-12-01 --interval-weeks 5-8 --json",
        ),
    )
    course.add_argument(
        "--sessions", type=int, required=True, metavar="N", help="number of sessions in the course, 1 to 12"
    )
    course.add_argument("--start", type=iso_date, required=True, metavar="DATE", help="first session, YYYY-MM-DD")
    course.add_argument(
        "--interval-weeks",
        type=week_range,
        default=(4, 6),
        metavar="LOW-HIGH",
        help="weeks between sessions, LOW-HIGH, LOW at least 4 (default: 4-6)",
    )
    add_json(course, "the course")
    course.set_defaults(handler=cmd_course)


def cmd_course(args: argparse.Namespace) -> int:
    import datetime as dt

    from controller.host.columns import say
    from controller.treatment.aftercare import course_sessions
    from controller.treatment.course import interval_problem, maintenance_window, plan_course
    from controller.treatment.rules import limit, limits

    if not 1 <= args.sessions <= 12:
        raise InputError("--sessions", "", "a number of sessions from 1 to 12", args.sessions)
    refused = interval_problem(args.interval_weeks)
    if refused:
        raise InputError("--interval-weeks", "", refused, "{}-{}".format(*args.interval_weeks))
    try:
        slots = plan_course(args.start, args.sessions, args.interval_weeks)
        maintenance_window(slots[-1].earliest)
    except OverflowError:
        raise InputError(
            "--start", "", "a first-session date that leaves room for the course", str(args.start)
        ) from None
    low, high = args.interval_weeks
    first, last = maintenance_window(slots[-1].earliest)
    notes = []
    fewest, most, best = course_sessions()
    if not fewest <= args.sessions <= most:
        notes.append(limits()["course_sessions_low"].text)
    if high > int(limit("interval_max")):
        notes.append(limits()["interval_max"].text)
    notes.append(
        f"the treatment texts advise at least {best} sessions for the best results"
        + ("" if args.sessions >= best else f": this course has {args.sessions}")
    )
    for name, entry in limits().items():
        if not name.startswith("yearly_max:"):
            continue
        indication, most = name.split(":", 1)[1].replace("_", " "), int(entry.value)
        notes.append(entry.text)
        if args.sessions >= most:  # the course alone uses up the year: maintenance waits for its first to age
            after = slots[-most].earliest + dt.timedelta(days=365)
            if after > first:
                notes.append(
                    f"for {indication}: maintenance not before {after.isoformat()} (at most {most} sessions in any "
                    "365 days; the window above is for other indications)"
                )
    per_year = int(limit("maintenance_per_year"))
    if args.json:
        sessions = [
            {"number": s.number, "earliest": s.earliest.isoformat(), "latest": s.latest.isoformat()} for s in slots
        ]
        course = {
            "sessions": sessions,
            "interval_weeks": [low, high],
            "maintenance": {"earliest": first.isoformat(), "latest": last.isoformat(), "per_year_at_least": per_year},
            "notes": notes,
        }
        print(json.dumps(course, indent=2))
        return EXIT_OK
    print(f"course of {args.sessions} session(s), {low} to {high} weeks apart")
    for slot in slots:
        window = "" if slot.number == 1 else f"  (until {slot.latest.isoformat()})"
        print(f"session {slot.number}: {slot.earliest.isoformat()}{window}")
    print(f"maintenance: {first.isoformat()} to {last.isoformat()} (every 6 to 12 months after the course)")
    for note in notes:
        say(f"note: {note}", indent="  ")
    return EXIT_OK
