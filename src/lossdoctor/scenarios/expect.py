"""Small checks of a recording's internals, for :attr:`Scenario.expect`: each factory returns
``Recording -> str | None`` (a failure message, or ``None`` when the expectation holds).

They pin a scenario to its cause: a plateau from a low learning rate and a plateau from strong
weight decay look alike, their update ratios and weight-decay shares do not.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from .recording import Recording

Expect = Callable[[Recording], "str | None"]


def _part(v: np.ndarray, part: tuple[float, float]) -> np.ndarray:
    a, b = int(len(v) * part[0]), max(int(len(v) * part[1]), int(len(v) * part[0]) + 1)
    return v[a:b]


def _named(fn: Expect, name: str) -> Expect:
    fn.__name__ = name
    return fn


def median_between(key: str, lo: float = -math.inf, hi: float = math.inf,
                   part: tuple[float, float] = (0.0, 1.0)) -> Expect:
    """The median of ``key`` over ``part`` of the run lies in ``[lo, hi]``."""
    def check(rec: Recording) -> str | None:
        v = _part(rec.values(key), part)
        v = v[np.isfinite(v)]
        if not len(v):
            return f"{key} not recorded"
        m = float(np.median(v))
        return None if lo <= m <= hi else (
            f"median {key} over {part[0]:.0%}..{part[1]:.0%} of the run is {m:.3g}, "
            f"expected {lo:.3g}..{hi:.3g}")
    return _named(check, f"{key}_median")


def peaks(key: str, factor: float) -> Expect:
    """The largest finite value of ``key`` (or a non-finite one) is ``factor`` x its first."""
    def check(rec: Recording) -> str | None:
        v = rec.values(key)
        if len(v) < 2 or not np.isfinite(v[0]):
            return f"{key}: too few points"
        if not np.all(np.isfinite(v)):
            return None
        return None if float(v.max()) >= factor * float(v[0]) else (
            f"{key} peaked at {float(v.max()):.3g} from {float(v[0]):.3g}, less than {factor:g}x")
    return _named(check, f"{key}_peaks")


def grows(key: str, factor: float) -> Expect:
    """The maximum of ``key`` over the last half is ``factor`` x its first value."""
    def check(rec: Recording) -> str | None:
        v = rec.values(key)
        v = v[np.isfinite(v)]
        if len(v) < 4:
            return f"{key}: too few finite points"
        early = float(v[0])
        late = float(v[len(v) // 2:].max())
        return None if late >= factor * early else (
            f"{key} rose {early:.3g} -> {late:.3g}, less than {factor:g}x")
    return _named(check, f"{key}_grows")


def layer_ratio_below(signal: str, limit: float, part: tuple[float, float] = (0.0, 0.2)) -> Expect:
    """Median of ``signal`` on the first weight tensor over that on the last one stays below
    ``limit`` (``grad_norm``: vanishing gradients towards the input)."""
    def check(rec: Recording) -> str | None:
        layers = rec.layers(signal)
        if len(layers) < 2:
            return f"fewer than two layers with {signal}"
        first = _part(rec.values(f"{signal}/{layers[0]}"), part)
        last = _part(rec.values(f"{signal}/{layers[-1]}"), part)
        r = float(np.median(first)) / max(float(np.median(last)), 1e-30)
        return None if r < limit else f"{signal} first/last layer {r:.3g}, expected < {limit:g}"
    return _named(check, f"{signal}_first_over_last")


def first_loss_above(times_chance: float) -> Expect:
    """The loss at step 0 is above ``times_chance`` x ln(num_classes)."""
    def check(rec: Recording) -> str | None:
        c = rec.hparams.get("num_classes") or 2
        first = float(rec.values("loss")[0])
        limit = times_chance * math.log(c)
        return None if first > limit else f"loss at step 0 is {first:.3g}, not above {limit:.3g}"
    return _named(check, "first_loss")


def end_between(key: str, lo: float, hi: float) -> Expect:
    """The mean of ``key`` over its last 5% lies in ``[lo, hi]``."""
    def check(rec: Recording) -> str | None:
        v = rec.values(key)
        v = v[np.isfinite(v)]
        m = float(np.mean(v[-max(1, len(v) // 20):])) if len(v) else math.nan
        return None if lo <= m <= hi else f"{key} ends at {m:.3g}, expected {lo:.3g}..{hi:.3g}"
    return _named(check, f"{key}_end")


def weight_grad_share_at_plateau(lo: float = 0.0, hi: float = 1.0, part: float = 0.4) -> Expect:
    """The weight-tensor gradient norm over the first ``part`` of the run, relative to its peak,
    lies in ``[lo, hi]`` (tiny: stuck at a saddle; normal: something else holds the loss)."""
    def check(rec: Recording) -> str | None:
        keys = [k for k in rec.keys() if k.startswith("grad_norm/")]
        if not keys:
            return "no per-layer gradient norms"
        g = np.sqrt(sum(rec.values(k) ** 2 for k in keys))
        s = float(np.median(g[: max(1, int(len(g) * part))])) / float(np.nanmax(g))
        return None if lo <= s <= hi else (
            f"weight gradients at the plateau are {s:.0%} of their peak, expected "
            f"{lo:.0%}..{hi:.0%}")
    return _named(check, "plateau_gradients")


def shrinks(key: str, below: float, part: float = 0.4) -> Expect:
    """``key`` at ``part`` of the run is below ``below`` x its first value."""
    def check(rec: Recording) -> str | None:
        v = rec.values(key)
        at = float(v[max(0, int(len(v) * part) - 1)])
        return None if at < below * v[0] else f"{key} {v[0]:.3g} -> {at:.3g}, not below {below:g}x"
    return _named(check, f"{key}_shrinks")


def layer_median_above(signal: str, lo: float, part: tuple[float, float] = (0.0, 1.0)) -> Expect:
    """At least one layer's median ``signal`` over ``part`` of the run is ``lo`` or more
    (one fully dead layer is enough to cut every path through the net)."""
    def check(rec: Recording) -> str | None:
        meds = {name: float(np.median(_part(rec.values(f"{signal}/{name}"), part)))
                for name in rec.layers(signal)}
        if not meds:
            return f"no per-layer {signal}"
        best = max(meds, key=meds.get)
        return None if meds[best] >= lo else (
            f"highest per-layer median {signal} is {meds[best]:.2f} ({best}), expected >= {lo:g}")
    return _named(check, f"{signal}_layer")


def step_change_below(key: str, limit: float, part: tuple[float, float] = (0.0, 1.0)) -> Expect:
    """The median step-to-step change of ``log(key)`` over ``part`` of the run stays below
    ``limit`` (a running sum of gradients moves a little each step; a fresh one does not)."""
    def check(rec: Recording) -> str | None:
        v = _part(rec.values(key), part)
        v = v[np.isfinite(v) & (v > 0)]
        if len(v) < 3:
            return f"{key}: too few positive finite points"
        change = float(np.median(np.abs(np.diff(np.log(v)))))
        return None if change < limit else (
            f"{key} changes by {change:.1%} a step (median), expected < {limit:.0%}")
    return _named(check, f"{key}_step_change")
