"""A verification campaign file: which pens (nominal and tolerances), where they are run, and what must hold.

Read as plans are: every key is typed and range-checked, unknown keys are refused with the table's known ones,
and every problem of the file is reported in one go (controller/host/table_reader.py). docs/verification.md
describes the format; examples/campaign.toml is a complete one.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from controller.host.table_reader import InputFileError, Problem, TableReader, parse_document
from controller.treatment.plan import PEN_DRIVES, load_plan, read_cartridge
from hal.backend import CartridgeInfo
from hal.errors import InputError
from hal.skin import SKIN_TYPES
from sim.factories import NOMINAL, PARAMETERS, RANGES, PenBuild

MAX_PENS = 1_000_000
MAX_POINTS = 200
MAX_SECONDS = 600.0
"""Pen time per operating point; ten minutes is more than a zone takes."""
PEN_MAX_DEPTH_MM = 2.5
RATE_RANGE_HZ = (25.0, 150.0)
METRICS: dict[str, str] = {
    "depth_error_mean_mm": "the mean depth error of a case's strokes (its systematic error), mm",
    "depth_error_worst_mm": "the largest depth error of any stroke of a case, with its sign, mm",
    "rate_error_pct": "the error of a case's mean stroke rate, % of the command",
}
"""What a criterion can bound: columns of cases.parquet, one value per case."""
METHODS = ("normal", "distribution_free")
VOICE_COIL_ONLY = ("moving_mass_kg", "spring_n_per_m", "force_constant_n_per_a", "coil_resistance_ohm")
"""The voice coil actuator's own tolerances: a rotary-cam pen has a motor and a cam instead (not yet varied)."""


@dataclass(kw_only=True, frozen=True)
class Distribution:
    """How one parameter varies from pen to pen: normal (truncated at its bounds) or uniform between them."""

    kind: str
    low: float
    high: float
    mean: float = 0.0
    sd: float = 0.0

    def values(self, u: np.ndarray) -> np.ndarray:
        """The values at quantiles ``u`` (0..1): one uniform draw per pen gives one value, and so do SALib's."""
        if self.kind == "uniform":
            return self.low + (self.high - self.low) * u
        from scipy.stats import truncnorm

        a, b = (self.low - self.mean) / self.sd, (self.high - self.mean) / self.sd
        return np.asarray(truncnorm.ppf(u, a, b, loc=self.mean, scale=self.sd), dtype=np.float64)


@dataclass(kw_only=True, frozen=True)
class OperatingPoint:
    depth_mm: float
    frequency_hz: float
    skin: str

    @property
    def label(self) -> str:
        return f"{self.depth_mm:g} mm at {self.frequency_hz:g} Hz on {self.skin} skin"


@dataclass(kw_only=True, frozen=True)
class Criterion:
    """``metric`` within [low, high] for ``coverage`` of all pens, with ``confidence``, by ``method``."""

    metric: str
    low: float
    high: float
    coverage: float
    confidence: float
    method: str

    @property
    def label(self) -> str:
        return (
            f"{self.metric} within [{self.low:g}, {self.high:g}] for {self.coverage:.0%} of pens "
            f"with {self.confidence:.0%} confidence ({self.method.replace('_', '-')})"
        )


@dataclass(kw_only=True, frozen=True)
class SensitivitySpec:
    """Sobol indices of ``metric``: ``samples`` base samples (SALib's N), ``seconds`` of pen time each."""

    samples: int
    seconds: float
    metric: str


