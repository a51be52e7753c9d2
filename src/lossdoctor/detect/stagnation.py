"""``stagnation``: the loss never leaves its starting level (or chance level) within the run.

Its forms:

* the best sustained level stays within :data:`MAX_REL_IMPROVEMENT` of the start (or within
  noise);
* it stalled early: the loss fell less than :data:`STALL_MAX_REL` of its start and then did not
  move at all over the last :data:`STALL_FROM`-onwards part of the run (every tenth of it within
  :data:`STALL_FLAT_REL` of the start from that part's level, or within noise). That is the curve of a net that
  dropped to a uniform guess (or to wherever dead units and a decayed lr left it) and stayed,
  told without knowing the number of classes;
* a noisy loss that ends where it started (within :data:`END_REL`): its lowest stretch was a
  dip of the noise, not progress;
* a noisy loss whose second half sits within :data:`MAX_REL_IMPROVEMENT` of its first tenth,
  by medians of many points, after no fast first fall (:func:`_flat_in_noise`);
* a loss that rose less than divergence's factor and then held still (:func:`_rose_and_held`):
  a weight decay that wins pulls the loss up to where decay and data balance;
* when the number of classes is unknown, the second half sits still at ln(k) for a small k:
  the loss of a uniform guess says how many classes there are;
* when the number of classes C is known: the loss ends at or above chance level ln(C) (the
  median of the last tenth; its second half not far above, :data:`ABOVE_CHANCE`): whatever it
  did on the way, the net has learnt nothing a uniform guess does not know;
* when the number of classes C is known: the loss sits near chance level ln(C) (never more than
  :data:`NEAR_CHANCE` below it, nor far above) and has not moved over the last half of the run.
  A net that fell from a huge first loss to a uniform guess, or whose lr decayed to nothing a
  little below chance, has not learnt anything.

Known false positives: fine-tuning a converged model ("nothing to learn") looks the same;
losses with a large constant offset hide small real progress; a task whose best achievable
loss is near chance, or a regression that reaches its noise floor within the first third of
the run (the stalled form says how far it fell, so a reader can tell).
"""

from __future__ import annotations

import numpy as np

from ..core import Symptom
from .curve import fmt, fmt_step

ID = "stagnation"
MAX_REL_IMPROVEMENT = 0.12
#: Improvements smaller than this many noise units are no improvement at all.
NOISE_K = 3.0
NEAR_CHANCE = 0.15
#: "Far above" chance: a loss this many times ln(C) is slow progress from a bad start, not a guess.
ABOVE_CHANCE = 1.5
#: The last half "has not moved": its level changed by less than this share of ln(C).
STILL = 0.02
#: Stalled early: fell less than this share of the start...
STALL_MAX_REL = 0.30
#: ...then held still from this position of the run to its end...
STALL_FROM = 0.3
#: ...every tenth of it within this share of the start from the end level, or within noise...
STALL_FLAT_REL = 0.025
STALL_FLAT_NOISE = 5.0
#: ...and with no downward trend over it beyond this share of the start (still falling is not
#: stalled, however slowly)...
STALL_TREND = 0.02
#: ...judged on at least this many logged points (a few dozen epochs cannot show "still").
STALL_MIN_POINTS = 12
#: A noisy loss that ends within END_REL of its start, whose lowest stretch was a dip at most
#: MAX_DIP_REL below the start, never left its start.
END_REL = 0.05
MAX_DIP_REL = 0.3
#: Without a known number of classes: a second half that sits within GUESS_FLAT of its level,
#: with that level within GUESS_TOL of ln(k) for k up to GUESS_MAX_CLASSES, is a uniform guess
#: (the tolerance covers class priors that are not quite uniform).
GUESS_MAX_CLASSES = 12
#: A noisy loss judged by medians of its first tenth and second half needs this many points
#: (the first tenth must hold enough of them for its median to be steady).
FLAT_MIN_POINTS = 100
#: A loss held still this many times above its best sustained level came back up and stayed;
#: "still": every tenth of the stretch, and its trend, within REBOUND_FLAT of its level.
REBOUND = 1.3
REBOUND_FLAT = 0.05
REBOUND_MIN_POINTS = 40
#: Standard error of a median of m points is about 1.2533 sigma / sqrt(m).
MEDIAN_SE = 1.2533
#: The end level: the median of the last tenth of the run.
END_SHARE = 0.1
GUESS_TOL = 0.015
GUESS_FLAT = 0.01


