"""Signals and the command line: Ctrl-C swallowed by a library raised again, SIGTERM as an exception,
signals held back while they must not land.

numba writes its compiled kernel to the cache from inside a callback of llvmlite's; a KeyboardInterrupt
raised there is "ignored" (printed as a traceback, and the command carried on as if never
interrupted). ``penctl`` installs :func:`redeliver_interrupts` as ``sys.unraisablehook``, so Ctrl-C
always ends the command with one line and exit 130. It waits a moment of wall time on purpose
(see :func:`_interrupt_main_soon`), through :func:`controller.host.clock.call_later`.
"""

from __future__ import annotations

import _thread
import contextlib
import functools
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

from controller.host.clock import call_later


class Terminated(BaseException):
    """SIGTERM (``kill``, a service manager, a CI runner's time-out): stop as for Ctrl-C, clean up, exit 143.

    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` on the way swallows it.
    """


def raise_terminated(_signum: int, _frame: object) -> None:
    """The SIGTERM handler of ``penctl``: unwinds the command through its clean-ups."""
    raise Terminated


def redeliver_interrupts(unraisable: Any) -> None:
    """``sys.unraisablehook``: a swallowed KeyboardInterrupt or Terminated is delivered again; anything else goes
    to Python's hook.

    Both are raised by signal handlers, wherever the main thread happens to be: inside a callback from C
    (llvmlite's object cache while numba loads the kernel, say), the exception cannot propagate and Python
    would print it as "Exception ignored" and carry on, as if the Ctrl-C or the ``kill`` had never come.
    """
    kind = unraisable.exc_type
    if kind is not None and issubclass(kind, KeyboardInterrupt):
        _signal_main_soon(signal.SIGINT)
        return
    if kind is not None and issubclass(kind, Terminated):
        _signal_main_soon(signal.SIGTERM)
        return
    sys.__unraisablehook__(unraisable)


REDELIVER_AFTER_S = 0.05
"""Long enough for the hook and the callback that swallowed the interrupt to return first."""


def _signal_main_soon(signum: int) -> None:
    """Send ``signum`` to the main thread again shortly, from a timer thread.

    Not at once: a thread that interrupted at once could do so while this hook still waits for it
    to start, and the interrupt would land in the hook and be swallowed again (a run of Ctrl-Cs at
    random moments of ``penctl treat`` saw it: a traceback, and the pass carried on). Should it
    still land in a callback, the hook re-arms. A second Ctrl-C while the timer starts is the same
    interrupt, already on its way.
    """
    with contextlib.suppress(KeyboardInterrupt, Terminated):
        call_later(REDELIVER_AFTER_S, functools.partial(_signal_main, signum), "redeliver-signal")


def _signal_main(signum: int) -> None:
    """A real signal to the main thread, which wakes it from a sleep or a wait as Ctrl-C does
    (``_thread.interrupt_main`` only sets a flag that a sleeping thread does not see)."""
    if hasattr(signal, "pthread_kill"):
        signal.pthread_kill(threading.main_thread().ident or 0, signum)
    elif signum == signal.SIGINT:
        _thread.interrupt_main()


@contextlib.contextmanager
def signals_held(*signums: int) -> Iterator[None]:
    """Block ``signums`` in this thread; any that arrive stay pending and are delivered on leaving.

    Two uses: renaming a report's files into place, which Ctrl-C or SIGTERM must not cut in half;
    and starting a worker process, which inherits the blocked signals through fork and exec, so
    none can reach it before it has set them up. Where there is no ``pthread_sigmask`` (not
    POSIX), nothing is blocked.
    """
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, set(signums))
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def signals_deferred(*signums: int) -> Iterator[None]:
    """Hold ``signums`` back for the whole process while inside, and deliver them on leaving.

    :func:`signals_held` blocks them in this thread only; the kernel then hands a signal sent to the process
    to another thread that does not block it (tqdm's monitor thread, in ``penctl treat``), and Python runs
    the handler in the main thread at once, wherever it is: an outside probe's Ctrl-C at the end of a pass
    landed between two renames of a report and left report.json new and report.png old. So from the main
    thread the handlers are swapped too, for ones that only note the signal; what was noted is raised again
    once the handlers are back. From another thread (which cannot swap handlers) it is :func:`signals_held`.
    """
    if threading.current_thread() is not threading.main_thread():
        with signals_held(*signums):
            yield
        return
    noted: list[int] = []
    previous = {signum: signal.signal(signum, lambda number, _frame: noted.append(number)) for signum in signums}
    try:
        with signals_held(*signums):
            yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        for signum in dict.fromkeys(noted):
            signal.raise_signal(signum)
