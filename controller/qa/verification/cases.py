"""One case of a campaign: one virtual pen, built to its sampled tolerances, run at one operating point.

The pen runs its own firmware (the controller, its supervisor and its limits) on the simulated hardware, exactly
as in ``penctl treat``, so a case that would fault in the clinic faults here, and says which fault. What a
bench test measures comes from the simulator's gauges (sim/build.py), not from the pen's reading of itself:
the needles' true protrusion and the stroke rate in real time.

Each pen draws its parameters from its own ``SeedSequence`` child (spawn key = the pen's number), and each of
its cases strokes with noise from that child's own children, so a pen is the same pen whichever chunk, worker
or machine runs it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from controller.firmware.pen_controller import PenController
from controller.firmware.target import Target
from controller.qa.verification.campaign import Campaign, OperatingPoint
from hal.backend import CartridgeInfo
from hal.errors import CommandRefusedError
from hal.telemetry import StrokeFlag
from sim.factories import PARAMETERS, PenBuild, build_simulated_pen, gauge_depth_mm, gauge_rate_hz


@dataclass(kw_only=True, frozen=True)
class CaseResult:
    """What the bench measured of one case (errors are gauge minus command)."""

    strokes: int
    completed: bool
    """All strokes of the point were delivered (False: the firmware stopped the pen)."""
    depth_error_mean_mm: float
    depth_error_sd_mm: float
    depth_error_worst_mm: float
    rate_error_pct: float
    shortfall_strokes: int
    faults: str
    """The kinds of fault the firmware latched, comma-separated ("" for none)."""
    refusal: str
    """Why the firmware would not start at this point ("" if it did): a low battery, say."""


def pen_seeds(campaign: Campaign, pen: int) -> tuple[np.random.SeedSequence, list[np.random.SeedSequence]]:
    """(the pen's parameter seed, one seed per operating point): the pen's own subtree of the campaign seed."""
    root = np.random.SeedSequence(campaign.seed, spawn_key=(pen,))
    parameters, *points = root.spawn(1 + len(campaign.points))
    return parameters, points


def build_from_quantiles(campaign: Campaign, u: np.ndarray) -> list[PenBuild]:
    """Pens from rows of quantiles, one column per varied parameter (campaign order)."""
    columns = {name: dist.values(u[:, k]) for k, (name, dist) in enumerate(campaign.parameters.items())}
    return [
        replace(campaign.nominal, **{name: float(values[row]) for name, values in columns.items()})
        for row in range(u.shape[0])
    ]


def sample_pens(campaign: Campaign, pens: range) -> list[PenBuild]:
    """Pens ``pens`` of the campaign: each draws one uniform per varied parameter from its own seed, and the
    quantiles go through the distributions together (one call per parameter, not per pen)."""
    u = np.array([np.random.default_rng(pen_seeds(campaign, pen)[0]).random(len(campaign.parameters)) for pen in pens])
    return build_from_quantiles(campaign, u.reshape(len(pens), len(campaign.parameters)))


def run_case(
    build: PenBuild,
    point: OperatingPoint,
    seconds: float,
    cartridge: CartridgeInfo,
    seed: np.random.SeedSequence,
    drive: str = "voice_coil",
) -> CaseResult:
    """Power the pen on, stroke ``seconds`` at ``point`` under its firmware, and measure what it delivered."""
    backend = build_simulated_pen(seed=seed, build=build, cartridge=cartridge, drive=drive)
    backend.set_skin(point.skin)
    ctl = PenController(backend)
    ctl.power_on()
    planned = max(1, round(seconds * point.frequency_hz))
    tel, refusal = ctl.loop.empty(), ""
    try:
        if not ctl.faults:
            ctl.select(
                Target(
                    depth_mm=point.depth_mm, frequency_hz=point.frequency_hz, zone_max_mm=point.depth_mm, zone="bench"
                )
            )
            ctl.arm()
            ctl.start()
            tel = ctl.run(planned)
    except CommandRefusedError as exc:
        refusal = "; ".join(exc.reasons)
    ctl.power_off()
    error = gauge_depth_mm(tel, build) - point.depth_mm
    worst = int(np.argmax(np.abs(error))) if len(error) else 0
    rate = gauge_rate_hz(tel, build)
    return CaseResult(
        strokes=len(tel),
        completed=len(tel) == planned and not ctl.faults,
        depth_error_mean_mm=float(error.mean()) if len(error) else float("nan"),
        depth_error_sd_mm=float(error.std()) if len(error) else float("nan"),
        depth_error_worst_mm=float(error[worst]) if len(error) else float("nan"),
        rate_error_pct=(rate / point.frequency_hz - 1.0) * 100.0 if len(tel) else float("nan"),
        shortfall_strokes=int(np.count_nonzero(tel["flags"] & StrokeFlag.SHORTFALL)),
        faults=",".join(dict.fromkeys(f.kind for f in ctl.faults)),
        refusal=refusal,
    )


def run_chunk(campaign: Campaign, chunk: int) -> list[dict[str, Any]]:
    """Every case of the chunk's pens, as rows of cases.parquet (pen-major, then point)."""
    rows = []
    pens = campaign.pens_of(chunk)
    for pen, build in zip(pens, sample_pens(campaign, pens), strict=True):
        _, seeds = pen_seeds(campaign, pen)
        params = {name: getattr(build, name) for name in PARAMETERS}
        for k, (point, seed) in enumerate(zip(campaign.points, seeds, strict=True)):
            result = run_case(build, point, campaign.seconds, campaign.cartridge, seed, campaign.drive)
            rows.append(
                {"pen": pen, "point": k, **asdict(point), **params, **asdict(result)},
            )
    return rows
