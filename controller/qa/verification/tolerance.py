"""Two-sided tolerance intervals: the range that holds a stated share of all pens, with a stated confidence.

A verification claim reads "95 % of the pens built deliver the depth within +/-0.10 mm, with 95 % confidence".
A sample of n virtual pens supports it when a tolerance interval for that coverage and confidence lies inside
the acceptance band. Two methods, as ISO 16269-6 gives them:

- **Normal theory**: ``mean +/- k s`` with Howe's k-factor, ``k = z_{(1+P)/2} sqrt((n-1)(1+1/n) / chi2_{1-g,n-1})``
  (Howe 1969; NIST/SEMATECH e-Handbook of Statistical Methods, section 7.2.6.3), within 0.1 % of the exact
  factor tabulated in ISO 16269-6 from n = 10 on, and on the safe (wider) side. It holds at any n >= 2 if the
  values are normal; a Shapiro-Wilk test says whether the sample contradicts that.
- **Distribution-free** (Wilks, 1941): the interval between the r-th smallest and the r-th largest value. Its
  coverage has a Beta distribution whatever the values' distribution, so its confidence is the binomial
  ``P(Binomial(n, P) <= n - 2r)``; r is the largest that keeps the confidence. It needs
  ``n >= required_n(P, g)`` (93 for 95 %/95 %) before even the sample's extremes (r = 1) are enough.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SHAPIRO_MAX_N = 5000
"""scipy's Shapiro-Wilk p-value is exact only up to this many values; a larger sample is tested on its first."""


@dataclass(kw_only=True, frozen=True)
class Interval:
    low: float
    high: float
    method: str
    detail: str
    """How it was found: the k-factor, or which order statistics."""


def normal_k(n: int, coverage: float, confidence: float) -> float:
    """Two-sided normal tolerance factor (Howe's approximation)."""
    from scipy.stats import chi2, norm

    if n < 2:
        return math.inf
    nu = n - 1
    chi = float(chi2.ppf(1.0 - confidence, nu))
    z = float(norm.ppf((1.0 + coverage) / 2.0))
    return z * math.sqrt(nu * (1.0 + 1.0 / n) / chi)


def normal_interval(values: np.ndarray, coverage: float, confidence: float) -> Interval | None:
    """``mean +/- k s``; None for fewer than two values."""
    n = len(values)
    if n < 2:
        return None
    k = normal_k(n, coverage, confidence)
    mean, sd = float(values.mean()), float(values.std(ddof=1))
    return Interval(low=mean - k * sd, high=mean + k * sd, method="normal", detail=f"k = {k:.4f} (n = {n})")


def wilks_confidence(n: int, r: int, coverage: float) -> float:
    """Confidence that the r-th smallest to r-th largest of n values cover ``coverage`` of the population."""
    from scipy.stats import binom

    if n - 2 * r < 0:
        return 0.0
    return float(binom.cdf(n - 2 * r, n, coverage))


def required_n(coverage: float, confidence: float) -> int:
    """The smallest sample whose extremes (r = 1) are a distribution-free interval of this coverage and confidence."""
    n = 2
    while wilks_confidence(n, 1, coverage) < confidence:
        n += 1
    return n


def wilks_interval(values: np.ndarray, coverage: float, confidence: float) -> Interval | None:
    """The narrowest symmetric order-statistic interval with the confidence; None when n is too small."""
    n = len(values)
    r = 0
    while wilks_confidence(n, r + 1, coverage) >= confidence:
        r += 1
    if r == 0:
        return None
    ordered = np.sort(values)
    return Interval(
        low=float(ordered[r - 1]),
        high=float(ordered[n - r]),
        method="distribution_free",
        detail=f"values {r} and {n - r + 1} of {n} in order",
    )


def shapiro_p(values: np.ndarray) -> float | None:
    """Shapiro-Wilk p-value: small means the sample is unlikely to be normal (None for under 3 values)."""
    from scipy.stats import shapiro

    sample = values[:SHAPIRO_MAX_N]
    if len(sample) < 3 or float(np.ptp(sample)) == 0.0:
        return None
    return float(shapiro(sample).pvalue)
