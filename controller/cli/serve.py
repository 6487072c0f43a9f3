"""``penctl serve``: the virtual pen on a pty or a TCP port until interrupted."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from controller.cli.common import EXIT_OK, described, port_number
from hal.errors import InputError


def register(commands: Any) -> None:
    """Add the subcommand to ``penctl``."""
    serve = commands.add_parser(
        "serve",
        help="serve a virtual pen on a pty or TCP port until interrupted",
        **described(
            "Serve the simulated pen behind the wire protocol (docs/protocol.md). The URL to connect to "
            "is the first line on stdout; alarms and status go to stderr.",
            "penctl serve                                  # on a new pty",
            "penctl serve --tcp 0 --nvm pen.nvm            # on any free TCP port, settings kept in pen.nvm",
            "penctl serve --pty --service-key-file pen.key",
        ),
    )
    where = serve.add_mutually_exclusive_group()
    where.add_argument("--pty", action="store_true", help="on a new pseudo-terminal (the default)")
    where.add_argument("--tcp", type=port_number, metavar="PORT", help="on TCP 127.0.0.1:PORT (0: any free port)")
    serve.add_argument("--nvm", metavar="FILE", help="keep the pen's settings store in FILE (default: in memory)")
    serve.add_argument(
        "--service-key-file",
        metavar="FILE",
        help="provision the pen's service key (64 hex digits) so `penctl service unlock` works",
    )
    serve.add_argument(
        "--baud",
        type=baud_rate,
        metavar="N",
        help="pace the bytes both ways to a UART at N baud, 10 bits a byte (default: no pacing, as fast as the "
        "transport allows); e.g. --baud 115200",
    )
    serve.add_argument(
        "--drive",
        choices=("voice_coil", "rotary_cam"),
        default="voice_coil",
        help="the pen's drive: a voice coil (default) or a DC motor and cam with a depth stop",
    )
    serve.set_defaults(handler=cmd_serve)


def baud_rate(text: str) -> int:
    """A line rate from 300 to 12,000,000 baud."""
    if not text.isdigit() or not 300 <= int(text) <= 12_000_000:
        raise argparse.ArgumentTypeError(f"expected a baud rate from 300 to 12000000, got {text!r}")
    return int(text)


def cmd_serve(args: argparse.Namespace) -> int:
    import signal
    import threading

    from sim.backend import SimBackend
    from sim.clock import WireLine
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
    pen = VirtualPen(SimBackend(flash=flash, service_key=key, uptime=clock, drive=args.drive), clock=clock)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    store = f"store {args.nvm}" if args.nvm else "store in memory"
    store += f", {args.baud} baud" if args.baud else ""
    line = WireLine(args.baud)
    try:
        if args.tcp is not None:
            try:
                server = listen_tcp(args.tcp)
            except OSError as exc:
                raise InputError("--tcp", "", "a free TCP port on 127.0.0.1", f"{args.tcp}: {exc.strerror}") from None
            announce(f"socket://127.0.0.1:{server.getsockname()[1]}", store, pen.backend.read_alarms())
            with server:
                serve_tcp(pen, server, stop, line)
        else:
            master, slave, path = open_pty()
            announce(path, store, pen.backend.read_alarms())
            try:
                serve_fd(pen, master, stop, line)
            finally:
                os.close(master)
                os.close(slave)
    except KeyboardInterrupt:
        pass
    pen.backend.close()
    print("virtual pen stopped", file=sys.stderr, flush=True)
    return EXIT_OK


def announce(url: str, store: str, alarms: list[int]) -> None:
    """The URL first, on stdout (what a script reads); the pen's alarms after it, on stderr."""
    from hal.protocol import ALARM_TEXT, Alarm

    print(f"virtual pen on {url} ({store})", flush=True)
    for code in alarms:
        print(f"penctl serve: alarm: {ALARM_TEXT[Alarm(code)]}", file=sys.stderr, flush=True)
