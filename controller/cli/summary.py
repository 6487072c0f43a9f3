"""The summary ``treat``, ``record`` and ``replay`` print: the pass's verdict, per zone and in total, in 100 columns.

Every figure is read from report.json's own fields, so the summary cannot say what the report does not. The
table shows the set depth, the needles' protrusion (what the pen measures) and what went into the tissue side
by side, the rate, the density against its band and each zone's verdict; every failed check follows in full,
wrapped, never cut. ``--json`` carries the same text unwrapped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from controller.host.columns import say, wrapped
from controller.host.numbers import fixed, signed

HEAD = (
    f"{'zone':<12} {'set mm':>7} {'protr mm':>9} {'tissue mm':>10} {'rate Hz':>8} {'rate err':>9} {'strokes':>8}  "
    f"{'density/cm2 (band)':<19} verdict"
)


def print_summary(report: dict[str, Any], out: Path) -> None:
    say(f"{report['plan']['name']} (seed {report['seed']}): {report['outcome']}: {report['verdict']['meaning']}")
    print(HEAD)
    for zone in report["zones"]:
        print(_zone_row(zone))
    total = report["total"]
    if total["strokes"]:
        say(
            f"{'total':<12} {'':>7} {'':>9} {'':>10} {'':>8} {fixed(total['stroke_rate']['error_pct'], 3):>8}% "
            f"{total['strokes']:>8}  depth error {signed(total['depth']['error_mean_mm'], 3)} mm, "
            f"{fixed(total['duration_s'], 1)} s"
        )
    for failure in report["verdict"]["failed"]:
        say(f"FAIL {failure}")
    _print_world(report["world"])
    _print_events(report)
    clinical = report["clinical"]
    if clinical["session_ran"]:
        print_aftercare(clinical)
        say(f"report: {out / 'report.json'}, {out / 'report.png'}, {out / 'patient-sheet.md'}")
    else:
        say("no needle stroke was made: no after-care, side effects, patient sheet or next session for this session")
        say(f"report: {out / 'report.json'}, {out / 'report.png'}")


def _zone_row(zone: dict[str, Any]) -> str:
    head = f"{zone['area']:<12} {fixed(zone['commanded']['depth_mm'], 2):>7}"
    if zone["strokes"] == 0:
        return "\n".join(wrapped(f"{head}  not run: {zone['refusal'] or 'stopped'}", "", " " * 22))
    depth, rate, tissue = zone["depth"], zone["stroke_rate"], zone["tissue"]
    density = zone["verdict"]["checks"]["density"]
    band = f"{density['low']:g} to {density['high']:g}" if density["low"] is not None else ""
    mean = zone.get("density_per_cm2", {}).get("mean")
    dens = f"{fixed(mean, 1)} ({band})" if mean is not None and band else "-"
    verdict = "ok" if zone["verdict"]["passed"] else "FAIL"
    return (
        f"{head} {fixed(depth['reached_mean_mm'], 3):>9} {fixed(tissue['penetration_mean_mm'], 3):>10} "
        f"{fixed(rate['measured_hz'], 2):>8} {fixed(rate['error_pct'], 3):>8}% {zone['strokes']:>8}  "
        f"{dens:<19} {verdict}"
    )


def _print_world(world: dict[str, Any]) -> None:
    """Which world the pass ran in, and the pen's calibration when it is not zero."""
    world_of = "a simulated world" if world["simulated"] else "a real pen's own world"
    battery = world["battery_soc_at_start"]
    charge = f", battery {fixed(100 * battery, 0)} % at start" if battery is not None else ""
    overrides = " ".join(f"--{k} {v}" for k, v in world["overrides"].items())
    say(f"pen: {world['pen_model']}, {world_of}{charge}{'; overrides: ' + overrides if overrides else ''}")
    settings = world["pen_settings"] or {}
    offset = settings.get("depth.calibration_offset_mm", 0.0)
    if offset and world["simulated"]:
        say(
            f"calibration: the pen corrects its depth sensor by depth.calibration_offset_mm = {signed(offset, 3)} mm, "
            f"but a simulated pen's sensor has no error: its tips go {signed(offset, 3)} mm past its own reading; "
            "protrusion is a bench gauge's, and judged so"
        )
    elif offset:
        say(
            f"calibration: the pen corrects its depth sensor by depth.calibration_offset_mm = {signed(offset, 3)} mm; "
            "protrusion is as the pen measures it (only a bench gauge knows the true one)"
        )


def _print_events(report: dict[str, Any]) -> None:
    clinical = report["clinical"]
    if clinical["anaesthetic_wait_s"]:
        from controller.treatment.rules import limits

        wait = limits()["anaesthetic_wait"].text
        say(f"waited {fixed(clinical['anaesthetic_wait_s'] / 60, 1)} min before arming: {wait}")
    for caution in clinical["cautions"]:
        say(f"caution ({caution['key']}): {caution['text']}")
    for override in clinical["overrides"]:
        say(f"override: {override.get('area', override.get('rule'))}: {override['reason']}")
    for a in report["alarms"]:
        if a["priority"] != "high":
            say(f"alarm ({a['priority']}) {a['kind']} at {fixed(a['t_s'], 3)} s: {a['message']}")
    for f in report["faults"]:
        say(f"FAULT {f['kind']} at {fixed(f['t_s'], 3)} s (stroke {f['stroke']}): {f['message']}")


def print_aftercare(clinical: dict[str, Any]) -> None:
    """After-care, side effects and the next session's window: what the clinician tells the patient."""
    print("after-care:")
    for item in clinical["aftercare"]:
        say(f"  - {item['instruction']}", indent="    ")
    print("side effects to tell the patient:")
    for effect in clinical["side_effects"]:
        say(f"  - {effect['text']}", indent="    ")
    if clinical.get("practice"):
        print("good practice the texts require:")
        for item in clinical["practice"]:
            say(f"  - {item['text']}", indent="    ")
    nxt = clinical["next_session"]
    if nxt:
        held = f" (not sooner: {nxt['held_back_by']})" if "held_back_by" in nxt else ""
        kind = " (maintenance: the course is complete)" if nxt.get("kind") == "maintenance" else ""
        say(f"next session: {nxt['earliest']} to {nxt['latest']}{kind}{held}")
