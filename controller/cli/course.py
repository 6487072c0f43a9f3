"""``penctl course``: the session dates of a treatment course."""

from __future__ import annotations

import argparse
from typing import Any

from controller.cli.common import EXIT_OK, iso_date, week_range
from hal.errors import InputError


def register(commands: Any) -> None:
    """Add the subcommand to ``penctl``."""
    course = commands.add_parser(
        "course",
        help="print the session dates of a treatment course",
        description="Session dates of a course: 3-5 sessions, 4-6 weeks apart "
        "(treatment texts); each date is the earliest, with its latest.",
    )
    course.add_argument("--sessions", type=int, required=True, metavar="N")
    course.add_argument("--start", type=iso_date, required=True, metavar="DATE", help="first session, YYYY-MM-DD")
    course.add_argument(
        "--interval-weeks",
        type=week_range,
        default=(4, 6),
        metavar="LOW-HIGH",
        help="weeks between sessions (default: 4-6)",
    )
    course.set_defaults(handler=cmd_course)


def cmd_course(args: argparse.Namespace) -> int:
    from controller.treatment.aftercare import EXPECTED_COURSE
    from controller.treatment.course import maintenance_window, plan_course

    if not 1 <= args.sessions <= 12:
        raise InputError("--sessions", "", "a number of sessions from 1 to 12", args.sessions)
    try:
        slots = plan_course(args.start, args.sessions, args.interval_weeks)
        maintenance_window(slots[-1].earliest)
    except OverflowError:
        raise InputError(
            "--start", "", "a first-session date that leaves room for the course", str(args.start)
        ) from None
    low, high = args.interval_weeks
    print(f"course of {args.sessions} session(s), {low}-{high} weeks apart")
    for slot in slots:
        window = "" if slot.number == 1 else f"  (until {slot.latest.isoformat()})"
        print(f"session {slot.number}: {slot.earliest.isoformat()}{window}")
    first, last = maintenance_window(slots[-1].earliest)
    print(f"maintenance: {first.isoformat()} to {last.isoformat()} (every 6-12 months)")
    if not 3 <= args.sessions <= 5:
        print(f"note: the treatment texts plan {EXPECTED_COURSE['sessions']} sessions")
    if low < 4:
        print("note: sessions less than 4 weeks apart are refused unless the plan documents an override")
    return EXIT_OK
