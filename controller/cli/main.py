"""``penctl``: parse the command line and dispatch to the subcommand's module.

Exit codes: see ``EXIT_CODES_TEXT`` and the README's table (the same codes).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import signal
import sys
import threading
from collections.abc import Sequence

from controller import __version__
from controller.cli import (
    bench,
    course,
    dossier,
    envelope,
    faults,
    ports,
    record,
    replay,
    serve,
    service,
    settings,
    treat,
    verify,
)
from controller.cli.common import (
    EXIT_FAULT,
    EXIT_INPUT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OUTPUT,
    EXIT_TERMINATED,
    EXIT_UNVERIFIED,
    PORT_ENV,
    Parser,
    add_logging_options,
    configure_logging,
    described,
    subparsers_of,
)
from controller.host.interrupts import Terminated, raise_terminated, redeliver_interrupts
from controller.host.settings_flash import UnverifiedError
from hal.errors import InputError, PenError

EXIT_CODES_TEXT = (
    "0 done, 1 fault or refusal (verify: a criterion failed; settings diff: they differ), 2 bad input, 3 applied but "
    "not verified, 4 treat: a zone's depth failed its verdict, 5 treat: a zone's density missed its band, 6 treat: "
    "a zone's stroke rate was off, 70 internal error, 74 output could not be written, 130 interrupted, 143 terminated"
)
"""Every exit code the README's table lists, one line each (tests/test_cli.py holds the two together)."""

