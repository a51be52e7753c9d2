"""Thinning long series for drawing, never for diagnosing: the diagnosis has seen every point
before a report draws any.

A chart is a few hundred to two thousand pixels wide, so a 1M-step curve drawn point by point
spends its time on lines that land on the same pixel. :func:`minmax` keeps, for each of ``n``
equal step buckets, the lowest and the highest point (in step order): the envelope a line
through every point would paint, so a one-step spike or a NaN stretch still shows.
"""

from __future__ import annotations

import numpy as np

#: Buckets per drawn series: two points (the bucket's min and max) per bucket, ~2 per pixel
#: of a wide chart; 1M points become at most 4,000.
BUCKETS = 2000


def minmax(steps: np.ndarray, values: np.ndarray, buckets: int = BUCKETS) -> tuple[np.ndarray, np.ndarray]:
    """The min and max finite point of each of ``buckets`` equal step ranges, in step order.

    Series at most ``2 * buckets`` long come back unchanged (less their non-finite points).
    ``steps`` must be sorted (the :class:`~lossdoctor.core.Series` contract).
    """
    steps = np.asarray(steps, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(values)
    if not ok.all():
        steps, values = steps[ok], values[ok]
    n = steps.size
    if n <= 2 * buckets:
        return steps, values
    lo, hi = steps[0], steps[-1]
    if hi <= lo:
        i, j = int(np.argmin(values)), int(np.argmax(values))
        keep = np.unique([i, j])
        return steps[keep], values[keep]
    edges = lo + (hi - lo) * (np.arange(1, buckets) / buckets)
    starts = np.concatenate(([0], np.searchsorted(steps, edges, side="left")))
    starts = np.unique(starts[starts < n])  # empty buckets drop out
    lens = np.diff(np.append(starts, n))
    bucket = np.repeat(np.arange(starts.size), lens)
    imin = _first_hit(values, np.minimum.reduceat(values, starts), bucket, starts.size)
    imax = _first_hit(values, np.maximum.reduceat(values, starts), bucket, starts.size)
    keep = np.unique(np.concatenate((imin, imax)))
    return steps[keep], values[keep]


def _first_hit(values, per_bucket, bucket, nb):
    """Index of the first point of each bucket whose value equals that bucket's own
    (an O(n) argmin/argmax per bucket, without sorting)."""
    hits = np.flatnonzero(values == per_bucket[bucket])
    return hits[np.searchsorted(bucket[hits], np.arange(nb))]


def nonfinite_steps(steps: np.ndarray, values: np.ndarray, buckets: int = BUCKETS) -> np.ndarray:
    """The steps of NaN/inf values, at most one per bucket (for drawing markers)."""
    bad = ~np.isfinite(np.asarray(values, dtype=np.float64))
    if not bad.any():
        return np.zeros(0)
    s = np.asarray(steps, dtype=np.float64)[bad]
    if s.size <= buckets:
        return s
    lo, hi = s[0], s[-1]
    if hi <= lo:
        return s[:1]
    idx = ((s - lo) * ((buckets - 1) / (hi - lo))).astype(np.intp)
    _, first = np.unique(idx, return_index=True)
    return s[first]


def bin_edges(lo: float, hi: float, n: int) -> np.ndarray:
    """``n + 1`` edges of ``n`` equal bins over ``[lo, hi]`` (one bin when ``hi <= lo``)."""
    if hi <= lo:
        return np.array([lo - 0.5, lo + 0.5])
    return lo + (hi - lo) * (np.arange(n + 1) / n)


def bin_means(steps: np.ndarray, values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The mean of the finite values in each bin between consecutive ``edges`` (NaN where a
    bin holds none). ``steps`` sorted."""
    steps = np.asarray(steps, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    n = edges.size - 1
    fin = np.isfinite(values)
    idx = np.searchsorted(edges, steps, side="right") - 1
    np.clip(idx, 0, n - 1, out=idx)
    counts = np.bincount(idx[fin], minlength=n)
    sums = np.bincount(idx[fin], weights=values[fin], minlength=n)
    return np.divide(sums, counts, out=np.full(n, np.nan), where=counts > 0)


__all__ = ["minmax", "nonfinite_steps", "bin_edges", "bin_means", "BUCKETS"]
