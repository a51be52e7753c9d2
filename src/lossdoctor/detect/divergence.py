"""``divergence``: the loss grows without bound.

Recognised when the loss ends at least :data:`FACTOR` times above its lowest level, by at least
:data:`MIN_RISE` of its start (of its range, for a loss that can be negative), and back above where it started (or still climbing steeply over the
last fifth, by that much again), or
when it turns non-finite after rising. Judged on bin medians, so mini-batch noise and lone spikes do not count;
a validation loss that stayed calm and ends at its minimum vetoes a finite rise (a sparse, noisy log).
Known false positives: losses that legitimately grow (a GAN's generator loss, a
negative log-likelihood with a learned variance) look the same.
"""

from __future__ import annotations

import numpy as np

from ..core import Symptom
from .curve import fmt, fmt_step

ID = "divergence"
#: End level / lowest level that counts as growth "without bound" (a doubling is far beyond noise).
FACTOR = 2.0
#: Or: still rising by this factor over the last 20% of the run...
TAIL_RISE = 1.3
#: ...by at least this share of the start level above the low (a loss that fell to 1e-6 and
#: wobbles up to 1e-5 has multiplied, but not grown: it is still at ~0).
MIN_RISE = 0.1


#: A validation loss of this many points that ends within VAL_END of its minimum and never swung
#: says the model itself did not diverge (a sparse, noisy training log can seem to).
VAL_POINTS = 8
VAL_END = 0.05


def _val_settled(cx) -> bool:
    from .oscillation import _val_calm

    v = cx.val
    if v is None or v.n < VAL_POINTS or not _val_calm(cx):
        return False
    vv = v.values[np.isfinite(v.values)]
    return bool(vv.size and vv[-1] <= (1 + VAL_END) * float(vv.min()) and float(vv.min()) > 0)


def detect(cx) -> Symptom | None:
    c = cx.loss
    ys = c.ys
    i_low = int(np.argmin(ys))
    low, end, start = c.low, float(ys[-1]), c.start
    if i_low >= ys.size - 1:
        return None
    tail0 = float(ys[c.index_of_pos(0.8)])
    positive = low > 0
    if positive:
        grown = end / low
        rising_tail = end >= TAIL_RISE * tail0
    else:  # losses that can be negative: judge growth against the curve's own scale
        grown = 1 + (end - low) / c.scale
        rising_tail = end - tail0 >= (TAIL_RISE - 1) * c.scale
    nonfinite_after_rise = c.first_bad_step is not None and float(np.max(ys[i_low:])) >= FACTOR * low > 0
    # a positive loss's rise is sized by its start (a loss that soared to 1e12 and fell back to
    # 1e5 from 0.7 has diverged, however small 1e5 is next to the peak); a loss that can be
    # negative by the curve's range
    size = MIN_RISE * (abs(start) if positive else max(abs(start), c.scale))
    rising_tail = rising_tail and end - tail0 >= size
    ok = (grown >= FACTOR and end - low >= size and (end >= 0.9 * start or rising_tail)) or nonfinite_after_rise
    if not ok:
        return None
    if c.first_bad_step is None and _val_settled(cx):
        return None  # the model did not grow worse: the rise is in the training batches' noise
    conf = float(np.clip(0.6 + 0.4 * np.log(max(grown, 1.0) / FACTOR) / np.log(4), 0.6, 1.0))
    at = float(c.bin_steps[i_low])
    tail = f", then became non-finite at step {fmt_step(c.first_bad_step)}" if c.first_bad_step else ""
    return Symptom(ID, at, c.last_step, conf,
                   f"loss rose from its low of {fmt(low)} at step {fmt_step(at)} to {fmt(end)} "
                   f"({grown:.1f}x){tail}", {"factor": grown})
