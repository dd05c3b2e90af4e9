"""Small statistics for the benchmark: percentiles and a summary of timing samples.

Pure functions, no I/O. Percentiles interpolate linearly between order statistics (the
method numpy calls "linear", the default of most tools), so p50 of an even-sized sample
is the mean of the two middle values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0..100) of ``values``; ValueError if empty or p out of range."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0.0 <= p <= 100.0:
        raise ValueError(f"percentile {p} is outside 0..100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100.0
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return float(ordered[low])
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


def median(values: Sequence[float]) -> float:
    return percentile(values, 50.0)


def summarise(values: Sequence[float]) -> dict[str, Any]:
    """n, median, p95, min, max of the samples (all None when there are none)."""
    if not values:
        return {"n": 0, "median": None, "p95": None, "min": None, "max": None}
    return {
        "n": len(values),
        "median": median(values),
        "p95": percentile(values, 95.0),
        "min": float(min(values)),
        "max": float(max(values)),
    }


def ratio(value: float | None, base: float | None) -> float | None:
    """``value / base``, or None when either is missing or the base is zero."""
    if value is None or base is None or base <= 0:
        return None
    return value / base
