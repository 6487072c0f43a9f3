"""Treatment and clinical tooling of the host: plans, presets, screening, course rules, after-care,
the session runner, coverage and the report.

A plan becomes a session on a backend (simulated or real) through the firmware
controller; the telemetry becomes the report.
"""
