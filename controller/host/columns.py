"""What every table and summary penctl prints fits: 100 columns, whole words, continuation lines indented.

One rule for the treat summary, the hazard table and the envelope, so a terminal or a report pasted into
a ticket never shows a cut word or a 200-character line; ``--json`` carries every text whole.
"""

from __future__ import annotations

import textwrap

TABLE_WIDTH = 100
"""The widest line penctl prints in a table or summary."""


def wrapped(text: str, first: str = "", rest: str = "  ", width: int = TABLE_WIDTH) -> list[str]:
    """``text`` in lines of at most ``width`` columns: the first after ``first``, the others after ``rest``.

    Words are never cut, not even at hyphens (``rotary_cam-like`` names and ``-0.046`` figures stay whole).
    """
    return textwrap.wrap(
        text, width, initial_indent=first, subsequent_indent=rest, break_long_words=False, break_on_hyphens=False
    )


def joined(items: list[str], sep: str, first: str = "", rest: str = "  ", width: int = TABLE_WIDTH) -> list[str]:
    """``items`` joined by ``sep`` (``"; "``, ``", "``) in lines of at most ``width`` columns, never splitting an
    item ("4.2 min" stays on one line)."""
    pieces = [item + sep.rstrip() for item in items[:-1]] + items[-1:]
    lines: list[str] = []
    line = first + pieces[0] if pieces else first
    for piece in pieces[1:]:
        if len(line) + 1 + len(piece) > width:
            lines.append(line)
            line = rest + piece
        else:
            line = f"{line} {piece}"
    return [*lines, line]


def say(text: str, indent: str = "  ") -> None:
    """One statement printed in 100 columns, its continuation lines indented."""
    print("\n".join(wrapped(text, "", indent)))
