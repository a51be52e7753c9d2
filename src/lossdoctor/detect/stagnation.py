"""``stagnation``: the loss never leaves its starting level (or chance level) within the run.

The best level reached (bin medians) stays within :data:`MAX_REL_IMPROVEMENT` of the start,
or within noise; or, when the number of classes C is known, never gets more than
:data:`MAX_REL_IMPROVEMENT` below chance level ln(C) (a badly initialised net that falls from a
huge first loss to a uniform guess has not learnt anything). Known false positives: fine-tuning a converged model ("nothing to learn")
looks the same; losses with a large constant offset hide small real progress.
"""

from __future__ import annotations

import numpy as np

from ..core import Symptom
from .curve import fmt, fmt_step

ID = "stagnation"
MAX_REL_IMPROVEMENT = 0.05
#: Improvements smaller than this many noise units are no improvement at all.
NOISE_K = 3.0


def detect(cx) -> Symptom | None:
    c = cx.loss
    start = c.start
    best = c.best
    gain = start - best
    rel = gain / max(abs(start), 1e-12)
    if c.end > start * (1 + 2 * MAX_REL_IMPROVEMENT):
        return None  # it left its start, upwards: divergence's business
    ch = cx.chance
    if ch is not None and best >= (1 - MAX_REL_IMPROVEMENT) * ch and start > best:
        below = (ch - best) / ch
        return Symptom(ID, c.first_step, c.last_step, float(np.clip(0.9 - 4 * max(below, 0), 0.5, 0.9)),
                       f"loss never got below chance level ln(C) = {fmt(ch)} (best {fmt(best)}, from {fmt(start)})",
                       {"improvement": rel, "chance": ch})
    if rel > MAX_REL_IMPROVEMENT and gain > NOISE_K * c.level_noise:
        return None
    conf = float(np.clip(0.95 - 0.4 * max(rel, 0) / MAX_REL_IMPROVEMENT, 0.5, 0.95))
    return Symptom(ID, c.first_step, c.last_step, conf,
                   f"loss stayed at {fmt(start)} for all {fmt_step(c.last_step - c.first_step)} "
                   f"{cx.run.meta.get('step_unit', 'step')}s (best {fmt(best)}, "
                   f"{100 * max(rel, 0):.1f}% below the start)", {"improvement": rel})
