"""Whether each zone got what the plan asked, and what the pass as a whole is called.

A pass the pen ran to the end is not yet a success: the needles must have reached the set depth,
gone into the tissue past its barrier, stroked at the set rate, and left the planned density of
punctures. Each zone is judged on those four checks, and on whether the pen finished it at all, from the
same telemetry the report shows, and
the pass takes the outcome of the first check that failed (depth, tissue, rate, density), so that
the summary, report.json, report.png and the exit code cannot disagree.

The checks, and why each threshold:

- **depth**: the needles' protrusion (what the pen's depth sensor and a bench gauge measure) is
  within :data:`DEPTH_ACCURACY_MM` of the set depth on average, the depth-scale tolerance cleared
  for a pen of this class (Exceed, FDA K182407: +/-0.15 mm).
- **tissue**: the needles went past the stratum corneum, the skin's 10-20 um barrier (Makvandi et
  al., Nano-Micro Letters 2021), on average over the strokes that punctured it. The tissue always
  gets less than the protrusion (the skin tents first: under 50 % below 1 mm in Lam et al. 2008,
  about 77 % at 0.6 mm in Donnelly et al. 2010), so the share is shown, not judged.
- **rate**: the measured stroke rate is within the pen's own ``frequency.tolerance_pct`` of the
  set rate (the same tolerance its supervisor faults on, stroke by stroke).
- **density**: the zone's mean density is inside the zone's band (plan key
  ``target_density_per_cm2``, default 250 to 300 /cm2, Freier & Pachten 2015), and at most
  :data:`CELLS_OUTSIDE_MAX` of its cells of about 1 cm2 (coverage.JUDGED_CELL_MM) are outside
  the band by more than counting can explain. A 1 cm2 cell at the band's edge holds about 250
  punctures, so counting alone moves it by about 16 (Poisson): a 250 to 300 band is only about
  three such deviations wide, and a flawless pass puts one cell in seven or so just outside it.
  A cell counts as outside only when it is :data:`NOISE_SIGMAS` deviations past the edge; then a
  quarter of the cells outside is patchy coverage, not chance. The report's ``coverage`` lists
  the cells outside the band itself. The density of a zone the pen did not finish is not judged:
  the pass already failed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from controller.host.numbers import signed
from hal.telemetry import PEN_TICK_HZ, StrokeFlag, period_ticks

if TYPE_CHECKING:
    from controller.treatment.session import ZoneResult

DEPTH_ACCURACY_MM = 0.15
"""How far a zone's mean protrusion may differ from the set depth (Exceed, FDA K182407: +/-0.15 mm)."""
STRATUM_CORNEUM_MM = 0.02
"""The skin's outer barrier, 10-20 um thick (Makvandi et al. 2021): channels shallower than this treat nothing."""
CELLS_OUTSIDE_MAX = 0.25
"""Largest share of a zone's ~1 cm2 cells that may lie outside the density band (see the module docstring)."""
NOISE_SIGMAS = 2.0
"""How many counting deviations (Poisson) past the band's edge a cell must be to count as outside it."""

CHECK_ORDER = ("finished", "depth", "tissue", "rate", "density")
"""The order the checks are judged and reported in; the first failed one names the pass's outcome."""


@dataclass(kw_only=True, frozen=True)
class Outcome:
    """One way a pass can end, with its exit code and what it means (README's exit codes come from here)."""

    name: str
    exit_code: int
    meaning: str


OUTCOMES: tuple[Outcome, ...] = (
    Outcome(name="completed", exit_code=0, meaning="every zone passed depth, tissue, rate and density"),
    Outcome(
        name="short",
        exit_code=4,
        meaning=f"a zone's needles fell short of the set depth by more than {DEPTH_ACCURACY_MM} mm on average",
    ),
    Outcome(
        name="over",
        exit_code=4,
        meaning=f"a zone's needles went past the set depth by more than {DEPTH_ACCURACY_MM} mm on average",
    ),
    Outcome(
        name="shallow",
        exit_code=4,
        meaning=f"a zone's needles went no deeper into the tissue than its {STRATUM_CORNEUM_MM} mm barrier",
    ),
    Outcome(name="off_rate", exit_code=6, meaning="a zone's stroke rate was off by more than the pen's tolerance"),
    Outcome(
        name="off_density",
        exit_code=5,
        meaning="a zone's puncture density was outside its band (mean, or too many ~1 cm2 cells)",
    ),
    Outcome(name="fault", exit_code=1, meaning="the pen latched a fault and retracted"),
    Outcome(name="refused", exit_code=1, meaning="a guard refused to start the pass or a zone"),
    Outcome(name="stopped", exit_code=1, meaning="the pen stopped the pass (e.g. the session maximum)"),
)
BY_OUTCOME = {o.name: o for o in OUTCOMES}


