"""Backends by name, imported only when asked for.

Like python-can's ``BACKENDS`` table: ``hal/`` names the module and class of each
backend but never imports ``sim/`` itself, so the contracts stay free of the
simulator and a backend whose import fails raises a named :class:`BackendError`
instead of an ImportError from deep inside.
"""

from __future__ import annotations

import importlib
from typing import Any

from hal.backend import PenBackend
from hal.errors import BackendError, BackendNotFoundError

BACKENDS: dict[str, tuple[str, str]] = {
    "sim": ("sim.backend", "SimBackend"),
    "replay": ("hal.replay_backend", "ReplayBackend"),
    "serial": ("hal.serial_backend", "SerialBackend"),
    "recorded": ("hal.recording", "RecordedLinkBackend"),
}
"""Backend name -> (module, class name)."""


def register_backend(name: str, module: str, class_name: str) -> None:
    """Make a backend available under ``name`` (third-party backends use this)."""
    BACKENDS[name] = (module, class_name)


def backend_class(name: str) -> type[Any]:
    """Import and return the class registered as ``name``."""
    try:
        module_name, class_name = BACKENDS[name]
    except KeyError:
        known = ", ".join(sorted(BACKENDS))
        raise BackendNotFoundError(f"no backend named {name!r} (known: {known})") from None
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendError(f"backend {name!r} could not be imported from {module_name}: {exc}") from exc
    try:
        cls: type[Any] = getattr(module, class_name)
    except AttributeError:
        raise BackendError(f"backend {name!r}: {module_name} has no class {class_name}") from None
    return cls


def open_backend(name: str, **options: Any) -> PenBackend:
    """Build the backend registered as ``name`` with ``options``."""
    backend = backend_class(name)(**options)
    if not isinstance(backend, PenBackend):
        raise BackendError(f"backend {name!r} does not implement the PenBackend protocol")
    return backend
