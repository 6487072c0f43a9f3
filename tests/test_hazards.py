"""One test per hazard of docs/hazards.md, and properties over random plans with random faults."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.firmware.hazards import HAZARDS, Priority, priority_of
from controller.qa.fault_campaign import run_scenario
from controller.qa.scenario_kit import DRIVE, plan
from controller.treatment.fault_outcome import all_telemetry, fault_outcomes
from controller.treatment.plan import PlannedFault
from controller.treatment.session import run_session
from hal.faults import FaultKind
from tests.test_state_machine import EXPECTED as EXPECTED_TRANSITIONS

ONE_STROKE = 1
SPEC: dict[str, tuple[str, str, int | None]] = {
    # hazard: (what the firmware must detect, the mode it must end in, most strokes from onset to detection).
    # Written from docs/hazards.md by hand, not read from the product, so the product's own verdict is not the
    # oracle. High: latched fault within the stroke it showed in. Medium: what ran finishes, nothing new starts.
    "H01": ("depth_command", "idle", None),  # refused at select: nothing ever strokes
    "H02": ("over_depth", "fault", ONE_STROKE),
    "H03": ("depth_drift", "paused", 64),  # a rolling mean over the drift window of 64 strokes
    "H04": ("depth_envelope", "idle", None),  # low: reported, the pass completes
    "H05": ("stroke_rate", "fault", ONE_STROKE),
    "H06": ("not_retracted", "fault", ONE_STROKE),
    "H07": ("stall", "fault", ONE_STROKE),
    "H08": ("overcurrent", "fault", ONE_STROKE),
    "H09": ("over_temperature", "fault", 120 * 60),  # the winding needs time to heat: within a minute at 120 Hz
    "H10": ("battery_overheat", "fault", 120 * 120),  # the cell is slower still: within two minutes
    "H11": ("battery_low", "paused", ONE_STROKE),
    "H12": ("battery_critical", "fault", ONE_STROKE),
    "H13": ("cartridge_changed", "fault", ONE_STROKE),
    "H14": ("cartridge_unrecognised", "idle", None),  # arming refused
    "H15": ("cartridge_reused", "idle", None),
    "H16": ("link_loss", "fault", ONE_STROKE),
    "H17": ("overrun", "fault", None),
    "H18": ("settings_corrupt", "idle", None),
    "H19": ("session_time", "paused", None),
    "H20": ("store_write", "fault", None),
    "H21": ("rate_sag", "fault", ONE_STROKE),  # the rotary drive's hazards, on the rotary drive
    "H22": ("stop_position", "fault", None),  # a seized stop shows at the next depth change, its first stroke
    "H23": ("amplitude_loss", "fault", None),  # the wear grows stroke by stroke
    "H24": ("over_speed", "fault", ONE_STROKE),
}
ROTARY_ONLY = {"H21", "H22", "H23", "H24"}
"""On a voice-coil pen these faults have no part to act on: the pass must simply complete."""
NOT_ON_ROTARY = {"H04"}
"""The rotary drive's depth is set by its stop, not its stroke: the scenario checks the depth is reached."""


def test_the_spec_covers_every_hazard_of_the_table() -> None:
    assert set(SPEC) == {h.id for h in HAZARDS}
    assert all(SPEC[h.id][0] == h.kind for h in HAZARDS)


@pytest.mark.parametrize("drive", ["voice_coil", "rotary_cam"])
@pytest.mark.parametrize("hazard", [h.id for h in HAZARDS])
def test_hazard(hazard: str, drive: str) -> None:
    token = DRIVE.set(drive)
    try:
        result = run_scenario(hazard)
    finally:
        DRIVE.reset(token)
    if (drive == "voice_coil" and hazard in ROTARY_ONLY) or (drive == "rotary_cam" and hazard in NOT_ON_ROTARY):
        assert result.detected is None and result.handled, result.detail
        return
    detected, final_state, most_strokes = SPEC[hazard]
    assert (result.detected, result.final_state) == (detected, final_state), result.detail
    if most_strokes is not None:
        assert result.latency_strokes is not None and 0 <= result.latency_strokes <= most_strokes
    assert result.handled, f"{hazard} {result.name}: {result.detail}"  # and the product agrees with the spec