@dataclass(kw_only=True, frozen=True)
class Check:
    """One check of one zone: what was measured, against what, and whether it passed."""

    name: str
    judged: bool
    """False when the check does not apply (no strokes, or a zone the pen did not finish)."""
    passed: bool
    value: float | None
    low: float | None
    high: float | None
    unit: str
    text: str
    outcome: str | None = None
    """The pass's outcome when this check is the first one failed."""
    detail: tuple[tuple[str, float], ...] = ()
    """Counts behind the verdict that report.json carries beside it (cells outside beyond noise, strokes off)."""


@dataclass(kw_only=True, frozen=True)
class ZoneVerdict:
    """The checks of one zone: finished, depth, tissue, rate, density."""

    checks: tuple[Check, ...]

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.judged and not c.passed]

    @property
    def judged(self) -> bool:
        """False for a zone that never ran: there is nothing to pass or fail."""
        return any(c.judged for c in self.checks)

    @property
    def passed(self) -> bool:
        return self.judged and not self.failed

    def by_name(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)


def judge_zone(result: ZoneResult, rate_tolerance: float) -> ZoneVerdict:
    """The zone's checks (see the module docstring); ``rate_tolerance`` is the pen's, as a fraction."""
    if not len(result.telemetry):
        why = f"not run: {result.refusal or 'the pass ended before this zone'}"
        return ZoneVerdict(checks=tuple(_not_judged(name, why) for name in CHECK_ORDER))
    return ZoneVerdict(
        checks=(_finished(result), _depth(result), _tissue(result), _rate(result, rate_tolerance), _density(result))
    )


def pass_outcome(pen_outcome: str, verdicts: Sequence[ZoneVerdict]) -> str:
    """The pass's outcome: the pen's own (fault, refused, stopped), else the first failed check, else completed."""
    if pen_outcome != "completed":
        return pen_outcome
    for name in CHECK_ORDER:
        for verdict in verdicts:
            check = verdict.by_name(name)
            if check.judged and not check.passed:
                return check.outcome or name
    return "completed"


def _not_judged(name: str, why: str) -> Check:
    return Check(name=name, judged=False, passed=False, value=None, low=None, high=None, unit="", text=why)


def _finished(result: ZoneResult) -> Check:
    """A zone the pen stopped (a fault, the session maximum) did not get what was planned, whatever it got."""
    done, planned = len(result.telemetry), result.planned_strokes
    return Check(
        name="finished",
        judged=True,
        passed=result.completed,
        value=float(done),
        low=float(planned),
        high=None,
        unit="strokes",
        text=f"{done} of {planned} planned strokes"
        + ("" if result.completed else f": the pen stopped the zone{': ' + result.refusal if result.refusal else ''}"),
        outcome=None if result.completed else "stopped",
    )


def _depth(result: ZoneResult) -> Check:
    tel = result.telemetry
    set_mm = float(result.zone.depth_mm)
    error = float((tel["depth_mm"].astype(np.float64) - tel["depth_cmd_mm"].astype(np.float64)).mean())
    reached = set_mm + error
    passed = abs(error) <= DEPTH_ACCURACY_MM
    side = "short of" if error < 0 else "past"
    return Check(
        name="depth",
        judged=True,
        passed=passed,
        value=reached,
        low=set_mm - DEPTH_ACCURACY_MM,
        high=set_mm + DEPTH_ACCURACY_MM,
        unit="mm",
        text=f"protrusion {reached:.4f} mm on average, {abs(error):.4f} mm {side} the set {set_mm:g} mm "
        f"(depth accuracy {DEPTH_ACCURACY_MM} mm)",
        outcome=None if passed else ("short" if error < 0 else "over"),
    )


def _tissue(result: ZoneResult) -> Check:
    tel = result.telemetry
    punctured = (tel["flags"] & StrokeFlag.PUNCTURED) != 0
    if not punctured.any():
        return Check(
            name="tissue",
            judged=True,
            passed=False,
            value=0.0,
            low=STRATUM_CORNEUM_MM,
            high=None,
            unit="mm",
            text=f"no stroke of {len(tel)} punctured the skin",
            outcome="shallow",
        )
    depth = float(tel["penetration_mm"][punctured].astype(np.float64).mean())
    protrusion = float(tel["depth_mm"][punctured].astype(np.float64).mean())
    share = depth / protrusion if protrusion > 0 else 0.0
    passed = depth > STRATUM_CORNEUM_MM
    return Check(
        name="tissue",
        judged=True,
        passed=passed,
        value=depth,
        low=STRATUM_CORNEUM_MM,
        high=None,
        unit="mm",
        text=f"{depth:.4f} mm into the tissue on average ({share:.0%} of the {protrusion:.3f} mm protrusion; "
        f"{'past' if passed else 'not past'} the {STRATUM_CORNEUM_MM} mm stratum corneum)",
        outcome=None if passed else "shallow",
    )


