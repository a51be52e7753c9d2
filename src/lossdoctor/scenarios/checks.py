"""Self-checks: does a recorded curve really show the symptom its scenario claims?

Written apart from :mod:`lossdoctor.detect` on purpose, with plain criteria on the smoothed
loss, so that a scenario is labelled by what its curve does and never by what the tool says.
A scenario whose curve fails its check is fixed or dropped, not relabelled.

Levels: ``start`` is the mean loss over the first :data:`EDGE` of the run, ``end`` over the
last :data:`EDGE`; ``smoothed`` is a trailing moving mean over :data:`SMOOTH` of the run.
Shares of "the run" count logged rows, so the checks are meant for full recordings (one row a
step). Known blind spots: swings faster than ~2% of the run average out of the oscillation
check; the checks see only the loss curve, never the internals (``Scenario.expect`` does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .recording import Recording

SMOOTH = 0.05  # moving-mean window, as a share of the run: irons out mini-batch noise
EDGE = 0.05  # share of the run averaged for the start and end levels

# plateau_then_drop (the brief's definition): within 10% of the start for at least half the
# run, then a fall of at least 30%.
PLATEAU_BAND = 0.10
PLATEAU_MIN_SHARE = 0.5
DROP_MIN = 0.30
# stagnation: flat (within +-10% of its median) over the last 75% of the run, and never
# below 85% of the lower of the start level and chance (ln C).
STAGNANT_BAND = 0.10
STAGNANT_FLOOR = 0.85
# slow_convergence: falls by at least 10% of the start, in every quarter of the run by at
# least 10% of the total fall and in no quarter by more than half of it (steady, no sudden
# drop, still moving at the end).
SLOW_MIN_FALL = 0.10
SLOW_QUARTER_MIN = 0.10
SLOW_QUARTER_MAX = 0.50
# The loss scale swings and spikes are measured against: the current level, but not below a
# quarter of the initial loss (a loss near zero must not count its tiny wiggles as swings).
SCALE_FLOOR = 0.25
# oscillation, over the later half, on means of 2%-of-the-run windows: they rise by 20%+ of
# the scale at least 3 times, fall by as much at least 3 times (a steady climb is not a
# swing), and span at least half of it.
OSC_RISE = 0.2
OSC_MIN_RISES = 3
OSC_SPAN = 0.5
OSC_WINDOW = 0.02
# spikes, on the loss filtered by a 3-step median (one bad batch is not a spike): a step 3x
# the median of the 20 before and above it by at least that median and half the initial loss
# (two unlucky batches in a row at a low loss are not a spike), back under 1.5x that median
# within 20 steps.
SPIKE_FACTOR = 3.0
SPIKE_FLOOR = 0.5
SPIKE_WINDOW = 20
SPIKE_RECOVERY = 1.5
# divergence: the smoothed loss ends 3x above its minimum and 2x above the start (or turns
# non-finite after rising 3x above its minimum).
DIVERGE_FROM_MIN = 3.0
DIVERGE_FROM_START = 2.0
# overfitting: validation loss ends 20%+ above its minimum while the training loss falls
# another 20%+ after that minimum, which comes before 80% of the run.
OVERFIT_RISE = 1.2
OVERFIT_TRAIN_FALL = 0.8
OVERFIT_MIN_BY = 0.8
# healthy: falls by half or more, and the last 20% of the run adds at most 15% of the fall.
HEALTHY_FALL = 0.5
HEALTHY_SETTLE = 0.15
#: A validation loss ending more than this above its minimum is (mild) overfitting, not healthy.
HEALTHY_VAL_RISE = 0.1
# Fewer finite loss values than this: no curve to judge (only nan_inf can hold).
MIN_POINTS = 20


@dataclass
class CheckResult:
    symptom: str | None  # None: the healthy check
    ok: bool
    facts: dict[str, Any] = field(default_factory=dict)
    why: str = ""

    def __bool__(self) -> bool:
        return self.ok


# -- helpers ---------------------------------------------------------------------------------

def smooth(x: np.ndarray, share: float = SMOOTH) -> tuple[np.ndarray, int]:
    """Trailing moving mean over ``share`` of the points; returns ``(values, window)``."""
    w = max(3, int(len(x) * share))
    if len(x) < w:
        return x.astype(float), 1
    return np.convolve(x, np.ones(w) / w, mode="valid"), w


def levels(loss: np.ndarray) -> tuple[float, float]:
    """``(start, end)``: mean loss over the first and the last :data:`EDGE` of the run."""
    k = max(1, int(len(loss) * EDGE))
    return float(np.mean(loss[:k])), float(np.mean(loss[-k:]))


def _finite_loss(rec: Recording) -> tuple[np.ndarray, np.ndarray, bool]:
    steps, loss = rec.series("loss")
    ok = np.isfinite(loss)
    return steps[ok], loss[ok], bool(ok.all())


def _chance(rec: Recording) -> float | None:
    c = rec.hparams.get("num_classes")
    if rec.hparams.get("loss") == "cross_entropy" and isinstance(c, int) and c > 1:
        return math.log(c)
    return None


def _too_short(symptom: str, loss: np.ndarray) -> CheckResult | None:
    if len(loss) < MIN_POINTS:
        return CheckResult(symptom, False, {"finite_points": int(len(loss))},
                           f"only {len(loss)} finite loss values")
    return None


def _initial(loss: np.ndarray) -> float:
    """The loss at the start: mean of the first 1% of the run (at least one step)."""
    return float(np.mean(loss[: max(1, len(loss) // 100)]))


def _scale(level: float, initial: float) -> float:
    return max(level, SCALE_FLOOR * initial, 1e-12)


# -- one function per symptom ------------------------------------------------------------------

def plateau_then_drop(rec: Recording) -> CheckResult:
    _, loss, _ = _finite_loss(rec)
    if (short := _too_short("plateau_then_drop", loss)) is not None:
        return short
    sm, w = smooth(loss)
    start, end = float(sm[0]), levels(loss)[1]
    out = np.nonzero(np.abs(sm - start) > PLATEAU_BAND * start)[0]
    exit_ = int(out[0]) if len(out) else len(sm)
    share = min(1.0, (exit_ + w // 2) / len(loss))
    down = exit_ < len(sm) and sm[exit_] < start
    fall = 1 - end / start if start > 0 else 0.0
    facts = {"start": start, "end": end, "plateau_share": share, "fall": fall}
    ok = share >= PLATEAU_MIN_SHARE and down and fall >= DROP_MIN
    why = "" if ok else (f"plateau {share:.0%} of the run (needs {PLATEAU_MIN_SHARE:.0%}), "
                         f"fall {fall:.0%} (needs {DROP_MIN:.0%}), first exit "
                         f"{'down' if down else 'up/none'}")
    return CheckResult("plateau_then_drop", ok, facts, why)


def stagnation(rec: Recording) -> CheckResult:
    _, loss, _ = _finite_loss(rec)
    if (short := _too_short("stagnation", loss)) is not None:
        return short
    sm, _ = smooth(loss)
    start, end = levels(loss)
    tail = sm[len(sm) // 4:]
    med = float(np.median(tail))
    flat = bool(np.all(np.abs(tail - med) <= STAGNANT_BAND * med))
    ref = min(start, _chance(rec) or start)
    high = float(tail.min()) >= STAGNANT_FLOOR * ref
    facts = {"start": start, "end": end, "tail_median": med, "tail_min": float(tail.min()),
             "reference": ref}
    ok = flat and high
    why = "" if ok else ("not flat over the last 75%" if not flat else
                         f"fell to {tail.min():.3g}, below {STAGNANT_FLOOR:.0%} of {ref:.3g}")
    return CheckResult("stagnation", ok, facts, why)


def slow_convergence(rec: Recording) -> CheckResult:
    _, loss, _ = _finite_loss(rec)
    if (short := _too_short("slow_convergence", loss)) is not None:
        return short
    sm, _ = smooth(loss)
    start, end = levels(loss)
    total = start - end
    q = np.array_split(sm, 4)
    falls = np.array([q[0][0] - q[0][-1]] + [q[i - 1][-1] - q[i][-1] for i in range(1, 4)])
    shares = falls / total if total > 0 else np.zeros(4)
    ok = (total >= SLOW_MIN_FALL * start and bool(np.all(shares >= SLOW_QUARTER_MIN))
          and bool(np.all(shares <= SLOW_QUARTER_MAX)))
    facts = {"start": start, "end": end, "quarter_shares": [round(float(s), 3) for s in shares]}
    why = "" if ok else (f"fell {total / start:.0%} of the start; quarter shares "
                         f"{np.round(shares, 2).tolist()}")
    return CheckResult("slow_convergence", ok, facts, why)


def oscillation(rec: Recording) -> CheckResult:
    _, loss, _ = _finite_loss(rec)
    if (short := _too_short("oscillation", loss)) is not None:
        return short
    w = max(5, int(len(loss) * OSC_WINDOW))
    half = loss[len(loss) // 2:]
    m = half[: len(half) // w * w].reshape(-1, w).mean(1)
    if len(m) < 4:
        return CheckResult("oscillation", False, {"windows": len(m)}, "run too short")
    scale = _scale(float(np.median(m)), _initial(loss))
    d = np.diff(m)
    rises, falls = int(np.sum(d > OSC_RISE * scale)), int(np.sum(d < -OSC_RISE * scale))
    span = float(m.max() - m.min()) / scale
    ok = min(rises, falls) >= OSC_MIN_RISES and span >= OSC_SPAN
    facts = {"rises": rises, "falls": falls, "span": span, "scale": scale, "window": w}
    why = "" if ok else (f"{rises} rises and {falls} falls of 20%+ of the scale, "
                         f"span {span:.2f} of it")
    return CheckResult("oscillation", ok, facts, why)


def spikes(rec: Recording) -> CheckResult:
    _, loss, _ = _finite_loss(rec)
    if (short := _too_short("spikes", loss)) is not None:
        return short
    x = np.array([np.median(loss[max(0, i - 1):i + 2]) for i in range(len(loss))])
    initial = _initial(loss)
    found: list[int] = []
    for i in range(SPIKE_WINDOW, len(x)):
        base = float(np.median(x[i - SPIKE_WINDOW:i]))
        if x[i] > SPIKE_FACTOR * base and x[i] - base > max(base, SPIKE_FLOOR * initial):
            after = x[i + 1:i + 1 + SPIKE_WINDOW]
            if len(after) and float(after.min()) < SPIKE_RECOVERY * base:
                if not found or i - found[-1] > SPIKE_WINDOW:
                    found.append(i)
    ok = bool(found)
    return CheckResult("spikes", ok, {"spikes": len(found), "at": found[:10]},
                       "" if ok else "no jump that recovered")


def divergence(rec: Recording) -> CheckResult:
    _, loss, all_finite = _finite_loss(rec)
    if (short := _too_short("divergence", loss)) is not None:
        return short
    sm, _ = smooth(loss)
    start = levels(loss)[0]
    lo, last = float(sm.min()), float(sm[-1])
    rose = last >= DIVERGE_FROM_MIN * lo
    ok = (rose and last >= DIVERGE_FROM_START * start) or (not all_finite and rose)
    facts = {"start": start, "min": lo, "last": last, "ended_non_finite": not all_finite}
    return CheckResult("divergence", ok, facts, "" if ok else
                       f"smoothed loss ends at {last:.3g} from a minimum of {lo:.3g}")


def nan_inf(rec: Recording) -> CheckResult:
    loss = rec.values("loss")
    gn = rec.values("grad_norm")
    bad = [int(s) for s, v in zip(*rec.series("loss")) if not math.isfinite(v)]
    ok = bool(bad) or bool(len(gn) and not np.all(np.isfinite(gn)))
    return CheckResult("nan_inf", ok, {"first_bad_step": bad[0] if bad else None,
                                       "n": len(loss)}, "" if ok else "all finite")


def overfitting(rec: Recording) -> CheckResult:
    vs, vv = rec.series("val_loss")
    ts, tl = rec.series("loss")
    if len(vv) < 5:
        return CheckResult("overfitting", False, {}, "fewer than 5 validation points")
    m = int(np.argmin(vv))
    v_end = float(np.mean(vv[-3:]))
    sm, w = smooth(tl)
    at_min = float(sm[max(0, min(len(sm) - 1, int(np.searchsorted(ts, vs[m])) - w))])
    t_end = levels(tl)[1]
    ok = (v_end >= OVERFIT_RISE * vv[m] and t_end <= OVERFIT_TRAIN_FALL * at_min
          and vs[m] <= OVERFIT_MIN_BY * ts[-1])
    facts = {"val_min": float(vv[m]), "val_min_step": int(vs[m]), "val_end": v_end,
             "train_at_val_min": at_min, "train_end": t_end}
    return CheckResult("overfitting", ok, facts, "" if ok else
                       f"val {vv[m]:.3g} -> {v_end:.3g}, train {at_min:.3g} -> {t_end:.3g}")


CHECKS: dict[str, Callable[[Recording], CheckResult]] = {
    "plateau_then_drop": plateau_then_drop, "stagnation": stagnation,
    "slow_convergence": slow_convergence, "oscillation": oscillation, "spikes": spikes,
    "divergence": divergence, "nan_inf": nan_inf, "overfitting": overfitting,
}


def healthy(rec: Recording) -> CheckResult:
    """Falls by half or more, settles, shows none of the symptoms above, and its validation loss
    ends within :data:`HEALTHY_VAL_RISE` of its minimum (not even mild overfitting)."""
    _, loss, _ = _finite_loss(rec)
    if (short := _too_short("healthy", loss)) is not None:
        return CheckResult(None, False, short.facts, short.why)
    sm, _ = smooth(loss)
    start, end = levels(loss)
    fell = end <= (1 - HEALTHY_FALL) * start
    k = int(len(sm) * 0.8)
    late = float(sm[k] - sm[-1]) if k < len(sm) else 0.0
    settled = late <= HEALTHY_SETTLE * (start - end)
    fired = [s for s, f in CHECKS.items() if f(rec).ok]
    _, vv = rec.series("val_loss")
    v_rise = float(np.mean(vv[-3:]) / vv.min() - 1) if len(vv) >= 5 and vv.min() > 0 else 0.0
    ok = fell and settled and not fired and v_rise <= HEALTHY_VAL_RISE
    facts = {"start": start, "end": end, "late_fall": late, "symptoms": fired, "val_rise": v_rise}
    why = "" if ok else "; ".join(x for x in (
        "" if fell else f"fell only {1 - end / start:.0%}",
        "" if settled else "still falling at the end",
        f"shows {', '.join(fired)}" if fired else "",
        f"validation loss ends {v_rise:.0%} above its minimum" if v_rise > HEALTHY_VAL_RISE else "") if x)
    return CheckResult(None, ok, facts, why)


def check(symptom: str | None, rec: Recording) -> CheckResult:
    """The check for one symptom id (``None``: the healthy check)."""
    return healthy(rec) if symptom is None else CHECKS[symptom](rec)


def check_all(rec: Recording) -> dict[str, CheckResult]:
    """Every symptom check on one recording (which shapes the curve shows)."""
    return {s: f(rec) for s, f in CHECKS.items()}
