"""What a report was made from: the world it simulated, the pen's own word, and how to make it again.

A verdict is only worth what its inputs are known to be. The plan's hash does not name the world a
pass ran in: ``--drive`` overrides the plan's drive, and over a link the pen's own settings (its
calibration, its limits) decide what it does. So the report carries the plan itself, every
command-line override, the seed and the penctl version (enough to rerun it: ``reproduce``), and,
as the pen reported them, its identity, settings and the limits they put in force.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from controller.treatment.session import SessionResult

BUILTIN_PREFIX = "<built-in "
"""How a built-in plan's source is named (plan.load_plan): it is rerun without a PLAN argument."""


def provenance(result: SessionResult, overrides: Mapping[str, str], rounded: Any) -> dict[str, Any]:
    """The report's ``world`` section; ``rounded`` rounds a float as the rest of the report does."""
    plan = result.plan
    simulated = result.simulated_world
    return {
        "simulated": simulated,
        "pen_model": result.identity.model if result.identity else None,
        "drive": _drive_of(result),
        "battery_soc_at_start": rounded(plan.pen.battery_soc) if simulated else None,
        "skins": [z.skin for z in plan.zones],
        "seed": result.seed,
        "overrides": dict(sorted(overrides.items())),
        "pen_settings": _settings(result, rounded),
        "limits": {k: (rounded(v) if isinstance(v, float) else v) for k, v in asdict(result.limits).items()},
        "reproduce": reproduce_command(result, overrides) if result.in_process else None,
    }


def _drive_of(result: SessionResult) -> str | None:
    return drive_named(result.identity.model if result.identity else "")


def drive_named(model: str) -> str | None:
    """A served simulated pen names its drive in its model ("MN-1 (simulated, rotary_cam)"); a real pen does not."""
    if "(simulated, " in model:
        return model.split("(simulated, ", 1)[1].rstrip(")")
    return None


def _settings(result: SessionResult, rounded: Any) -> dict[str, Any] | None:
    values = result.pen_settings
    if values is None:
        return None
    return {k: (rounded(v) if isinstance(v, float) else v) for k, v in sorted(values.items())}


def reproduce_command(result: SessionResult, overrides: Mapping[str, str]) -> str:
    """The ``penctl treat`` command that makes this report again, with the plan saved as ``plan.toml``.

    (The plan's own text is in the report's ``plan.toml``; a built-in plan needs no file.)
    """
    words = ["penctl", "treat"]
    if not result.plan.source.startswith(BUILTIN_PREFIX):
        words.append("plan.toml")
    words += ["--seed", str(result.seed)]
    for option, value in sorted(overrides.items()):
        words += [f"--{option}", value]
    return shlex.join(words)