def detect(cx) -> Symptom | None:
    c = cx.loss
    start = c.start
    best = c.best
    unit = cx.run.meta.get("step_unit", "step")
    if c.end > start + 2 * MAX_REL_IMPROVEMENT * abs(start):
        # it left its start, upwards: divergence's business (negative losses too), unless it rose
        # less than divergence's factor and then held still (a weight decay that wins pulls the
        # loss up to where decay and data balance, and holds it there)
        return _rose_and_held(c, unit)
    gain = start - best
    rel = gain / max(abs(start), 1e-12)
    # a noisy loss that ends where it started: its lowest stretch was a dip of the noise
    end_rel = (start - c.end) / max(abs(start), 1e-12)
    back_to_start = c.n >= STALL_MIN_POINTS and c.ys.size >= 10 and end_rel <= END_REL and rel <= MAX_DIP_REL
    if rel <= MAX_REL_IMPROVEMENT or gain <= NOISE_K * c.level_noise or back_to_start:
        conf = float(np.clip(0.95 - 0.4 * max(rel, 0) / MAX_REL_IMPROVEMENT, 0.5, 0.95))
        return Symptom(ID, c.first_step, c.last_step, conf,
                       f"loss stayed at {fmt(start)} for all {fmt_step(c.last_step - c.first_step)} "
                       f"{unit}s (best {fmt(best)}, {100 * max(rel, 0):.1f}% below the start)",
                       {"improvement": rel})
    flat = _flat_in_noise(c)
    if flat is not None:
        first, second, sigma = flat
        rel_f = (first - second) / max(abs(first), 1e-12)
        return Symptom(ID, c.first_step, c.last_step, float(np.clip(0.8 - 2 * max(rel_f, 0), 0.5, 0.8)),
                       f"loss stayed at {fmt(first)} (median of the first tenth of the run) to {fmt(second)} "
                       f"(median of the second half), {100 * max(rel_f, 0):.1f}% lower, under mini-batch noise "
                       f"of ±{fmt(sigma)} a point: it never left its start",
                       {"improvement": rel_f, "flat_in_noise": True})
    # the stretch that stalls is judged by where it sits, not by an early dip it came back from
    # (weight decay that wins pulls the loss back up to a guess, and holds it there)
    late = float(np.median(c.ys[c.pos >= STALL_FROM])) if c.ys.size >= 10 else c.end
    rel_late = (start - late) / max(abs(start), 1e-12)
    stalled = _stalled(c, rel_late)
    if stalled is not None:
        back = best < late - STALL_FLAT_REL * abs(start)
        how = (f"fell to {fmt(best)}, came back up to {fmt(late)}" if back else
               f"fell {100 * max(rel_late, 0):.0f}% (from {fmt(start)} to {fmt(late)})")
        return Symptom(ID, c.first_step, c.last_step, float(np.clip(0.85 - max(rel_late, 0), 0.5, 0.8)),
                       f"loss {how} and then did not move "
                       f"from {unit} {fmt_step(c.step_at(STALL_FROM))} to the end ({fmt_step(c.last_step)}): "
                       f"every tenth of that stretch within {fmt(stalled)} of its level",
                       {"improvement": rel_late, "stalled_from": STALL_FROM})
    rebound = _rebounded(c, late)
    if rebound is not None:
        return Symptom(ID, c.first_step, c.last_step, 0.6,
                       f"loss fell to {fmt(best)}, came back up to {fmt(late)} ({late / best:.2f}x its best) and then "
                       f"did not move from {unit} {fmt_step(c.step_at(STALL_FROM))} to the end "
                       f"({fmt_step(c.last_step)}): every tenth of that stretch within {fmt(rebound)} of its level",
                       {"improvement": rel_late, "stalled_from": STALL_FROM, "rebound": late / best})
    ch = cx.chance
    if ch is None:
        guess = _at_a_guess(c)
        if guess is not None:
            k, level, dev = guess
            return Symptom(ID, c.first_step, c.last_step, 0.7,
                           f"loss fell from {fmt(start)} to {fmt(level)} = ln({k}), the loss of a uniform guess over "
                           f"{k} classes, and sat there for the second half of the run (within {fmt(dev)})",
                           {"improvement": rel, "chance": float(np.log(k)), "guessed_classes": k})
    # near chance: judged by the level of the second half (a net that dipped below chance early
    # and went back to a uniform guess sits at chance all the same)
    second = float(np.median(c.ys[c.pos >= 0.5])) if c.ys.size >= 10 else best
    if ch is None or not ((1 - NEAR_CHANCE) * ch <= second <= ABOVE_CHANCE * ch):
        return None
    tail = float(np.median(c.ys[c.pos >= 1 - END_SHARE])) if c.ys.size >= 10 else c.end
    if c.n >= STALL_MIN_POINTS and tail >= ch:
        # still at or above a uniform guess at the end of the run, however it moved: a
        # classifier that has learnt nothing a guess does not know (Karpathy's recipe: the
        # loss must leave ln(C)); a loss far above it (a summed loss, another scale) is left alone
        return Symptom(ID, c.first_step, c.last_step, 0.6,
                       f"loss ended at {fmt(tail)}, at or above chance level ln(C) = {fmt(ch)} "
                       f"(from {fmt(start)}, best {fmt(best)}): after {fmt_step(c.last_step - c.first_step)} "
                       f"{unit}s the net predicts no better than a uniform guess",
                       {"improvement": rel, "chance": ch, "above_chance": True})
    mid = float(np.median(c.ys[(c.pos >= 0.45) & (c.pos <= 0.55)])) if c.ys.size >= 10 else start
    if abs(mid - c.end) > STILL * ch:
        return None
    below = max((ch - second) / ch, 0.0)
    return Symptom(ID, c.first_step, c.last_step, float(np.clip(0.9 - 2 * below, 0.5, 0.9)),
                   f"loss sat near chance level ln(C) = {fmt(ch)} (best {fmt(best)}, from {fmt(start)}) and did "
                   f"not move over the second half of the run", {"improvement": rel, "chance": ch})


