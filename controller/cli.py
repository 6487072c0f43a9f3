"""``penctl``: the command line for QA passes (and, later, settings and service work).

Exit codes: 0 the job finished, 1 the treatment ended in a fault or refusal,
2 bad input (plan file, arguments); bad input writes no report.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from controller import __version__
from hal.errors import InputError, PenError

EXIT_OK, EXIT_FAULT, EXIT_INPUT = 0, 1, 2


def _seed(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to 2**63-1, got {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to 2**63-1, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="penctl", description="Microneedling pen controller and simulator.")
    parser.add_argument("--version", action="version", version=f"penctl {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    treat = commands.add_parser(
        "treat",
        help="run a treatment pass on the simulated pen and write a report",
        description="Run a treatment pass and write report.json and report.png.",
    )
    treat.add_argument("plan", nargs="?", metavar="PLAN", help="plan file (TOML); default: the built-in full-face plan")
    treat.add_argument("--out", default="penctl-out", metavar="DIR", help="report directory (default: %(default)s)")
    treat.add_argument("--seed", type=_seed, default=0, metavar="N", help="simulation seed (default: %(default)s)")
    treat.add_argument("--json", action="store_true", help="print report.json to stdout instead of a summary")
    treat.set_defaults(handler=cmd_treat)

    bench = commands.add_parser(
        "bench",
        help="measure the simulator, the stroke loop and real-time lateness",
        description="Measure simulator throughput, the kernel's speed-up over the "
        "reference model, the controller's cost per stroke and stroke-boundary "
        "lateness in real-time mode.",
    )
    bench.add_argument(
        "--seconds",
        type=_positive("seconds", 0.1, 600.0),
        default=2.0,
        metavar="S",
        help="length of the real-time run (default: %(default)s)",
    )
    bench.add_argument(
        "--rate",
        type=_positive("rate", 25.0, 150.0),
        default=150.0,
        metavar="HZ",
        help="stroke rate of the real-time run (default: %(default)s)",
    )
    bench.add_argument("--full", action="store_true", help="simulate a whole 30-minute pass (216,000 strokes)")
    bench.add_argument("--json", action="store_true", help="print the figures as JSON")
    bench.set_defaults(handler=cmd_bench)
    return parser


def _positive(name: str, lo: float, hi: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"--{name}: expected a number from {lo:g} to {hi:g}, got {text!r}")
        return value

    return parse


def cmd_bench(args: argparse.Namespace) -> int:
    from controller.bench import format_bench, run_bench

    figures = run_bench(seconds=args.seconds, rate_hz=args.rate, full=args.full)
    print(json.dumps(figures, indent=2) if args.json else format_bench(figures))
    return EXIT_OK


def cmd_treat(args: argparse.Namespace) -> int:
    from controller.plan import load_plan
    from controller.progress import ProgressBar
    from controller.report import build_report, report_json
    from controller.session import run_session

    plan = load_plan(args.plan)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError("--out", "", "a directory (or a path to create one at)", str(out))
    bar = ProgressBar(f"treat {Path(args.plan).name if args.plan else 'built-in plan'}")
    try:
        result = run_session(plan, seed=args.seed, progress=bar)
    finally:
        bar.close()
    report = build_report(result)
    from controller.plots import plot_report

    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(report_json(report), encoding="utf-8")
    plot_report(result, out / "report.png")
    if args.json:
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
    for f in report["faults"]:
        print(f"FAULT {f['kind']} at {f['t_s']:.3f} s (stroke {f['stroke']}): {f['message']}")
    print(f"report: {out / 'report.json'}, {out / 'report.png'}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except InputError as exc:
        print(f"penctl {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except PenError as exc:
        print(f"penctl {args.command}: pen error: {exc}", file=sys.stderr)
        return EXIT_FAULT


if __name__ == "__main__":
    sys.exit(main())
