"""Turn an arm's curve into an outcome: did its one change remove the baseline's symptom?

The arm and the baseline are compared at the same step (the arm's last), on the symptom the
verification is about, beyond the baseline's own noise:

*too slow* (``stagnation``, ``plateau_then_drop``, ``slow_convergence``)
    ``fixed`` when the arm's loss is lower than the baseline's at that step beyond the noise and
    by :data:`MIN_FIX` of it, and the baseline got down to the arm's level only
    :data:`FIX_SPEEDUP` times later or never; ``improved`` when it is lower beyond the noise,
    ``worse`` when higher beyond it.
*blow-up* (``nan_inf``, ``divergence``)
    the step where the loss first doubles from its low or stops being finite: ``fixed`` when the
    arm never blows up (over at least :data:`OUTLIVE` times the baseline's blow-up step) and ends
    lower, ``improved`` when it blows up much later, ``worse`` when much earlier.
*unsteady* (``oscillation``, ``spikes``)
    the swing around the smoothed loss relative to its level: ``fixed`` when the arm swings at
    most :data:`CALM_SHARE` as much *and* sits lower beyond the noise (a smaller lr always
    swings less; only a lower loss shows the swings were the problem). A change that is a no-op
    unless its cause is present (``exact``) has fixed it when it swings less at all (at most
    :data:`EXACT_CALM` as much) and sits lower: mini-batch scatter, which no change removes,
    stays in both.
``overfitting``
    the validation loss's rise from its minimum: ``fixed`` when the arm's rise is at most
    :data:`CALM_SHARE` of the baseline's at the same step and its validation loss is lower;
    ``improved`` when only one of the two holds (a calm but higher validation loss: slower
    learning delays the memorising too).

The noise band is the baseline's own: the robust spread of its loss between neighbouring points
(mini-batch noise), as the error of a level averaged over a window, times :data:`NOISE_K`, and
at least :data:`MIN_REL` of the level. Nothing here imports torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import signals as S
from ..core import Run

SLOW = ("stagnation", "plateau_then_drop", "slow_convergence")
BLOWUP = ("nan_inf", "divergence")
UNSTEADY = ("oscillation", "spikes")
#: A fix gets where the baseline got at least this many times sooner (or where it never got):
#: the pace that was the symptom has changed, not only the level. A plateau's arm runs 0.35 of
#: the plateau (plan.PLATEAU_SHARE), so leaving it by then is a speed-up of 2.9 or more.
FIX_SPEEDUP = 2.5
#: A fix is at least this much lower than the baseline, relative to its level: small gains are
#: not the symptom going away.
MIN_FIX = 0.05
#: Effects must leave the noise band: NOISE_K standard errors of a window's mean, and at least
#: MIN_REL of the level (seed-to-seed differences of a level are larger than its sampling error).
NOISE_K = 3.0
MIN_REL = 0.03
#: The smoothing window: this share of the compared stretch, at least MIN_WINDOW points.
WINDOW_SHARE = 0.1
MIN_WINDOW = 5
#: A loss that reaches this multiple of its running low has blown up.
BLOWUP_FACTOR = 2.0
#: A fixed arm outlives the baseline's blow-up step by this factor; one that blows up later than
#: this has improved, earlier than EARLIER times it has got worse.
OUTLIVE = 1.5
EARLIER = 0.6
#: An unsteady arm is calm when its swing is at most this share of the baseline's.
CALM_SHARE = 0.5
#: An ``exact`` arm (see :func:`compare`) that ends lower is calm enough at this share of the
#: baseline's swing: the rest is mini-batch scatter (batches of 8 on two-moons, shuffled, still
#: swing 50% of the level around their mean).
EXACT_CALM = 0.8
#: Of several arms that stopped a blow-up or a swing, one that ends more than this many times
#: above the best one's level only hid the symptom (see :func:`rank_fixes`).
BEST_FIX_FACTOR = 3.0


@dataclass(frozen=True)
class Curve:
    steps: np.ndarray
    values: np.ndarray

    @classmethod
    def of(cls, run: Run | None, name: str = "loss") -> "Curve | None":
        if run is None:
            return None
        s = run.get(name)
        if s is None:
            return None
        return cls(np.asarray(s.steps, float), np.asarray(s.values, float))

    @property
    def last(self) -> float:
        return float(self.steps[-1]) if self.steps.size else 0.0

    def upto(self, step: float) -> "Curve":
        k = int(np.searchsorted(self.steps, step, side="right"))
        return Curve(self.steps[:k], self.values[:k])

    def first_nonfinite(self) -> float | None:
        bad = ~np.isfinite(self.values)
        return float(self.steps[np.argmax(bad)]) if bad.any() else None

    def level(self, step: float, half: float) -> float:
        """Mean of the finite values in (step - half, step]; the nearest finite value if none."""
        ok = np.isfinite(self.values)
        m = ok & (self.steps > step - half) & (self.steps <= step)
        if m.any():
            return float(np.mean(self.values[m]))
        if not ok.any():
            return math.nan
        i = int(np.argmin(np.abs(self.steps[ok] - step)))
        return float(self.values[ok][i])

    def smooth(self, half: float) -> np.ndarray:
        """The level at every logged step (a trailing window of ``half`` steps)."""
        out = np.empty_like(self.values)
        ok = np.isfinite(self.values)
        csum = np.concatenate([[0.0], np.cumsum(np.where(ok, self.values, 0.0))])
        ccnt = np.concatenate([[0], np.cumsum(ok)])
        lo = np.searchsorted(self.steps, self.steps - half, side="right")
        hi = np.arange(1, self.steps.size + 1)
        cnt = ccnt[hi] - ccnt[lo]
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(cnt > 0, (csum[hi] - csum[lo]) / np.maximum(cnt, 1), np.nan)
        return out


def noise(c: Curve, upto: float) -> float:
    """The robust per-point spread of the loss (first differences, MAD) over ``[0, upto]``."""
    v = c.upto(upto).values
    v = v[np.isfinite(v)]
    if v.size < 4:
        return 0.0
    d = np.diff(v)
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / math.sqrt(2))


def window(c: Curve, n: float) -> float:
    """Half-width in steps of the window a level is taken over, for a stretch of ``n`` steps."""
    per = max(n / max(c.steps.size, 1), 1.0) if c.steps.size else 1.0
    pts = max(MIN_WINDOW, int(round(WINDOW_SHARE * n / per)))
    return max(pts * per, 1.0)


def band(base: Curve, at: float, half: float, level: float) -> float:
    sigma = noise(base, at)
    per = max(at / max(base.upto(at).steps.size, 1), 1.0)
    k = max(half / per, 1.0)
    return max(NOISE_K * sigma * math.sqrt(2.0 / k), MIN_REL * abs(level), 1e-12)


def blowup_step(c: Curve, half: float) -> float | None:
    """The first step where the loss is not finite, or from which its level stays at
    BLOWUP_FACTOR x its running low or more to the end of the curve (a swing that comes back
    down is no blow-up)."""
    bad = c.first_nonfinite()
    if c.steps.size == 0:
        return bad
    sm = c.smooth(half)
    ok = np.isfinite(sm)
    vals = np.where(ok, sm, np.inf)
    low = np.minimum.accumulate(vals)
    ahead = np.minimum.accumulate(vals[::-1])[::-1]  # the lowest level still to come
    start = int(np.searchsorted(c.steps, c.steps[0] + 2 * half))
    hit = None
    for i in range(start, c.steps.size):
        if ok[i] and 0 < low[i] < np.inf and ahead[i] >= BLOWUP_FACTOR * low[i]:
            hit = float(c.steps[i])
            break
    cands = [x for x in (bad, hit) if x is not None]
    return min(cands) if cands else None


#: Spikes are rare: their size is this quantile of the upward deviations, not the median.
SPIKE_QUANTILE = 0.98


def swing(c: Curve, lo: float, hi: float, half: float, spikes: bool = False) -> tuple[float, float]:
    """(the deviation from the smoothed loss relative to the mean level, the mean level) over
    ``[lo, hi]``: the median absolute deviation, or for ``spikes`` the SPIKE_QUANTILE of the
    upward ones."""
    sm = c.smooth(half)
    m = (c.steps >= lo) & (c.steps <= hi) & np.isfinite(c.values) & np.isfinite(sm)
    if m.sum() < 4:
        return math.nan, math.nan
    lvl = float(np.mean(c.values[m]))
    dev = c.values[m] - sm[m]
    size = float(np.quantile(np.maximum(dev, 0.0), SPIKE_QUANTILE)) if spikes else float(np.median(np.abs(dev)))
    return size / max(abs(lvl), 1e-12), lvl


@dataclass(frozen=True)
class Outcome:
    outcome: str
    effect: str
    at: int  # the step compared


def _f(x: float) -> str:
    if not math.isfinite(x):
        return "nan"
    a = abs(x)
    return f"{x:.3g}" if a >= 1e-3 or a == 0 else f"{x:.2e}"


def reached(c: Curve, level: float, half: float, slack: float = 0.0) -> float | None:
    """The step from which the smoothed loss stays at or below ``level`` + ``slack`` to the end
    (None: it never gets there to stay). A loss that dipped early and then climbed back has not
    got there."""
    sm = c.smooth(half)
    ok = np.isfinite(sm)
    if not ok.any():
        return None
    vals = np.where(ok, sm, np.inf)
    worst_ahead = np.maximum.accumulate(vals[::-1])[::-1]
    hit = np.flatnonzero(worst_ahead <= level + slack)
    return float(c.steps[hit[0]]) if hit.size else None


def level_at(c: Curve, step: float, half: float) -> float:
    """The baseline's level at ``step``, or its lowest level when ``step`` is past its end."""
    if step <= c.last:
        return c.level(step, half)
    sm = c.smooth(half)
    return float(np.nanmin(sm)) if np.isfinite(sm).any() else math.nan


