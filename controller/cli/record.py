"""``penctl record``: a treatment pass on a pen over a link, every frame logged for ``penctl replay``."""

from __future__ import annotations

import argparse
import base64
import hashlib
from pathlib import Path
from typing import Any

from controller import __version__
from controller.cli.common import add_json, add_port, prepare_out_dir, seed_number
from controller.cli.treat import refuse_what_the_pen_cannot, run_and_report
from hal.errors import InputError

EXAMPLE = """examples:
  penctl serve --tcp 5555 &
  penctl record examples/full_face.toml --port socket://127.0.0.1:5555 --log session.jsonl --out rec
  penctl replay session.jsonl --out replayed      # replayed/report.json equals rec/report.json

The log's format: docs/recording.md."""


def register(commands: Any) -> None:
    """Add the subcommand to ``penctl``."""
    record = commands.add_parser(
        "record",
        help="run a treatment pass on a pen over a link and log every frame both ways",
        description="Run a treatment pass on a pen over a serial link (like `penctl treat --port`), write "
        "report.json and report.png, and log every frame both ways with timestamps and the decoded telemetry.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    record.add_argument("plan", metavar="PLAN", help="plan file (TOML, docs/plan-format.md)")
    add_port(record, required=True, help_text="the pen: a device, a pty path, socket://host:port or loop://")
    record.add_argument("--log", required=True, metavar="FILE", help="the recording to write (JSON lines)")
    record.add_argument("--out", default="penctl-out", metavar="DIR", help="report directory (default: %(default)s)")
    record.add_argument(
        "--seed", type=seed_number, default=0, metavar="N", help="simulation seed (default: %(default)s)"
    )
    record.add_argument(
        "--key-file",
        metavar="FILE",
        help="the 32-byte key (64 hex digits) that seals the recording (default: a new key written to LOG.key)",
    )
    add_json(record, "report.json (instead of the summary)")
    record.set_defaults(handler=cmd_record)


def forget_recording(log: str, key_written: bool) -> None:
    """Remove a recording (and the key written for it) of a session refused before its first stroke."""
    from hal.recording_seal import key_file_beside

    Path(log).unlink(missing_ok=True)
    if key_written:
        key_file_beside(log).unlink(missing_ok=True)


def cmd_record(args: argparse.Namespace) -> int:
    from controller.treatment.painter import ReportPainter
    from controller.treatment.plan import load_plan
    from hal.recording import RecordingPort
    from hal.recording_seal import recording_master_key
    from hal.serial_backend import SerialBackend, open_port
    from hal.service_auth import read_key_file

    plan = load_plan(args.plan)
    given_key = read_key_file(args.key_file) if args.key_file else None  # bad input is refused before anything changes
    plan_bytes = Path(args.plan).read_bytes()
    out = prepare_out_dir(args.out)
    meta = {
        "penctl": __version__,
        "seed": args.seed,
        "plan_source": plan.source,
        "plan_b64": base64.b64encode(plan_bytes).decode("ascii"),
        "plan_sha256": hashlib.sha256(plan_bytes).hexdigest(),
    }
    key = recording_master_key(args.log, given_key)
    port = RecordingPort(open_port(args.port), args.log, key=key, url=args.port, meta=meta)
    try:
        backend = SerialBackend(args.port, port=port)
        refuse_what_the_pen_cannot(plan, backend)  # the pen's word (drive, rates) before any stroke
    except InputError:
        port.close()
        forget_recording(args.log, key_written=given_key is None)  # a refused session leaves no recording
        raise
    except BaseException:
        port.close()
        raise
    try:
        with ReportPainter() as painter:
            painter.expect(maps=len(plan.zones))
            label = f"record {Path(args.plan).name}"
            return run_and_report(plan, args.seed, backend, out, label, painter, print_json=args.json)
    except BaseException:
        port.complete = False  # Ctrl-C or an error: the end line says the session was cut short
        port.close()
        raise
