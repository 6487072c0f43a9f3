"""``penctl``: the command line for QA passes (and, later, settings and service work).

Exit codes: 0 the job finished, 1 the treatment ended in a fault or refusal,
2 bad input (plan file, arguments); bad input writes no report.
"""

from __future__ import annotations

import argparse
import datetime as dt
import difflib
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from controller import __version__
from controller.settings_service import UnverifiedError
from controller.table_reader import shown
from hal.errors import InputError, PenError

EXIT_OK, EXIT_FAULT, EXIT_INPUT, EXIT_UNVERIFIED = 0, 1, 2, 3
EXIT_INTERNAL, EXIT_INTERRUPTED = 70, 130


def _seed(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to 2**63-1, got {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to 2**63-1, got {text!r}")
    return value


class Parser(argparse.ArgumentParser):
    """argparse with messages that say what was expected, and "did you mean" for a mistyped choice."""

    def error(self, message: str) -> NoReturn:
        match = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if match:
            choices = [c.strip(" '") for c in match.group(2).split(",")]
            close = difflib.get_close_matches(match.group(1), choices, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            message = f"{message.split(':')[0]}: expected one of {', '.join(choices)}, got {match.group(1)!r}{hint}"
        elif "expected" not in message:
            message += f" (expected: see `{self.prog} --help`)"
        self.print_usage(sys.stderr)
        self.exit(EXIT_INPUT, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="penctl", description="Microneedling pen controller and simulator.")
    parser.add_argument("--version", action="version", version=f"penctl {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)

    treat = commands.add_parser(
        "treat",
        help="run a treatment pass on the simulated pen and write a report",
        description="Run a treatment pass and write report.json and report.png.",
    )
    treat.add_argument("plan", nargs="?", metavar="PLAN", help="plan file (TOML); default: the built-in full-face plan")
    treat.add_argument("--out", default="penctl-out", metavar="DIR", help="report directory (default: %(default)s)")
    treat.add_argument("--seed", type=_seed, default=0, metavar="N", help="simulation seed (default: %(default)s)")
    treat.add_argument("--json", action="store_true", help="print report.json to stdout instead of a summary")
    treat.add_argument(
        "--port", metavar="URL", help="run on a pen over a serial link (device, pty, socket://, loop://)"
    )
    treat.set_defaults(handler=cmd_treat)

    serve = commands.add_parser(
        "serve",
        help="serve a virtual pen on a pty or TCP port until interrupted",
        description="Serve the simulated pen behind the wire protocol (docs/protocol.md).",
    )
    where = serve.add_mutually_exclusive_group()
    where.add_argument("--pty", action="store_true", help="on a new pseudo-terminal (the default)")
    where.add_argument("--tcp", type=_port_number, metavar="PORT", help="on TCP 127.0.0.1:PORT (0: any free port)")
    serve.add_argument("--nvm", metavar="FILE", help="keep the pen's settings store in FILE (default: in memory)")
    serve.add_argument(
        "--service-key-file",
        metavar="FILE",
        help="provision the pen's service key (64 hex digits) so `penctl service unlock` works",
    )
    serve.set_defaults(handler=cmd_serve)

    faults = commands.add_parser(
        "faults",
        help="run one fault scenario per hazard and print the traceability table",
        description="Provoke every hazard of docs/hazards.md on the simulated pen and check "
        "the firmware answers as the table promises; exit 1 if any is not handled.",
    )
    faults.add_argument("--out", metavar="DIR", help="also write DIR/faults.json")
    faults.set_defaults(handler=cmd_faults)

    service = commands.add_parser("service", help="service access to the pen")
    service_actions = service.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=Parser)
    unlock = service_actions.add_parser(
        "unlock",
        help="unlock service (or factory) settings by challenge-response",
        description="Unlock by HMAC-SHA256 challenge-response over the pen's key; "
        "the unlock lasts service.unlock_timeout_s or until power-off.",
    )
    unlock.add_argument("--key-file", required=True, metavar="FILE", help="the pen's key as 64 hex digits")
    unlock.add_argument("--port", required=True, metavar="URL")
    unlock.add_argument("--level", choices=("service", "factory"), default="service")
    service.set_defaults(handler=cmd_service)

    course = commands.add_parser(
        "course",
        help="print the session dates of a treatment course",
        description="Session dates of a course: 3-5 sessions, 4-6 weeks apart "
        "(treatment texts); each date is the earliest, with its latest.",
    )
    course.add_argument("--sessions", type=int, required=True, metavar="N")
    course.add_argument("--start", type=_date, required=True, metavar="DATE", help="first session, YYYY-MM-DD")
    course.add_argument(
        "--interval-weeks",
        type=_week_range,
        default=(4, 6),
        metavar="LOW-HIGH",
        help="weeks between sessions (default: 4-6)",
    )
    course.set_defaults(handler=cmd_course)

    ports = commands.add_parser("ports", help="list serial ports")
    ports.set_defaults(handler=cmd_ports)

    settings = commands.add_parser(
        "settings", help="read and flash pen settings", description="Read and flash pen settings (docs/settings.md)."
    )
    actions = settings.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=Parser)

    def action(name: str, help_text: str, port_required: bool = True) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text, description=help_text)
        sub.add_argument(
            "--port",
            metavar="URL",
            required=port_required,
            help="the pen's port: device path, pty path, socket://host:port or loop://",
        )
        sub.add_argument(
            "--key-file",
            metavar="FILE",
            help="unlock service settings first, on this same connection (an unlock ends with the connection)",
        )
        sub.add_argument("--level", choices=("service", "factory"), default="service", help="unlock level")
        return sub

    action("list", "list every setting (with --port: and its value on the pen)", port_required=False)
    get = action("get", "print settings from the pen")
    get.add_argument("keys", nargs="+", metavar="KEY")
    set_ = action("set", "change settings on the pen (all or nothing)")
    set_.add_argument("assignments", nargs="+", metavar="KEY=VALUE")
    dump = action("dump", "print every setting in a form `load` accepts")
    dump.add_argument("--format", choices=("toml", "json"), default="toml")
    load = action("load", "flash a settings file (all or nothing)")
    load.add_argument("file", metavar="FILE")
    load.add_argument("--dry-run", action="store_true", help="check the file and show what would change")
    diff = action("diff", "show how a settings file differs from the pen")
    diff.add_argument("file", metavar="FILE")
    reset = action("reset", "restore factory defaults (factory-set values such as the serial number stay)")
    reset.add_argument("--factory", action="store_true", required=True)
    alarms = action("alarms", "show (and with --clear acknowledge) the pen's alarms")
    alarms.add_argument("--clear", action="store_true")
    settings.set_defaults(handler=cmd_settings)

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


def _port_number(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a TCP port from 0 to 65535, got {text!r}")
    return int(text)


def cmd_serve(args: argparse.Namespace) -> int:
    import signal
    import threading

    from hal.protocol import ALARM_TEXT, Alarm
    from sim.backend import SimBackend
    from sim.nvm import FileFlash
    from sim.serve import listen_tcp, open_pty, serve_fd, serve_tcp
    from sim.virtual_pen import VirtualPen

    try:
        flash = FileFlash(args.nvm) if args.nvm else None
    except (ValueError, OSError) as exc:
        raise InputError("--nvm", "", "a pen store file (created if missing)", str(exc)) from None
    key = None
    if args.service_key_file:
        from hal.service_auth import read_key_file

        key = read_key_file(args.service_key_file)
    from sim.clock import PowerOnClock

    clock = PowerOnClock()
    pen = VirtualPen(SimBackend(flash=flash, service_key=key, uptime=clock), clock=clock)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    store = f"store {args.nvm}" if args.nvm else "store in memory"
    for code in pen.backend.read_alarms():
        print(f"alarm: {ALARM_TEXT[Alarm(code)]}", flush=True)
    try:
        if args.tcp is not None:
            try:
                server = listen_tcp(args.tcp)
            except OSError as exc:
                raise InputError("--tcp", "", "a free TCP port on 127.0.0.1", f"{args.tcp}: {exc.strerror}") from None
            print(f"virtual pen on socket://127.0.0.1:{server.getsockname()[1]} ({store})", flush=True)
            with server:
                serve_tcp(pen, server, stop)
        else:
            master, slave, path = open_pty()
            print(f"virtual pen on {path} ({store})", flush=True)
            try:
                serve_fd(pen, master, stop)
            finally:
                os.close(master)
                os.close(slave)
    except KeyboardInterrupt:
        pass
    pen.backend.close()
    print("virtual pen stopped", flush=True)
    return EXIT_OK


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def _week_range(text: str) -> tuple[int, int]:
    low, dash, high = text.partition("-")
    try:
        weeks = (int(low), int(high if dash else low))
    except ValueError:
        weeks = (0, 0)
    if not 1 <= weeks[0] <= weeks[1] <= 52:
        raise argparse.ArgumentTypeError(f"expected weeks LOW-HIGH with 1 <= LOW <= HIGH <= 52, got {text!r}")
    return weeks


def cmd_course(args: argparse.Namespace) -> int:
    from controller.aftercare import EXPECTED_COURSE
    from controller.course import maintenance_window, plan_course

    if not 1 <= args.sessions <= 12:
        raise InputError("--sessions", "", "a number of sessions from 1 to 12", args.sessions)
    try:
        slots = plan_course(args.start, args.sessions, args.interval_weeks)
        maintenance_window(slots[-1].earliest)
    except OverflowError:
        raise InputError(
            "--start", "", "a first-session date that leaves room for the course", str(args.start)
        ) from None
    low, high = args.interval_weeks
    print(f"course of {args.sessions} session(s), {low}-{high} weeks apart")
    for slot in slots:
        window = "" if slot.number == 1 else f"  (until {slot.latest.isoformat()})"
        print(f"session {slot.number}: {slot.earliest.isoformat()}{window}")
    first, last = maintenance_window(slots[-1].earliest)
    print(f"maintenance: {first.isoformat()} to {last.isoformat()} (every 6-12 months)")
    if not 3 <= args.sessions <= 5:
        print(f"note: the treatment texts plan {EXPECTED_COURSE['sessions']} sessions")
    if low < 4:
        print("note: sessions less than 4 weeks apart are refused unless the plan documents an override")
    return EXIT_OK


def cmd_faults(args: argparse.Namespace) -> int:
    from controller.fault_campaign import as_json, format_table, run_campaign

    results = run_campaign()
    print(format_table(results))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "faults.json").write_text(json.dumps(as_json(results), indent=2) + "\n", encoding="utf-8")
    return EXIT_OK if all(r.handled for r in results) else EXIT_FAULT


def cmd_service(args: argparse.Namespace) -> int:
    from hal.registry import open_backend
    from hal.service_auth import read_key_file

    key = read_key_file(args.key_file)
    pen = open_backend("serial", url=args.port)
    try:
        unlock(pen, key, args.level)
    finally:
        pen.close()
    print(
        f"{args.level} access unlocked on pen {pen.identify().serial_number}: the key is right; the unlock ended "
        "with this connection (give --key-file to `penctl settings` to change service settings)"
    )
    return EXIT_OK


def unlock(pen: Any, key: bytes, level: str) -> None:
    """Challenge-response unlock on an open connection; it lasts until the connection ends or it expires."""
    from hal.service_auth import unlock_response

    nonce = pen.service_challenge()
    pen.service_unlock(level, unlock_response(key, nonce, level, pen.identify().serial_number))


def cmd_ports(args: argparse.Namespace) -> int:
    from serial.tools import list_ports

    found = sorted(list_ports.comports(), key=lambda p: p.device)
    for port in found:
        print(f"{port.device}\t{port.description}\t{port.hwid}")
    if not found:
        print("no serial ports found")
    return EXIT_OK


def cmd_settings(args: argparse.Namespace) -> int:
    from controller import settings_service as svc
    from hal.backend import SettingsPort
    from hal.protocol import ALARM_TEXT, Alarm
    from hal.registry import open_backend
    from hal.service_auth import read_key_file
    from hal.settings import BY_KEY, SETTINGS

    if args.action == "list" and not args.port:
        print(_settings_table(None))
        return EXIT_OK
    # Check everything the user typed before the port is opened.
    if args.action == "get":
        unknown = [k for k in args.keys if k not in BY_KEY]
        if unknown:
            close = difflib.get_close_matches(unknown[0], list(BY_KEY), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise InputError("KEY", unknown[0], f"a known setting (see `penctl settings list`){hint}")
    changes: dict[str, Any] = {}
    if args.action == "set":
        for text in args.assignments:
            key, sep, value = text.partition("=")
            setting = BY_KEY.get(key.strip())
            if not sep or setting is None:
                close = difflib.get_close_matches(key.strip(), list(BY_KEY), n=1)
                hint = f"; did you mean {close[0]}?" if close else ""
                raise InputError(text, "", f"KEY=VALUE with a known setting (see `penctl settings list`){hint}")
            if setting.key in changes:
                raise InputError(text, setting.key, "each setting once (it is given twice)")
            try:
                changes[setting.key] = setting.parse(value)
            except ValueError as exc:
                raise InputError(text, setting.key, str(exc), shown(value)) from None
        svc.check_rules_among(changes, "KEY=VALUE")
    if args.action in ("load", "diff"):
        changes = svc.read_settings_file(args.file)
        if len(changes) == len(SETTINGS):
            svc.check_block({}, changes, args.file)

    key = read_key_file(args.key_file) if args.key_file else None
    pen = open_backend("serial", url=args.port)
    try:
        assert isinstance(pen, SettingsPort)
        if key is not None:
            unlock(pen, key, args.level)
        if args.action == "list":
            print(_settings_table(pen.read_settings()))
        elif args.action == "get":
            values = pen.read_settings()
            for key in args.keys:
                print(f"{key} = {_show(values[key])}")
        elif args.action == "dump":
            values = pen.read_settings()
            ident = pen.identify()
            print(
                svc.dump_toml(
                    values, f"settings of pen {ident.serial_number} ({ident.model}, firmware {ident.firmware_version})"
                )
                if args.format == "toml"
                else svc.dump_json(values),
                end="",
            )
        elif args.action == "diff" or (args.action == "load" and args.dry_run):
            current = pen.read_settings()
            svc.check_block(current, changes, args.file)
            delta = svc.diff(current, changes)
            for key, (now, wanted) in delta.items():
                print(f"{key}: {_show(now)} -> {_show(wanted)}")
            print(f"{len(delta)} setting(s) differ" + (" (dry run: nothing written)" if args.action == "load" else ""))
        elif args.action in ("set", "load"):
            result = svc.flash(pen, changes)
            for key in changes:
                print(f"{key} = {_show(result.read_back[key])}")
            print(f"{len(changes)} setting(s) written in one block, committed and verified")
        elif args.action == "reset":
            pen.stage_factory_reset()
            pen.commit_settings()
            print("factory defaults restored (factory-set values kept)")
        elif args.action == "alarms":
            codes = pen.read_alarms()
            for code in codes:
                print(f"alarm {code}: {ALARM_TEXT.get(Alarm(code), 'unknown alarm')}")
                if args.clear:
                    pen.clear_alarm(code)
            if not codes:
                print("no alarms")
    finally:
        pen.close()
    return EXIT_OK


def _show(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _settings_table(values: dict[str, Any] | None) -> str:
    from hal.settings import SETTINGS

    head = (
        ["key", "value", "default", "unit", "range", "access"]
        if values
        else ["key", "default", "unit", "range", "access"]
    )
    rows: list[list[str]] = [head]
    for s in SETTINGS:
        span = f"{s.low:g}-{s.high:g}" if s.kind != "bool" else "true/false"
        if s.kind == "str":
            span = f"{int(s.low)}-{int(s.high)} chars"
        current = [_show(values[s.key])] if values else []
        rows.append([s.key, *current, _show(s.default), s.unit, span, s.access])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


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
    out = prepare_out_dir(args.out)
    backend = None
    if args.port:
        from hal.registry import open_backend

        backend = open_backend("serial", url=args.port)
    bar = ProgressBar(f"treat {Path(args.plan).name if args.plan else 'built-in plan'}")
    try:
        result = run_session(plan, seed=args.seed, progress=bar, backend=backend)
    finally:
        bar.close()
    report = build_report(result)
    from controller.plots import plot_report

    (out / "report.json").write_text(report_json(report), encoding="utf-8")
    plot_report(result, out / "report.png")
    if args.json:
        sys.stdout.write(report_json(report))
    else:
        print_summary(report, out)
    return EXIT_OK if result.outcome == "completed" else EXIT_FAULT


def prepare_out_dir(text: str) -> Path:
    """Create the report directory before any work starts, so a bad ``--out`` costs nothing."""
    out = Path(text)
    if out.exists() and not out.is_dir():
        raise InputError("--out", "", "a directory (or a path to create one at)", text)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".penctl-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise InputError("--out", "", "a directory penctl can create and write in", f"{text}: {exc.strerror}") from None
    return out


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


def main(argv: Sequence[str] | None = None) -> int:
    import signal

    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `penctl settings list | head` ends quietly
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except InputError as exc:
        print(f"penctl {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except UnverifiedError as exc:
        print(f"penctl {args.command}: applied, not verified: {exc}", file=sys.stderr)
        return EXIT_UNVERIFIED
    except PenError as exc:
        print(f"penctl {args.command}: pen error: {exc}", file=sys.stderr)
        return EXIT_FAULT
    except KeyboardInterrupt:
        print(f"penctl {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # the last resort: a bug, said in one line, never a traceback
        if os.environ.get("PENCTL_DEBUG"):
            raise
        print(
            f"penctl {args.command}: internal error ({type(exc).__name__}: {exc}); "
            "this is a bug: please report it (PENCTL_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
