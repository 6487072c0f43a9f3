"""The dossier's own figure: the operating envelope at a glance, per skin and charge (PNG bytes)."""

from __future__ import annotations

import io
from typing import Any

MARKERS = {0.2: "v", 0.5: "s", 0.9: "o"}


def envelope_png(section: dict[str, Any]) -> bytes:
    """Per skin: the deepest depth within the depth accuracy at each rate, one line per charge; hollow markers where
    the winding would trip within an hour at some depth of that rate."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    skins = list(dict.fromkeys(t["skin"] for t in section["tables"]))
    fig = Figure(figsize=(12, 4.0))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(skins), sharey=True)
    for ax, skin in zip(axes, skins, strict=True):
        for table in (t for t in section["tables"] if t["skin"] == skin):
            rates = [r["rate_hz"] for r in table["rates"]]
            deepest = [r["deepest_accurate_mm"] or 0.0 for r in table["rates"]]
            line = ax.plot(rates, deepest, "-", label=f"battery {table['battery_soc']:.0%}")[0]
            for r, d in zip(table["rates"], deepest, strict=True):
                ax.plot(
                    r["rate_hz"],
                    d,
                    MARKERS.get(table["battery_soc"], "o"),
                    color=line.get_color(),
                    fillstyle="full" if r["continuous"] else "none",
                )
        ax.set_title(f"{skin} skin")
        ax.set_xlabel("stroke rate (Hz)")
        ax.set_ylim(0.0, 2.6)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("deepest depth within 0.15 mm (mm)")
    axes[-1].legend(loc="lower left", fontsize=8)
    fig.suptitle(
        f"Operating envelope, {section['drive']}, {section['needles']} needles (charges overlap where they agree)\n"
        "filled: continuous duty at every depth of that rate; hollow: the winding trips within an hour at some depth"
    )
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, metadata={"Software": None})
    return buffer.getvalue()
