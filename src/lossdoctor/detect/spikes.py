"""``spikes``: isolated sudden jumps of the loss, after which it recovers.

A spike is a point far above the loss's running level before it (causal: the median of the
points before it, or of the bin before; never the points after), by all of: :data:`SIGMA_K` noise units
(in log space for positive losses, whose mini-batch noise is multiplicative), :data:`RANGE_FRAC`
of the curve's range and :data:`LEVEL_FRAC` of the level. The range term keeps the heavy tail
of mini-batch losses late in a healthy run (0.01 with a batch at 0.1) from counting. A spike
recovers: a high point the loss never comes back down from (the last one, above all) is not one.
Spikes must be rare (at most :data:`MAX_SHARE` of points): many of them is oscillation. In a log
that keeps one step in k, a high point that the validation loss right after it does not follow
was one hard mini-batch, not the model thrown off (:func:`_one_batch`). And a high point must
stand out of the run's own noise, whose upper tail is measured rather than assumed: near zero a
mini-batch loss is the mean of a few large per-sample losses among many tiny ones, and its tail
is heavy (:func:`_in_tail`).
"""

from __future__ import annotations

import numpy as np

from ..core import Symptom
from .curve import MAD_SIGMA, fmt, fmt_step, running_median

ID = "spikes"
SIGMA_K = 8.0
RANGE_FRAC = 0.25
LEVEL_FRAC = 0.5
MAX_SHARE = 0.05
#: Window of the causal running median for per-point (epoch-level) curves.
WINDOW = 5
#: The first share of the run is its warm-up: no past to judge a point against.
WARMUP = 0.02
MEAN_ABS_SIGMA = 1.2533