@dataclass(kw_only=True, frozen=True)
class Campaign:
    name: str
    seed: int
    pens: int
    seconds: float
    """Pen time at each operating point."""
    chunk_pens: int
    """Pens per unit of work sent to a worker (and per file of the resume store)."""
    nominal: PenBuild
    drive: str
    """The pen's drive (``[pen] drive``): the voice coil, or the rotary motor and cam."""
    cartridge: CartridgeInfo
    parameters: dict[str, Distribution]
    """The parameters that vary, in :data:`sim.factories.PARAMETERS` order; the others stay nominal."""
    points: tuple[OperatingPoint, ...]
    criteria: tuple[Criterion, ...]
    sensitivity: SensitivitySpec | None
    digest: str
    """SHA-256 of the file's bytes: a resumed run must be of the same campaign."""

    @property
    def chunks(self) -> int:
        return -(-self.pens // self.chunk_pens)

    def pens_of(self, chunk: int) -> range:
        return range(chunk * self.chunk_pens, min(self.pens, (chunk + 1) * self.chunk_pens))


def load_campaign(path: str | Path) -> Campaign:
    source = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputFileError(source, [Problem(key="", expected=f"a readable campaign file ({exc.strerror})")]) from None
    return parse_campaign(data, source, base=Path(path).parent)


def parse_campaign(data: bytes, source: str, base: Path = Path(".")) -> Campaign:
    """Validate campaign bytes; ``base`` is where a referenced plan file is looked for."""
    document = parse_document(data, source, "toml")
    assert isinstance(document, dict)
    problems: list[Problem] = []
    root = TableReader(table=document, path="", problems=problems)
    head = root.sub_table("campaign")
    name, seed, pens, seconds, chunk, plan = "unnamed campaign", 0, 1, 1.0, 50, None
    if head:
        name = head.text("name", default=name) or name
        seed = head.integer("seed", 0, 2**63 - 1) or 0
        pens = head.integer("pens", 1, MAX_PENS) or 1
        seconds = head.number("seconds", 0.0, MAX_SECONDS, "s", lo_open=True) or 1.0
        chunk = head.integer("chunk_pens", 1, 10_000, default=50) or 50
        plan = head.text("plan", required=False, max_len=1000)
        head.finish()
    nominal, drive = _read_nominal(root.sub_table("pen", required=False))
    cartridge_reader = root.sub_table("cartridge", required=False)
    cartridge = read_cartridge(cartridge_reader) if cartridge_reader else CartridgeInfo(cartridge_id=1)
    parameters = _read_parameters(root.sub_table("parameters", required=False), nominal)
    if drive != PEN_DRIVES[0]:
        problems += [
            Problem(
                key=f"parameters.{name}", expected=f"a parameter of the {drive} drive (this one is the voice coil's)"
            )
            for name in parameters
            if name in VOICE_COIL_ONLY
        ]
    points = _read_points(root, cartridge or CartridgeInfo(cartridge_id=1))
    if plan is not None:
        points += _plan_points(base / plan, source)
    criteria = tuple(c for r in root.table_array("criteria") if (c := _read_criterion(r)) is not None)
    sensitivity = _read_sensitivity(root.sub_table("sensitivity", required=False))
    root.finish()
    if not points and not problems:
        problems.append(Problem(key="points", expected="at least one operating point ([[points]], [grid] or plan)"))
    if len(points) > MAX_POINTS:
        problems.append(Problem(key="points", expected=f"at most {MAX_POINTS} operating points", got=len(points)))
    if problems or cartridge is None:
        raise InputFileError(source, problems or [Problem(key="cartridge", expected="a valid cartridge table")])
    return Campaign(
        name=name,
        seed=seed,
        pens=pens,
        seconds=seconds,
        chunk_pens=chunk,
        nominal=nominal,
        drive=drive,
        cartridge=cartridge,
        parameters=parameters,
        points=tuple(dict.fromkeys(points)),
        criteria=criteria,
        sensitivity=sensitivity,
        digest=hashlib.sha256(data).hexdigest(),
    )


def _read_nominal(reader: TableReader | None) -> tuple[PenBuild, str]:
    if reader is None:
        return NOMINAL, PEN_DRIVES[0]
    drive = reader.choice("drive", PEN_DRIVES, default=PEN_DRIVES[0]) or PEN_DRIVES[0]
    values = {}
    reader.allow(*PARAMETERS)
    for name in PARAMETERS:
        lo, hi, unit, _ = RANGES[name]
        if reader.has(name) and (value := reader.number(name, lo, hi, unit)) is not None:
            values[name] = value
    reader.finish()
    return replace(NOMINAL, **values), drive


def _read_parameters(reader: TableReader | None, nominal: PenBuild) -> dict[str, Distribution]:
    if reader is None:
        return {}
    found = {}
    reader.allow(*PARAMETERS)
    for name in PARAMETERS:
        table = reader.sub_table(name) if reader.has(name) else None
        if table is not None and (dist := _read_distribution(table, name, getattr(nominal, name))) is not None:
            found[name] = dist
    reader.finish()
    return found


def _read_distribution(reader: TableReader, name: str, nominal: float) -> Distribution | None:
    lo, hi, unit, _ = RANGES[name]
    kind = reader.choice("distribution", ("normal", "uniform"))
    low = reader.number("min", lo, hi, unit)
    high = reader.number("max", lo, hi, unit)
    mean = sd = None
    if kind == "normal":
        mean = reader.number("mean", lo, hi, unit, default=nominal)
        sd = reader.number("sd", 0.0, hi - lo, unit, lo_open=True)
    reader.finish()
    if kind is None or low is None or high is None or (kind == "normal" and (mean is None or sd is None)):
        return None
    if not low < high:
        reader.problem("max", f"a bound above min ({low:g} {unit})", high)
        return None
    if mean is not None and not low <= mean <= high:
        reader.problem("mean", f"a mean between min and max ({low:g} to {high:g} {unit})", mean)
        return None
    return Distribution(kind=kind, low=low, high=high, mean=mean or 0.0, sd=sd or 0.0)


def _read_points(root: TableReader, cartridge: CartridgeInfo) -> list[OperatingPoint]:
    deepest = min(PEN_MAX_DEPTH_MM, cartridge.max_depth_mm)
    points = []
    for reader in root.table_array("points", min_items=0):
        depth = reader.number("depth_mm", 0.0, deepest, "mm (the pen's and the cartridge's limit)", lo_open=True)
        rate = reader.number("frequency_hz", *RATE_RANGE_HZ, "Hz")
        skin = reader.choice("skin", SKIN_TYPES, default="normal")
        reader.finish()
        if depth is not None and rate is not None and skin is not None:
            points.append(OperatingPoint(depth_mm=depth, frequency_hz=rate, skin=skin))
    grid = root.sub_table("grid", required=False)
    if grid is not None:
        depths = grid.number_list("depths_mm", 0.0, deepest, "mm (the pen's and the cartridge's limit)", lo_open=True)
        rates = grid.number_list("rates_hz", *RATE_RANGE_HZ, "Hz")
        for key in ("depths_mm", "rates_hz"):
            if not grid.has(key):
                grid.problem(key, "a non-empty list (a grid needs both depths and rates; the key is missing)")
        skins = grid.choice_list("skins", SKIN_TYPES) or ["normal"]
        grid.finish()
        points += [
            OperatingPoint(depth_mm=d, frequency_hz=f, skin=s) for s, f, d in itertools.product(skins, rates, depths)
        ]
    return points


def _plan_points(path: Path, source: str) -> list[OperatingPoint]:
    """The zones of a plan, as operating points (the plan is validated as ``penctl treat`` would)."""
    try:
        plan = load_plan(path)
    except InputError as exc:
        raise InputFileError(source, [Problem(key="campaign.plan", expected=f"a valid plan file ({exc})")]) from None
    return [OperatingPoint(depth_mm=z.depth_mm, frequency_hz=z.frequency_hz, skin=z.skin) for z in plan.zones]


def _read_criterion(reader: TableReader) -> Criterion | None:
    metric = reader.choice("metric", tuple(METRICS))
    low = reader.number("min", -1e6, 1e6, "")
    high = reader.number("max", -1e6, 1e6, "")
    coverage = reader.number("coverage", 0.5, 0.9999, "", default=0.95)
    confidence = reader.number("confidence", 0.5, 0.9999, "", default=0.95)
    method = reader.choice("method", METHODS, default="normal")
    reader.finish()
    if None in (metric, low, high, coverage, confidence, method):
        return None
    assert metric and low is not None and high is not None and coverage and confidence and method
    if not low < high:
        reader.problem("max", f"a bound above min ({low:g})", high)
        return None
    return Criterion(metric=metric, low=low, high=high, coverage=coverage, confidence=confidence, method=method)


def _read_sensitivity(reader: TableReader | None) -> SensitivitySpec | None:
    if reader is None:
        return None
    samples = reader.integer("samples", 8, 4096, default=64)
    seconds = reader.number("seconds", 0.0, MAX_SECONDS, "s", default=1.0, lo_open=True)
    metric = reader.choice("metric", tuple(METRICS), default="depth_error_mean_mm")
    reader.finish()
    if samples is not None and samples & (samples - 1):
        reader.problem("samples", "a power of two (Sobol' sequences balance only at powers of two)", samples)
        return None
    if samples is None or seconds is None or metric is None:
        return None
    return SensitivitySpec(samples=samples, seconds=seconds, metric=metric)
