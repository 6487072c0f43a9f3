"""Ratio gates on one pytest-benchmark run: fail CI when the stroke loop or the simulator got slow.

Usage: python .ci/check_gates.py BENCH.json

Each gate compares figures measured in the same run on the same machine, so a
busy machine slows both sides alike:
- the compiled kernel is at least 100x faster than the reference model on the same workload;
- the controller's cost per stroke is at most 1/1000 of the 150 Hz stroke period.
"""

from __future__ import annotations

import json
import sys

MIN_SPEEDUP = 100.0
PERIOD_150HZ_S = 1.0 / 150.0
MAX_LOOP_SHARE = 1.0 / 1000.0


def main(path: str) -> int:
    with open(path, encoding="utf-8") as f:
        benches = {b["name"]: b for b in json.load(f)["benchmarks"]}
    failures = []

    fast = benches["test_model_fast"]["stats"]["min"]
    ref = benches["test_model_reference"]["stats"]["min"]
    speedup = ref / fast
    print(f"gate: kernel speed-up over the reference model {speedup:,.0f}x (need >= {MIN_SPEEDUP:.0f}x)")
    if speedup < MIN_SPEEDUP:
        failures.append("kernel speed-up")

    loop = benches["test_stroke_loop_per_stroke"]
    per_stroke = loop["stats"]["min"] / loop["extra_info"]["strokes"]
    share = per_stroke / PERIOD_150HZ_S
    print(
        f"gate: controller {per_stroke * 1e6:.3f} us per stroke = 1/{1 / share:,.0f} of the 150 Hz period "
        f"(need <= 1/{1 / MAX_LOOP_SHARE:.0f})"
    )
    if share > MAX_LOOP_SHARE:
        failures.append("controller cost per stroke")

    sim = benches["test_simulator_30_minute_pass"]["extra_info"]
    print(f"info: 30-minute pass {sim['strokes']} strokes, {sim['real_time_factor']:,.0f}x real time")
    if failures:
        print("GATES FAILED: " + ", ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
