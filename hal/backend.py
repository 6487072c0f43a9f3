"""The contract between the firmware logic and a pen.

The controller drives every pen, simulated or real, through :class:`PenBackend`.
It is a ``typing.Protocol`` (as in Opentrons' hardware backends): the simulated
backend and the serial backend both satisfy it without a shared base class, and
a test double needs nothing but the methods.

Commands take effect at the next stroke boundary, never in the middle of a
stroke, because a depth change mid-stroke would give a stroke that is neither
the old depth nor the new one. Retract is the exception: it acts at once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from hal.settings import SettingValue
from hal.skin import SKIN_TYPES, Skin

if TYPE_CHECKING:  # NumPy's record types: a plan or settings file is checked without loading NumPy
    from hal.telemetry import Telemetry


@dataclass(kw_only=True, frozen=True)
class StrokeCommand:
    """What the pen should do from the next stroke boundary on."""

    depth_mm: float
    frequency_hz: float
    motor_enabled: bool = True


@dataclass(kw_only=True, frozen=True)
class CartridgeInfo:
    """A needle cartridge as its id chip describes it: the one cartridge record of the project.

    Plans name the cartridge they expect with it, the simulated pen holds one as
    its attached hardware, and a pen's status reports it with the strokes it has
    delivered and whether the pen's store locks it out.
    """

    cartridge_id: int
    needles: int = 12
    max_depth_mm: float = 2.5
    """The deepest stroke the cartridge is rated for."""
    field_diameter_mm: float = 3.5
    """Diameter of the disc the needle tips sit in."""
    strokes_used: int = 0
    """Strokes this cartridge has already delivered (0 for a fresh one)."""
    locked: bool = False
    """The pen's store lists this id as used on a patient: a single-use cartridge refused again."""


CARTRIDGE_RANGES: dict[str, tuple[float, float]] = {
    "cartridge_id": (1, 2**32 - 1),
    "needles": (1, 64),
    "max_depth_mm": (0.0, 3.0),
    "field_diameter_mm": (0.5, 10.0),
}
"""What a cartridge's id chip may report: the ranges plan files and the wire are checked against.
The depth rating must be above its lower bound; the others may equal theirs."""


def cartridge_problem(cartridge: CartridgeInfo) -> str | None:
    """None if the cartridge's id-chip values are plausible, else the first field out of range."""
    for name, (low, high) in CARTRIDGE_RANGES.items():
        value = float(getattr(cartridge, name))
        above = value > low if name == "max_depth_mm" else value >= low
        if not (math.isfinite(value) and above and value <= high):
            lowest = f"above {low:g}" if name == "max_depth_mm" else f"{low:g}"
            return f"cartridge {name} {value:g}: expected {lowest} to {high:g}"
    return None


@dataclass(kw_only=True, frozen=True)
class PenIdentity:
    """What the pen says about itself in the handshake."""

    model: str
    serial_number: str
    firmware_version: str
    protocol_version: int
    settings_schema_version: int
    max_depth_mm: float
    min_frequency_hz: float
    max_frequency_hz: float


@dataclass(kw_only=True, frozen=True)
class PenStatus:
    """A snapshot of the pen's sensors, read when the firmware needs it (self-test, arming)."""

    time_s: float
    battery_v: float
    battery_soc: float
    motor_temp_c: float
    tip_mm: float
    cartridge: CartridgeInfo | None
    battery_temp_c: float = 25.0
    pen_depth_limit_mm: float | None = None
    """The deepest stroke the pen itself accepts now: the smallest of its hardware maximum, its
    ``depth.max_mm`` setting and the cartridge's rating (0 without a usable cartridge). None when
    the pen does not say (a replayed recording)."""


@runtime_checkable
class PenBackend(Protocol):
    """A pen the controller can drive.

    ``speculative`` tells the stroke loop how to read telemetry. A speculative
    backend (the simulator) computes strokes ahead of time on request, so the
    loop may ask for a large batch and then call :meth:`discard_after` to keep
    only the strokes up to the one it acted on: the result is identical to
    stepping one stroke at a time. A non-speculative backend (a real pen)
    returns strokes that have already happened.
    """

    name: str
    speculative: bool
    simulated: bool
    """True for simulators (in process or behind a link); they also offer :class:`SimulatedWorld`."""

    def identify(self) -> PenIdentity:
        """Return the pen's identity (model, serial, firmware, limits)."""
        ...

    def status(self) -> PenStatus:
        """Return the current sensor readings and the attached cartridge."""
        ...

    def apply(self, command: StrokeCommand) -> None:
        """Queue ``command`` to take effect at the next stroke boundary."""
        ...

    def read_strokes(self, max_strokes: int) -> Telemetry:
        """Run (simulator) or collect (real pen) up to ``max_strokes`` strokes' telemetry."""
        ...

    def discard_after(self, keep: int) -> None:
        """Keep only the first ``keep`` strokes of the last batch (speculative backends)."""
        ...

    def retract(self) -> None:
        """Pull the needles back and disable the motor at once, mid-stroke if need be."""
        ...

    def close(self) -> None:
        """Retract and release the pen; safe to call twice."""
        ...


@runtime_checkable
class SimulatedWorld(Protocol):
    """What a simulated backend must be told that a real pen finds out for itself.

    A real pen rests on real skin and lives in real time. A simulator has to be
    told which skin the cartridge rests on and when time passes with the motor
    still (pauses, moving between zones); the session runner calls these only
    when the backend offers them.
    """

    def set_skin(self, skin: str) -> None:
        """Place the pen on skin of the named type (sensitive, normal, thick)."""
        ...

    def wait(self, seconds: float) -> None:
        """Let ``seconds`` of pen time pass with the motor still."""
        ...

    def reset_world(self, seed: int, cartridge: CartridgeInfo | None, battery_soc: float) -> None:
        """Start the simulated hardware afresh: seeded noise, this cartridge, this charge.

        The pen's settings store is not touched: it is non-volatile.
        """
        ...

    def inject_fault(self, at_s: float, kind: str, value: float | None = None) -> None:
        """Schedule a hardware fault (hal.faults.FaultKind) at pen time ``at_s``."""
        ...


@runtime_checkable
class SettingsPort(Protocol):
    """A pen whose settings can be read and flashed: stage, then one commit, then read back."""

    def read_settings(self) -> dict[str, SettingValue]:
        """Every setting in force."""
        ...

    def stage_settings(self, changes: Mapping[str, SettingValue]) -> None:
        """Validate and stage ``changes``; on any problem nothing is staged and PenRefusedError says why."""
        ...

    def commit_settings(self) -> None:
        """Write the staged block to non-volatile memory as one image."""
        ...

    def abort_settings(self) -> None:
        """Drop whatever is staged."""
        ...

    def stage_factory_reset(self) -> None:
        """Stage factory defaults (factory-set values such as the serial number stay)."""
        ...

    def read_alarms(self) -> list[int]:
        """Alarm codes the pen holds (see hal.protocol.Alarm)."""
        ...

    def clear_alarm(self, code: int) -> None:
        """Acknowledge and clear one alarm."""
        ...


__all__ = [
    "CARTRIDGE_RANGES",
    "SKIN_TYPES",
    "CartridgeInfo",
    "PenBackend",
    "PenIdentity",
    "PenStatus",
    "SettingsPort",
    "SimulatedWorld",
    "Skin",
    "StrokeCommand",
    "cartridge_problem",
]
