"""Contracts shared by the firmware logic and every pen: backend protocol, telemetry, errors."""

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
