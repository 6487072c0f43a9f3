"""``penctl bench``: the simulator's and the stroke loop's speed, and real-time lateness."""

from __future__ import annotations

import argparse
import json
from typing import Any

from controller.cli.common import EXIT_OK, add_json, described, number_in


def register(commands: Any) -> None:
    """Add the subcommand to ``penctl``."""
    bench = commands.add_parser(
        "bench",
        help="measure the simulator, the stroke loop and real-time lateness",
        **described(
            "Measure simulator throughput, the kernel's speed-up over the reference model, the "
            "controller's cost per stroke and stroke-boundary lateness in real-time mode.",
            "penctl bench",
            "penctl bench --seconds 10 --rate 120 --json > bench.json",
            "penctl bench --full                           # a whole 30-minute pass",
        ),
    )
    bench.add_argument(
        "--seconds",
        type=number_in("seconds", 0.1, 600.0),
        default=2.0,
        metavar="S",
        help="length of the real-time run (default: %(default)s)",
    )
    bench.add_argument(
        "--rate",
        type=number_in("rate", 25.0, 150.0),
        default=150.0,
        metavar="HZ",
        help="stroke rate of the real-time run (default: %(default)s)",
    )
    bench.add_argument("--full", action="store_true", help="simulate a whole 30-minute pass (216,000 strokes)")
    add_json(bench, "the figures")
    bench.set_defaults(handler=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    from controller.qa.bench import format_bench, run_bench

    figures = run_bench(seconds=args.seconds, rate_hz=args.rate, full=args.full)
    print(json.dumps(figures, indent=2) if args.json else format_bench(figures))
    return EXIT_OK
