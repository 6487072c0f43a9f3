"""``penctl treat``: a treatment pass on a simulated pen or a pen over a link, and its report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller.cli.common import EXIT_FAULT, EXIT_OK, prepare_out_dir, seed_number

if TYPE_CHECKING:
    from controller.treatment.plan import Plan
    from hal.backend import PenBackend


def register(commands: Any) -> None:
    """Add the subcommand to ``penctl``."""
    treat = commands.add_parser(
        "treat",
        help="run a treatment pass on the simulated pen and write a report",
        description="Run a treatment pass and write report.json and report.png.",
    )
    treat.add_argument("plan", nargs="?", metavar="PLAN", help="plan file (TOML); default: the built-in full-face plan")
    treat.add_argument("--out", default="penctl-out", metavar="DIR", help="report directory (default: %(default)s)")
    treat.add_argument(
        "--seed", type=seed_number, default=0, metavar="N", help="simulation seed (default: %(default)s)"
    )
    treat.add_argument("--json", action="store_true", help="print report.json to stdout instead of a summary")
    treat.add_argument(
        "--port", metavar="URL", help="run on a pen over a serial link (device, pty, socket://, loop://)"
    )
    treat.set_defaults(handler=cmd_treat)


def cmd_treat(args: argparse.Namespace) -> int:
    from controller.treatment.plan import load_plan

    plan = load_plan(args.plan)
    out = prepare_out_dir(args.out)
    backend = None
    if args.port:
        from hal.registry import open_backend

        backend = open_backend("serial", url=args.port)
    label = f"treat {Path(args.plan).name if args.plan else 'built-in plan'}"
    return run_and_report(plan, args.seed, backend, out, label, print_json=args.json)


def run_and_report(
    plan: Plan, seed: int, backend: PenBackend | None, out: Path, label: str, print_json: bool = False
) -> int:
    """Run the pass, write report.json and report.png to ``out``, print the summary; the exit code.

    Shared by ``treat``, ``record`` and ``replay``, so a replayed pass writes its report exactly as
    the recorded one did.
    """
    from controller.host.progress import ProgressBar
    from controller.treatment.plots import plot_report
    from controller.treatment.report import build_report, report_json
    from controller.treatment.session import run_session

    bar = ProgressBar(label)
    try:
        result = run_session(plan, seed=seed, progress=bar, backend=backend)
    finally:
        bar.close()
    report = build_report(result)
    (out / "report.json").write_text(report_json(report), encoding="utf-8")
    plot_report(result, out / "report.png")
    if print_json:
        sys.stdout.write(report_json(report))
    else:
        print_summary(report, out)
    return EXIT_OK if result.outcome == "completed" else EXIT_FAULT


def print_summary(report: dict[str, Any], out: Path) -> None:
    print(f"{report['plan']['name']} (seed {report['seed']}): {report['outcome']}")
    head = (
        f"{'zone':<12} {'depth mm':>8} {'reached':>8} {'max err':>8} {'rate err':>9} {'strokes':>8} "
        f"{'punctures':>9}  density/cm2 mean (p5-p95)"
    )
    print(head)
    for z in report["zones"]:
        if z["strokes"] == 0:
            print(f"{z['area']:<12} {z['commanded']['depth_mm']:>8.2f}  not run: {z['refusal'] or 'stopped'}")
            continue
        d, r = z["depth"], z["stroke_rate"]
        density = z.get("density_per_cm2")
        dens = f"{density['mean']:.0f} ({density['p5']:.0f}-{density['p95']:.0f})" if density else "-"
        print(
            f"{z['area']:<12} {z['commanded']['depth_mm']:>8.2f} {d['reached_mean_mm']:>8.3f} "
            f"{d['error_max_abs_mm']:>8.3f} {r['error_pct']:>8.3f}% {z['strokes']:>8} {z['punctures']:>9}  {dens}"
        )
    t = report["total"]
    if t["strokes"]:
        print(
            f"{'total':<12} {'':>8} {'':>8} {t['depth']['error_max_abs_mm']:>8.3f} "
            f"{t['stroke_rate']['error_pct']:>8.3f}% {t['strokes']:>8} {t['punctures']:>9}  "
            f"mean depth error {t['depth']['error_mean_mm']:+.3f} mm over {t['duration_s']:.1f} s"
        )
    clinical = report["clinical"]
    if clinical["anaesthetic_wait_s"]:
        print(f"waited {clinical['anaesthetic_wait_s'] / 60:.1f} min for the topical anaesthetic before arming")
    for caution in (clinical["screening"] or {}).get("cautions", []):
        print(f"caution ({caution['key']}): {caution['text']}")
    for override in clinical["overrides"]:
        print(f"override: {override.get('area', override.get('rule'))}: {override['reason']}")
    for a in report["alarms"]:
        if a["priority"] != "high":
            print(f"alarm ({a['priority']}) {a['kind']} at {a['t_s']:.3f} s: {a['message']}")
    for f in report["faults"]:
        print(f"FAULT {f['kind']} at {f['t_s']:.3f} s (stroke {f['stroke']}): {f['message']}")
    print(f"report: {out / 'report.json'}, {out / 'report.png'}")
