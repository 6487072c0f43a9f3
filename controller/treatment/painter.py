"""Draw ``report.png`` in a second process, which imports matplotlib while this one runs the pass.

Why: of a warm ``penctl treat`` on the built-in plan the pass itself is about 60 ms. What the
user waits for is loading the kernel (numba: about half a second warm, two seconds the first
time), importing matplotlib (about 0.4 s) and drawing (about 0.5 s). The import needs nothing from
the pass, and the machines have two cores or more. So the painter starts first: its process
imports matplotlib while this one loads the kernel and simulates; then it draws while this one
writes report.json and the patient sheet. docs/performance.md gives the figures.

- **Same picture.** The worker starts before matplotlib is imported anywhere, gets the pass's
  result pickled, and sends back the PNG's bytes, which this process writes like any other file of
  the report. It draws with the same code as :func:`plot_report`, so the bytes are the same (a
  test holds them equal, for both ways of starting it).
- **Never on the disk.** The worker writes nothing: an interrupt or a failure cannot leave a
  partial file behind, and the report's all-or-none rename stays in this process.
- **Never in the way.** The worker ignores Ctrl-C; this process terminates it when the command
  ends, however it ends. Where a process cannot be started, or dies, or fails to draw, the figure
  is drawn here instead, so a failure of the drawing itself surfaces as it would without a worker.

Why not ``concurrent.futures.ProcessPoolExecutor``: it cannot terminate a worker mid-task
(before Python 3.14), so Ctrl-C would wait for the drawing to finish; a pipe and one
``multiprocessing`` process are enough for one request and one answer.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import sys
import threading
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import TYPE_CHECKING

from controller.host.interrupts import signals_held

if TYPE_CHECKING:
    from controller.treatment.session import SessionResult

log = logging.getLogger(__name__)


def start_method() -> str:
    """Fork on Linux when this process has no other thread: the worker starts as a copy of it, with
    Python and NumPy already loaded, in milliseconds, and without the resource-tracker process a
    spawn starts too (the command has not imported matplotlib at that point). With other threads
    about (a test run), or elsewhere, a fresh interpreter: forking a threaded process can copy a
    lock some thread holds."""
    return "fork" if sys.platform.startswith("linux") and threading.active_count() == 1 else "spawn"


class ReportPainter:
    """``with ReportPainter() as painter: ... painter.start(result); ... png = painter.png()``."""

    def __init__(self, method: str | None = None) -> None:
        self.method = method or start_method()
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._result: SessionResult | None = None

    def __enter__(self) -> ReportPainter:
        for stream in (sys.stdout, sys.stderr):  # a forked worker must not write out what this process had buffered
            if stream is not None:
                stream.flush()
        context = multiprocessing.get_context("fork") if self.method == "fork" else multiprocessing.get_context("spawn")
        try:
            ours, theirs = context.Pipe()
            process = context.Process(target=_serve, args=(theirs, ours), name="penctl-painter", daemon=True)
            # Born with SIGINT and SIGTERM blocked, the worker cannot meet either before it has set them
            # up (a Ctrl-C during its start-up would print a traceback from it; penctl's own SIGTERM
            # handler, copied by a fork, would too); ours are delivered once it is started.
            with signals_held(signal.SIGINT, signal.SIGTERM):
                process.start()
                self._process, self._conn = process, ours
        except (OSError, RuntimeError) as exc:  # no process, pipe or semaphore here: draw in this one
            log.debug("drawing report.png in this process: %s", exc)
        except BaseException:  # Ctrl-C, delivered as the hold ends
            self.__exit__(None, None, None)
            raise
        else:
            theirs.close()  # ours sees EOF when the worker dies
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._process is not None:
            if self._process.is_alive():
                self._process.terminate()
            self._process.join()
        self._process = self._conn = None

    def start(self, result: SessionResult) -> None:
        """Hand the pass to the worker, which starts drawing; :meth:`png` collects the picture."""
        self._result = result
        if self._conn is None:
            return
        try:
            self._conn.send(result)
        except (OSError, ValueError) as exc:  # the worker is gone
            log.debug("the painter is gone (%s): drawing in this process", exc)
            self._conn = None

    def png(self) -> bytes:
        """The PNG's bytes: from the worker, or, if it has none to give, drawn here."""
        assert self._result is not None, "start() first"
        if self._conn is not None:
            try:
                answer = self._conn.recv()
            except (EOFError, OSError) as exc:
                answer = exc
            if isinstance(answer, bytes):
                return answer
            log.debug("the painter could not draw (%s): drawing in this process", answer)
        from controller.treatment.plots import report_png

        return report_png(self._result)


def _serve(conn: Connection, commands_end: Connection) -> None:
    """The worker: import the drawing code and draw once to warm it up, then draw the one pass it is sent.

    A forked worker holds a copy of the command's end of the pipe too; it closes it first, or it would
    never see the end of the pipe when the command dies (killed, say) and would wait for ever.
    """
    commands_end.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the command ends it with SIGTERM: quietly
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    from controller.treatment.plots import report_png, warm_up

    warm_up()

    try:
        result = conn.recv()
    except (EOFError, OSError):  # the command ended before the pass did (an error, Ctrl-C)
        return
    try:
        answer: bytes | str = report_png(result)
    except Exception as exc:  # reported to the parent, which draws again and meets it there
        answer = f"{type(exc).__name__}: {exc}"
    try:
        conn.send(answer)
    except OSError:
        return
