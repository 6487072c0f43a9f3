"""Treatment plans: the TOML file QA writes, read and validated in full before anything runs.

A plan names the pen and the cartridge, then the zones in treatment order. The
format is documented in docs/plan-format.md; :func:`load_plan` checks every key
and reports every problem at once (file, key, what was expected, what was
found). A plan with any problem raises :class:`~controller.host.table_reader.InputFileError`
and nothing runs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from controller.firmware.limits import FirmwareLimits, applicable_depth_limit
from controller.host.table_reader import InputFileError, Problem, TableReader, is_finite_number, parse_document
from controller.treatment.names import read_conditions, read_name
from controller.treatment.presets import areas, default_depth, indications
from controller.treatment.screening import Finding, HistoryItem, Patient, Screening, history_kinds
from hal.backend import CARTRIDGE_RANGES, SKIN_TYPES, CartridgeInfo
from hal.errors import InputError
from hal.faults import FAULTS, LATEST_FAULT_S, FaultKind

BUILTIN_PLAN = "full_face.toml"
PEN_HARDWARE_MAX_DEPTH_MM = FirmwareLimits().pen_max_depth_mm
PEN_DRIVES = ("voice_coil", "rotary_cam")
"""The simulated pen's drives (sim/drives.py): a voice coil, or a DC motor and cam with a depth stop."""


@dataclass(kw_only=True, frozen=True)
class PenSpec:
    """The pen: its depth maximum setting, and (simulation) its starting battery charge and drive."""

    max_depth_mm: float = PEN_HARDWARE_MAX_DEPTH_MM
    battery_soc: float = 0.9
    drive: str = PEN_DRIVES[0]
    drive_stated: bool = False
    """The plan names its drive (not the default): a pen over a link with another drive is not the one it is for."""


@dataclass(kw_only=True, frozen=True)
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
    """The zone maximum: the area's clinical maximum, the plan's lower one, or an overridden depth."""
    pause_s: float
    """Time with the motor still after the zone (moving to the next one)."""
    indication: str | None = None
    override_reason: str | None = None
    """Set when the depth exceeds the area's clinical maximum by a documented decision."""
    default_depth: bool = False
    """The depth came from the presets (area, indication, skin type), not from the plan."""
    target_density_per_cm2: tuple[float, float] = (250.0, 300.0)

    def seconds(self, field_diameter_mm: float) -> float:
        """How long the zone is stroked: its duration, or its passes over the raster at the travel speed."""
        if self.duration_s is not None:
            return self.duration_s
        from controller.treatment.coverage import RasterPath  # NumPy: a refused plan never needs it

        path = RasterPath.for_area(self.area_cm2, field_diameter_mm)
        return (self.passes or 1) * path.length_mm / self.speed_mm_s

    def strokes(self, field_diameter_mm: float) -> int:
        """Strokes the zone takes: its duration, or its passes over the raster at the travel speed."""
        return max(1, round(self.seconds(field_diameter_mm) * self.frequency_hz))

    def stroking_seconds(self, field_diameter_mm: float) -> float:
        """How long those strokes last on the pen, whose timer counts whole ticks: at 130 Hz a stroke is
        185 ticks of 24 kHz (129.73 Hz), so an hour of 130 Hz strokes takes 3,607.5 s."""
        from hal.telemetry import PEN_TICK_HZ

        ticks = max(2, round(PEN_TICK_HZ / self.frequency_hz))
        return self.strokes(field_diameter_mm) * ticks / PEN_TICK_HZ


@dataclass(kw_only=True, frozen=True)
class PlannedFault:
    """A hardware fault the simulated pen should suffer (QA fault injection)."""

    at_s: float
    kind: str
    value: float | None = None