def target(base: Run, symptom: str, steps: int) -> float | None:
    """The loss level an arm of a *too slow* symptom has to get under to count as fixed by
    ``steps``: the arm can stop as soon as its recent losses are below it. None for the other
    symptoms (an arm has to outlive or out-calm the baseline over all its steps)."""
    if symptom not in SLOW:
        return None
    b = Curve.of(base)
    if b is None:
        return None
    half = window(b, steps)
    bl = b.level(steps, half)
    if not math.isfinite(bl):
        return None
    # below where the baseline was at any point of FIX_SPEEDUP x the arm's steps: a loss that
    # dips early and climbs back (as the baseline's may have) does not stop the arm
    sm = b.upto(FIX_SPEEDUP * steps).smooth(half)
    lowest = float(np.nanmin(sm)) if np.isfinite(sm).any() else bl
    goal = min(bl - MIN_FIX * abs(bl), level_at(b, FIX_SPEEDUP * steps, half), lowest)
    return goal - band(b, steps, half, bl)


def compare(base: Run, arm: Run | None, symptom: str, planned: int, exact: bool = False) -> Outcome:
    """The outcome of one arm against the baseline, for ``symptom``. ``exact``: the arm's change
    is a no-op unless its cause is present (``zero_grad`` for a loop that clears its gradients),
    so the symptom going away is enough: the level need not follow at once."""
    b, a = Curve.of(base), Curve.of(arm)
    if b is None:
        return Outcome("failed", "the baseline has no loss", 0)
    if a is None or a.steps.size == 0:
        return Outcome("failed", "the rerun logged no step", 0)
    if symptom in BLOWUP:
        return _blowup(b, a, planned, _grad_blowup(base), _grad_blowup(arm))
    if symptom == "overfitting":
        return _overfit(base, arm, planned)
    at = a.last
    if symptom in UNSTEADY:
        return _unsteady(b, a, at, window(b, max(at, 1.0)), exact, symptom == "spikes")
    # levels over the window of the arm's whole budget, as the level it may stop under (target)
    span = max(float(planned), at)
    return _slow(b, a, at, window(b, span), span)


