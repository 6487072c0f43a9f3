"""Count where the envelope and a short pass agree, for both drives: the figure issue 20 asks for.

Every (depth, rate) of the envelope on each skin at 20, 50 and 90 % charge, with 12 needles (and 36 on thick
skin): a point the envelope calls safe must complete a 2 s pass (depth, tissue and rate verdicts); a point it
calls risky must be warned about or refused before the first stroke. The same rule as
tests/test_rotary_duty.py, over the whole grid at once. Run: python tools/envelope_agreement.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from controller.treatment.plan import parse_plan
from controller.treatment.session import run_session
from hal.backend import CartridgeInfo
from sim.envelope import sweep
from tests.test_envelope import HEAD, zone
from tests.test_rotary_duty import PASS_S, TRIP_C, envelope_safe, undelivered, warned_or_refused


def agreement(drive: str) -> tuple[int, int, int, int]:
    """(agreeing points, points, safe points, risky points) over the grid."""
    agree = total = safe = 0
    for skin in ("sensitive", "normal", "thick"):
        for soc in (0.2, 0.5, 0.9):
            for needles in (12, 36) if skin == "thick" else (12,):
                cartridge = CartridgeInfo(cartridge_id=1, needles=needles)
                for p in sweep(skin=skin, battery_soc=soc, trip_c=TRIP_C, drive=drive, cartridge=cartridge):
                    text = HEAD.replace("needles = 12", f"needles = {needles}")
                    text += zone("abdomen", p.depth_mm, p.frequency_hz, PASS_S, skin)
                    text += f'[pen]\ndrive = "{drive}"\nbattery_soc = {soc}\n'
                    plan = parse_plan(text.encode(), "grid")
                    total += 1
                    if envelope_safe(p, drive):
                        safe += 1
                        agree += not undelivered(run_session(plan, seed=2))
                    else:
                        agree += warned_or_refused(plan)
    return agree, total, safe, total - safe


if __name__ == "__main__":
    for name in ("voice_coil", "rotary_cam"):
        ok, n, safe_n, risky_n = agreement(name)
        print(
            f"{name}: {ok} of {n} agree ({safe_n} safe points completed or not, {risky_n} risky points warned or not)"
        )
