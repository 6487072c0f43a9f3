"""The QA harness: the fault campaign and the bench.

It builds simulated pens through the public factories of ``sim`` (``sim.build_simulated_pen``)
and injects faults through the documented fault API, never through a simulator's
private attributes.
"""
