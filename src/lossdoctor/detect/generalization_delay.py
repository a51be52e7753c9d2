"""``generalization_delay``: training loss is low long before validation loss falls
(grokking-like).

Training loss has done 90% of its drop at step ``a``; validation loss does half of its
eventual drop (at least :data:`MIN_VAL_DROP` of its start) only at step ``b``; the lag ``b - a`` is
at least :data:`MIN_LAG` of the run, and half-way through it validation has done less than
:data:`STUCK` of its drop (it sat, then fell). Needs :data:`MIN_VAL_POINTS` validation points.
"""

from __future__ import annotations

import numpy as np

from ..core import Symptom
from .curve import fmt_step

ID = "generalization_delay"
MIN_LAG = 0.3
MIN_VAL_DROP = 0.2
#: Half-way through the lag, validation must still be stuck: under this share of its drop done.
#: A validation loss that falls steadily (slower than training, as in most fine-tunes) is no
#: delay; grokking sits flat, then falls.
STUCK = 0.2
#: Validation points needed to tell "flat, then a fall" from a steady decline.
MIN_VAL_POINTS = 8


def _first_step_below(c, level: float) -> float | None:
    idx = np.flatnonzero(c.ys <= level)
    return float(c.bin_steps[idx[0]]) if idx.size else None


def detect(cx) -> Symptom | None:
    v, t = cx.val, cx.loss
    if v is None or t.start <= t.end or v.n < MIN_VAL_POINTS:
        return None
    vdrop = v.start - v.low
    if vdrop < MIN_VAL_DROP * abs(v.start):
        return None
    a = _first_step_below(t, t.start - 0.9 * (t.start - t.end))
    b = _first_step_below(v, v.start - 0.5 * vdrop)
    if a is None or b is None:
        return None
    span = max(t.last_step - t.first_step, 1e-12)
    lag = (b - a) / span
    if lag < MIN_LAG:
        return None
    mid = a + 0.5 * (b - a)
    done_mid = (v.start - float(np.interp(mid, v.bin_steps, v.ys))) / vdrop
    if done_mid >= STUCK:
        return None
    return Symptom(ID, a, b, float(np.clip(0.5 + lag, 0.5, 0.95)),
                   f"training loss was near its final level by step {fmt_step(a)}, but validation loss "
                   f"only fell at step {fmt_step(b)} ({100 * lag:.0f}% of the run later)", {"lag": lag})
