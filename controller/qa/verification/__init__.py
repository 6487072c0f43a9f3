"""Verification campaigns: thousands of virtual pens across production tolerances, judged statistically.

campaign (the file) -> cases (one pen at one point, under its firmware) -> engine (chunks on Dask, resumable)
-> summary (tolerance intervals and criteria) with sensitivity (Sobol' indices) -> plot. ``penctl verify``
(controller/cli/verify.py) and runner.py put them together.
"""
