"""``penctl verify``: a verification campaign across thousands of virtual pens, on every core or a Dask cluster."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import sys
from typing import Any

from controller.cli.common import EXIT_FAULT, EXIT_INPUT, EXIT_OK, add_json, described, number_in, prepare_out_dir
from hal.errors import InputError

SCHEDULER_ADDRESS = re.compile(r"^(tcp|tls|inproc|ucx)://[^\s/]+(:\d{1,5})?$")


def workers_number(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to 256, got {text!r}") from None
    if not 1 <= value <= 256:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to 256, got {text!r}")
    return value


def scheduler_address(text: str) -> str:
    port = text.rpartition(":")[2]
    if not SCHEDULER_ADDRESS.match(text) or (port.isdigit() and not 0 < int(port) < 65536):
        raise argparse.ArgumentTypeError(f"expected a Dask scheduler address such as tcp://host:8786, got {text!r}")
    return text


def register(commands: Any) -> None:
    """Add the subcommand to ``penctl``."""
    verify = commands.add_parser(
        "verify",
        help="run a verification campaign: many virtual pens across their tolerances, judged statistically",
        **described(
            "Sample the campaign's pens from their tolerances (one SeedSequence child per pen), run each at "
            "every operating point under its firmware, and judge the acceptance criteria with tolerance "
            "intervals; the sensitivity analysis ranks the tolerances by how much of the error they cause. "
            "Writes DIR/cases.parquet, DIR/summary.json and DIR/verify.png; an interrupted campaign resumes "
            "from DIR/chunks/ when run again. Exit 0 when every criterion passes, 1 when one fails, 2 on bad input.",
            "penctl verify examples/campaign.toml",
            "penctl verify examples/campaign.toml --out campaign/ --workers 2 --json",
            "dask scheduler & dask worker tcp://127.0.0.1:8786 &",
            "penctl verify examples/campaign.toml --scheduler tcp://127.0.0.1:8786",
        ),
    )
    verify.add_argument("campaign", metavar="CAMPAIGN", help="the campaign file (TOML; see docs/verification.md)")
    verify.add_argument("--out", metavar="DIR", default="verify-out", help="where the results go (default: verify-out)")
    verify.add_argument(
        "--workers",
        type=workers_number,
        metavar="N",
        help=f"local worker processes (default: every core, {os.cpu_count() or 1} here)",
    )
    verify.add_argument(
        "--scheduler",
        type=scheduler_address,
        metavar="ADDRESS",
        help="run on the Dask cluster at ADDRESS (tcp://host:8786) instead of a local one",
    )
    verify.add_argument(
        "--connect-timeout",
        type=number_in("connect-timeout", 0.5, 600.0),
        default=5.0,
        metavar="SECONDS",
        help="how long --scheduler may take to answer; a peer that accepts and says nothing Dask understands gets "
        "three times it (default: %(default)g)",
    )
    add_json(verify, "the summary")
    verify.set_defaults(handler=cmd_verify)


VERIFY_PACKAGES = ("dask", "distributed", "pyarrow", "SALib", "scipy")
"""What only ``penctl verify`` imports: the ``[verify]`` extra, kept out of the main install."""


def missing_verify_packages() -> list[str]:
    return [name for name in VERIFY_PACKAGES if importlib.util.find_spec(name) is None]


def lacks_the_extra(command: str) -> bool:
    """Say in one line on stderr that ``command`` needs the [verify] extra, and how to get it, when it is missing."""
    missing = missing_verify_packages()
    if missing:
        print(
            f"penctl {command} needs the [verify] extra (missing: {', '.join(missing)}): pip install -e '.[verify]'",
            file=sys.stderr,
        )
    return bool(missing)


def one_engine(args: argparse.Namespace) -> None:
    """A local cluster (--workers) or the user's (--scheduler), never both (InputError)."""
    if args.scheduler and args.workers:
        raise InputError("--workers", "", "either --workers (a local cluster) or --scheduler (its own workers)")


def cmd_verify(args: argparse.Namespace) -> int:
    if lacks_the_extra("verify"):
        return EXIT_INPUT
    from controller.host.progress import ProgressBar
    from controller.qa.verification.campaign import load_campaign
    from controller.qa.verification.engine import progress_label
    from controller.qa.verification.report import format_summary
    from controller.qa.verification.runner import Engine, run_campaign

    one_engine(args)
    campaign = load_campaign(args.campaign)
    out = prepare_out_dir(args.out)
    engine = Engine(
        workers=args.workers or os.cpu_count() or 1, scheduler=args.scheduler, connect_timeout_s=args.connect_timeout
    )
    progress = ProgressBar(progress_label(campaign), unit="pen")
    try:
        summary = run_campaign(campaign, out, engine, on_progress=progress)
    finally:
        progress.close()
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary, out))
    return EXIT_OK if summary["verdict"] == "pass" else EXIT_FAULT
