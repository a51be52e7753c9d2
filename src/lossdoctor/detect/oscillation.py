"""``oscillation``: the loss swings up and down by large amounts instead of settling.

Two ways to see it:

* on the smoothed curve after the first fifth of the run (the first fall is no swing), at least :data:`MIN_UPSWINGS` rises of a "large" size (a zigzag with a
  threshold of :data:`RANGE_FRAC` of that part's range, :data:`LEVEL_FRAC` of its level and
  :data:`NOISE_K` noise units, whichever is largest), for swings slower than a bin;
* at step level, a late-run scatter around the running median of at least :data:`DISP_LEVEL`
  of the late level and :data:`DISP_RANGE` of the progress made after the first fall, for swings faster
  than a bin (a healthy run's mini-batch noise is small next to the distance it has come).

Fast scatter (both the step-level and the point-to-point kind, and swings of a curve logged every
few steps, whose smoothing spans only a few mini-batches) does not count when a validation
loss of :data:`VAL_POINTS` points or more stays calm: a model that swings shows it on a fixed
validation set too, mini-batch noise does not. The step-level kind also needs the scatter to
grow (:data:`GROWS`), the level to stop falling (:data:`STALLED`) or the validation loss to swing.
Every swing must reach :data:`RUN_FRAC` of the run's own scale (a loss at 1e-5 wobbling by 1e-5
does not oscillate).

Known false positives: very small batches make step-level scatter large when no validation loss
is logged; cyclic schedules (SGDR) make swings on purpose.
"""

from __future__ import annotations

import numpy as np

from ..core import Symptom
from .curve import MAD_SIGMA, fmt

ID = "oscillation"
RANGE_FRAC = 0.15
LEVEL_FRAC = 0.10
#: Extreme values of 200 noisy bins reach +-3 sigma: a swing must clear 8 noise units.
NOISE_K = 8.0
NOISE_K_POINT = 4.0
#: Share of direction changes between consecutive points: noise gives ~2/3, a swing every point ~1.
ALTERNATING = 0.9
MIN_UPSWINGS = 2
DISP_RANGE = 0.3
DISP_LEVEL = 0.3
#: The first 20% of a run is its first fall; swings are looked for after it.
SETTLE = 0.2
#: Step-level scatter is oscillation only when it grows (the second half's scatter this many
#: times the first's) or the level stops falling (the second half within STALLED of the first
#: half's level after the first fall): mini-batch noise near a falling or settled level is not.
GROWS = 1.5
STALLED = 0.03
#: Swings must also reach this share of the run's own scale (its start, or its range).
RUN_FRAC = 0.02
#: Per-point curves need this many points for their scatter to be read.
MIN_SCATTER_POINTS = 40
#: A validation loss with this many points and no swing of VAL_SWING of its level is calm.
VAL_POINTS = 8
VAL_SWING = 0.15


def zigzag(y: np.ndarray, h: float) -> list[int]:
    """Turning points of ``y`` (alternating lows and highs) whose swings are at least ``h``;
    the last point's running extreme closes the list."""
    pivots: list[int] = []
    trend, hi, lo = 0, 0, 0
    for i in range(1, y.size):
        if trend == 0:
            hi = i if y[i] > y[hi] else hi
            lo = i if y[i] < y[lo] else lo
            if y[i] - y[lo] >= h:
                pivots.append(lo)
                trend, hi = 1, i
            elif y[hi] - y[i] >= h:
                pivots.append(hi)
                trend, lo = -1, i
        elif trend == 1:
            if y[i] > y[hi]:
                hi = i
            elif y[hi] - y[i] >= h:
                pivots.append(hi)
                trend, lo = -1, i
        else:
            if y[i] < y[lo]:
                lo = i
            elif y[i] - y[lo] >= h:
                pivots.append(lo)
                trend, hi = 1, i
    if trend:
        pivots.append(hi if trend == 1 else lo)
    return pivots


def _val_swings(cx) -> bool | None:
    """Whether the validation loss (a fixed set: no mini-batch noise of its own) swings after the
    first fall, by :data:`VAL_SWING` of its level at least :data:`MIN_UPSWINGS` times; ``None``
    with fewer than :data:`VAL_POINTS` points. A calm one says fast scatter of the training loss is
    the batches'; a swinging one, that the model itself swings."""
    v = cx.val
    if v is None or v.n < VAL_POINTS:
        return None
    ys = v.y[v.pos >= SETTLE] if (v.pos >= SETTLE).sum() >= 4 else v.y
    level = abs(float(np.median(ys)))
    # as for the training loss, swings of a validation loss that fell to ~0 are tiny, however
    # large against their own level: they must also reach RUN_FRAC of its whole range
    floor = RUN_FRAC * float(np.nanmax(v.y) - np.nanmin(v.y))
    piv = zigzag(ys, max(VAL_SWING * level, floor, 1e-12))
    ups = sum(1 for k in range(len(piv) - 1) if ys[piv[k + 1]] > ys[piv[k]])
    return ups >= MIN_UPSWINGS


