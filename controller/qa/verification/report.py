"""The campaign's verdict as the terminal shows it: each criterion, its margin, and what drives the error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from controller.host.numbers import signed_general

TOP = 3
"""Sensitivity indices shown on the terminal (summary.json has them all)."""


def format_summary(summary: dict[str, Any], out: Path) -> str:
    head, overall = summary["campaign"], summary["overall"]
    lines = [
        f"{head['name']}: {head['pens']} pens x {len(summary['points'])} operating points = {head['cases']} cases, "
        f"{head['seconds_per_point']:g} s each",
        f"  stroked {overall['stroked']}, completed {overall['completed']}, refused to start {overall['refused']}"
        + (f", faults: {_faults(overall['faults'])}" if overall["faults"] else ""),
    ]
    for j, criterion in enumerate(overall["criteria"]):
        margin = criterion["margin"]
        lines.append(
            f"{'PASS' if criterion['pass'] else 'FAIL'}  {criterion['criterion']}: "
            f"{criterion['points_passed']}/{criterion['points']} points, "
            + (
                f"margin {signed_general(margin, 4)} at {criterion['worst_point']}"
                if margin is not None
                else "no interval"
            )
        )
        lines += [
            f"      {point['label']}: {_interval_text(point['criteria'][j])}"
            for point in summary["points"]
            if not point["criteria"][j]["pass"]
        ]
    lines += _sensitivity_lines(summary.get("sensitivity"))
    lines.append(f"verdict: {summary['verdict'].upper()}; results in {out}/ (cases.parquet, summary.json, verify.png)")
    return "\n".join(lines)


def _faults(faults: dict[str, int]) -> str:
    return ", ".join(f"{kind} x{count}" for kind, count in faults.items())


def _interval_text(verdict: dict[str, Any]) -> str:
    normal, free = verdict["normal"], verdict["distribution_free"]
    parts = [f"normal [{signed_general(normal['low'], 4)}, {signed_general(normal['high'], 4)}]"] if normal else []
    if free:
        parts.append(f"distribution-free [{signed_general(free['low'], 4)}, {signed_general(free['high'], 4)}]")
    return "; ".join(parts) + (f" ({verdict['why']})" if "why" in verdict else "")


def _sensitivity_lines(sensitivity: dict[str, Any] | None) -> list[str]:
    if not sensitivity or not sensitivity["ranking"]:
        return []
    top = ", ".join(f"{e['parameter']} {e['mean_ST']:.2f}" for e in sensitivity["ranking"][:TOP])
    return [f"drives {sensitivity['metric']} most (mean total Sobol' index over the points): {top}"]