def _rate(result: ZoneResult, tolerance: float) -> Check:
    tel = result.telemetry
    set_hz = float(result.zone.frequency_hz)
    ticks = period_ticks(tel)
    measured = len(tel) / (float(ticks.sum()) / PEN_TICK_HZ)
    error = (measured - set_hz) / set_hz
    per_stroke = PEN_TICK_HZ / np.maximum(ticks, 1)
    off = int(np.count_nonzero(~(np.abs(per_stroke - set_hz) <= tolerance * set_hz)))  # the supervisor's own rule
    passed = abs(error) <= tolerance and off == 0
    return Check(
        name="rate",
        judged=True,
        passed=passed,
        value=measured,
        low=set_hz * (1.0 - tolerance),
        high=set_hz * (1.0 + tolerance),
        unit="Hz",
        text=f"{measured:.3f} Hz on average against the set {set_hz:g} Hz ({signed(100 * error, 3)} %), {off} of "
        f"{len(tel)} strokes off by more than the pen's tolerance of {100 * tolerance:g} %",
        outcome=None if passed else "off_rate",
        detail=(("strokes_off", float(off)),),
    )


def _density(result: ZoneResult) -> Check:
    low, high = result.zone.target_density_per_cm2
    if result.density is None or not result.completed:
        return _not_judged("density", "not judged: the pen did not finish the zone")
    judged = result.density.judged()
    cell_cm2 = judged.cell_mm[0] * judged.cell_mm[1] / 100.0
    lowest, highest = low - _counting_noise(low, cell_cm2), high + _counting_noise(high, cell_cm2)
    under, over = judged.outside((lowest, highest))
    cells = int(judged.per_cm2.size)
    outside = int(under.sum() + over.sum())
    mean = float(result.density.stats()["mean"])
    within = low <= mean <= high
    passed = within and outside <= CELLS_OUTSIDE_MAX * cells
    where = "inside" if within else ("under" if mean < low else "over")
    return Check(
        name="density",
        judged=True,
        passed=passed,
        value=mean,
        low=low,
        high=high,
        unit="/cm2",
        text=f"{mean:.1f} punctures/cm2 on average, {where} the band {low:g} to {high:g}; {outside} of {cells} "
        f"cells of about 1 cm2 outside it by more than counting explains (at most {CELLS_OUTSIDE_MAX:.0%})",
        outcome=None if passed else "off_density",
        detail=(
            ("cells", float(cells)),
            ("cells_outside_beyond_noise", float(outside)),
            ("cell_low_per_cm2", lowest),
            ("cell_high_per_cm2", highest),
        ),
    )


def _counting_noise(per_cm2: float, cell_cm2: float) -> float:
    """:data:`NOISE_SIGMAS` Poisson deviations of a cell of ``cell_cm2`` at ``per_cm2``, in punctures per cm2."""
    return NOISE_SIGMAS * float(np.sqrt(per_cm2 * cell_cm2)) / cell_cm2


def zone_verdict_json(verdict: ZoneVerdict, rounded: Callable[[float], float]) -> dict[str, Any]:
    """A zone's verdict as report.json gives it."""

    def number(value: float | None) -> float | None:
        return None if value is None else rounded(value)

    return {
        "passed": verdict.passed if verdict.judged else None,
        "checks": {
            c.name: {
                "judged": c.judged,
                "passed": c.passed if c.judged else None,
                "value": number(c.value),
                "low": number(c.low),
                "high": number(c.high),
                "unit": c.unit,
                "text": c.text,
            }
            | {key: rounded(value) for key, value in c.detail}
            for c in verdict.checks
        },
    }


def pass_verdict_json(
    outcome: str, pen_outcome: str, verdicts: Sequence[ZoneVerdict], areas: Sequence[str]
) -> dict[str, Any]:
    """The pass's verdict: its outcome, how the pen ended it, the exit code, what that means, every failed check."""
    known = BY_OUTCOME[outcome]
    return {
        "outcome": outcome,
        "pen_outcome": pen_outcome,
        "exit_code": known.exit_code,
        "meaning": known.meaning,
        "failed": [
            f"zone[{k}] {area}: {check.name}: {check.text}"
            for k, (verdict, area) in enumerate(zip(verdicts, areas, strict=True))
            for check in verdict.failed
        ],
    }