def _local_sigma(dev: np.ndarray, m: int) -> np.ndarray:
    """Noise around the running level, per point, measured locally (over ~5% of the run): a
    quiet plateau must not make the ordinary noise after a drop look like spikes."""
    from numpy.lib.stride_tricks import sliding_window_view

    if m > 1:
        d = dev.reshape(-1, m)
        # mean absolute deviation per bin (steadier than a median of 3 or 5 points), then the
        # running median of it over ~5% of the run; sqrt(pi/2) turns it into a sigma
        mean_abs = np.abs(d).mean(axis=1) * MEAN_ABS_SIGMA
        w = max(3, (mean_abs.size // 20) | 1)
        return np.repeat(running_median(mean_abs, w), m)
    w = min(max(5, (dev.size // 20) | 1), dev.size - (1 - dev.size % 2))
    h = w // 2
    pad = np.concatenate([np.full(h, dev[0]), dev, np.full(h, dev[-1])])
    win = sliding_window_view(pad, w)
    med = np.median(win, axis=1)
    return MAD_SIGMA * np.median(np.abs(win - med[:, None]), axis=1)


def _causal_median(v: np.ndarray, w: int) -> np.ndarray:
    """Median of the ``w`` points before each point (the first ``w`` get the first point's
    neighbourhood): a spike is judged against what came before it, never what follows (a loss
    falling fast from 10.8 is above its own future, not a spike)."""
    from numpy.lib.stride_tricks import sliding_window_view

    out = np.empty_like(v)
    if v.size <= w:
        out[:] = np.median(v)
        return out
    past = np.median(sliding_window_view(v[:-1], w), axis=1)  # past[i] = median(v[i:i+w])
    out[w:] = past
    out[:w] = past[0]
    return out


#: In a log that keeps one step in k, a point is one mini-batch among k: a high one that the
#: validation loss right after it does not follow (by VAL_RISE of its level) was a hard batch,
#: not the model thrown off. Needs VAL_POINTS validation points.
VAL_RISE = 0.15
VAL_POINTS = 8


def _one_batch(cx, st: np.ndarray, hit: np.ndarray) -> np.ndarray:
    """Which hits of a sparse log (points more than a step apart) the validation loss shows
    to be single hard batches (see :data:`VAL_RISE`)."""
    out = np.zeros(hit.size, bool)
    v = cx.val
    if v is None or v.n < VAL_POINTS or st.size < 2 or float(np.median(np.diff(st))) <= 1:
        return out
    vs, vv = v.steps, v.values
    for i in np.flatnonzero(hit):
        after = int(np.searchsorted(vs, st[i], side="left"))
        if after >= vs.size or after == 0:
            continue
        before = float(vv[after - 1])
        nxt = float(np.max(vv[after:after + 2]))
        out[i] = before > 0 and nxt < (1 + VAL_RISE) * before
    return out


#: A spike is over once the loss is back below this share of the way up from its running level.
RECOVER = 0.5


def _recovers(v: np.ndarray, base: np.ndarray, hit: np.ndarray) -> np.ndarray:
    """Which hits the loss comes back down from later in the run (below :data:`RECOVER` of the
    jump): a spike recovers. A high last point cannot show it (three healthy runs on breast
    cancer ended on a small last batch at 2-10x the level), and a loss that stays up to the end
    has moved to a new level: divergence's or stagnation's business, not a spike. Only the hits'
    own stretches are reduced (a 1M-step log keeps no second copy of its curve)."""
    out = np.zeros(hit.size, bool)
    idx = np.flatnonzero(hit)
    idx = idx[idx + 1 < v.size]  # a hit on the last point cannot show a recovery
    if idx.size:
        # min(v[i+1:]) for each hit i: the minima of the stretches between hits, then from the end
        seg = np.minimum.reduceat(v, idx + 1)
        after = np.minimum.accumulate(seg[::-1])[::-1]
        out[idx] = after < base[idx] + RECOVER * (v[idx] - base[idx])
    return out


#: The noise's tail: deviations beyond TAIL_FROM noise units, at least TAIL_MIN of them (a
#: Gaussian scatter gives about one in 740 points), are fitted with an exponential tail; a hit
#: that the fit expects at least TAIL_CHANCE times in the run is part of the noise. The points
#: within TAIL_GAP of a hit (its own aftermath) are left out of the fit.
TAIL_FROM = 3.0
TAIL_MIN = 3
TAIL_CHANCE = 0.05
TAIL_GAP = 3


def _in_tail(dev: np.ndarray, sigma: np.ndarray, hit: np.ndarray, warm: int) -> np.ndarray:
    """Which hits the run's own noise tail explains. The mini-batch loss near zero is the mean
    of a few large per-sample losses (the batch's misclassified samples) among many tiny ones,
    so its log scatters with a heavy upper tail: one batch in fifty at 4x the level is ordinary
    there (healthy breast-cancer runs at a loss of 0.03-0.08). The deviations are put on one
    scale, the run's typical noise (the median of the local one: a local scale is tiny between
    hard batches and inflated by a spike's own points, so it cannot compare them); the tail
    beyond :data:`TAIL_FROM` of it, fitted as an exponential (its mean excess) on the points
    away from every hit and past the warm-up, gives how many points the run should show at a
    hit's height by chance. A spike is one it should not show even once in 20 runs
    (:data:`TAIL_CHANCE`). (The caller asks this only of hits below the run's starting level:
    a hard batch of a model that has learned stays below what the untrained model lost; an
    unstable run, whose tail is its own spikes, throws the loss far above it.)"""
    out = np.zeros(hit.size, bool)
    s = sigma[warm:]
    s = s[np.isfinite(s) & (s > 0)]
    if s.size == 0:
        return out
    z = dev / float(np.median(s))
    keep = np.convolve(hit, np.ones(2 * TAIL_GAP + 1), mode="same") == 0
    keep[:warm] = False
    idx = np.flatnonzero(hit)
    exc = z[keep & (z > TAIL_FROM) & np.isfinite(z)] - TAIL_FROM
    if exc.size < TAIL_MIN:
        return out
    out[idx] = exc.size * np.exp(-(z[idx] - TAIL_FROM) / float(exc.mean())) >= TAIL_CHANCE
    return out


def detect(cx) -> Symptom | None:
    c = cx.loss
    if c.n < 2 * WINDOW:
        return None
    m = c.per_bin
    if m == 1:
        v, st = c.values, c.steps
        base = _causal_median(v, WINDOW)
    else:
        head = c.n - (c.n // m) * m
        v, st = c.values[head:], c.steps[head:]
        # the level of the bin before (the first bin: its own), so a point is compared with the past
        base = np.repeat(np.concatenate([c.y[:1], c.y[:-1]]), m)
    positive = c.low > 0 and float(v.min()) > 0
    # the noise is measured around the smoothed curve (a bin's own median sits on its noisiest
    # point when the bin holds 3 or 5 of them); per-bin values are transformed before repeating
    f = np.log if positive else (lambda x: x)
    fv = f(v)
    if m > 1:
        dev = fv - np.repeat(f(c.y), m)
        sigma = _local_sigma(fv - np.repeat(f(c.ys), m), m)
    else:
        dev = fv - f(base)
        sigma = _local_sigma(dev, m)
    rng = c.high - c.low
    jump = v - base
    hit = (dev > SIGMA_K * sigma) & (jump > RANGE_FRAC * rng) & (jump > LEVEL_FRAC * np.abs(base))
    # warm-up: the first points have too little past to judge them against
    warm = max(WINDOW if m == 1 else m, int(WARMUP * v.size))
    hit[:warm] = False
    if hit.any():
        hit &= ~_one_batch(cx, st, hit)
        hit &= _recovers(v, base, hit)
    if positive and hit.any():
        # only a batch below the run's starting level can be a hard one: a model that has
        # learned, averaged over a batch, does not lose more than the untrained one did (a
        # loss that reaches 0 has no multiplicative scatter to measure: its logits are huge,
        # and a miss costs hundreds)
        hit &= ~(_in_tail(dev, sigma, hit, warm) & (v < c.start))
    n_hit = int(hit.sum())
    if n_hit == 0 or n_hit > MAX_SHARE * v.size:
        return None
    idx = np.flatnonzero(hit)
    events = 1 + int(np.sum(np.diff(idx) > 1))
    ratio = (v[idx] - base[idx]) / np.maximum(np.abs(base[idx]), 1e-12)
    k = int(idx[np.argmax(ratio)])
    conf = float(np.clip(0.6 + 0.1 * events, 0.6, 0.95))
    return Symptom(ID, float(st[idx[0]]), float(st[idx[-1]]), conf,
                   f"{events} spike(s): the largest, at step {fmt_step(st[k])}, jumped to {fmt(v[k])} "
                   f"from a running level of {fmt(base[k])}", {"events": events, "points": n_hit})
