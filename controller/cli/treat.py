"""``penctl treat``: a treatment pass on a simulated pen or a pen over a link, and its report."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller.cli.common import (
    EXIT_FAULT,
    EXIT_OK,
    EXIT_SHORT,
    add_json,
    add_port,
    described,
    fixed,
    prepare_out_dir,
    seed_number,
    signed,
)

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
    from controller.treatment.painter import ReportPainter
    from controller.treatment.plan import load_plan

    log.debug("reading the plan %s", args.plan or "(built-in)")
    plan = load_plan(args.plan)
    if args.drive:
        from dataclasses import replace

        plan = replace(plan, pen=replace(plan.pen, drive=args.drive))
    with ReportPainter() as painter:  # imports matplotlib in its own process from now on
        if not args.port:  # the simulated pen's envelope; a real pen's is its own
            from controller.qa.envelope import check_plan

            for warning in check_plan(plan):
                print(f"penctl treat: warning: {warning}", file=sys.stderr)
        print_cautions(plan)
        out = prepare_out_dir(args.out)
        backend = None
        if args.port:
            from hal.registry import open_backend

            backend = open_backend("serial", url=args.port)
        label = f"treat {Path(args.plan).name if args.plan else 'built-in plan'}"
        return run_and_report(plan, args.seed, backend, out, label, painter, print_json=args.json)


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
) -> int:
    """Run the pass, write report.json and report.png to ``out``, print the summary; the exit code.

    Shared by ``treat``, ``record`` and ``replay``, so a replayed pass writes its report exactly as
    the recorded one did. ``painter`` draws report.png (in its own process, started by the caller
    early enough to have imported matplotlib by the end of the pass).
    """
    from controller.host.progress import ProgressBar
    from controller.treatment.report import build_report, report_json
    from controller.treatment.session import run_session

    bar = ProgressBar(label)
    try:
        result = run_session(plan, seed=seed, progress=bar, backend=backend)
    finally:
        bar.close()
    painter.start(result)
    report = build_report(result)
    write_report_files(report, painter, out)
    if print_json:
        sys.stdout.write(report_json(report))
    else:
        print_summary(report, out)
    return {"completed": EXIT_OK, "short": EXIT_SHORT}.get(result.outcome, EXIT_FAULT)


def write_report_files(report: dict[str, Any], painter: ReportPainter, out: Path) -> None:
    """report.json, report.png and patient-sheet.md, all or none (an interrupt leaves the directory as it was)."""
    from controller.host.atomic import atomic_files
    from controller.treatment.patient_sheet import patient_sheet
    from controller.treatment.report import report_json

    log.info("writing report.json, report.png and patient-sheet.md in %s", out)
    with atomic_files(out) as files:
        files.write_text("report.json", report_json(report))
        files.write_text("patient-sheet.md", patient_sheet(report))
        files.write_bytes("report.png", painter.png())
    log.info("report written")


def print_summary(report: dict[str, Any], out: Path) -> None:
    print(f"{report['plan']['name']} (seed {report['seed']}): {report['outcome']}")
    head = (
        f"{'zone':<12} {'depth mm':>8} {'reached':>8} {'tissue':>7} {'load N':>6} {'max err':>8} {'rate err':>9} "
        f"{'strokes':>8} {'punctures':>9}  density/cm2 mean [p5, p95]"
    )
    print(head)
    for z in report["zones"]:
        if z["strokes"] == 0:
            print(f"{z['area']:<12} {fixed(z['commanded']['depth_mm'], 2):>8}  not run: {z['refusal'] or 'stopped'}")
            continue
        d, r, tissue = z["depth"], z["stroke_rate"], z["tissue"]
        density = z.get("density_per_cm2")
        dens = (
            f"{fixed(density['mean'], 0)} [{fixed(density['p5'], 0)}, {fixed(density['p95'], 0)}]" if density else "-"
        )
        print(
            f"{z['area']:<12} {fixed(z['commanded']['depth_mm'], 2):>8} {fixed(d['reached_mean_mm'], 3):>8} "
            f"{fixed(tissue['penetration_mean_mm'], 3):>7} {fixed(tissue['load_mean_n'], 2):>6} "
            f"{fixed(d['error_max_abs_mm'], 3):>8} {fixed(r['error_pct'], 3):>8}% {z['strokes']:>8} "
            f"{z['punctures']:>9}  {dens}"
        )
    t = report["total"]
    if t["strokes"]:
        print(
            f"{'total':<12} {'':>8} {'':>8} {'':>7} {'':>6} {fixed(t['depth']['error_max_abs_mm'], 3):>8} "
            f"{fixed(t['stroke_rate']['error_pct'], 3):>8}% {t['strokes']:>8} {t['punctures']:>9}  "
            f"mean depth error {signed(t['depth']['error_mean_mm'], 3)} mm over {fixed(t['duration_s'], 1)} s"
        )
    for z in report["zones"]:
        if z.get("short_of_depth_mm") is not None:
            commanded = fixed(z["commanded"]["depth_mm"], 2)
            print(
                f"short: zone[{z['index']}] {z['area']}: the needles fell short of {commanded} mm "
                f"by {fixed(z['short_of_depth_mm'], 3)} mm on average (depth accuracy 0.15 mm)"
            )
    clinical = report["clinical"]
    if clinical["anaesthetic_wait_s"]:
        from controller.treatment.rules import limits

        wait = limits()["anaesthetic_wait"].text
        print(f"waited {fixed(clinical['anaesthetic_wait_s'] / 60, 1)} min before arming: {wait}")
    for caution in clinical["cautions"]:
        print(f"caution ({caution['key']}): {caution['text']}")
    for override in clinical["overrides"]:
        print(f"override: {override.get('area', override.get('rule'))}: {override['reason']}")
    for a in report["alarms"]:
        if a["priority"] != "high":
            print(f"alarm ({a['priority']}) {a['kind']} at {fixed(a['t_s'], 3)} s: {a['message']}")
    for f in report["faults"]:
        print(f"FAULT {f['kind']} at {fixed(f['t_s'], 3)} s (stroke {f['stroke']}): {f['message']}")
    print_aftercare(clinical)
    print(f"report: {out / 'report.json'}, {out / 'report.png'}, {out / 'patient-sheet.md'}")


def print_aftercare(clinical: dict[str, Any]) -> None:
    """After-care, side effects and the next session's window: what the clinician tells the patient."""
    print("after-care:")
    for item in clinical["aftercare"]:
        print(f"  - {item['instruction']}")
    print("side effects to tell the patient:")
    for effect in clinical["side_effects"]:
        print(f"  - {effect['text']}")
    nxt = clinical["next_session"]
    if nxt:
        held = f" (not sooner: {nxt['held_back_by']})" if "held_back_by" in nxt else ""
        print(f"next session: {nxt['earliest']} to {nxt['latest']}{held}")
