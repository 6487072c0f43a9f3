"""``penctl``: the command line (the composition root); each subcommand in its own module."""

import os as _os
import signal as _signal


def _interrupted_while_starting(_signum: int, _frame: object) -> None:
    """Ctrl-C before ``main`` takes over (while the imports run): one line, exit 130, no traceback."""
    _os.write(2, b"penctl: interrupted\n")
    _os._exit(130)


try:  # noqa: SIM105  first of all: an outside probe's Ctrl-C 10-20 ms in landed in the next import, with a traceback
    _signal.signal(_signal.SIGINT, _interrupted_while_starting)
except ValueError:  # imported from another thread than the main one: its program's own handling stands
    pass

for _pool in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    # One BLAS thread unless the user says otherwise, set before NumPy loads: no command does
    # linear algebra worth a thread pool, and an idle pool spins (about 0.13 s of CPU per library,
    # and NumPy, SciPy and numba each load one) on the core the report painter and the Dask
    # workers need. Processes started from here inherit it.
    _os.environ.setdefault(_pool, "1")

# ruff: noqa: E402
from controller.cli.common import (
    EXIT_FAULT,
    EXIT_INPUT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_OUTPUT,
    EXIT_SHORT,
    EXIT_TERMINATED,
    EXIT_UNVERIFIED,
)
from controller.cli.main import build_parser, main

__all__ = [
    "EXIT_FAULT",
    "EXIT_INPUT",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_OUTPUT",
    "EXIT_SHORT",
    "EXIT_TERMINATED",
    "EXIT_UNVERIFIED",
    "build_parser",
    "main",
]
