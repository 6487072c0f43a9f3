"""numba for the stroke kernels: cached on disk where it can be, and loaded without SciPy.

Why without SciPy: the first time numba loads or compiles any function it imports its NumPy
registries, and one of them (``numba.np.arraymath``) imports SciPy's BLAS bindings to learn whether
``np.dot`` and ``np.linalg`` can be compiled. Where SciPy is installed (``penctl[verify]``, the test
environment), ``scipy.linalg`` is about 60 modules and 0.1 s on the critical path of every ``penctl
treat``, for functions no kernel here calls. So that one probe is refused while the registries load:
numba then records "no BLAS", which only matters for code that uses linear algebra.

The refusal is narrow. It applies only to an import of ``scipy.linalg`` made from numba's BLAS probe
(``numba.np.linalg``), in the thread that is loading the registries, and only while it does; if
``scipy.linalg`` is already imported, nothing is refused. Anything else that imports it, before, during
(another thread) or after, gets it as usual.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

PROBE = "numba.np.linalg"
"""The module whose ``ensure_blas`` imports ``scipy.linalg.cython_blas`` (numba 0.5x-0.6x)."""
REFUSED = "scipy.linalg"


class _BlasProbeRefused:
    """A meta-path finder that makes ``import scipy.linalg`` fail when, and only when, numba's BLAS probe asks."""

    def find_spec(self, name: str, path: Sequence[str] | None, target: ModuleType | None = None) -> ModuleSpec | None:
        if name == REFUSED and _asked_by_the_probe():
            raise ImportError(f"{REFUSED} is not loaded for numba's BLAS probe (the stroke kernels use no BLAS)")
        return None


def _asked_by_the_probe() -> bool:
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_globals.get("__name__") == PROBE:
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


def _load_numba_registries() -> None:
    """Import numba's NumPy registries now, with SciPy's BLAS probe refused (see the module's docstring)."""
    if REFUSED in sys.modules or "numba.np.arraymath" in sys.modules:
        return
    finder = _BlasProbeRefused()
    sys.meta_path.insert(0, finder)
    try:
        import numba.np.arraymath  # noqa: F401  (imports numba.np.linalg, which probes for SciPy's BLAS)
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
