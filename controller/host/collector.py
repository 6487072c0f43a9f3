"""The cyclic garbage collector held off while a command loads its libraries, and kept off its start-up objects.

Why: importing numba and loading a compiled kernel creates a few hundred thousand objects, and the cyclic
collector walks all that survive each time its counters fill: about 30 ms of a warm ``penctl treat``, whose
whole pass is about as long, spent finding no garbage (modules and their functions live until the process
ends). So the collector waits while the libraries load; then everything loaded so far is frozen
(``gc.freeze``: kept out of every later collection) and the collector runs again as usual, for the pass and
whatever else the command does, however long it runs. The report painter, a process that draws one picture
and ends, keeps it off for good (:func:`off_for_good`).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def held_while_loading() -> Iterator[None]:
    """Inside: no cyclic collection. After: what was loaded is frozen and collection goes on as before."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def off_for_good() -> None:
    """For a short-lived process with a bounded amount of work (one picture): no cyclic collection at all."""
    gc.disable()
