"""Numbers as penctl prints them: never "-0.000".

Why a module of its own: the summary, the verdicts' texts, the envelope table and the dossier all print measured
errors that can be a hair below zero, and each formatted them its own way: the verdict text printed "(-0.000 %)"
for a rate off by -0.0005 % (an outside probe's finding; the README promises no such number). One place now.
"""

from __future__ import annotations


def fixed(value: float, decimals: int) -> str:
    """``value`` with ``decimals`` decimals, never "-0.000": a value that rounds to zero prints unsigned."""
    text = f"{value:.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def signed(value: float, decimals: int) -> str:
    """Like :func:`fixed` with an explicit sign ("+0.012", "-0.012"), and "0.000" for zero."""
    text = fixed(value, decimals)
    return text if float(text) == 0 or text.startswith("-") else "+" + text


def plain(value: float) -> str:
    """A number in its shortest form ("%g"), never "-0"."""
    text = f"{value:g}"
    return "0" if text == "-0" else text


def signed_general(value: float, digits: int) -> str:
    """``value`` to ``digits`` significant digits with an explicit sign ("%+g"), and "0" for zero, never "-0"."""
    text = f"{value:+.{digits}g}"
    return "0" if float(text) == 0 else text
