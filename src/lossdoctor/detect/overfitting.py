"""``overfitting``: training loss keeps falling while validation loss rises.

Validation loss (smoothed) ends above its minimum by at least :data:`MIN_RISE` and by more
than :data:`NOISE_K` noise units, the rise leaves the validation loss's own noise band and lasts
(see :func:`_leaves_noise`), its minimum is not at the very end, and the training loss did not
rise after it. A small rise (under :data:`CLEAR_RISE`) counts only when the gap between
validation and training widened by :data:`GAP_WIDENING` or more (the onset of overfitting, not
a validation loss that merely levelled off). Needs a validation series with four points or more.
Known false positives: a validation set much smaller than usual wobbles as much as this.
"""

from __future__ import annotations

import numpy as np

from ..core import Symptom
from .curve import fmt, fmt_step

ID = "overfitting"
MIN_RISE = 0.05
CLEAR_RISE = 0.1
NOISE_K = 1.5
GAP_WIDENING = 0.25
#: The training loss may wobble up this much (relative to its own drop, or to its level at the
#: validation minimum when that is smaller: a run whose loss first shot up has a huge range) and
#: still count as falling.
TRAIN_SLACK = 0.05
#: A training loss that climbs this share of its range after the validation minimum is unstable.
SWING = 0.25
#: The noise band the rise must leave: this many times one validation point's noise, or END_K
#: times the noise of the end level (a mean of the last tenth of the points)...
BAND_K = 1.5
END_K = 4.0
#: ...and this share of the last third of the points after the minimum must sit above half the
#: rise: it lasts.
LASTS = 0.6


def _leaves_noise(v, i_min: int, rise: float) -> bool:
    """The rise stands out of the validation loss's own scatter and lasts: it is at least
    :data:`BAND_K` times one point's noise (or :data:`END_K` times the noise of the end level), and
    at least :data:`LASTS` of the last third of the points after the minimum sit above half of it. A noisy validation
    loss that wobbles up at the end of a run has neither."""
    y = v.values
    sigma = v.point_noise
    k = max(3, y.size // 10)
    if rise < max(BAND_K * sigma, END_K * sigma / np.sqrt(k)):
        return False
    i_pt = int(np.searchsorted(v.steps, v.bin_steps[i_min]))
    after = y[i_pt + 1:]
    late = after[-max(2, (after.size + 2) // 3):]  # the last third of the points after the minimum
    vmin = float(v.ys[i_min])
    return after.size >= 2 and float(np.mean(late > vmin + 0.5 * rise)) >= LASTS


def detect(cx) -> Symptom | None:
    v, t = cx.val, cx.loss
    if v is None:
        return None
    ys = v.ys
    i_min = int(np.argmin(ys))
    vmin, vend = float(ys[i_min]), v.end
    if i_min >= ys.size - 1:
        return None
    rise = vend - vmin
    rel = rise / max(abs(vmin), 1e-12)
    if rel < MIN_RISE or rise < NOISE_K * v.level_noise or not _leaves_noise(v, i_min, rise):
        return None
    s_min = float(v.bin_steps[i_min])
    train_at_min = float(np.interp(s_min, t.bin_steps, t.ys))
    slack = TRAIN_SLACK * max(min(t.start - t.low, abs(train_at_min)), 1e-12)
    if t.end > train_at_min + slack:
        return None
    if float(t.ys[t.bin_steps >= s_min].max(initial=train_at_min)) > train_at_min + SWING * max(t.start - t.low, 1e-12):
        return None  # the training loss swung up too: instability, not memorisation
    gap0, gap1 = vmin - train_at_min, vend - t.end
    if rel < CLEAR_RISE and not (gap0 > 0 and gap1 >= (1 + GAP_WIDENING) * gap0):
        return None
    conf = float(np.clip(0.5 + rel, 0.5, 0.97))
    return Symptom(ID, s_min, v.last_step, conf,
                   f"validation loss rose {100 * rel:.0f}% from its minimum {fmt(vmin)} at step "
                   f"{fmt_step(s_min)} to {fmt(vend)} while training loss went from {fmt(train_at_min)} "
                   f"to {fmt(t.end)}", {"val_rise": rel, "val_min_step": s_min})