def _slow(b: Curve, a: Curve, at: float, half: float, planned: float) -> Outcome:
    bl, al = b.level(at, half), a.level(at, half)
    bad = a.first_nonfinite()
    if bad is not None and (b.upto(at).first_nonfinite() is None):
        return Outcome("worse", f"the loss turned NaN/inf at step {bad:,.0f}; the baseline's did not", int(at))
    if not math.isfinite(al) or not math.isfinite(bl):
        return Outcome("failed", "no finite loss to compare", int(at))
    tol = band(b, planned, half, bl)
    diff = bl - al
    text = f"loss at step {at:,.0f}: {_f(al)} vs {_f(bl)}"
    if diff > tol:
        # when each got down to the arm's final level to stay: the arm may have got there long
        # before its last step
        tb = reached(b, al, half, tol)
        ta = reached(a, al, half, tol)
        ta = min(ta, at) if ta is not None else at
        speed = tb / max(ta, 1.0) if tb is not None else math.inf
        when = (f"the baseline got there at step {tb:,.0f}" if tb is not None else
                f"the baseline never got there in {b.last + 1:,.0f} steps")
        if speed >= FIX_SPEEDUP and diff >= MIN_FIX * abs(bl):
            return Outcome("fixed", f"{text}; {when}", int(at))
        return Outcome("improved", f"{text}; {when}", int(at))
    if -diff > tol:
        return Outcome("worse", text, int(at))
    return Outcome("no_change", text + f" (within the noise, ±{_f(tol)})", int(at))