@dataclass(kw_only=True, frozen=True)
class Plan:
    name: str
    source: str
    sha256: str
    pen: PenSpec
    cartridge: CartridgeInfo
    zones: tuple[Zone, ...]
    faults: tuple[PlannedFault, ...] = ()
    start: dt.datetime | None = None
    patient: Patient | None = None
    screening: Screening | None = None
    interval_override_reason: str | None = None
    preparation_min: float = 0.0
    """Minutes of preparation before the anaesthetic (cleansing, photographs): part of the whole session."""
    cautions: tuple[Finding, ...] = ()
    """Every caution for this session (screening and session length), printed before the pass."""
    text: str = ""
    """The plan file as read (UTF-8 TOML): the report carries it, so a report can be rerun from itself alone."""

    def planned_seconds(self) -> float:
        """Stroking time plus pauses between zones."""
        field = self.cartridge.field_diameter_mm
        return sum(z.stroking_seconds(field) for z in self.zones) + sum(z.pause_s for z in self.zones[:-1])


def load_plan(path: str | Path | None = None) -> Plan:
    """Read and validate a plan file; ``None`` loads the built-in full-face plan."""
    if path is None:
        data = resources.files("controller.treatment").joinpath(f"plans/{BUILTIN_PLAN}").read_bytes()
        return parse_plan(data, f"<built-in {BUILTIN_PLAN}>")
    source = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputFileError(source, [Problem(key="", expected=f"a readable plan file ({exc.strerror})")]) from None
    return parse_plan(data, source)


def parse_plan(data: bytes, source: str) -> Plan:
    """Validate plan bytes; ``source`` names them in messages."""
    document = parse_document(data, source, "toml")
    assert isinstance(document, dict)
    problems: list[Problem] = []
    root = TableReader(table=document, path="", problems=problems)

    header = root.sub_table("plan")
    name, start, interval_override, preparation = "unnamed plan", None, None, 0.0
    if header:
        name = header.text("name", default="unnamed plan") or name
        start = header.local_datetime("start", required=False)
        interval_override = header.text("interval_override_reason", required=False, max_len=500, blank=False)
        preparation = header.number("preparation_min", 0.0, 120.0, "min", default=0.0) or 0.0
        header.finish()

    pen = _read_pen(root.sub_table("pen", required=False))
    cartridge = read_cartridge(root.sub_table("cartridge"))
    zones = tuple(
        zone for reader in root.table_array("zone") if (zone := _read_zone(reader, pen, cartridge)) is not None
    )
    faults = tuple(
        fault for reader in root.table_array("fault", min_items=0) if (fault := _read_fault(reader)) is not None
    )
    patient_reader = root.sub_table("patient", required=False)
    patient = _read_patient(patient_reader) if patient_reader else None
    root.finish()
    if problems or cartridge is None:
        raise InputFileError(source, problems or [Problem(key="cartridge", expected="a table")])
    plan = Plan(
        name=str(name),
        source=source,
        sha256=hashlib.sha256(data).hexdigest(),
        pen=pen,
        cartridge=cartridge,
        zones=zones,
        faults=faults,
        start=start,
        patient=patient,
        screening=None,
        interval_override_reason=interval_override,
        preparation_min=preparation,
        text=data.decode("utf-8"),
    )
    from controller.treatment.session_checks import check_session

    return check_session(plan)


def _read_patient(reader: TableReader) -> Patient | None:
    pid = reader.text("id", default="anonymous", max_len=64)
    age = reader.integer("age", 0, 120)
    fitzpatrick = reader.integer("fitzpatrick", 1, 6)
    pregnant = reader.boolean("pregnant", False)
    breastfeeding = reader.boolean("breastfeeding", False)
    found = read_conditions(reader)
    applied = reader.local_datetime("anaesthetic_applied", required=False)
    history = []
    for item in reader.table_array("history", min_items=0):
        kind = item.choice("kind", history_kinds())
        date = item.date("date")
        area = read_name(item, "area", "area", item.path, required=False)
        indication = read_name(item, "indication", "indication", item.path, required=False)
        if indication and kind != "microneedling":
            item.problem("indication", "no indication except on a microneedling session", indication)
        item.finish()
        if kind and date:
            history.append(HistoryItem(kind=kind, date=date, area=area, indication=indication))
    reader.finish()
    if age is None or fitzpatrick is None:
        return None
    return Patient(
        id=str(pid),
        age=age,
        fitzpatrick=fitzpatrick,
        pregnant=pregnant,
        breastfeeding=breastfeeding,
        conditions=tuple(found),
        history=tuple(history),
        anaesthetic_applied=applied,
    )


