"""The pen's firmware: what would run on its microcontroller.

State machine, stroke loop, supervisor, alarms, limits, hazards and the injected
clock. It sees hardware only through a ``hal`` backend object and imports none of
the host tooling beside it (tests/test_architecture.py checks the imports).
"""