def _val_calm(cx) -> bool:
    return _val_swings(cx) is False


def detect(cx) -> Symptom | None:
    c = cx.loss
    # the first fall of a run is no swing: judge what comes after it
    after = c.pos >= SETTLE
    ys = c.ys[after] if after.sum() >= 5 else c.ys
    level = abs(float(np.median(ys)))
    rng = float(ys.max() - ys.min())
    # per-point curves (epoch logs, or a loss sampled every k steps) carry their noise point by
    # point; their noise estimate also absorbs fast swings, so it gets a smaller multiple
    noise = (NOISE_K if c.per_bin > 1 else NOISE_K_POINT) * c.ys_noise
    # swings of a loss that has fallen to ~0 are tiny, however large against their own level
    floor = RUN_FRAC * max(abs(c.start), c.high - c.low)
    h = max(RANGE_FRAC * rng, LEVEL_FRAC * level, noise, floor, 1e-12)
    piv = zigzag(ys, h)
    ups = [(piv[k], piv[k + 1]) for k in range(len(piv) - 1) if ys[piv[k + 1]] > ys[piv[k]]]
    # a per-point curve (a log every k steps, or per epoch) smooths over a few points only: its
    # swings may be single mini-batches, which a calm validation loss shows them to be
    if len(ups) >= MIN_UPSWINGS and not _val_calm(cx):
        amp = max(float(ys[b] - ys[a]) for a, b in ups)
        conf = float(np.clip(0.55 + 0.1 * (len(ups) - MIN_UPSWINGS) + 0.2 * amp / max(rng, 1e-12), 0.55, 0.98))
        first = float(c.bin_steps[after][ups[0][0]] if after.sum() >= 5 else c.bin_steps[ups[0][0]])
        return Symptom(ID, first, c.last_step, conf,
                       f"loss swung up {len(ups)} times by up to {fmt(amp)} "
                       f"({100 * amp / max(level, 1e-12):.0f}% of its level {fmt(level)}) instead of settling",
                       {"upswings": len(ups), "amplitude": amp})
    if c.per_bin == 1 and c.n >= 8 and not _val_calm(cx):
        d = np.diff(c.values)
        flips = float(np.mean(np.sign(d[1:]) != np.sign(d[:-1])))
        step = float(np.median(np.abs(d)))
        # random noise flips direction 2/3 of the time; a loss that goes up, down, up, down...
        if flips >= ALTERNATING and step >= LEVEL_FRAC * abs(float(np.median(c.values))) and step >= floor:
            return Symptom(ID, c.first_step, c.last_step, 0.7,
                           f"loss went up and down on {100 * flips:.0f}% of consecutive points, by a median "
                           f"{fmt(step)} ({100 * step / max(abs(float(np.median(c.values))), 1e-12):.0f}% of its level)",
                           {"alternation": flips})
    if (c.per_bin > 1 or c.n >= MIN_SCATTER_POINTS) and not _val_calm(cx):
        # the scatter of the points around the smoothed curve: within each bin for binned
        # curves, around the running median for per-point ones (a log every k steps)
        mad = c.bin_mad if c.per_bin > 1 else np.abs(c.values - c.ys)
        late = c.pos >= 0.5
        scatter = MAD_SIGMA * float(np.median(mad[late]))
        late_level = abs(float(np.median(c.ys[late])))
        early = (c.pos >= SETTLE) & (c.pos < 0.5)
        early_level = float(np.median(c.ys[early])) if early.any() else c.start
        progress = max(float(np.median(c.ys[(c.pos >= SETTLE) & (c.pos < 0.3)])) - late_level, 0.0) \
            if ((c.pos >= SETTLE) & (c.pos < 0.3)).any() else max(c.start - late_level, 0.0)
        # mini-batch scatter is no oscillation unless it grows, or the level stops falling
        early_scatter = MAD_SIGMA * float(np.median(mad[early])) if early.any() else scatter
        grows = scatter >= GROWS * early_scatter
        stalled = late_level >= (1 - STALLED) * abs(early_level)
        if (scatter >= DISP_RANGE * progress and scatter >= DISP_LEVEL * late_level and scatter >= floor
                and (grows or stalled or _val_swings(cx))):
            conf = float(np.clip(0.5 + scatter / max(late_level, 1e-12), 0.5, 0.95))
            p = float(c.bin_steps[int(np.argmax(late))])
            return Symptom(ID, p, c.last_step, conf,
                           f"step-to-step the loss scatters by ±{fmt(scatter)} around {fmt(late_level)} "
                           f"({100 * scatter / max(late_level, 1e-12):.0f}% of its level) in the second half",
                           {"scatter": scatter})
    return None