SUBCOMMANDS = (treat, record, replay, serve, faults, envelope, verify, dossier, service, course, ports, settings, bench)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="penctl",
        **described(
            "Microneedling pen controller and simulator. Data goes to stdout; progress, logs and "
            f"errors go to stderr. ${PORT_ENV} is the default of every --port. Exit codes: {EXIT_CODES_TEXT}.",
            "penctl treat                                 # the built-in plan on the simulated pen",
            "penctl -v treat examples/full_face.toml --json > report.json",
            "penctl serve --pty                           # a virtual pen; prints its port",
            f"{PORT_ENV}=/dev/pts/3 penctl settings get depth.max_mm",
            "penctl COMMAND --help                        # each command's options and examples",
        ),
    )
    parser.add_argument("--version", action="version", version=f"penctl {__version__}")
    add_logging_options(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    for subcommand in SUBCOMMANDS:
        subcommand.register(commands)
    for sub in subparsers_of(parser):
        add_logging_options(sub, inherited=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``penctl``; ``argv`` None means the real command line (the console script)."""
    on_main_thread = threading.current_thread() is threading.main_thread()
    if argv is None:
        _closed_streams_to_devnull()
    previous_hook = sys.unraisablehook
    if on_main_thread:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # from here on Ctrl-C is a KeyboardInterrupt
        sys.unraisablehook = redeliver_interrupts
    if argv is None and on_main_thread:
        signal.signal(signal.SIGTERM, raise_terminated)  # and `kill` a Terminated: both clean up on the way out
    try:
        code = run(argv)
    except KeyboardInterrupt:  # between the handlers of run()
        code = interrupted("penctl")
    except Terminated:
        code = terminated("penctl")
    except BrokenPipeError:  # `penctl settings list | head`: the reader left; end quietly
        _silence_stdout()
        code = 0
    except OSError as exc:  # --help or --version on a full disk (argparse writes them before run's handlers)
        if argv is not None or exc.errno not in OUTPUT_ERRNOS:
            raise
        code = cannot_write("penctl", exc)
    except SystemExit as exc:  # argparse's --help, --version and usage errors
        if argv is not None:
            raise
        code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    finally:
        if argv is None and on_main_thread:
            ignore_late_signals()
        elif on_main_thread:
            sys.unraisablehook = previous_hook  # called in-process (tests): leave the interpreter as it was
    if argv is None:
        code = flush_output(code)
        leave_at_once(code)
    return code


def ignore_late_signals() -> None:
    """Done: a late Ctrl-C or ``kill`` changes nothing. One that lands while the handlers are being switched
    (an outside probe's SIGTERM at the very end of a pass did: a traceback and exit 1) is ignored like the
    ones after it."""
    for _ in range(3):  # each signal can interrupt the switch once: then both are ignored
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            return
        except (KeyboardInterrupt, Terminated):
            continue


def flush_output(code: int) -> int:
    """Flush stdout and stderr; output that cannot be written after all (a full disk) is one line and exit 74."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
    except OSError as exc:
        _silence_stdout()
        return cannot_write("penctl", exc)
    with contextlib.suppress(OSError):
        sys.stderr.flush()
    return code


def leave_at_once(code: int) -> None:
    """End the process now, without the interpreter's teardown, when nothing is left that needs it.

    Tearing down an interpreter that loaded numba's compiled kernel and matplotlib takes about
    0.2 s (llvmlite's and the modules' finalisers): a tenth of a warm ``penctl treat`` spent after
    the last line was printed. Everything penctl writes is flushed and renamed into place before
    this point. Where a library may still have work for its exit handlers (a child process, a
    thread that is not a daemon, a Dask cluster), the process ends the ordinary way instead.
    """
    import logging

    logging.shutdown()
    if "distributed" in sys.modules or [
        t for t in threading.enumerate() if not t.daemon and t is not threading.main_thread()
    ]:
        return
    mp = sys.modules.get("multiprocessing")
    if mp is not None and mp.active_children():
        return
    os._exit(code)


def _closed_streams_to_devnull() -> None:
    """`penctl ... >&-` or `2>&-` leaves Python no stdout or stderr (None): what would go there goes nowhere."""
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (for the life of the process)
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115


def _silence_stdout() -> None:
    """stdout's reader left: later writes (and the final flush) go nowhere instead of failing."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def run(argv: Sequence[str] | None) -> int:
    """Parse, configure logging once, dispatch; every error becomes one line on stderr and an exit code."""
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        chosen(parser, args).unknown_options(extras)
    configure_logging(args.verbose, args.log_level)
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
        return interrupted(f"penctl {args.command}")
    except Terminated:
        return terminated(f"penctl {args.command}")
    except BrokenPipeError:
        raise  # stdout's reader left (`| head`): main() ends quietly
    except OSError as exc:
        if exc.errno not in OUTPUT_ERRNOS:
            return internal_error(args.command, exc)
        return cannot_write(f"penctl {args.command}", exc)
    except Exception as exc:  # the last resort: a bug, said in one line, never a traceback
        return internal_error(args.command, exc)


def chosen(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Parser:
    """The deepest subcommand parser the command line chose (``settings get``'s, ``treat``'s, or the top one)."""
    current = parser
    for dest in ("command", "action"):
        subs = [a for a in current._actions if isinstance(a, argparse._SubParsersAction)]
        name = getattr(args, dest, None)
        if not subs or name is None or name not in subs[0].choices:
            break
        current = subs[0].choices[name]
    assert isinstance(current, Parser)
    return current


OUTPUT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS})
"""Errors of writing, not of penctl: a full or read-only disk, a failing device."""


def internal_error(command: str, exc: Exception) -> int:
    """A bug: one line and exit 70 (``PENCTL_DEBUG=1``: the traceback). Called from an ``except`` clause."""
    if caused_by_interrupt(exc):  # e.g. an ImportError from a Ctrl-C inside a module's initialisation
        return interrupted(f"penctl {command}")
    if os.environ.get("PENCTL_DEBUG"):
        raise exc
    print(
        f"penctl {command}: internal error ({type(exc).__name__}: {exc}); "
        "this is a bug: please report it (PENCTL_DEBUG=1 shows the traceback)",
        file=sys.stderr,
    )
    return EXIT_INTERNAL


def cannot_write(prog: str, exc: OSError) -> int:
    """Output that could not be written (reports, stdout): one line, exit 74; a report is whole or absent."""
    with contextlib.suppress(OSError):
        print(f"{prog}: cannot write: {exc.strerror or exc}", file=sys.stderr, flush=True)
    return EXIT_OUTPUT


def caused_by_interrupt(exc: BaseException) -> bool:
    """Whether a KeyboardInterrupt is in ``exc``'s chain of causes and contexts."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def interrupted(prog: str) -> int:
    """Ctrl-C: one line on stderr, exit 130; a second Ctrl-C while saying so is ignored."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    print(f"{prog}: interrupted", file=sys.stderr, flush=True)
    return EXIT_INTERRUPTED


def terminated(prog: str) -> int:
    """SIGTERM: one line on stderr, exit 143 (128 + 15, as a shell reports a process that SIGTERM ended)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print(f"{prog}: terminated", file=sys.stderr, flush=True)
    return EXIT_TERMINATED


if __name__ == "__main__":
    sys.exit(main())
