"""``penctl envelope``: the simulated pen's operating envelope as a datasheet chart and a JSON table.

For each depth x rate (sim/envelope.py measures the points) the chart shows the mean and the worst depth
error, outlines where strokes fall short and where the drive runs out of current, and gives the
continuous-duty limit: how long the pen can run there before the winding trips.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from controller.firmware.limits import FirmwareLimits
from controller.host.columns import joined, wrapped
from controller.host.numbers import signed
from controller.treatment.plan import Plan, refuse_rates_outside
from controller.treatment.verdict import DEPTH_ACCURACY_MM, STRATUM_CORNEUM_MM
from hal.backend import CartridgeInfo
from hal.errors import InputError
from hal.settings import defaults
from sim.envelope import DEPTHS_MM, EnvelopePoint, characterise, sweep
from sim.factories import rate_range_hz

STALL_MARGIN_MM = FirmwareLimits().stall_margin_mm
DEFAULT_NEEDLES = CartridgeInfo(cartridge_id=1).needles
RATE_TOLERANCE = FirmwareLimits().stroke_rate_tolerance
"""A point whose delivered rate misses the command by more (a rotary pen's sag) is outside the envelope."""


def check_plan(plan: Plan) -> list[str]:
    """Hold each zone against the simulated pen's envelope before the pass.

    A zone whose depth the pen cannot reach at its rate gets a warning (the pass would end 'short'); a zone
    the winding cannot last for its whole duration is refused (InputError), naming the zone, the limit and
    when it would trip. The winding starts each zone cold here, so a refusal is certain, not cautious.
    """
    trip_c = float(defaults()["thermal.motor_limit_c"])
    refuse_rates_outside_the_drive(plan)
    warnings, trips = [], []
    for k, zone in enumerate(plan.zones):
        point = characterise(
            zone.depth_mm,
            zone.frequency_hz,
            skin=zone.skin,
            battery_soc=plan.pen.battery_soc,
            trip_c=trip_c,
            stall_margin_mm=STALL_MARGIN_MM,
            cartridge=plan.cartridge,
            drive=plan.pen.drive,
            rate_tolerance=RATE_TOLERANCE,
        )
        name = f"zone[{k}] ({zone.area}, {zone.depth_mm:g} mm at {zone.frequency_hz:g} Hz on {zone.skin} skin)"
        if point.error_mean_mm < -DEPTH_ACCURACY_MM:
            warnings.append(
                f"{name} is beyond the pen's envelope: its needles reach about {point.reached_mean_mm:.2f} mm "
                "(penctl envelope shows where it can go); the pass will end 'short'"
            )
        if point.tissue_mean_mm <= STRATUM_CORNEUM_MM:
            warnings.append(
                f"{name}: on {zone.skin} skin the needles go about {point.tissue_mean_mm:.3f} mm into the tissue, not "
                f"past its {STRATUM_CORNEUM_MM} mm barrier (the skin gives way under {plan.cartridge.needles} "
                "needles): the pass will end 'shallow'"
            )
        if point.stall_risk:
            warnings.append(
                f"{name}: in the stiffest tissue of {zone.skin} skin the drive reaches its current limit at "
                f"{point.stiff_reached_mm:.2f} mm, short of the target: the pen is likely to stop the pass with a "
                "stall fault"
            )
        if abs(point.rate_mean_hz - zone.frequency_hz) > RATE_TOLERANCE * zone.frequency_hz:
            warnings.append(
                f"{name}: the drive delivers about {point.rate_mean_hz:.1f} Hz, outside the stroke-rate tolerance "
                f"of {RATE_TOLERANCE:.0%}: the pen is likely to stop the pass with a rate fault"
            )
        elif point.rate_risk:
            warnings.append(
                f"{name}: with {plan.cartridge.needles} needles the first strokes on the skin slow the drive to about "
                f"{point.rate_worst_hz:.1f} Hz, outside the stroke-rate tolerance of {RATE_TOLERANCE:.0%}: the pen "
                "is likely to stop the pass with a rate fault at first contact (fewer needles, a shallower depth or "
                "another rate)"
            )
        seconds = zone.stroking_seconds(plan.cartridge.field_diameter_mm)
        if point.duty_limit_s is not None and point.duty_limit_s < seconds:
            trips.append(
                f"{name} would trip the winding's {trip_c:g} degC limit after about {point.duty_limit_s / 60:.1f} "
                f"min of its {seconds / 60:.1f} min"
            )
    if trips:
        raise InputError(
            plan.source,
            "zone",
            "zones the pen can run without overheating (shorter, shallower or slower)",
            "; ".join(trips),
        )
    return warnings


def refuse_rates_outside_the_drive(plan: Plan) -> None:
    """A zone whose rate the plan's drive cannot hold is refused (InputError), naming the zone and the range.

    ``plan.pen.drive`` is the drive that will be simulated: ``penctl treat --drive`` replaces it before this."""
    low, high = rate_range_hz(plan.pen.drive)
    refuse_rates_outside(plan, low, high, f"the {plan.pen.drive} drive can hold")


def measure(
    *, skin: str, battery_soc: float, drive: str = "voice_coil", needles: int = DEFAULT_NEEDLES
) -> list[EnvelopePoint]:
    """The envelope on ``skin`` at ``battery_soc`` with ``drive`` and a cartridge of ``needles``, judged by the
    default settings (winding trip, stall margin, rate tolerance)."""
    trip_c = float(defaults()["thermal.motor_limit_c"])
    return sweep(
        skin=skin,
        battery_soc=battery_soc,
        trip_c=trip_c,
        stall_margin_mm=STALL_MARGIN_MM,
        drive=drive,
        cartridge=CartridgeInfo(cartridge_id=1, needles=needles),
        rate_tolerance=RATE_TOLERANCE,
    )


def as_json(
    points: list[EnvelopePoint],
    *,
    skin: str,
    battery_soc: float,
    drive: str = "voice_coil",
    needles: int = DEFAULT_NEEDLES,
) -> dict[str, Any]:
    low, high = rate_range_hz(drive)
    return {
        "drive": drive,
        "rate_range_hz": [low, high],
        "needles": needles,
        "skin": skin,
        "battery_soc": battery_soc,
        "winding_trip_c": float(defaults()["thermal.motor_limit_c"]),
        "points": [{k: _rounded(v) for k, v in asdict(p).items()} for p in points],
    }


def format_table(
    points: list[EnvelopePoint],
    *,
    skin: str,
    battery_soc: float,
    drive: str = "voice_coil",
    needles: int = DEFAULT_NEEDLES,
) -> str:
    """Per rate: the deepest stroke the pen delivers within the depth accuracy, and where it trips.

    The points are the drive's own rates (:func:`sim.envelope.rates_hz`): a plan asking any other is refused.
    """
    low, high = rate_range_hz(drive)
    lines = [
        f"Operating envelope: {drive}, {needles} needles, {skin} skin, battery {battery_soc:.0%}, "
        f"rates {low:g}-{high:g} Hz"
    ]
    stalls = [
        f"{p.depth_mm:g} mm at {p.frequency_hz:g} Hz" for p in points if p.stall_risk and low <= p.frequency_hz <= high
    ]
    shallow = [f"{p.depth_mm:g} mm at {p.frequency_hz:g} Hz" for p in points if p.tissue_mean_mm <= STRATUM_CORNEUM_MM]
    rate_faults = [
        f"{p.depth_mm:g} mm at {p.frequency_hz:g} Hz ({p.rate_worst_hz:.1f} Hz)"
        for p in points
        if p.rate_risk and not p.stall_risk and low <= p.frequency_hz <= high
    ]
    lines.append(f"{'rate':>6}  {'deepest within 0.15 mm':>22}  {'worst stroke there':>18}  continuous-duty limit")
    for hz in _rates(points):
        row = [p for p in points if p.frequency_hz == hz]
        good = [
            p
            for p in row
            if abs(p.error_mean_mm) <= DEPTH_ACCURACY_MM
            and not p.stall_risk
            and not p.rate_risk
            and p.tissue_mean_mm > STRATUM_CORNEUM_MM
            and abs(p.rate_mean_hz - hz) <= RATE_TOLERANCE * hz
        ]
        trips = [
            f"{p.depth_mm:g} mm: {p.duty_limit_s / 60:.1f} min{' (stalls first)' if p.stall_risk else ''}"
            for p in row
            if p.duty_limit_s is not None
        ]
        deepest = f"{max(p.depth_mm for p in good):g} mm" if good else "none"
        worst = f"{signed(max((p.error_worst_mm for p in good), key=abs), 3)} mm" if good else "-"
        row_head = f"{hz:>4.0f} Hz  {deepest:>22}  {worst:>18}  "
        lines += joined(trips or ["continuous at every depth"], "; ", row_head, " " * len(row_head))
    lines += wrapped(_hottest(points, low, high), "", "  ")
    if stalls:
        lines.append("a stall fault is likely (the drive at its current limit short of the target in stiff tissue):")
        lines += joined(stalls, ", ", "  ", "  ")
    if shallow:
        lines.append(f"too shallow: the needles do not get past the {STRATUM_CORNEUM_MM} mm stratum corneum at:")
        lines += joined(shallow, ", ", "  ", "  ")
    if rate_faults:
        lines.append(
            f"a rate fault is likely (the first strokes on the skin, slowest rate, beyond {RATE_TOLERANCE:.0%}):"
        )
        lines += joined(rate_faults, ", ", "  ", "  ")
    return "\n".join(lines)


def _hottest(points: list[EnvelopePoint], low: float, high: float) -> str:
    """The operating point nearest the thermal limit inside the drive's range: the margin a user has."""
    trip_c = float(defaults()["thermal.motor_limit_c"])
    inside = [p for p in points if low <= p.frequency_hz <= high]
    p = max(inside, key=lambda q: q.steady_temp_c)
    where = f"hottest in range: {p.depth_mm:g} mm at {p.frequency_hz:g} Hz, {p.winding_w:.2f} W in the winding, "
    if p.duty_limit_s is None:
        return where + f"settles at {p.steady_temp_c:.1f} degC (trips at {trip_c:g} degC)"
    return (
        where
        + f"would settle at {p.steady_temp_c:.1f} degC: trips at {trip_c:g} degC after {p.duty_limit_s / 60:.1f} min"
    )


def _rounded(value: object) -> object:
    return round(value, 4) if isinstance(value, float) and math.isfinite(value) else value


def _rates(points: list[EnvelopePoint]) -> list[float]:
    """The rates the points were measured at, in order (the drive's grid: sim.envelope.rates_hz)."""
    return sorted({p.frequency_hz for p in points})


def _grid(points: list[EnvelopePoint], field: str) -> np.ndarray:
    """``field`` as a depth x rate array (rows: depths, columns: rates)."""
    index = {(p.depth_mm, p.frequency_hz): p for p in points}
    return np.array([[_value(index[(d, f)], field) for f in _rates(points)] for d in DEPTHS_MM])


def _value(point: EnvelopePoint, field: str) -> float:
    value = getattr(point, field)
    return math.inf if value is None else float(value)


def draw(
    points: list[EnvelopePoint],
    path: Path,
    *,
    skin: str,
    battery_soc: float,
    drive: str = "voice_coil",
    needles: int = DEFAULT_NEEDLES,
) -> None:
    """Three panels: mean error, worst error, continuous-duty limit; shortfall and current-limit outlined."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(15, 5.2))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3)
    rates = _rates(points)
    half = (rates[1] - rates[0]) / 2.0 if len(rates) > 1 else 12.5
    extent = (rates[0] - half, rates[-1] + half, DEPTHS_MM[0] - 0.125, DEPTHS_MM[-1] + 0.125)
    band = max(0.3, float(np.abs(_grid(points, "error_worst_mm")).max()))
    for ax, field, title in (
        (axes[0], "error_mean_mm", "mean depth error (mm)"),
        (axes[1], "error_worst_mm", "worst stroke's depth error (mm)"),
    ):
        image = ax.imshow(
            _grid(points, field), origin="lower", extent=extent, aspect="auto", cmap="RdBu", vmin=-band, vmax=band
        )
        fig.colorbar(image, ax=ax)
        _outline(ax, points, extent)
        ax.set_title(title)
    minutes = np.minimum(_grid(points, "duty_limit_s") / 60.0, 60.0)
    image = axes[2].imshow(minutes, origin="lower", extent=extent, aspect="auto", cmap="viridis", vmin=0, vmax=60)
    fig.colorbar(image, ax=axes[2], label="minutes (60 = continuous)")
    for d, row in zip(DEPTHS_MM, minutes, strict=True):
        for f, value in zip(rates, row, strict=True):
            if value < 60.0:
                axes[2].text(f, d, f"{value:.0f}", ha="center", va="center", fontsize=7, color="white")
    axes[2].set_title("continuous-duty limit (minutes to winding trip)")
    for ax in axes:
        ax.set_xlabel("stroke rate (Hz)")
        ax.set_ylabel("commanded depth (mm)")
    fig.suptitle(
        f"Operating envelope: {drive}, {needles} needles, {skin} skin, battery {battery_soc:.0%}. Hatched: strokes "
        "fall short; outlined: drive at its current limit; x: a stall is likely; o: a rate fault is likely"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def _outline(ax: Any, points: list[EnvelopePoint], extent: tuple[float, float, float, float]) -> None:
    """Hatch the cells where most strokes fall short; box the cells where the drive is at its current limit."""
    from matplotlib.patches import Rectangle

    width = (extent[1] - extent[0]) / len(_rates(points))
    for p in points:
        corner = (p.frequency_hz - width / 2.0, p.depth_mm - 0.125)
        if p.shortfall_fraction > 0.5:
            ax.add_patch(Rectangle(corner, width, 0.25, fill=False, hatch="//", edgecolor="0.3", linewidth=0))
        if p.current_limited_fraction > 0.5:
            ax.add_patch(Rectangle(corner, width, 0.25, fill=False, edgecolor="black", linewidth=1.2))
        if p.stall_risk:
            ax.plot(p.frequency_hz, p.depth_mm, marker="x", color="black", markersize=7)
        elif p.rate_risk:
            ax.plot(p.frequency_hz, p.depth_mm, marker="o", fillstyle="none", color="black", markersize=7)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
