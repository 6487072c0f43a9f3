"""penctl: the firmware of a microneedling pen and the host tooling around it.

- ``controller.firmware``: what would run on the pen's MCU (imports only ``hal``).
- ``controller.host``: host services (input files, settings flashing, wall-clock pacing).
- ``controller.treatment``: plans, clinical rules, sessions, coverage, the report.
- ``controller.qa``: the fault campaign and the bench, on simulated pens.
- ``controller.cli``: ``penctl``, one module per subcommand: the composition root.
"""

__version__ = "0.1.0"
