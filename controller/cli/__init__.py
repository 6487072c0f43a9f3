"""``penctl``: the command line (the composition root); each subcommand in its own module."""

from controller.cli.common import (
    EXIT_FAULT,
    EXIT_INPUT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_SHORT,
    EXIT_UNVERIFIED,
)
from controller.cli.main import build_parser, main

__all__ = [
    "EXIT_FAULT",
    "EXIT_INPUT",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_SHORT",
    "EXIT_UNVERIFIED",
    "build_parser",
    "main",
]