def _grad_blowup(run: Run | None) -> float | None:
    """The first step whose logged gradient norm is not finite: the ``nan_inf`` detector reads
    it as a primary series, so a net whose gradient overflowed while its loss came back down
    (to a dead net's chance level) blew up all the same."""
    s = run.get(S.GRAD_NORM) if run is not None else None
    if s is None or not len(s):
        return None
    return Curve(np.asarray(s.steps, float), np.asarray(s.values, float)).first_nonfinite()


def _first(*steps: float | None) -> float | None:
    have = [x for x in steps if x is not None]
    return min(have) if have else None


def _blowup(b: Curve, a: Curve, planned: int, grad_b: float | None = None,
            grad_a: float | None = None) -> Outcome:
    """``grad_b``, ``grad_a``: the first step of a non-finite gradient norm in each run, if any."""
    at = a.last
    half = window(a, max(at, 1.0))  # one window for both curves: the same noise is smoothed away
    by = lambda step: step if step is not None and step <= at else None  # noqa: E731
    sa = _first(blowup_step(a, half), by(grad_a))
    sb = _first(blowup_step(b.upto(at), half), by(grad_b))  # judged over the same steps as the arm
    if sb is None:
        sb = _first(blowup_step(b, half), grad_b)
    if sb is None:
        return Outcome("failed", "the baseline never blew up: nothing to compare", int(at))
    if sa is None:
        if at < OUTLIVE * sb and at < planned - 1:
            return Outcome("failed", f"the rerun stopped at step {at:,.0f}, before it could outlive the "
                                     f"baseline's blow-up at step {sb:,.0f}", int(at))
        return Outcome("fixed", f"no blow-up in {at + 1:,.0f} steps (the baseline's at step {sb:,.0f}); "
                                f"loss {_f(a.level(at, half))} at the end", int(at))
    text = f"blew up at step {sa:,.0f} vs {sb:,.0f}"
    if sa >= OUTLIVE * sb + 1:
        return Outcome("improved", text, int(at))
    if sa < EARLIER * sb - 1:
        return Outcome("worse", text, int(at))
    return Outcome("no_change", text, int(at))


