"""``penctl dossier``: the design-verification evidence a regulator asks for, in one command."""

from __future__ import annotations

import argparse
import os
from typing import Any

from controller.cli import verify
from controller.cli.common import EXIT_FAULT, EXIT_INPUT, EXIT_OK, described, prepare_out_dir
from controller.cli.verify import scheduler_address, workers_number


def register(commands: Any) -> None:
    """Add the subcommand to ``penctl``."""
    dossier = commands.add_parser(
        "dossier",
        help="write the verification dossier: accuracy, envelope, hazards, tests and labelling, with sources",
        **described(
            "Run a verification campaign (a small built-in one, or --campaign), the operating envelope and the "
            "fault campaign, read a pytest JUnit report (--tests), and write DIR/dossier.html (one page, images "
            "inlined) and DIR/dossier.json: device and configuration, depth and rate accuracy with 95/95 "
            "tolerance intervals, the envelope per skin and charge, hazard traceability, the software "
            "verification summary and the labelling facts. Exit 0 when everything passes with its evidence, 1 "
            "when a point fails or evidence is missing (the page says which), 2 on bad input.",
            "penctl dossier --out dossier/",
            "python -m pytest --junitxml=tests.xml; penctl dossier --tests tests.xml --out dossier/",
            "penctl dossier --drive rotary_cam --out dossier/ --pdf",
            "penctl dossier --campaign examples/campaign.toml --tests tests.xml --out dossier/",
        ),
    )
    dossier.add_argument("--out", metavar="DIR", required=True, help="where dossier.html and dossier.json go")
    dossier.add_argument("--campaign", metavar="FILE", help="a verification campaign (default: the built-in one)")
    dossier.add_argument("--tests", metavar="FILE", help="a pytest JUnit report (python -m pytest --junitxml=FILE)")
    dossier.add_argument(
        "--drive",
        choices=("voice_coil", "rotary_cam"),
        help="the pen's drive (default: the campaign's, else voice_coil)",
    )
    dossier.add_argument("--pdf", action="store_true", help="also print DIR/dossier.pdf (needs Chromium on PATH)")
    dossier.add_argument(
        "--workers", type=workers_number, metavar="N", help=f"local Dask workers (default: {os.cpu_count() or 1})"
    )
    dossier.add_argument("--scheduler", type=scheduler_address, metavar="ADDRESS", help="a Dask scheduler instead")
    dossier.set_defaults(handler=cmd_dossier)


def cmd_dossier(args: argparse.Namespace) -> int:
    if verify.lacks_the_extra("dossier"):
        return EXIT_INPUT
    from controller.host.progress import ProgressBar
    from controller.qa.dossier.build import Request, check, make, write

    verify.one_engine(args)
    request = Request(
        drive=args.drive,
        campaign=args.campaign,
        tests=args.tests,
        workers=args.workers or os.cpu_count() or 1,
        scheduler=args.scheduler,
    )
    inputs = check(request, args.pdf)  # every input read and checked before --out is made
    out = prepare_out_dir(args.out)
    progress = ProgressBar("dossier campaign pens", unit="pen")
    try:
        dossier = make(request, inputs, out, on_progress=progress)
    finally:
        progress.close()
    names = write(dossier, out, args.pdf)
    verdict = dossier["verdict"]
    print(f"dossier: {verdict['status']}" + "".join(f"\n  - {reason}" for reason in verdict["reasons"]))
    print("written: " + ", ".join(str(out / name) for name in names))
    return EXIT_OK if verdict["status"] == "pass" else EXIT_FAULT
