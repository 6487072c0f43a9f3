"""Draw ``report.png`` in a second process, which imports matplotlib while this one runs the pass.

Why: of a warm ``penctl treat`` on the built-in plan the pass itself is about 30 ms. What the
user waits for is loading numba and the kernel (about 0.3 s warm, a second more the first time),
importing matplotlib (about 0.3 s) and drawing (about 0.3 s of work). The import needs nothing from
the pass, and the machines have two cores or more. So the painter starts first: its process
imports matplotlib while this one loads the kernel and simulates, and lays out the picture's upper
part; a helper forked from it (:class:`LowerHelper`, matplotlib already loaded) lays out the lower
part. Once the pass is over, this process only writes report.json and the patient sheet, so the
two parts are drawn at the same time on the two cores, and the worker stacks and encodes them.
docs/performance.md gives the figures.

- **Same picture.** The worker starts before matplotlib is imported anywhere, gets the pass's
  result pickled, and sends back the PNG's bytes, which this process writes like any other file of
  the report. It draws with the same functions as :func:`plot_report`, so the bytes are the same
  (tests hold them equal, for both ways of starting it, and whatever happens to the helper).
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

import contextlib
import logging
import multiprocessing
import os
import pickle
import signal
import sys
import threading
from collections.abc import Iterator
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any

from controller.host.collector import off_for_good
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
    """``with ReportPainter() as painter: ... painter.expect(maps); ... painter.start(result); ... painter.png()``."""

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
            with signals_held(signal.SIGINT, signal.SIGTERM), _spawned_ignoring_ctrl_c(self.method):
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

    def expect(self, maps: int) -> None:
        """Tell the worker how many zones the plan has, before the pass: the lower part is laid out for as many
        density maps (a pass where a zone never ran has fewer, and is laid out again when it comes)."""
        self._send(maps)

    def start(self, result: SessionResult) -> None:
        """Hand the pass to the worker, which starts drawing; :meth:`png` collects the picture."""
        self._result = result
        self._send(result)

    def _send(self, message: SessionResult | int) -> None:
        if self._conn is None:
            return
        try:
            self._conn.send(message)
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


@contextlib.contextmanager
def _spawned_ignoring_ctrl_c(method: str) -> Iterator[None]:
    """A spawned worker is a new interpreter, and the signal mask does not survive its start: a Ctrl-C in its
    first few hundred milliseconds killed it, or printed a KeyboardInterrupt traceback from it. An ignored
    signal does survive exec, so SIGINT is ignored here while the worker starts (SIGINT is held, and one that
    was already pending is kept: it is delivered here as the hold ends). Only the main thread can do that;
    a fork needs none of it.
    """
    on_main_thread = threading.current_thread() is threading.main_thread()
    if method == "fork" or not on_main_thread or signal.SIGINT in _pending():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _pending() -> set[int]:
    return set(signal.sigpending()) if hasattr(signal, "sigpending") else set()


def _serve(conn: Connection, commands_end: Connection) -> None:
    """The worker: import the drawing code; on the plan's number of zones (:meth:`ReportPainter.expect`), start a
    helper that lays out the lower part while this process lays out the upper; then draw the one pass it is sent,
    with the helper, and send back the PNG.

    The helper is started before the upper part is laid out whenever the zone count is already there (it is sent
    as soon as the plan is read, long before matplotlib is imported): the two layouts then take their time side
    by side, and the helper is ready for the pass when it comes.

    A forked worker holds a copy of the command's end of the pipe too; it closes it first, or it would
    never see the end of the pipe when the command dies (killed, say) and would wait for ever.
    """
    commands_end.close()
    off_for_good()  # one picture, then the process ends: the cyclic collector only cost time (about 60 ms)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the command ends it with SIGTERM: quietly
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})  # ignored: none stays pending
    from controller.treatment import plots

    helper = LowerHelper(None, None)
    try:
        try:
            first = _receive(conn) if conn.poll(0) else None  # the zone count, sent as soon as the plan was read
            if first is not None:  # the helper lays out the lower part while this process lays out the upper
                helper = _start_helper(_maps(first), conn)
            upper = plots.upper_layout()
            log.debug("painter: matplotlib imported, upper part laid out")
            if first is None:
                first = _receive(conn)
                helper = _start_helper(_maps(first), conn)
            payload, message = _receive(conn) if _maps(first) is not None else first  # the pass
        except (EOFError, OSError):  # the command ended before the pass did (an error, Ctrl-C)
            return
        except Exception as exc:  # never a traceback from here: the command draws the picture itself
            log.debug("painter: %s: %s", type(exc).__name__, exc)
            return
        answer = _draw(plots, upper, helper, payload, message)
    finally:
        helper.stop()
    try:
        conn.send(answer)
    except OSError:
        return


def _start_helper(maps: int | None, conn: Connection) -> LowerHelper:
    """The helper, started; from then on the command's SIGTERM (how it ends this process) stops the helper and
    waits for it before this process ends, so the command's wait for this process covers the helper too: ended by
    the default action, this process left the helper drawing for up to 0.12 s after the command had exited (an
    outside probe's finding)."""

    def end(_signum: int, _frame: object) -> None:
        try:
            helper.stop()
        finally:  # whatever stop met (a pipe closed twice), no traceback: this process ends here
            os._exit(0)

    with signals_held(signal.SIGTERM):  # one between the fork and the handler waits for the handler
        helper = LowerHelper.start(maps, conn)
        if helper.started:
            signal.signal(signal.SIGTERM, end)
    return helper


def _maps(message: tuple[bytes, Any]) -> int | None:
    """The zone count, if the message is one (:meth:`ReportPainter.expect`); None if it is the pass itself."""
    return message[1] if isinstance(message[1], int) else None


def _receive(conn: Connection) -> tuple[bytes, Any]:
    """The next message from the command: its bytes (to hand on to the helper as they are) and what they hold."""
    payload = conn.recv_bytes()
    return payload, pickle.loads(payload)


def _draw(plots: ModuleType, upper: Any, helper: LowerHelper, payload: bytes, result: SessionResult) -> bytes | str:
    """The PNG of the pass, the lower part from the helper where it has one; or what went wrong, for the parent to
    draw again and meet there. The pass is handed to the helper from a thread: a pass of a few hundred kilobytes
    fills a pipe, and this process is not to wait for the helper to read it before drawing."""
    from controller.treatment.raster import encode_png

    handing = threading.Thread(target=helper.send, args=(payload,), daemon=True)
    handing.start()
    log.debug("painter: drawing the pass, helper %s", "started" if helper.started else "unavailable")
    try:
        top = plots.draw_upper(upper, result)
        log.debug("painter: upper part drawn")
        handing.join()
        bottom = helper.pixels()
        if bottom is None:
            bottom = plots.draw_lower(plots.lower_layout(len(plots.mapped(result))), result)
        answer: bytes | str = encode_png([top, bottom])
        log.debug("painter: PNG encoded")
    except Exception as exc:  # reported to the parent, which draws again and meets it there
        answer = f"{type(exc).__name__}: {exc}"
    return answer


class LowerHelper:
    """The lower part of the picture (the density maps) drawn in a process forked from the worker.

    Why: drawing the whole picture after the pass took 0.35-0.4 s, all of it on the critical path; the two
    parts take about the same time and the machines have two cores, which the command leaves to its painter
    once the pass is over. The helper is forked from the worker once matplotlib is imported and the plan's
    zones are known, so it starts in a millisecond with nothing to import. If it cannot start, or dies, or
    fails, the worker draws the lower part itself: the picture is the same either way.
    """

    def __init__(self, pid: int | None, conn: Connection | None) -> None:
        self._pid, self._conn = pid, conn

    @classmethod
    def start(cls, maps: int | None, commands_pipe: Connection) -> LowerHelper:
        if not hasattr(os, "fork") or not sys.platform.startswith("linux"):
            return cls(None, None)
        ours, theirs = multiprocessing.Pipe()
        try:
            pid = os.fork()
        except OSError as exc:
            log.debug("no helper for the lower part (%s): the worker draws it", exc)
            return cls(None, None)
        if pid == 0:  # the helper; it never returns into the worker's code
            try:
                if hasattr(signal, "pthread_sigmask"):  # born with the worker's SIGTERM held: ended by it as before
                    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
                ours.close()
                commands_pipe.close()  # the command must see EOF when the worker dies, whatever the helper does
                _draw_lower(theirs, maps)
            finally:
                os._exit(0)
        theirs.close()
        return cls(pid, ours)

    @property
    def started(self) -> bool:
        return self._conn is not None

    def send(self, payload: bytes) -> None:
        if self._conn is None:
            return
        try:
            self._conn.send_bytes(payload)
        except OSError:
            self._conn = None

    def pixels(self) -> Any:
        """The lower part's pixels, or None if the helper has none to give (the worker then draws them)."""
        if self._conn is None:
            return None
        try:
            answer = self._conn.recv()
        except (EOFError, OSError):
            return None
        return None if isinstance(answer, str) else answer

    def stop(self) -> None:
        """End the helper and reap it; safe to call again, also from the SIGTERM handler while a call is under way."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.close()
        pid, self._pid = self._pid, None
        if pid is not None:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)


def _draw_lower(conn: Connection, maps: int | None) -> None:
    """The helper: lay out the lower part for the plan's zones, then draw it for the pass it is sent."""
    from controller.treatment import plots

    layout = plots.lower_layout(maps) if maps is not None else None
    try:
        result = pickle.loads(conn.recv_bytes())
    except (EOFError, OSError):
        return
    try:
        count = len(plots.mapped(result))
        if layout is None or len(layout.maps) != count:  # zones that never ran have no map
            layout = plots.lower_layout(count)
        answer: Any = plots.draw_lower(layout, result)
        log.debug("painter's helper: lower part drawn")
    except Exception as exc:  # the worker draws it again and meets it there
        answer = f"{type(exc).__name__}: {exc}"
    with contextlib.suppress(OSError):
        conn.send(answer)
