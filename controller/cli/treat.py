"""``penctl treat``: a treatment pass on a simulated pen or a pen over a link, and its report."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller.cli.common import add_json, add_port, described, prepare_out_dir, seed_number
from hal.errors import InputError

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from controller.treatment.painter import ReportPainter
    from controller.treatment.plan import Plan
    from hal.backend import PenBackend


def register(commands: Any) -> None:
    """Add the subcommand to ``penctl``."""
    treat = commands.add_parser(
        "treat",
        help="run a treatment pass on the simulated pen and write a report",
        **described(
            "Run a treatment pass and write report.json, report.png and patient-sheet.md (all or none: "
            "they are renamed into place only when all are complete). Cautions print on stderr before "
            "the pass; after-care and side effects after it. A progress bar shows on stderr when "
            "stderr is a terminal.",
            "penctl treat                                  # built-in full-face plan, simulated pen",
            "penctl treat examples/full_face.toml --out run1 --seed 4",
            "penctl treat plan.toml --json > report.json   # report.json on stdout",
            "penctl -v treat plan.toml --port /dev/pts/3  # on a pen; link statistics on stderr",
        ),
    )
    treat.add_argument("plan", nargs="?", metavar="PLAN", help="plan file (TOML); default: the built-in full-face plan")
    treat.add_argument("--out", default="penctl-out", metavar="DIR", help="report directory (default: %(default)s)")
    treat.add_argument(
        "--seed", type=seed_number, default=0, metavar="N", help="simulation seed (default: %(default)s)"
    )
    treat.add_argument(
        "--drive",
        choices=("voice_coil", "rotary_cam"),
        help="simulated pen's drive, overriding the plan's [pen] drive (default: the plan's, else voice_coil)",
    )
    add_json(treat, "report.json (instead of the summary)")
    add_port(treat, required=False, help_text="run on a pen over this serial link (device, pty, socket://, loop://)")
    treat.set_defaults(handler=cmd_treat)


def cmd_treat(args: argparse.Namespace) -> int:
    from controller.host.collector import held_while_loading
    from controller.host.interrupts import signals_deferred
    from controller.treatment.painter import ReportPainter
    from controller.treatment.plan import load_plan

    with ReportPainter() as painter:  # first: its process imports matplotlib while this one reads and checks
        log.debug("reading the plan %s", args.plan or "(built-in)")
        plan = load_plan(args.plan)
        overrides = {"drive": args.drive} if args.drive else {}
        if args.drive:
            from dataclasses import replace

            plan = replace(plan, pen=replace(plan.pen, drive=args.drive))
        painter.expect(maps=len(plan.zones))
        if not args.port:  # the simulated pen's envelope; a real pen's is its own
            # numba and the kernel load here. A Ctrl-C or SIGTERM waits until they have: one that landed inside
            # numba's C extension's import was printed there with a traceback and turned into an ImportError (a CI
            # run of the interrupt sweep). Warm, that is a few hundred milliseconds; the first time, while the kernel
            # compiles, about a second.
            with held_while_loading(), signals_deferred(signal.SIGINT, signal.SIGTERM):
                from controller.qa.envelope import check_plan

                warnings = check_plan(plan)
            for warning in warnings:
                print(f"penctl treat: warning: {warning}", file=sys.stderr)
        log.debug("plan checked")
        print_cautions(plan)
        backend = None
        if args.port:
            from hal.registry import open_backend

            if args.drive:
                raise InputError(
                    "--drive", "", "no --drive with --port: the pen at the port strokes with its own drive"
                )
            backend = open_backend("serial", url=args.port)
            try:
                refuse_what_the_pen_cannot(plan, backend)
            except InputError:
                backend.close()
                raise
        out = prepare_out_dir(args.out)  # after every check: a refused pass writes nothing, not even --out
        label = f"treat {Path(args.plan).name if args.plan else 'built-in plan'}"
        return run_and_report(plan, args.seed, backend, out, label, painter, print_json=args.json, overrides=overrides)


def refuse_what_the_pen_cannot(plan: Plan, backend: PenBackend) -> None:
    """Before any stroke: a plan that names another drive than the pen's, or a zone at a rate outside the pen's
    own range (its HELLO), is refused (exit 2). A pen that does not name its drive (a real one) with a plan that
    names one is warned about, and the pass runs."""
    from controller.treatment.plan import refuse_rates_outside
    from controller.treatment.provenance import drive_named

    ident = backend.identify()
    drive = drive_named(ident.model)
    if plan.pen.drive_stated and drive is None:
        print(
            f"penctl treat: warning: the plan's [pen] drive = {plan.pen.drive!r} chooses the simulated pen's drive; "
            f"the pen at the port ({ident.model}) strokes with its own",
            file=sys.stderr,
        )
    elif plan.pen.drive_stated and drive != plan.pen.drive:
        raise InputError(
            plan.source, "pen.drive", f"a pen with the plan's drive; the pen at the port ({ident.model}) has {drive!r}",
            plan.pen.drive,
        )  # fmt: skip
    refuse_rates_outside(plan, ident.min_frequency_hz, ident.max_frequency_hz, "the pen at the port holds")


def print_cautions(plan: Plan) -> None:
    """Every caution of the plan, on stderr before the pass: the clinician reads them before the pen arms."""
    for caution in plan.cautions:
        print(f"penctl treat: caution ({caution.key}): {caution.text}", file=sys.stderr)


def run_and_report(
    plan: Plan,
    seed: int,
    backend: PenBackend | None,
    out: Path,
    label: str,
    painter: ReportPainter,
    print_json: bool = False,
    overrides: dict[str, str] | None = None,
) -> int:
    """Run the pass, write report.json and report.png to ``out``, print the summary; the exit code.

    Shared by ``treat``, ``record`` and ``replay``, so a replayed pass writes its report exactly as
    the recorded one did. ``painter`` draws report.png (in its own process, started by the caller
    early enough to have imported matplotlib by the end of the pass). ``overrides``: the command-line
    options that changed the plan's world (``--drive``), named in the report.
    """
    from controller.cli.summary import print_summary
    from controller.host.progress import ProgressBar
    from controller.treatment.report import build_report, report_json
    from controller.treatment.session import run_session
    from controller.treatment.verdict import BY_OUTCOME

    bar = ProgressBar(label)
    try:
        result = run_session(plan, seed=seed, progress=bar, backend=backend)
    finally:
        bar.close()
    log.debug("pass done")
    painter.start(result)
    report = build_report(result, overrides)
    write_report_files(report, painter, out)
    if print_json:
        sys.stdout.write(report_json(report))
    else:
        print_summary(report, out)
    return BY_OUTCOME[result.outcome].exit_code


def write_report_files(report: dict[str, Any], painter: ReportPainter, out: Path) -> None:
    """report.json, report.png and patient-sheet.md, all or none (an interrupt leaves the directory as it was).

    A session whose needles never moved gets no patient sheet (and an earlier run's sheet in ``out`` goes).
    """
    from controller.host.atomic import atomic_files
    from controller.treatment.patient_sheet import patient_sheet
    from controller.treatment.report import report_json

    log.info("writing the report in %s", out)
    with atomic_files(out) as files:
        files.write_text("report.json", report_json(report))
        if report["clinical"]["session_ran"]:
            files.write_text("patient-sheet.md", patient_sheet(report))
        else:
            files.remove("patient-sheet.md")
        files.write_bytes("report.png", painter.png())
    log.info("report written")