def _read_fault(reader: TableReader) -> PlannedFault | None:
    at_s = reader.number("at_s", 0.0, LATEST_FAULT_S, "s (pen time)")
    kind = reader.choice("kind", list(FAULTS))
    spec = FAULTS[FaultKind(kind)] if kind else None
    low, high, unit = (spec.low, spec.high, f"{spec.unit} ({spec.meaning})".strip()) if spec else (0.0, 0.0, "")
    value = reader.number("value", low, high, unit, required=False)
    if spec is not None and value is not None and spec.problem(value):
        reader.problem("value", spec.expected(), value)
        value = None
    reader.finish()
    if at_s is None or kind is None or (reader.has("value") and value is None):
        return None
    return PlannedFault(at_s=at_s, kind=kind, value=value)


def _read_pen(reader: TableReader | None) -> PenSpec:
    if reader is None:
        return PenSpec()
    spec = PenSpec(
        max_depth_mm=reader.number(
            "max_depth_mm", 0.0, PEN_HARDWARE_MAX_DEPTH_MM, "mm", default=PEN_HARDWARE_MAX_DEPTH_MM, lo_open=True
        )
        or PEN_HARDWARE_MAX_DEPTH_MM,
        battery_soc=reader.number("battery_soc", 0.0, 1.0, "(fraction of full)", default=0.9) or 0.0,
        drive=reader.choice("drive", PEN_DRIVES, default=PEN_DRIVES[0]) or PEN_DRIVES[0],
        drive_stated=reader.has("drive"),
    )
    reader.finish()
    return spec


def read_cartridge(reader: TableReader | None) -> CartridgeInfo | None:
    if reader is None:
        return None
    ids, needle_range = CARTRIDGE_RANGES["cartridge_id"], CARTRIDGE_RANGES["needles"]
    cartridge_id = reader.integer("id", int(ids[0]), int(ids[1]))
    needles = reader.integer("needles", int(needle_range[0]), int(needle_range[1]))
    max_depth = reader.number("max_depth_mm", *CARTRIDGE_RANGES["max_depth_mm"], "mm", lo_open=True)
    field_diameter = reader.number("field_diameter_mm", *CARTRIDGE_RANGES["field_diameter_mm"], "mm", default=3.5)
    reader.finish()
    if cartridge_id is None or needles is None or max_depth is None or field_diameter is None:
        return None
    return CartridgeInfo(
        cartridge_id=cartridge_id, needles=needles, max_depth_mm=max_depth, field_diameter_mm=field_diameter
    )


