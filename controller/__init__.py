"""Pen firmware logic: state machine, stroke loop, supervisor, treatment sessions and the penctl CLI."""

__version__ = "0.1.0"