def _unsteady(b: Curve, a: Curve, at: float, half: float, exact: bool = False,
              spikes: bool = False) -> Outcome:
    lo = at / 4
    if a.first_nonfinite() is not None and b.upto(at).first_nonfinite() is None:
        return Outcome("worse", f"the loss turned NaN/inf at step {a.first_nonfinite():,.0f}", int(at))
    sb, lb = swing(b, lo, at, half, spikes)
    sa, la = swing(a, lo, at, half, spikes)
    if not all(math.isfinite(x) for x in (sb, lb, sa, la)):
        return Outcome("failed", "too few finite points to compare the swings", int(at))
    # the swings are the symptom, not noise: a level is lower when it is MIN_FIX below
    tol = MIN_FIX * abs(lb)
    what = "spikes" if spikes else "swing"
    text = (f"{what} {sa:.1%} vs {sb:.1%} of the level, mean loss {_f(la)} vs {_f(lb)} "
            f"(steps {lo:,.0f}-{at:,.0f})")
    calmer = sa <= CALM_SHARE * sb
    lower, higher = lb - la > tol, la - lb > tol
    if (calmer and (lower or exact)) or (exact and lower and sa <= EXACT_CALM * sb):
        return Outcome("fixed", text, int(at))
    if calmer or lower:  # a calmer but higher loss: a smaller step always swings less
        return Outcome("improved", text, int(at))
    if higher or sa > sb / CALM_SHARE:
        return Outcome("worse", text, int(at))
    return Outcome("no_change", text, int(at))


def _overfit(base: Run, arm: Run | None, planned: int) -> Outcome:
    bv, av = Curve.of(base, "val_loss"), Curve.of(arm, "val_loss")
    if bv is None or av is None or av.steps.size < 3:
        return Outcome("failed", "no validation loss to compare", 0)
    at = av.last
    bb = bv.upto(at)
    if bb.steps.size < 3:
        return Outcome("failed", "the baseline has too few validation points by then", int(at))
    rise_b = float(bb.values[-1] - np.nanmin(bb.values))
    rise_a = float(av.values[-1] - np.nanmin(av.values))
    vb, va = float(bb.values[-1]), float(av.values[-1])
    text = f"validation loss rose {_f(rise_a)} from its low vs {_f(rise_b)}; {_f(va)} vs {_f(vb)} at step {at:,.0f}"
    tol = MIN_REL * abs(vb)
    if rise_b <= tol:
        return Outcome("failed", f"the baseline's validation loss had not risen by step {at:,.0f}", int(at))
    calm = rise_a <= CALM_SHARE * rise_b
    if calm and vb - va > tol:
        return Outcome("fixed", text, int(at))
    if calm or vb - va > tol:
        # the rise gone but the level higher: a change that slows learning (smaller steps, a
        # loop that now clears its gradients) also delays the memorising; not the symptom made worse
        return Outcome("improved", text, int(at))
    if va - vb > tol:
        return Outcome("worse", text, int(at))
    return Outcome("no_change", text, int(at))


def end_level(run: Run | None, steps: int) -> float:
    """An arm's loss level at its end (a window's mean), for comparing fixes with each other."""
    c = Curve.of(run)
    if c is None or c.steps.size == 0:
        return math.nan
    return c.level(c.last, window(c, max(c.last, 1.0)))


#: Loss names (hparams ``loss``) whose chance level is ln(C) for C classes.
CROSS_ENTROPY = ("cross_entropy", "crossentropy", "crossentropyloss", "ce", "nll", "nllloss")


