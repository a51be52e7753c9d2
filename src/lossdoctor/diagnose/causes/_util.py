"""Small formatting helpers shared by the cause modules."""

from __future__ import annotations

import math


def g(x: float) -> str:
    """A number for an evidence line: 3 significant digits, scientific when tiny or huge."""
    if x is None or not math.isfinite(x):
        return str(x)
    if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e5):
        return f"{x:.1e}"
    return f"{x:.3g}"


def pct(x: float) -> str:
    return f"{100 * x:.0f}%"
