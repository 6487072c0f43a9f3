"""Treatment plans: the TOML file QA writes, read and validated in full before anything runs.

A plan names the pen and the cartridge, then the zones in treatment order. The
format is documented in docs/plan-format.md; :func:`load_plan` checks every key
and reports every problem at once (file, key, what was expected, what was
found). A plan with any problem raises :class:`~controller.table_reader.InputFileError`
and nothing runs.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from controller.areas import areas
from controller.limits import FirmwareLimits, applicable_depth_limit
from controller.table_reader import InputFileError, Problem, TableReader
from hal.backend import FAULT_KINDS, SKIN_TYPES

BUILTIN_PLAN = "full_face.toml"
PEN_HARDWARE_MAX_DEPTH_MM = FirmwareLimits().pen_max_depth_mm


@dataclass(frozen=True)
class PenSpec:
    """The pen: its depth maximum setting and (simulation) starting battery charge."""

    max_depth_mm: float = PEN_HARDWARE_MAX_DEPTH_MM
    battery_soc: float = 0.9


@dataclass(frozen=True)
class CartridgeSpec:
    cartridge_id: int
    needles: int
    max_depth_mm: float
    field_diameter_mm: float = 3.5


@dataclass(frozen=True)
class Zone:
    """One area treated at one depth and rate."""

    area: str
    depth_mm: float
    frequency_hz: float
    area_cm2: float
    speed_mm_s: float
    passes: int | None
    duration_s: float | None
    skin: str
    max_depth_mm: float
    """The zone maximum: the area's clinical maximum or the plan's lower one."""
    pause_s: float
    """Time with the motor still after the zone (moving to the next one)."""


@dataclass(frozen=True)
class PlannedFault:
    """A hardware fault the simulated pen should suffer (QA fault injection)."""

    at_s: float
    kind: str
    value: float | None = None


@dataclass(frozen=True)
class Plan:
    name: str
    source: str
    sha256: str
    pen: PenSpec
    cartridge: CartridgeSpec
    zones: tuple[Zone, ...]
    faults: tuple[PlannedFault, ...] = ()


def load_plan(path: str | Path | None = None) -> Plan:
    """Read and validate a plan file; ``None`` loads the built-in full-face plan."""
    if path is None:
        data = resources.files("controller").joinpath(f"plans/{BUILTIN_PLAN}").read_bytes()
        return parse_plan(data, f"<built-in {BUILTIN_PLAN}>")
    source = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputFileError(source, [Problem("", f"a readable plan file ({exc.strerror})")]) from None
    return parse_plan(data, source)


def parse_plan(data: bytes, source: str) -> Plan:
    """Validate plan bytes; ``source`` names them in messages."""
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InputFileError(source, [Problem("", f"UTF-8 text (byte {exc.start} is not)")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputFileError(source, [Problem("", f"valid TOML ({exc})")]) from None
    problems: list[Problem] = []
    root = TableReader(document, "", problems)

    header = root.sub_table("plan")
    name = header.text("name", default="unnamed plan") if header else "unnamed plan"
    if header:
        header.finish()

    pen = _read_pen(root.sub_table("pen", required=False))
    cartridge = _read_cartridge(root.sub_table("cartridge"))
    zones = tuple(
        zone for reader in root.table_array("zone") if (zone := _read_zone(reader, pen, cartridge)) is not None
    )
    faults = tuple(
        fault for reader in root.table_array("fault", min_items=0) if (fault := _read_fault(reader)) is not None
    )
    root.finish()
    if problems or cartridge is None:
        raise InputFileError(source, problems or [Problem("cartridge", "a table")])
    return Plan(str(name), source, hashlib.sha256(data).hexdigest(), pen, cartridge, zones, faults)


def _read_fault(reader: TableReader) -> PlannedFault | None:
    at_s = reader.number("at_s", 0.0, 86_400.0, "s (pen time)")
    kind = reader.choice("kind", FAULT_KINDS)
    value = reader.number("value", -1e6, 1e6, "(the fault's magnitude; see docs/hazards.md)", required=False)
    reader.finish()
    if at_s is None or kind is None:
        return None
    return PlannedFault(at_s, kind, value)


def _read_pen(reader: TableReader | None) -> PenSpec:
    if reader is None:
        return PenSpec()
    spec = PenSpec(
        max_depth_mm=reader.number(
            "max_depth_mm", 0.0, PEN_HARDWARE_MAX_DEPTH_MM, "mm", default=PEN_HARDWARE_MAX_DEPTH_MM, lo_open=True
        )
        or PEN_HARDWARE_MAX_DEPTH_MM,
        battery_soc=reader.number("battery_soc", 0.0, 1.0, "(fraction of full)", default=0.9) or 0.0,
    )
    reader.finish()
    return spec


def _read_cartridge(reader: TableReader | None) -> CartridgeSpec | None:
    if reader is None:
        return None
    cartridge_id = reader.integer("id", 1, 2**32 - 1)
    needles = reader.integer("needles", 1, 64)
    max_depth = reader.number("max_depth_mm", 0.0, 3.0, "mm", lo_open=True)
    field_diameter = reader.number("field_diameter_mm", 0.5, 10.0, "mm", default=3.5)
    reader.finish()
    if cartridge_id is None or needles is None or max_depth is None or field_diameter is None:
        return None
    return CartridgeSpec(cartridge_id, needles, max_depth, field_diameter)


def _read_zone(reader: TableReader, pen: PenSpec, cartridge: CartridgeSpec | None) -> Zone | None:
    known = areas()
    area_name = reader.choice("area", list(known))
    area = known.get(area_name or "")
    zone_cap = reader.number(
        "max_depth_mm", 0.0, area.max_depth_mm if area else 3.0, "mm", required=False, lo_open=True
    )
    zone_max = min(zone_cap, area.max_depth_mm) if (area and zone_cap) else (area.max_depth_mm if area else None)
    limit = applicable_depth_limit(
        pen.max_depth_mm, cartridge.max_depth_mm if cartridge else None, zone_max, f"{area_name} zone"
    )
    owners = f"pen {pen.max_depth_mm:g} mm"
    if cartridge:
        owners += f", cartridge {cartridge.max_depth_mm:g} mm"
    if zone_max is not None:
        owners += f", {area_name} zone {zone_max:g} mm"
    depth = reader.number(
        "depth_mm",
        0.0,
        limit.depth_mm,
        f"mm (the smallest of {owners})",
        default=area.default_depth_mm if area else None,
        lo_open=True,
    )
    lim = FirmwareLimits()
    frequency = reader.number("frequency_hz", lim.min_frequency_hz, lim.max_frequency_hz, "Hz")
    area_cm2 = reader.number("area_cm2", 0.0, 2000.0, "cm2", lo_open=True)
    speed = reader.number("speed_mm_s", 0.0, 500.0, "mm/s", lo_open=True)
    passes = reader.integer("passes", 1, 20, required=False)
    duration = reader.number("duration_s", 0.0, 3600.0, "s", required=False, lo_open=True)
    if reader.has("passes") == reader.has("duration_s"):
        reader.problem("passes", "exactly one of passes (whole passes over the zone) or duration_s (seconds)")
    skin = reader.choice("skin", SKIN_TYPES, default="normal")
    pause = reader.number("pause_s", 0.0, 600.0, "s", default=5.0)
    reader.finish()
    values = (area_name, depth, frequency, area_cm2, speed, skin, pause, zone_max)
    if any(v is None for v in values) or (passes is None and duration is None):
        return None
    return Zone(
        str(area_name),
        float(depth or 0),
        float(frequency or 0),
        float(area_cm2 or 0),
        float(speed or 0),
        passes,
        duration,
        str(skin),
        float(zone_max or 0),
        float(pause or 0),
    )
