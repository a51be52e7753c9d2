"""``stagnation``: the loss never leaves its starting level (or chance level) within the run.

Two ways:

* the best sustained level stays within :data:`MAX_REL_IMPROVEMENT` of the start (or within
  noise);
* when the number of classes C is known: the loss sits near chance level ln(C) (never more than
  :data:`NEAR_CHANCE` below it, nor far above) and has not moved over the last half of the run.
  A net that fell from a huge first loss to a uniform guess, or whose lr decayed to nothing a
  little below chance, has not learnt anything.

Known false positives: fine-tuning a converged model ("nothing to learn") looks the same;
losses with a large constant offset hide small real progress; a task whose best achievable
loss is near chance.
"""

from __future__ import annotations

import numpy as np

from ..core import Symptom
from .curve import fmt, fmt_step

ID = "stagnation"
MAX_REL_IMPROVEMENT = 0.08
#: Improvements smaller than this many noise units are no improvement at all.
NOISE_K = 3.0
NEAR_CHANCE = 0.15
#: "Far above" chance: a loss this many times ln(C) is slow progress from a bad start, not a guess.
ABOVE_CHANCE = 1.5
#: The last half "has not moved": its level changed by less than this share of ln(C).
STILL = 0.02


def detect(cx) -> Symptom | None:
    c = cx.loss
    start = c.start
    best = c.best
    if c.end > start * (1 + 2 * MAX_REL_IMPROVEMENT):
        return None  # it left its start, upwards: divergence's business
    gain = start - best
    rel = gain / max(abs(start), 1e-12)
    unit = cx.run.meta.get("step_unit", "step")
    if rel <= MAX_REL_IMPROVEMENT or gain <= NOISE_K * c.level_noise:
        conf = float(np.clip(0.95 - 0.4 * max(rel, 0) / MAX_REL_IMPROVEMENT, 0.5, 0.95))
        return Symptom(ID, c.first_step, c.last_step, conf,
                       f"loss stayed at {fmt(start)} for all {fmt_step(c.last_step - c.first_step)} "
                       f"{unit}s (best {fmt(best)}, {100 * max(rel, 0):.1f}% below the start)",
                       {"improvement": rel})
    ch = cx.chance
    if ch is None or not ((1 - NEAR_CHANCE) * ch <= best <= ABOVE_CHANCE * ch):
        return None
    mid = float(np.median(c.ys[(c.pos >= 0.45) & (c.pos <= 0.55)])) if c.ys.size >= 10 else start
    if abs(mid - c.end) > STILL * ch:
        return None
    below = max((ch - best) / ch, 0.0)
    return Symptom(ID, c.first_step, c.last_step, float(np.clip(0.9 - 2 * below, 0.5, 0.9)),
                   f"loss sat near chance level ln(C) = {fmt(ch)} (best {fmt(best)}, from {fmt(start)}) and did "
                   f"not move over the second half of the run", {"improvement": rel, "chance": ch})