def _read_zone(reader: TableReader, pen: PenSpec, cartridge: CartridgeInfo | None) -> Zone | None:
    known = areas()
    area_name = read_name(reader, "area", "area", reader.path)
    area = known.get(area_name or "")
    if area_name:  # from here on a problem names the zone by its area too: "zone[1].depth_mm (forehead)"
        reader.context = area_name
    where = f"{reader.path} ({area_name or 'unknown'} area)"
    indication_name = read_name(reader, "indication", "indication", where, required=False)
    indication = indications().get(indication_name or "")
    skin = reader.choice("skin", SKIN_TYPES, default="normal") or "normal"
    override = reader.text("override_reason", required=False, max_len=500, blank=False)
    zone_cap = reader.number(
        "max_depth_mm", 0.0, area.max_depth_mm if area else 3.0, "mm", required=False, lo_open=True
    )
    area_max = area.max_depth_mm if area else None
    zone_max = min(zone_cap, area_max) if (area_max and zone_cap) else area_max
    # A documented override lifts the area's clinical maximum only: never the zone's own stated
    # maximum, the pen's or the cartridge's.
    clinical = zone_cap if override else zone_max
    limit = applicable_depth_limit(
        pen.max_depth_mm, cartridge.max_depth_mm if cartridge else None, clinical, f"{area_name} zone"
    )
    owners = f"pen {pen.max_depth_mm:g} mm"
    if cartridge:
        owners += f", cartridge {cartridge.max_depth_mm:g} mm"
    if zone_cap is not None:
        owners += f", the zone's own max_depth_mm {zone_cap:g} mm"
    if area_max is not None and not override:
        owners += f", {area_name} area {area_max:g} mm; above the area's maximum only with override_reason"
    default = default_depth(area, indication, skin) if area else None
    depth = reader.number(
        "depth_mm",
        0.0,
        limit.depth_mm,
        f"mm of set depth, the needles' protrusion (the smallest of {owners})",
        default=default,
        lo_open=True,
    )
    if not reader.has("depth_mm") and default is not None and default > limit.depth_mm:
        reader.problem(
            "depth_mm",
            f"a depth within the {limit.owner} limit of {limit.depth_mm:g} mm: the preset "
            f"default is {default:g} mm, so give depth_mm",
            None,
        )
    lim = FirmwareLimits()
    frequency = reader.number("frequency_hz", lim.min_frequency_hz, lim.max_frequency_hz, "Hz")
    area_cm2 = reader.number("area_cm2", 0.0, 2000.0, "cm2", lo_open=True)
    speed = reader.number("speed_mm_s", 0.0, 500.0, "mm/s", lo_open=True)
    passes = reader.integer("passes", 1, 20, required=False)
    duration = reader.number("duration_s", 0.0, 3600.0, "s", required=False, lo_open=True)
    if reader.has("passes") == reader.has("duration_s"):
        reader.problem("passes", "exactly one of passes (whole passes over the zone) or duration_s (seconds)")
    pause = reader.number("pause_s", 0.0, 600.0, "s", default=5.0)
    target = reader.number_pair("target_density_per_cm2", 1.0, 5000.0, "punctures/cm2", (250.0, 300.0))
    raw = reader.table.get("depth_mm", depth)  # the file's figure, even when a limit refused it
    read_depth = float(raw) if isinstance(raw, (int, float)) and is_finite_number(raw) else None
    if override and read_depth is not None and area_max is not None and read_depth <= area_max:
        reader.problem(
            "override_reason",
            f"no override_reason in a zone within the area maximum of {area_max:g} mm "
            f"(depth_mm is {read_depth:g}: remove the key, or give a depth above the maximum)",
            override,
        )
    reader.finish()
    values = (area_name, depth, frequency, area_cm2, speed, pause, zone_max)
    if any(v is None for v in values) or (passes is None and duration is None):
        return None
    assert depth is not None and zone_max is not None
    return Zone(
        area=str(area_name),
        depth_mm=float(depth),
        frequency_hz=float(frequency or 0),
        area_cm2=float(area_cm2 or 0),
        speed_mm_s=float(speed or 0),
        passes=passes,
        duration_s=duration,
        skin=skin,
        max_depth_mm=max(float(zone_max), float(depth)) if override else float(zone_max),
        pause_s=float(pause or 0),
        indication=indication_name,
        override_reason=override,
        default_depth=not reader.has("depth_mm"),
        target_density_per_cm2=target,
    )


def refuse_rates_outside(plan: Plan, low: float, high: float, holds: str) -> None:
    """Refuse (InputError) every zone at a rate outside ``low``-``high`` Hz, naming the zone, its area and what
    ``holds`` that range ("the pen at the port holds"): the plan check's drive and a linked pen's own range both
    say no this one way."""
    outside = [
        f"zone[{k}] ({z.area}) asks {z.frequency_hz:g} Hz"
        for k, z in enumerate(plan.zones)
        if not low <= z.frequency_hz <= high
    ]
    if outside:
        raise InputError(
            plan.source, "zone.frequency_hz", f"a stroke rate {holds}, {low:g}-{high:g} Hz", "; ".join(outside)
        )
