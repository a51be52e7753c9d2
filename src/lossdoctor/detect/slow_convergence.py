"""``slow_convergence``: the loss falls steadily but far too slowly; the run ends far from
converged.

The smoothed curve is fitted with ``a + b exp(-t / tau)`` (``t`` the position in the run, 0..1;
``tau`` on a grid, ``a`` and ``b`` by least squares). A healthy loss does most of its falling
early (``tau`` a fifth of the run or less: what is left to fall at the end is ~1% of what it
fell); a slow one falls almost linearly (``tau`` of the order of the run or more). The fit's
*remaining share*, ``1 / (exp(1/tau) - 1)``, is how much the loss would still fall after the end,
relative to how far it fell in the run. Recognised when

* the remaining share is at least :data:`REMAINING` and the fit explains the curve (R² at least
  :data:`MIN_R2`),
* the fitted last fifth of the run still brings :data:`LAST_SHARE` of the drop (and the raw
  levels fall too, by :data:`RAW_NOISE_K` noise units and by :data:`RAW_FIT_AGREE` of what the
  fit says: an S-shaped curve that settled is not still falling), and no tenth of the second half falls
  beyond what the fit explains by :data:`MAX_WINDOW_SHARE` of that half's fall (a step-decay
  schedule's late drop is not slowness);

or, for a classifier of known C, when the loss ends above chance level ln(C) and is still falling.
Judged on the fit, not on two or three points, so a converged run logged once an epoch (a few
dozen points) and the same run logged every step read alike.
"""

from __future__ import annotations

import numpy as np

from ..core import Symptom
from .curve import fmt

ID = "slow_convergence"
#: The loss would still fall at least this share of its fall so far (tau >= ~0.55 of the run).
REMAINING = 0.2
#: The fit must explain this share of the smoothed curve's variance (noisy logs explain less).
MIN_R2 = 0.6
#: A late drop this many noise units beyond the fit is a step, not a slow fall.
STEP_NOISE_K = 4.0
LAST_SHARE = 0.06
MAX_WINDOW_SHARE = 0.6
NOISE_K = 4.0
#: The raw late fall (two levels read off the curve) must at least clear this much noise...
RAW_NOISE_K = 1.5
#: ...and be at least this share of the late fall the fit says: a fit that a slow start bent
#: (an S-shaped curve, flat at both ends) sees a fall still going where the curve has settled.
RAW_FIT_AGREE = 0.4
#: A classifier still above chance level ln(C) at the end, and still falling (this share of the drop
#: in the last fifth), is far from converged whatever the curve's shape.
CHANCE_LAST_SHARE = 0.03
#: Total drop below this share of the start level is stagnation's business, not ours.
MIN_DROP = 0.02
#: Time constants tried, as shares of the run.
TAUS = np.logspace(-2, 1.5, 48)


def fit(pos: np.ndarray, ys: np.ndarray) -> tuple[float, float, float, float]:
    """``(tau, a, b, r2)`` of the best ``a + b exp(-pos / tau)`` on the grid :data:`TAUS`."""
    E = np.exp(-pos[None, :] / TAUS[:, None])  # (taus, points)
    n = pos.size
    e_mean = E.mean(axis=1)
    y_mean = float(ys.mean())
    cov = (E * ys[None, :]).mean(axis=1) - e_mean * y_mean
    var = (E * E).mean(axis=1) - e_mean ** 2
    b = np.where(var > 1e-15, cov / np.maximum(var, 1e-15), 0.0)
    a = y_mean - b * e_mean
    sse = ((a[:, None] + b[:, None] * E - ys[None, :]) ** 2).sum(axis=1)
    k = int(np.argmin(sse))
    sst = float(((ys - y_mean) ** 2).sum()) or 1e-30
    return float(TAUS[k]), float(a[k]), float(b[k]), 1.0 - float(sse[k]) / sst if n > 2 else 0.0


def _late_step(c, tau: float, a: float, b: float) -> bool:
    """A drop in the second half that a smooth fall does not explain: some tenth of the run falls
    more than the fit says by :data:`MAX_WINDOW_SHARE` of the second half's fall and by
    :data:`STEP_NOISE_K` noise units (a step-decay schedule's late drop, not slowness)."""
    ys, pos = c.ys, c.pos
    second = pos >= 0.5
    yy, pp = ys[second], pos[second]
    if yy.size < 3:
        return False
    fitted = a + b * np.exp(-pp / tau)
    d2 = float(fitted[0] - fitted[-1])
    j = np.minimum(np.searchsorted(pp, pp + 0.1), yy.size - 1)
    excess = (yy - yy[j]) - (fitted - fitted[j])
    big = float(np.max(excess))
    return big > max(MAX_WINDOW_SHARE * max(d2, 0.0), STEP_NOISE_K * c.level_noise)


def remaining(tau: float) -> float:
    return float(1.0 / np.expm1(1.0 / tau))


def detect(cx) -> Symptom | None:
    c = cx.loss
    ys, pos = c.ys, c.pos
    if ys.size < 6:
        return None
    at = lambda p: float(ys[c.index_of_pos(p)])  # noqa: E731
    y0, y8, y1 = c.start, at(0.8), c.end
    total = y0 - y1
    dl = y8 - y1
    if total <= max(NOISE_K * c.level_noise, MIN_DROP * abs(y0)):
        return None
    ch = cx.chance
    above_chance = ch is not None and y1 > ch and dl >= CHANCE_LAST_SHARE * total and dl >= NOISE_K * c.level_noise
    tau, a, b, r2 = fit(pos, ys)
    rem = remaining(tau) if b > 0 else 0.0
    # the late fall read off the fit (which pools every point) and checked against the raw levels
    # (the median of 70-85% of the run against the end's: two levels, not two points)
    fit_total = b * (1 - np.exp(-1 / tau))
    fit_late = b * (np.exp(-0.8 / tau) - np.exp(-1 / tau))
    late_band = (pos >= 0.7) & (pos <= 0.85)
    raw_late = (float(np.median(ys[late_band])) - y1) if late_band.any() else dl
    slow = (rem >= REMAINING and r2 >= MIN_R2 and fit_late >= LAST_SHARE * fit_total
            and raw_late >= RAW_NOISE_K * c.level_noise and raw_late >= RAW_FIT_AGREE * fit_late)
    if not (slow or above_chance):
        return None
    if _late_step(c, tau, a, b) and not above_chance:
        return None
    conf = float(np.clip(0.5 + 0.2 * min(rem, 2.0) + dl / total, 0.5, 0.95))
    why = (f"a fit a + b·exp(-t/τ) gives τ = {tau:.2g} of the run: it would still fall about "
           f"{100 * min(rem, 9.99):.0f}% of its fall so far" if slow else
           f"it ends above chance level ln(C) = {fmt(ch)}")
    return Symptom(ID, c.first_step, c.last_step, conf,
                   f"loss fell steadily from {fmt(y0)} to {fmt(y1)} and was still falling at the end: "
                   f"the last 20% of the run brought {100 * dl / total:.0f}% of the drop; {why}",
                   {"tau": tau, "remaining": rem, "r2": r2, "last_share": dl / total})
