"""``penctl faults``: one scenario per hazard, and the traceability table."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from controller.cli.common import EXIT_FAULT, EXIT_OK


def register(commands: Any) -> None:
    """Add the subcommand to ``penctl``."""
    faults = commands.add_parser(
        "faults",
        help="run one fault scenario per hazard and print the traceability table",
        description="Provoke every hazard of docs/hazards.md on the simulated pen and check "
        "the firmware answers as the table promises; exit 1 if any is not handled.",
    )
    faults.add_argument("--out", metavar="DIR", help="also write DIR/faults.json")
    faults.set_defaults(handler=cmd_faults)


def cmd_faults(args: argparse.Namespace) -> int:
    from controller.qa.fault_campaign import as_json, format_table, run_campaign

    results = run_campaign()
    print(format_table(results))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "faults.json").write_text(json.dumps(as_json(results), indent=2) + "\n", encoding="utf-8")
    return EXIT_OK if all(r.handled for r in results) else EXIT_FAULT
