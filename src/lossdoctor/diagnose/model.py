"""How the evidence is weighed: a conditional-logit model over the rules that fired.

Each cause's rules say, in lines a person can check, what speaks for or against it; each rule
has a key. The utility of a cause is ``bias + sum of the weights of its rules that fired + the
weights of the symptoms the run shows``, and the causes that are not ruled out share the
probability ``softmax(utility)``. The weights are fitted on the tuning split of the training
corpus only (``bench/accuracy/fit.py``: really-trained runs labelled by intervention) and kept in
``weights.json`` beside this module, with the verdict thresholds chosen on the same split:

* ``likely``: probability at least ``thresholds.likely`` (where ``likely`` was right at least
  95% of the times it was said on the tuning split; one threshold for logs with internals, one
  for loss-only logs, see :func:`regime`), the run shows a shape the cause makes, and
  at least one of the cause's own rules spoke for it (a shape and base rates alone never commit);
* ``possible``: at least ``thresholds.possible`` (where the true cause was kept in 98%+ of runs);
* ``unlikely`` below; ``ruled_out`` only by a rule that says why.

A rule with no fitted weight (new since the last fit) counts with its hand-set weight times
:data:`HAND_TO_LOGIT`; without ``weights.json`` the hand-set scores decide alone. Nothing here
is opaque: :func:`contributions` gives each fired rule's part of a cause's utility.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from .. import signals as S

WEIGHTS_FILE = Path(__file__).with_name("weights.json")
#: The series that show a run's internals (whole-model or per layer ``NAME/<layer>``).
INTERNALS = (S.GRAD_NORM, S.WEIGHT_NORM, S.UPDATE_RATIO, S.WD_SHARE, S.DEAD_FRAC, S.SATURATION,
             S.REG_LOSS, "act_std")
SCHEMA = "lossdoctor.weights/1"
#: A hand-set weight of 0.3 (a rule that moves a score a third of the way from possible to
#: likely) is about 1.5 in logit units.
HAND_TO_LOGIT = 5.0


@lru_cache(maxsize=4)
def load(path: str | None = None) -> dict[str, Any] | None:
    p = Path(path) if path else WEIGHTS_FILE
    if not p.is_file():
        return None
    data = json.loads(p.read_text())
    return data if data.get("schema") == SCHEMA else None


def regime(run) -> str:
    """``"internals"`` when the log holds at least two of :data:`INTERNALS` with data (what the
    live monitor writes), else ``"loss_only"`` (a loss curve, hyper-parameters and at most one
    internal series such as the gradient norm of ``trainer_state.json``). The two kinds of log
    get ``likely`` thresholds of their own: the second says less, so it must say it more clearly
    before a cause is committed to."""
    kinds = {k.split("/", 1)[0] for k, v in run.series.items() if len(v)}
    return "internals" if len(kinds & set(INTERNALS)) >= 2 else "loss_only"


def likely_threshold(th: Mapping[str, Any], run) -> float:
    t = th["likely"]
    return float(t.get(regime(run), max(t.values()))) if isinstance(t, Mapping) else float(t)


def features(a, cause: str) -> dict[str, float]:
    """The features of one cause in one assessment: its fired rules, the symptoms shown and a
    bias (all 0/1)."""
    f = a.findings[cause]
    x = {"bias": 1.0}
    for s in a.symptoms:
        x[f"sym:{s.id}"] = 1.0
    for k in f.keys:
        x[f"rule:{k}"] = 1.0
    for k in getattr(a, "shapes", {}):
        x[f"shape:{k}"] = 1.0
    return x


#: A shape fact whose fitted weight for a cause is at least this (in logit units, either way)
#: gets its line in that cause's evidence.
SHOW_SHAPE = 0.5


def explain_shapes(a, cause: str, finding, weights: dict[str, Any] | None = None) -> None:
    """Add the line of each shape fact that moved this cause's case noticeably."""
    weights = weights or load()
    w = (weights or {}).get("causes", {}).get(cause, {})
    for k, line in getattr(a, "shapes", {}).items():
        wk = w.get(f"shape:{k}", 0.0)
        if wk >= SHOW_SHAPE:
            finding.note(f"{line} (common when this is the cause)")
        elif wk <= -SHOW_SHAPE:
            finding.note(f"{line} (unusual when this is the cause)")


def utility(w: Mapping[str, float], x: Mapping[str, float], hand: Mapping[str, float]) -> float:
    u = 0.0
    for k, v in x.items():
        if k in w:
            u += w[k] * v
        elif k.startswith("rule:"):
            u += HAND_TO_LOGIT * hand.get(k[5:], 0.0) * v
    return u


def contributions(a, cause: str, weights: dict[str, Any] | None = None) -> dict[str, float]:
    """Each fired feature's part of the cause's utility (what the model made of each line)."""
    weights = weights or load()
    if weights is None:
        return {}
    w = weights["causes"].get(cause, {})
    hand = a.findings[cause].keys
    return {k: (w[k] if k in w else HAND_TO_LOGIT * hand.get(k[5:], 0.0)) for k in features(a, cause)}


def scores(a, weights: dict[str, Any] | None = None) -> dict[str, float] | None:
    """The probability of each cause (ruled-out ones get 0), or ``None`` without fitted weights."""
    weights = weights or load()
    if weights is None:
        return None
    us = {}
    for cause, f in a.findings.items():
        if f.ruled_out:
            continue
        w = weights["causes"].get(cause)
        if w is None:
            return None  # a cause the fit has not seen: let the hand-set scores decide
        us[cause] = utility(w, features(a, cause), f.keys)
    top = max(us.values(), default=0.0)
    z = {c: math.exp(u - top) for c, u in us.items()}
    total = sum(z.values()) or 1.0
    return {c: z.get(c, 0.0) / total for c in a.findings}


def verdict(p: float, finding, fits: bool, weights: dict[str, Any] | None = None, run=None) -> tuple[float, str]:
    """``(score, verdict)`` of one cause from its probability: ``likely`` above the regime's
    threshold with a rule of its own for it and a curve it makes; ``possible`` above the
    ``possible`` threshold when it makes the curve (or its own rules speak for it); ``unlikely``
    below. Base rates and shape statistics never commit to a cause, nor make one possible that
    does not make the curve."""
    weights = weights or load()
    th = dict(weights["thresholds"])
    th["likely"] = likely_threshold(th, run) if run is not None else likely_threshold(th, _NoRun)
    if finding.ruled_out:
        return 0.0, "ruled_out"
    own = any(w > 0 for w in finding.keys.values())
    against = any(w < 0 for w in finding.keys.values())
    if p >= th["likely"] and fits and own:
        return p, "likely"
    if p >= th["likely"] and fits:  # the curve and the base rates point here, no evidence of its own
        return min(p, th["likely"] - 1e-3), "possible"
    if p >= th["likely"]:  # the internals point here, but the cause does not make this curve
        finding.note("but this cause does not make the curve this run shows")
        return min(p, th["likely"] - 1e-3), "possible"
    if p >= th["possible"] and (fits or own):
        return p, "possible"
    return p, "unlikely"


class _NoRun:  # verdict() without a run: the stricter (loss-only) threshold
    series: dict = {}
