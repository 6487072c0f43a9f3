"""The fault campaign on the rotary cam drive: its own hazards (H21-H24), and the hazards it provokes differently.

Where the voice coil's scenario would trip another check first on this drive, the rotary drive gets a scenario
of its own that provokes the same hazard; the reason is given at each.
"""

from __future__ import annotations

from collections.abc import Callable

from controller.firmware.hazards import Hazard
from controller.qa.scenario_kit import (
    DRIVE,
    ONE_ZONE,
    SEED,
    ScenarioResult,
    battery_below_arm,
    inject_and_judge,
    injected,
    plan,
    rate_below_tolerance,
    scenario_result,
)
from controller.treatment.plan import PlannedFault
from controller.treatment.session import run_session


def no_cam(scenario: Callable[[Hazard], ScenarioResult], fault: str) -> Callable[[Hazard], ScenarioResult]:
    """A rotary-drive hazard: on a voice-coil pen the fault has no part to act on and the pass must complete."""

    def on_either(hazard: Hazard) -> ScenarioResult:
        if DRIVE.get() != "voice_coil":
            return scenario(hazard)
        result = run_session(plan(ONE_ZONE), seed=SEED, faults=(PlannedFault(at_s=5.0, kind=fault),))
        ok = result.pen_outcome == "completed"
        detail = "no such part on a voice-coil pen: the fault changes nothing, the pass completed"
        return scenario_result(
            hazard, f"inject {fault} at 5 s", None, result.final_state, ok, detail if ok else result.pen_outcome
        )

    return on_either


CAM_HAZARDS: dict[str, Callable[[Hazard], ScenarioResult]] = {
    # The drive holds 150 Hz down to 10 % charge; a cell drained to 4 % (loaded, just above battery.critical_v)
    # can no longer give the back-EMF and the winding's drop at 150 Hz: the rate sags by more than 2 %.
    "H21": no_cam(
        injected("rate_sag", "battery_drain", 0.04, zones=(("cheeks", 1.0, 150.0, 20.0),), shown=rate_below_tolerance),
        "load_loss",
    ),
    "H22": no_cam(
        injected("stop_position", "stop_jam", 1.0, zones=(ONE_ZONE, ("forehead", 0.5, 120.0, 10.0))), "stop_jam"
    ),
    "H23": no_cam(injected("amplitude_loss", "cam_wear", 0.2, zones=(("cheeks", 1.0, 120.0, 30.0),)), "cam_wear"),
    "H24": no_cam(injected("over_speed", "load_loss"), "load_loss"),
}
"""The rotary drive's own hazards; on a voice-coil pen their faults find no part to act on."""


def rotary_envelope(hazard: Hazard) -> ScenarioResult:
    """The cam always makes its full stroke: depth is not limited by the rate, so the deepest zone is reached."""
    result = run_session(plan(("abdomen", 2.0, 100.0, 5.0)), seed=SEED)
    kinds = [a.kind for a in result.alarms]
    reached = result.zones[0].telemetry["depth_mm"]
    ok = (
        result.pen_outcome == "completed" and not kinds and len(reached) > 0 and abs(float(reached.mean()) - 2.0) < 0.15
    )
    detail = "depth set by the stop, not the stroke: 2.0 mm reached at 100 Hz; the rate answers instead (H05, H21)"
    return scenario_result(
        hazard, "2.0 mm at 100 Hz on the abdomen", None, result.final_state, ok, detail if ok else f"{kinds}"
    )


def rotary_overcurrent(hazard: Hazard) -> ScenarioResult:
    """Without its sensor the motor's current limit is gone: a jammed cam then draws the cell's full current."""
    faults = (
        PlannedFault(at_s=5.0, kind="current_sense", value=None),
        PlannedFault(at_s=5.0, kind="stall", value=-0.2),
    )
    return inject_and_judge(hazard, faults, (ONE_ZONE,), "inject current_sense and a jam at 5 s")


ROTARY_SCENARIOS: dict[str, Callable[[Hazard], ScenarioResult]] = {
    # The stalled cam holds the needles where the carriage jammed: a jam in front of the retract threshold
    # shows first as not_retracted (also latched, also retracted); one behind it is the stall of the table.
    "H07": injected("stall", "stall", -0.2),
    # At 11 % charge the drive still holds its rates (its range is rated down to 10 %, sim/rotary_drive.py):
    # the battery alarm is what answers the drain.
    "H11": injected(
        "battery_low",
        "battery_drain",
        0.11,
        zones=(("cheeks", 1.0, 90.0, 20.0), ("forehead", 0.5, 90.0, 10.0)),
        shown=battery_below_arm,
    ),
    "H04": rotary_envelope,
    "H08": rotary_overcurrent,
}
"""Scenarios that provoke the same hazard differently on the rotary drive, where the first is not its hazard."""
