"""The loss curve as every detector sees it: finite points, binned medians (robust to
mini-batch noise and spikes, and cheap for millions of steps), a noise estimate and the
levels that shapes are judged against.

Positions are fractions of the logged step range, so a 10-epoch run and a 10M-step run are
judged alike, whatever the logging interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..core import Series

#: Bins a long curve is reduced to. 200 medians keep a plateau, a drop or a swing visible
#: (each bin is 0.5 % of the run) while 10M points cost one partition pass.
N_BINS = 200
#: MAD -> standard deviation for normal noise.
MAD_SIGMA = 1.4826


@dataclass(frozen=True, eq=False)
class Curve:
    name: str
    steps: np.ndarray  # finite points only
    values: np.ndarray
    n_logged: int  # points including non-finite ones
    first_bad_step: float | None  # first NaN/inf, if any
    n_bad: int

    @classmethod
    def of(cls, s: Series) -> "Curve":
        ok = np.isfinite(s.values)
        n_bad = int(s.values.size - ok.sum())
        first_bad = float(s.steps[np.argmin(ok)]) if n_bad else None
        steps, values = (s.steps, s.values) if n_bad == 0 else (s.steps[ok], s.values[ok])
        return cls(s.name, steps, values, int(s.values.size), first_bad, n_bad)

    # -- binning ---------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return int(self.values.size)

    @cached_property
    def per_bin(self) -> int:
        """Points per bin (1 for short curves: every point is its own bin)."""
        return max(1, self.n // N_BINS)

    @cached_property
    def _binned(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        m, n = self.per_bin, self.n
        if m == 1:
            return self.steps, self.values, np.zeros(n)
        nb = n // m
        head = n - nb * m  # the remainder joins the first bin's neighbourhood: drop it from bins
        v = self.values[head:].reshape(nb, m)
        st = self.steps[head:].reshape(nb, m)
        med = np.median(v, axis=1)
        mad = np.median(np.abs(v - med[:, None]), axis=1)
        return st[:, m // 2].astype(float), med, mad

    @property
    def bin_steps(self) -> np.ndarray:
        return self._binned[0]

    @property
    def bin_mad(self) -> np.ndarray:
        """Median absolute deviation of the points in each bin (zeros for per-point curves)."""
        return self._binned[2]

    @property
    def y(self) -> np.ndarray:
        """Bin medians: the curve without mini-batch noise or isolated spikes."""
        return self._binned[1]

    @cached_property
    def ys(self) -> np.ndarray:
        """``y`` smoothed by a running median over ~4% of the run (at least 3 points): edges of
        plateaus and drops survive, noise and lone spikes do not."""
        y = self.y
        if y.size < 7:
            return y
        return running_median(y, self.ys_window)

    @cached_property
    def pos(self) -> np.ndarray:
        """Bin positions as fractions of the logged step range, 0..1."""
        s = self.bin_steps
        span = float(self.steps[-1] - self.steps[0]) if self.n > 1 else 1.0
        return (s - float(self.steps[0])) / (span or 1.0)

    @cached_property
    def noise(self) -> float:
        """Robust noise of one bin value (a point's noise / sqrt(points per bin))."""
        if self.per_bin > 1:
            sig_pt = MAD_SIGMA * float(np.median(self._binned[2]))
            return sig_pt / np.sqrt(self.per_bin)
        y = self.y
        if y.size < 4:
            return 0.0
        # second differences cancel a smooth trend: their MAD estimates point noise
        d2 = np.diff(y, 2)
        return MAD_SIGMA * float(np.median(np.abs(d2 - np.median(d2)))) / np.sqrt(6)

    @cached_property
    def ys_window(self) -> int:
        return max(3, (self.y.size // 25) | 1) if self.y.size >= 7 else 1

    @cached_property
    def ys_noise(self) -> float:
        """Noise of one value of the smoothed curve ``ys`` (a median of ``ys_window`` bins)."""
        return 1.25 * self.noise / np.sqrt(self.ys_window)

    @cached_property
    def level_noise(self) -> float:
        """Noise of a level read off the smoothed curve over ~5% of the run: what comparisons
        of two levels (start vs end, before vs after) are judged against."""
        return self.noise / np.sqrt(max(1.0, self.ys.size / 20))

    @cached_property
    def point_noise(self) -> float:
        return self.noise * np.sqrt(self.per_bin)

    # -- levels ------------------------------------------------------------------------------
    @cached_property
    def start(self) -> float:
        """Level at the start: the higher of the first smoothed value and the median of the
        first 1% of points (at least 3): a fast first fall keeps its start, a noisy flat start
        gets a stable one."""
        if not self.ys.size:
            return float("nan")
        k = max(3, self.n // 100)
        return max(float(self.ys[0]), float(np.median(self.values[:k])))

    @cached_property
    def best(self) -> float:
        """The best sustained level: the lowest running median over 5% of the run."""
        w = max(1, (self.ys.size // 20) | 1)
        return float(running_median(self.ys, w).min()) if w > 1 else self.low

    @cached_property
    def end(self) -> float:
        """Level at the end: median of the last 5% of bins (at least one)."""
        k = max(1, self.ys.size // 20)
        return float(np.median(self.ys[-k:]))

    @cached_property
    def low(self) -> float:
        return float(self.ys.min())

    @cached_property
    def high(self) -> float:
        return float(self.ys.max())

    @property
    def drop(self) -> float:
        return self.start - self.end

    def step_at(self, p: float) -> float:
        """The step at position fraction ``p``."""
        return float(self.steps[0] + p * (self.steps[-1] - self.steps[0]))

    def index_of_pos(self, p: float) -> int:
        return int(min(np.searchsorted(self.pos, p), self.pos.size - 1))

    @property
    def first_step(self) -> float:
        return float(self.steps[0])

    @property
    def last_step(self) -> float:
        return float(self.steps[-1])

    @cached_property
    def scale(self) -> float:
        """A size for 'large' changes: the curve's range, or its level when it barely moves."""
        rng = self.high - self.low
        lvl = abs(float(np.median(self.ys)))
        return max(rng, 0.05 * lvl, 1e-12)


def running_median(x: np.ndarray, w: int) -> np.ndarray:
    """Centred running median with edge padding (w odd)."""
    if x.size < w:
        return x.copy()
    h = w // 2
    # pad with the median of each edge, not its first point: the edge values get smoothed too
    xp = np.concatenate([np.full(h, np.median(x[: h + 1])), x, np.full(h, np.median(x[-h - 1:]))])
    from numpy.lib.stride_tricks import sliding_window_view

    return np.median(sliding_window_view(xp, w), axis=1)


def fmt(x: float) -> str:
    """A loss value for a summary line: 3 significant digits."""
    if not np.isfinite(x):
        return str(x)
    return f"{x:.3g}"


def fmt_step(x: float) -> str:
    return f"{int(round(x)):,}" if abs(x) >= 1 or x == 0 else f"{x:.2g}"
