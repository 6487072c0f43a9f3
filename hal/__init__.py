"""Contracts shared by the firmware logic and every pen: backend protocol, telemetry, errors.

Importing a submodule (``hal.errors``, say) runs this file first, so it names the contracts
without importing them: each is loaded from its submodule on first use (PEP 562). ``penctl
--help`` and ``penctl --version`` then start without NumPy, which ``hal.telemetry`` needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hal.backend import (
        SKIN_TYPES,
        CartridgeInfo,
        PenBackend,
        PenIdentity,
        PenStatus,
        SettingsPort,
        SimulatedWorld,
        Skin,
        StrokeCommand,
    )
    from hal.errors import (
        BackendError,
        BackendNotFoundError,
        CommandRefusedError,
        InputError,
        PenError,
        PenOperationError,
        PenRefusedError,
        PenTimeoutError,
    )
    from hal.registry import BACKENDS, open_backend, register_backend
    from hal.telemetry import TELEMETRY_DTYPE, StrokeFlag, Telemetry, empty_telemetry

__all__ = [
    "BACKENDS",
    "SKIN_TYPES",
    "TELEMETRY_DTYPE",
    "BackendError",
    "BackendNotFoundError",
    "CartridgeInfo",
    "CommandRefusedError",
    "InputError",
    "PenBackend",
    "PenError",
    "PenIdentity",
    "PenOperationError",
    "PenRefusedError",
    "PenStatus",
    "PenTimeoutError",
    "SettingsPort",
    "SimulatedWorld",
    "Skin",
    "StrokeCommand",
    "StrokeFlag",
    "Telemetry",
    "empty_telemetry",
    "open_backend",
    "register_backend",
]

_HOME = {
    "BACKENDS": "hal.registry",
    "open_backend": "hal.registry",
    "register_backend": "hal.registry",
    "TELEMETRY_DTYPE": "hal.telemetry",
    "StrokeFlag": "hal.telemetry",
    "Telemetry": "hal.telemetry",
    "empty_telemetry": "hal.telemetry",
}


def __getattr__(name: str) -> Any:
    """Load a contract from its submodule the first time it is asked for."""
    if name not in __all__:
        raise AttributeError(f"module 'hal' has no attribute {name!r}")
    if name in _HOME:
        home = _HOME[name]
    elif name.endswith("Error"):
        home = "hal.errors"
    else:
        home = "hal.backend"
    return getattr(importlib.import_module(home), name)
