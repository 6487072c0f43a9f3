"""The dossier's built-in verification campaign: small enough for a minute, large enough for 95/95 intervals.

93 pens, the fewest for which a distribution-free two-sided 95 %/95 % interval exists (Wilks: the extremes of
93 runs), each built from its production tolerances and run for one second at four labelled operating points,
judged against the labelled accuracy: depth within +/-0.15 mm (the depth accuracy the verdicts use; Exceed,
FDA K182407) and rate within the pen's ``frequency.tolerance_pct`` (2 %). The rotary drive's points are inside
its rate range and away from the deep thick-skin corner where first contact trips its rate check
(docs/envelope.md). A full campaign file (``--campaign``) replaces it; ``penctl verify`` runs the same files.
"""

from __future__ import annotations

from controller.firmware.limits import FirmwareLimits
from controller.treatment.verdict import DEPTH_ACCURACY_MM

PENS = 93
RATE_TOLERANCE_PCT = 100.0 * FirmwareLimits().stroke_rate_tolerance

POINTS = {
    "voice_coil": ((0.5, 120.0, "normal"), (1.0, 120.0, "normal"), (1.5, 120.0, "thick"), (2.0, 100.0, "normal")),
    "rotary_cam": ((0.5, 120.0, "normal"), (1.0, 110.0, "normal"), (1.5, 120.0, "thick"), (2.0, 130.0, "normal")),
}
"""Depth (mm), rate (Hz) and skin of each operating point, per drive."""

SHARED_TOLERANCES = """
[parameters.needle_length_error_mm]
distribution = "normal"
mean = 0.0
sd = 0.02
min = -0.06
max = 0.06

[parameters.depth_offset_mm]
distribution = "normal"
mean = 0.0
sd = 0.01
min = -0.03
max = 0.03

[parameters.clock_error_ppm]
distribution = "normal"
mean = 0.0
sd = 10.0
min = -30.0
max = 30.0

[parameters.battery_soc]
distribution = "uniform"
min = 0.2
max = 1.0

[parameters.ambient_c]
distribution = "uniform"
min = 15.0
max = 35.0
"""
"""Tolerances every drive has: the cartridge's needles, the depth sensor's zero, the crystal, the conditions of use."""


def builtin_campaign(drive: str) -> str:
    """The campaign file (TOML) the dossier runs when none is given, for ``drive``."""
    points = "".join(
        f'\n[[points]]\ndepth_mm = {depth}\nfrequency_hz = {hz}\nskin = "{skin}"\n' for depth, hz, skin in POINTS[drive]
    )
    criteria = "".join(
        f'\n[[criteria]]\nmetric = "{metric}"\nmin = {-band}\nmax = {band}\ncoverage = 0.95\nconfidence = 0.95\n'
        f'method = "{method}"\n'
        for metric, band, method in (
            ("depth_error_mean_mm", DEPTH_ACCURACY_MM, "normal"),
            ("depth_error_mean_mm", DEPTH_ACCURACY_MM, "distribution_free"),
            ("rate_error_pct", RATE_TOLERANCE_PCT, "normal"),
        )
    )
    return (
        f'[campaign]\nname = "dossier: depth and rate accuracy, {drive}"\nseed = 20261207\npens = {PENS}\n'
        f'seconds = 1.0\nchunk_pens = 31\n\n[pen]\ndrive = "{drive}"\n\n[cartridge]\nid = 1\nneedles = 12\n'
        f"max_depth_mm = 2.5\n{SHARED_TOLERANCES}{points}{criteria}"
    )