def test_the_report_describes_each_injected_fault() -> None:
    result = run_session(plan(("cheeks", 1.0, 120.0, 10.0)), seed=3, faults=(PlannedFault(at_s=4.0, kind="stall"),))
    [outcome] = fault_outcomes(result)
    assert outcome.onset_s == pytest.approx(4.0, abs=1 / 120)
    assert (outcome.detected, outcome.priority, outcome.latency_strokes) == ("stall", "high", 1)
    assert outcome.latency_ms is not None and 0 < outcome.latency_ms <= 1000 / 120 + 1e-6
    assert outcome.strokes_after_detection == 0
    assert outcome.final_state == "fault" and outcome.final_tip_mm is not None and outcome.final_tip_mm < 0
    from controller.treatment.report import build_report

    report = build_report(result)
    assert report["injected_faults"][0]["detected"] == "stall"
    assert report["alarms"][0]["kind"] == "stall" and report["alarms"][0]["priority"] == "high"


ZONES = st.lists(
    st.tuples(
        st.sampled_from([("cheeks", 1.0), ("forehead", 0.5), ("periorbital", 0.3), ("abdomen", 2.5)]),
        st.floats(0.1, 1.0),
        st.sampled_from([50.0, 100.0, 120.0, 150.0]),
        st.floats(0.5, 3.0),
    ),
    min_size=1,
    max_size=3,
)
FAULTS = st.lists(
    st.tuples(st.floats(0.0, 6.0), st.sampled_from([k.value for k in FaultKind if k != "battery_overheat"])),
    max_size=2,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ZONES, FAULTS, st.integers(0, 2**32 - 1))
def test_random_plans_with_random_faults_stay_safe(zones, faults, seed) -> None:  # type: ignore[no-untyped-def]
    spec = tuple((area, round(fraction * cap, 2) or 0.05, hz, seconds) for (area, cap), fraction, hz, seconds in zones)
    injected = tuple(PlannedFault(at_s=at, kind=kind) for at, kind in faults)
    result = run_session(plan(*spec), seed=seed, faults=injected)
    tel = all_telemetry(result)
    margin = 0.05
    # 1. No stroke beyond the applicable depth limit, except the one stroke in which a fault showed.
    for zone in result.zones:
        if zone.depth_limit is None or not len(zone.telemetry):
            continue
        over = np.nonzero(zone.telemetry["depth_mm"] > zone.depth_limit.depth_mm + margin)[0]
        assert len(over) <= 1
        if len(over):
            assert over[0] == len(zone.telemetry) - 1, "the pen stopped at the stroke that went too deep"
            assert result.final_state == "fault"
    # 2. Every high-priority fault: the pen stopped at the stroke in which it showed, needles retracted.
    for fault in result.faults:
        if priority_of(fault.kind) is Priority.HIGH and fault.kind not in ("overrun",):
            assert not len(tel) or int(tel["index"][-1]) <= fault.stroke
            assert result.final_state == "fault"
            stuck = any(f.kind == "retract_failure" for f in result.faults_injected)
            if fault.kind != "link_loss" and not stuck:
                assert result.final_tip_mm is not None and result.final_tip_mm < 0
    # 3. Only transitions the specification allows (written out by hand in test_state_machine), chained
    # from power-on: each begins where the one before it ended.
    state = "off"
    for record in result.transitions:
        assert record.source == state, record
        assert EXPECTED_TRANSITIONS.get((record.source, record.trigger)) == record.dest, record
        state = record.dest
    # 4. Every injected fault whose effect does not depend on the stroke (a timer error, a stuck carriage, a
    # missing cartridge, silence, a dead cell) and that started while strokes ran was detected. Others (a jam
    # deeper than the stroke, extra protrusion within the margin, a slowly warming motor) may rightly pass.
    unconditional = {
        "rate_deviation",
        "retract_failure",
        "cartridge_removed",
        "cartridge_swap",
        "link_loss",
        "battery_drain",
    }
    for outcome in fault_outcomes(result):
        started = len(tel) and outcome.onset_s <= float(tel["t_s"][-1])
        if started and outcome.kind in unconditional:
            assert outcome.detected is not None, outcome
