"""numba for the stroke kernels: cached on disk where it can be, and loaded without SciPy or YAML.

Why without them: numba imports three things on its way to a first compiled call that a stroke kernel never
uses, each where the ``[verify]`` or ``[test]`` extra installs it (the main install has neither):

- ``numba.np.arraymath`` imports SciPy's BLAS bindings (``numba.np.linalg``) to learn whether ``np.dot``
  and ``np.linalg`` can be compiled: ``scipy.linalg``, about 60 modules and 0.1 s;
- ``numba`` imports ``scipy`` to check that it is at least 1.0: about 6 ms;
- ``numba.core.config`` imports ``yaml`` to read a ``.numba_config.yaml`` in the working directory: about 9 ms.

All are on the critical path of every ``penctl treat``. So while the registries load, those imports are refused:
numba then records "no BLAS" (which only matters for code that uses linear algebra), skips a version check of a
SciPy it does not use, and reads no configuration file, which is what it does anyway when there is none. Where
there is one, ``yaml`` is not refused.

The refusal is narrow. It applies only to an import asked by those numba modules themselves (the nearest
caller outside the import machinery), in the thread that is loading the registries, and only while it does; a
module already imported is never refused. Anything else that imports SciPy or YAML, before, during (another
thread) or after, gets it as usual.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Sequence
from importlib.machinery import ModuleSpec
from types import FrameType, ModuleType
from typing import Any

NUMBA_CONFIG_FILE = ".numba_config.yaml"
"""The file ``numba.core.config`` reads from the working directory, with ``yaml``, when it is there."""


def refusals() -> dict[str, frozenset[str]]:
    """Who is refused what: numba's module -> the top-level packages it does not get (numba 0.5x-0.6x)."""
    refused = {"numba.np.linalg": frozenset({"scipy"}), "numba": frozenset({"scipy"})}
    if not os.path.isfile(NUMBA_CONFIG_FILE):
        refused["numba.core.config"] = frozenset({"yaml"})
    return refused


class _UnusedImportsRefused:
    """A meta-path finder that makes an import fail when, and only when, one of :func:`refusals` asks for it."""

    def __init__(self, refused: dict[str, frozenset[str]]) -> None:
        self.refused = refused
        self.thread = threading.get_ident()

    def find_spec(self, name: str, path: Sequence[str] | None, target: ModuleType | None = None) -> ModuleSpec | None:
        if threading.get_ident() != self.thread:
            return None
        asker = _asking_module(sys._getframe(1))
        if name.partition(".")[0] in self.refused.get(asker, ()):
            raise ImportError(f"{name} is not loaded for {asker} (the stroke kernels do not use it)")
        return None


def _asking_module(frame: FrameType | None) -> str:
    """The module of the nearest caller outside the import machinery (``importlib._bootstrap``)."""
    while frame is not None and frame.f_globals.get("__name__", "").startswith(("importlib", "_frozen_importlib")):
        frame = frame.f_back
    return str(frame.f_globals.get("__name__", "")) if frame is not None else ""


def _load_numba_registries() -> None:
    """Import numba's NumPy registries now, with the imports they do not need refused (see the module's docstring)."""
    if "numba.np.arraymath" in sys.modules:
        return
    finder = _UnusedImportsRefused(refusals())
    sys.meta_path.insert(0, finder)
    try:
        import numba.np.arraymath  # noqa: F401  (imports numba, its config, and numba.np.linalg's BLAS probe)
    finally:
        sys.meta_path.remove(finder)


_load_numba_registries()

from numba import njit  # noqa: E402  (after the registries, whose import the line above arranges)


def compiled(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """``njit`` with the on-disk cache when there is a place to keep it, without it otherwise.

    numba keeps compiled code in ``__pycache__`` next to the kernel's file, or in ``NUMBA_CACHE_DIR``,
    or in the user's cache directory, whichever it can write. A read-only install with no
    writable home makes ``cache=True`` raise at import; the kernel then compiles on every
    run (about a second) instead of failing.
    """

    def wrap(function: Callable[..., Any]) -> Any:
        try:
            return njit(cache=True, **options)(function)
        except RuntimeError:  # "cannot cache function ...: no locator available"
            return njit(cache=False, **options)(function)

    return wrap
