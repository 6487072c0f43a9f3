"""``penctl envelope``: the simulated pen's operating envelope, as a table, a chart and JSON."""

from __future__ import annotations

import argparse
import json
from typing import Any, TypedDict

from controller.cli.common import EXIT_OK, number_in, prepare_out_dir
from hal.skin import SKIN_TYPES


class World(TypedDict):
    """What an envelope is measured in: the same keywords for measuring, printing and drawing it."""

    skin: str
    battery_soc: float
    drive: str
    needles: int


def needle_count(text: str) -> int:
    from hal.backend import CARTRIDGE_RANGES

    low, high = CARTRIDGE_RANGES["needles"]
    if not text.isdigit() or not low <= int(text) <= high:
        raise argparse.ArgumentTypeError(f"expected a whole number of needles from {low:g} to {high:g}, got {text!r}")
    return int(text)


def register(commands: Any) -> None:
    """Add the subcommand to ``penctl``."""
    envelope = commands.add_parser(
        "envelope",
        help="sweep depth x rate on the simulated pen: depth error, shortfall, current limit, duty limit",
        description="Stroke the simulated pen for a second at every depth (0.25-2.5 mm by 0.25) and rate "
        "(25-150 Hz by 25) and report what it delivers: the planner's target, the mean and worst depth "
        "error, where strokes fall short or the drive runs out of current, and how long it can run before "
        "the winding trips (the continuous-duty limit).",
        epilog="examples:\n  penctl envelope\n  penctl envelope --skin thick --battery 0.2 --out env/\n"
        "  penctl envelope --json > envelope.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    envelope.add_argument("--skin", choices=SKIN_TYPES, default="normal", help="skin type (default: normal)")
    envelope.add_argument(
        "--battery",
        type=number_in("battery", 0.0, 1.0),
        default=0.9,
        metavar="SOC",
        help="battery state of charge, 0 to 1 (default: 0.9)",
    )
    envelope.add_argument(
        "--drive",
        choices=("voice_coil", "rotary_cam"),
        default="voice_coil",
        help="the simulated pen's drive (default: %(default)s)",
    )
    envelope.add_argument(
        "--needles",
        type=needle_count,
        default=12,
        metavar="N",
        help="needles in the cartridge: they load the drive in the skin (default: %(default)s)",
    )
    envelope.add_argument("--out", metavar="DIR", help="write DIR/envelope.json and envelope.png")
    envelope.add_argument("--json", action="store_true", help="print the points as JSON instead of the table")
    envelope.set_defaults(handler=cmd_envelope)


def cmd_envelope(args: argparse.Namespace) -> int:
    from controller.qa.envelope import as_json, draw, format_table, measure

    out = prepare_out_dir(args.out) if args.out else None  # a bad --out costs nothing: checked first
    world = World(skin=args.skin, battery_soc=args.battery, drive=args.drive, needles=args.needles)
    points = measure(**world)
    data = as_json(points, **world)
    print(json.dumps(data, indent=2) if args.json else format_table(points, **world))
    if out is not None:
        from controller.host.atomic import atomic_files

        with atomic_files(out) as files:
            files.write_text("envelope.json", json.dumps(data, indent=2) + "\n")
            draw(points, files.path("envelope.png"), **world)
    return EXIT_OK
