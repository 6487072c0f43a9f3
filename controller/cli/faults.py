"""``penctl faults``: one scenario per hazard, and the traceability table."""

from __future__ import annotations

import argparse
import json
from typing import Any

from controller.cli.common import EXIT_FAULT, EXIT_OK, add_json, described, prepare_out_dir


def register(commands: Any) -> None:
    """Add the subcommand to ``penctl``."""
    faults = commands.add_parser(
        "faults",
        help="run one fault scenario per hazard and print the traceability table",
        **described(
            "Provoke every hazard of docs/hazards.md on the simulated pen and check the firmware "
            "answers as the table promises; exit 1 if any is not handled.",
            "penctl faults",
            "penctl faults --json > faults.json",
            "penctl faults --drive rotary_cam              # on the motor-and-cam pen",
            "penctl faults --out run1                      # also writes run1/faults.json",
        ),
    )
    add_json(faults, "the results (instead of the table)")
    faults.add_argument("--out", metavar="DIR", help="also write DIR/faults.json (created if missing)")
    faults.add_argument(
        "--drive",
        choices=("voice_coil", "rotary_cam"),
        default="voice_coil",
        help="the simulated pen's drive (default: %(default)s)",
    )
    faults.set_defaults(handler=cmd_faults)


def cmd_faults(args: argparse.Namespace) -> int:
    from controller.host.atomic import write_text_atomic
    from controller.qa.fault_campaign import as_json, format_table, run_campaign

    out = prepare_out_dir(args.out) if args.out else None
    results = run_campaign(args.drive)
    text = json.dumps(as_json(results), indent=2) + "\n"
    if out is not None:
        write_text_atomic(out / "faults.json", text)
    print(text if args.json else format_table(results), end="" if args.json else "\n")
    return EXIT_OK if all(r.handled for r in results) else EXIT_FAULT
