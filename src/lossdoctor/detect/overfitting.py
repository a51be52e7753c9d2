"""``overfitting``: training loss keeps falling while validation loss rises.

Validation loss (smoothed) ends at least :data:`MIN_RISE` above its minimum, more than
:data:`NOISE_K` noise units, its minimum is not at the very end, and the training loss fell
by at least :data:`TRAIN_FALL` after that minimum. Needs a validation series with at least
four points.
"""

from __future__ import annotations

import numpy as np

from ..core import Symptom
from .curve import fmt, fmt_step

ID = "overfitting"
MIN_RISE = 0.05
NOISE_K = 2.0
TRAIN_FALL = 0.03


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
    if rise < MIN_RISE * max(abs(vmin), 1e-12) or rise < NOISE_K * v.level_noise:
        return None
    s_min = float(v.bin_steps[i_min])
    train_at_min = float(np.interp(s_min, t.bin_steps, t.ys))
    if t.end > train_at_min - TRAIN_FALL * abs(train_at_min):
        return None
    rel = rise / max(abs(vmin), 1e-12)
    conf = float(np.clip(0.5 + rel, 0.5, 0.97))
    return Symptom(ID, s_min, v.last_step, conf,
                   f"validation loss rose {100 * rel:.0f}% from its minimum {fmt(vmin)} at step "
                   f"{fmt_step(s_min)} to {fmt(vend)} while training loss fell from {fmt(train_at_min)} "
                   f"to {fmt(t.end)}", {"val_rise": rel, "val_min_step": s_min})