def chance(run: Run | None) -> float | None:
    """ln(C), the cross-entropy of a uniform guess, when the run says it has C classes."""
    if run is None:
        return None
    try:
        n = int(run.hparams.get("num_classes") or 0)
    except (TypeError, ValueError):
        return None
    kind = str(run.hparams.get("loss") or "cross_entropy").lower().replace(" ", "_")
    return math.log(n) if n >= 2 and kind in CROSS_ENTROPY else None


def before_blowup(base: Run | None, half_steps: float) -> float:
    """Where training works, to tell a fix from a loss kept merely finite: the lower of the
    baseline's lowest level before it blew up and the chance level ln(C) (a classifier whose
    loss stays above a uniform guess has learnt nothing)."""
    c = Curve.of(base)
    if c is None or c.steps.size == 0:
        return math.nan
    half = max(half_steps, 1.0)
    at = _first(blowup_step(c, half), _grad_blowup(base))
    sm = c.upto(at).smooth(half) if at is not None else c.smooth(half)
    sm = sm[np.isfinite(sm)]
    low = float(sm.min()) if sm.size else math.nan
    ln_c = chance(base)
    return min(low, ln_c) if ln_c is not None and math.isfinite(low) else low


def rank_fixes(symptom: str, fixes: dict[str, float], floor: float = -math.inf) -> set[str]:
    """The arms among ``fixes`` (name -> end level; all ran the same steps) that only hid a
    blow-up or a swing: one ends more than BEST_FIX_FACTOR x above the best fix's level *and*
    above ``floor``, the best the baseline itself reached before it blew up. An arm that keeps
    the loss finite but never gets where the baseline already was, while another arm does, did
    not remove the symptom."""
    if symptom not in BLOWUP + UNSTEADY or len(fixes) < 2:
        return set()
    finite = {k: v for k, v in fixes.items() if math.isfinite(v)}
    if not finite:
        return set()
    best = min(finite.values())
    scale = max(abs(best), 1e-12)
    floor = floor if math.isfinite(floor) else -math.inf
    return {k for k, v in fixes.items()
            if not math.isfinite(v) or (v > best + (BEST_FIX_FACTOR - 1) * scale and v > floor)}


#: One symptom per family is judged: the families' symptoms measure the same thing.
FAMILY = {**{s: "slow" for s in SLOW}, **{s: "blowup" for s in BLOWUP}, "oscillation": "oscillation",
          "spikes": "spikes", "overfitting": "overfitting"}
RANK = {"fixed": 0, "improved": 1, "no_change": 2, "failed": 3, "worse": 4}


def compare_all(base: Run, arm: Run | None, symptoms: list[str], planned: int,
                exact: bool = False) -> tuple[Outcome, str]:
    """The arm judged on every symptom the baseline shows (one per family, the first given
    first): ``fixed`` when it removes one of them and makes none worse, else the best of the
    rest (``worse`` wins over ``no_change``: a change that made a symptom worse did not help).
    Returns the outcome and the symptom it was decided on."""
    seen, judged = set(), []
    for sid in symptoms:
        fam = FAMILY.get(sid)
        if fam is None or fam in seen:
            continue
        seen.add(fam)
        judged.append((sid, compare(base, arm, sid, planned, exact)))
    if not judged:
        return Outcome("failed", "no symptom this comparison knows", 0), ""
    worse = [(sid, o) for sid, o in judged if o.outcome == "worse"]
    fixed = [(sid, o) for sid, o in judged if o.outcome == "fixed"]
    if fixed and not worse:
        return fixed[0][1], fixed[0][0]
    if worse:
        return worse[0][1], worse[0][0]
    sid, o = min(judged, key=lambda x: RANK[x[1].outcome])
    return o, sid


__all__ = ["compare", "compare_all", "rank_fixes", "end_level", "before_blowup", "target", "Outcome", "Curve", "blowup_step", "SLOW", "BLOWUP", "UNSTEADY"]
