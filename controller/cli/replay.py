"""``penctl replay``: the controller run again over a recording made by ``penctl record``; the same report."""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
from typing import Any

from controller.cli.common import add_json, prepare_out_dir
from controller.cli.treat import run_and_report
from hal.errors import InputError

EXAMPLE = """examples:
  penctl replay session.jsonl --out replayed

The report equals the recorded session's, byte for byte. A file that is not a complete recording
sealed under the key (docs/recording.md) exits 2 and names the line and what was expected."""


def register(commands: Any) -> None:
    """Add the subcommand to ``penctl``."""
    replay = commands.add_parser(
        "replay",
        help="run the controller over a recording from `penctl record` and write its report again",
        description="Drive the controller from a recording made by `penctl record`, no pen needed, and write "
        "report.json and report.png.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    replay.add_argument("recording", metavar="FILE", help="a recording written by `penctl record --log FILE`")
    replay.add_argument("--out", default="penctl-out", metavar="DIR", help="report directory (default: %(default)s)")
    replay.add_argument(
        "--key-file", metavar="FILE", help="the key the recording was sealed with (default: FILE.key beside it)"
    )
    add_json(replay, "report.json (instead of the summary)")
    replay.set_defaults(handler=cmd_replay)


def cmd_replay(args: argparse.Namespace) -> int:
    from controller.treatment.painter import ReportPainter
    from controller.treatment.plan import parse_plan
    from hal.recording import RecordedLinkBackend, read_recording
    from hal.recording_seal import replay_master_key

    recording = read_recording(args.recording, replay_master_key(args.recording, args.key_file))
    meta = recording.meta
    seed, source, encoded = meta.get("seed"), meta.get("plan_source"), meta.get("plan_b64")
    digest = meta.get("plan_sha256")
    if type(seed) is not int or not isinstance(source, str) or not isinstance(encoded, str):
        raise InputError(args.recording, "line 1", "a header whose meta has seed, plan_source and plan_b64")
    if not 0 <= seed < 2**64:
        raise InputError(args.recording, "line 1: meta.seed", "a seed from 0 to 2**64 - 1", seed)
    try:
        plan_bytes = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise InputError(args.recording, "line 1", "meta.plan_b64 in base64") from None
    if not isinstance(digest, str) or hashlib.sha256(plan_bytes).hexdigest() != digest:
        raise InputError(args.recording, "line 1", "meta.plan_b64 as recorded (its SHA-256 is meta.plan_sha256)")
    try:
        plan = parse_plan(plan_bytes, source)  # its own name, so the report is the recorded one byte for byte
    except InputError as exc:
        problem = str(exc).splitlines()[0]
        raise InputError(args.recording, "line 1: meta.plan_b64", "the recorded plan, valid", problem) from None
    out = prepare_out_dir(args.out)
    backend = RecordedLinkBackend(recording)
    with ReportPainter() as painter:
        painter.expect(maps=len(plan.zones))
        return run_and_report(plan, seed, backend, out, f"replay {args.recording}", painter, print_json=args.json)