def _flat_in_noise(c) -> tuple[float, float, float] | None:
    """``(first, second, sigma)`` when a noisy loss never left its start: no fast first fall
    (the first 1% of points within :data:`NOISE_K` standard errors of the first tenth's median),
    and the second half's median (and the last tenth's) within :data:`MAX_REL_IMPROVEMENT` of the
    first tenth's. Judged on medians of many points, not on the lowest dip of a noisy curve (the
    best level of a loss that scatters ±20% is a dip of the noise). Needs
    :data:`FLAT_MIN_POINTS` points."""
    v = c.values
    n = v.size
    if n < FLAT_MIN_POINTS:
        return None
    sigma = c.point_noise
    se = lambda m: MEDIAN_SE * sigma / np.sqrt(m)  # noqa: E731
    tenth, k = n // 10, max(3, n // 100)
    first, head = float(np.median(v[:tenth])), float(np.median(v[:k]))
    if head - first > NOISE_K * float(np.hypot(se(k), se(tenth))):
        return None  # it fell fast at first: a start it left
    second, last = float(np.median(v[n // 2:])), float(np.median(v[-tenth:]))
    scale = max(abs(first), 1e-12)
    if (first - second) / scale > MAX_REL_IMPROVEMENT or (first - last) / scale > MAX_REL_IMPROVEMENT:
        return None
    if second > first + NOISE_K * float(np.hypot(se(tenth), se(n - n // 2))):
        return None  # it rose: not a stall
    return first, second, sigma


def _rose_and_held(c, unit: str) -> Symptom | None:
    """A positive loss that ended above its start by less than divergence's factor over its low,
    and held still over the last part of the run (see :func:`_stalled`), else ``None``."""
    from .divergence import FACTOR

    if c.low <= 0 or c.end >= FACTOR * c.low or c.ys.size < 10:
        return None
    late = float(np.median(c.ys[c.pos >= STALL_FROM]))
    if _stalled(c, 0.0) is None:
        return None
    return Symptom(ID, c.first_step, c.last_step, 0.6,
                   f"loss rose from {fmt(c.start)} to {fmt(late)} and then did not move from {unit} "
                   f"{fmt_step(c.step_at(STALL_FROM))} to the end ({fmt_step(c.last_step)}): a training loss "
                   f"that settles above where it started learnt nothing it kept",
                   {"improvement": (c.start - late) / abs(c.start), "stalled_from": STALL_FROM, "rose": True})


def _rebounded(c, late: float) -> float | None:
    """The late stretch's largest deviation (see :func:`_stalled`) when a positive loss fell to a
    best sustained level, came back up to at least :data:`REBOUND` times it and held still there
    over the last part of the run (a decay or a penalty that wins pulls the loss back up to where
    it balances the data, and holds it), else ``None``. A healthy loss never settles far above a
    level it had already sustained."""
    from .curve import running_median

    if c.n < STALL_MIN_POINTS or c.ys.size < REBOUND_MIN_POINTS or late <= 0:
        return None
    # a sustained best: a running median over 5% of the run and at least 5 points (one low
    # point of a sparse, noisy log is no level the loss came back up from)
    rm = running_median(c.ys, max(5, c.ys.size // 20) | 1)
    i = int(np.argmin(rm))
    best = float(rm[i])
    # the best came before the stretch that holds (a loss still falling has its best at the end)
    if best <= 0 or c.pos[i] >= STALL_FROM or late < REBOUND * best or late - best <= NOISE_K * c.level_noise:
        return None
    dev = _late_dev(c, late)
    if not (dev <= REBOUND_FLAT * late or dev <= STALL_FLAT_NOISE * c.level_noise):
        return None
    return dev if abs(_late_fall(c)) <= REBOUND_FLAT * late else None


def _at_a_guess(c) -> tuple[int, float, float] | None:
    """``(k, level, deviation)`` when the second half of the run sits still at ln(k) for a small
    number of classes k (a uniform guess: the number of classes unknown, the level says it),
    else ``None``."""
    if c.n < STALL_MIN_POINTS or c.ys.size < 10:
        return None
    m = c.pos >= 0.5
    level = float(np.median(c.ys[m]))
    if not 0 < level < np.log(GUESS_MAX_CLASSES + 1):
        return None
    k = int(round(float(np.exp(level))))
    if not 2 <= k <= GUESS_MAX_CLASSES or abs(level - np.log(k)) > GUESS_TOL * np.log(k):
        return None
    dev = 0.0
    for a in np.arange(0.5, 1.0, 0.1):
        mm = (c.pos >= a) & (c.pos < a + 0.1)
        if mm.any():
            dev = max(dev, abs(float(np.median(c.ys[mm])) - level))
    return (k, level, dev) if dev <= GUESS_FLAT * level else None


def _stalled(c, rel: float) -> float | None:
    """The largest deviation of the last part's tenths from that part's level when the loss
    stalled early (see the module doc), else ``None``."""
    if c.n < STALL_MIN_POINTS or rel > STALL_MAX_REL or c.ys.size < 10:
        return None
    dev = _late_dev(c, float(np.median(c.ys[c.pos >= STALL_FROM])))
    if not (dev <= STALL_FLAT_REL * abs(c.start) or dev <= STALL_FLAT_NOISE * c.level_noise):
        return None
    # flat, not drifting: a least-squares trend over the stretch under STALL_TREND of the start
    return dev if _late_fall(c) <= STALL_TREND * abs(c.start) else None


def _late_dev(c, level: float) -> float:
    """The largest distance of a tenth's median from ``level`` over the stretch from
    :data:`STALL_FROM` to the end."""
    dev = 0.0
    for a in np.arange(STALL_FROM, 1.0, 0.1):
        m = (c.pos >= a) & (c.pos < a + 0.1)
        if m.any():
            dev = max(dev, abs(float(np.median(c.ys[m])) - level))
    return dev


def _late_fall(c) -> float:
    """How far a least-squares line over the stretch from :data:`STALL_FROM` to the end falls
    (negative: it rises)."""
    m = c.pos >= STALL_FROM
    return -float(np.polyfit(c.pos[m], c.ys[m], 1)[0]) * (1.0 - STALL_FROM)
