"""``slow_convergence``: the loss falls steadily but far too slowly; the run ends far from
converged.

A healthy loss does most of its falling early: for ``exp(-t/tau)`` with ``tau`` a fifth of
the run, the second half falls 8% as much as the first. Slow runs fall almost linearly; at
:data:`HALF_RATIO` = 0.38 an exponential fall has ``tau`` over half the run and more than 14% of
its way still to go at the end (and its last fifth brings 8% of the drop so far).
Recognised when the second half falls at least :data:`HALF_RATIO` as much as the first, the
last fifth still does :data:`LAST_SHARE` of the total drop, and that late fall is spread out
(no single tenth of the run holds :data:`MAX_WINDOW_SHARE` of the second half's fall: a
step-decay schedule's late drop is not slowness).
"""

from __future__ import annotations

import numpy as np

from ..core import Symptom
from .curve import fmt

ID = "slow_convergence"
HALF_RATIO = 0.38
LAST_SHARE = 0.065
MAX_WINDOW_SHARE = 0.6
NOISE_K = 4.0
#: A classifier still above chance level ln(C) at the end, and still falling (this share of the drop
#: in the last fifth), is far from converged whatever the curve's shape.
CHANCE_LAST_SHARE = 0.03
#: Total drop below this share of the start level is stagnation's business, not ours.
MIN_DROP = 0.02


def detect(cx) -> Symptom | None:
    c = cx.loss
    ys, pos = c.ys, c.pos
    if ys.size < 6:
        return None
    at = lambda p: float(ys[c.index_of_pos(p)])  # noqa: E731
    y0, yh, y8, y1 = c.start, at(0.5), at(0.8), c.end
    total = y0 - y1
    d1, d2, dl = y0 - yh, yh - y1, y8 - y1
    if total <= max(NOISE_K * c.level_noise, MIN_DROP * abs(y0)) or d1 <= 0:
        return None
    ch = cx.chance
    above_chance = ch is not None and y1 > ch and dl >= CHANCE_LAST_SHARE * total and dl >= NOISE_K * c.level_noise
    if not above_chance and (d2 < HALF_RATIO * d1 or dl < LAST_SHARE * total or dl < NOISE_K * c.level_noise):
        return None
    second = pos >= 0.5
    yy, pp = ys[second], pos[second]
    j = np.searchsorted(pp, pp + 0.1)
    j = np.minimum(j, yy.size - 1)
    biggest = float(np.max(yy - yy[j])) if yy.size > 1 else 0.0
    if d2 > 0 and biggest > MAX_WINDOW_SHARE * d2 and not above_chance:
        return None
    ratio = d2 / d1
    conf = float(np.clip(0.5 + 0.3 * (ratio - HALF_RATIO) + dl / total, 0.5, 0.95))
    return Symptom(ID, c.first_step, c.last_step, conf,
                   f"loss fell steadily from {fmt(y0)} to {fmt(y1)} and was still falling at the end: "
                   f"the last 20% of the run brought {100 * dl / total:.0f}% of the drop "
                   f"(second half / first half = {ratio:.2f})",
                   {"half_ratio": ratio, "last_share": dl / total})
