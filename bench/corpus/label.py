"""Labels by intervention. A faulty run carries its injected cause only when the one-factor
fix, trained as a paired run (same seed, data, init and batches but for the fix), removes a
symptom the faulty run shows; a healthy recipe is a healthy control only when its curve passes
the healthy check. Anything else is dropped (a fault whose run shows nothing is dropped too, not
called healthy: its internals may still carry the fault): no label is kept on faith.

Symptoms are judged by ``lossdoctor.scenarios.checks``, plain criteria on the per-step loss
written apart from the detectors on purpose, never by what the tool under test says.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: When a fix removes several symptoms, the one named first here is the run's main symptom.
PRIORITY = ("nan_inf", "divergence", "oscillation", "spikes", "stagnation", "plateau_then_drop",
            "slow_convergence", "overfitting")
#: The symptoms each cause is known to make (the references' accounts, written here apart from
#: the diagnosis's own table): a fix that removes some other symptom says nothing of the cause.
MAKES = {
    "regularization_too_strong": ("stagnation", "plateau_then_drop", "slow_convergence"),
    "lr_too_low": ("stagnation", "plateau_then_drop", "slow_convergence"),
    "stuck_plateau": ("stagnation", "plateau_then_drop", "slow_convergence"),
    "lr_too_high": ("oscillation", "divergence", "spikes", "nan_inf", "stagnation"),
    "lr_schedule": ("stagnation", "plateau_then_drop", "slow_convergence"),
    "bad_initialization": ("stagnation", "slow_convergence", "plateau_then_drop", "divergence", "nan_inf",
                           "spikes", "oscillation"),
    "vanishing_gradients": ("stagnation", "plateau_then_drop", "slow_convergence"),
    "exploding_gradients": ("nan_inf", "divergence", "spikes", "oscillation"),
    "dead_relu": ("stagnation", "slow_convergence", "plateau_then_drop"),
    "insufficient_regularization": ("overfitting",),
    "data_problem": ("stagnation", "overfitting", "oscillation", "slow_convergence", "spikes", "plateau_then_drop",
                     "divergence", "nan_inf"),
    "missing_zero_grad": ("oscillation", "divergence", "spikes", "nan_inf", "stagnation", "slow_convergence"),
    "loss_misuse": ("stagnation", "slow_convergence", "plateau_then_drop"),
}
#: A fix may bring overfitting with it (a net that now learns can memorise): that does not
#: count against it, unless memorisation is the cause being fixed.
MAY_ADD = ("overfitting",)
# "Stalled": the taxonomy's stagnation also covers a loss that fell a little at first (to a
# unigram guess, or after a blow-up) and then held still: it fell less than STALL_FALL of its
# start, and the smoothed loss over the last STALL_TAIL of the run stays within STALL_BAND of
# its median. The checks' own stagnation needs the loss to stay near its start or chance.
STALL_FALL = 0.3
STALL_TAIL = 0.7
STALL_BAND = 0.05
# Healthy (a lighter version of the checks' own, whose "falls by half" no text model meets in a
# few hundred steps): the loss falls at least HEALTHY_FALL of its start, the last 20% of the run
# adds at most HEALTHY_SETTLE of the fall, no symptom check fires and the validation loss ends
# within HEALTHY_VAL_RISE of its minimum (a 3-point median against the last tenth's).
HEALTHY_FALL = 0.3
HEALTHY_SETTLE = 0.2
HEALTHY_VAL_RISE = 0.05
#: Shapes of the training loss that mini-batch noise can make, and the largest rise of the
#: validation loss between two evaluations that still counts as calm.
NOISE_LIKE = ("oscillation", "spikes")
CALM_RISE = 0.1
#: The fixed run must end at least this share lower than the faulty one (training loss, or
#: validation loss for the memorisation causes).
BETTER = 0.05
VAL_CAUSES = ("insufficient_regularization",)


def recording(res) -> Any:
    """A :class:`~lossdoctor.scenarios.recording.Recording` of a trained result, with the
    private facts the checks need (the loss kind and the number of classes)."""
    from lossdoctor.scenarios.recording import Recording

    hp = {"loss": "cross_entropy" if res.task == "clf" else "mse",
          "num_classes": res.n_classes if res.task == "clf" else None}
    return Recording(hparams=hp, model=res.model, rows=res.rows, steps_per_epoch=res.steps_per_epoch,
                     meta={"val_every": res.val_every})


def val_calm(rec) -> bool:
    """The validation loss (a fixed set, so no mini-batch noise of its own) never rises by
    :data:`CALM_RISE` of its level between two evaluations after the first fifth of the run."""
    vv = rec.values("val_loss")
    vv = vv[np.isfinite(vv)]
    if vv.size < 8 or not np.all(vv > 0):
        return False
    late = vv[vv.size // 5:]
    return bool(np.max(np.diff(late) / late[:-1], initial=0.0) <= CALM_RISE)


def symptoms(rec) -> tuple[list[str], bool, str]:
    """(symptoms the checks find, whether the run is healthy, why not). Swings and spikes of the
    mini-batch loss while the validation loss stays calm are mini-batch noise, not a symptom."""
    from lossdoctor.scenarios.checks import check_all, levels, smooth

    found = [s for s, r in check_all(rec).items() if r.ok]
    if any(s in found for s in NOISE_LIKE) and val_calm(rec):
        found = [s for s in found if s not in NOISE_LIKE]
    v = rec.values("loss")
    v = v[np.isfinite(v)]
    if v.size < 20:
        return sorted(found, key=PRIORITY.index), False, f"only {v.size} finite loss values"
    start, end = levels(v)
    sm, _ = smooth(v)
    if "stagnation" not in found and start > 0 and 1 - end / start < STALL_FALL:
        tail = sm[int(len(sm) * (1 - STALL_TAIL)):]
        med = float(np.median(tail))
        if med > 0 and np.all(np.abs(tail - med) <= STALL_BAND * med):
            found.append("stagnation")
    fall = 1 - end / start if start > 0 else 0.0
    k = int(len(sm) * 0.8)
    late = float(sm[k] - sm[-1]) if k < len(sm) else 0.0
    vv = rec.values("val_loss")
    vv = vv[np.isfinite(vv)]
    v_rise = 0.0
    if vv.size >= 5:  # robust: the lowest 3-point median against the median of the last tenth
        lo = float(np.min([np.median(vv[i:i + 3]) for i in range(vv.size - 2)]))
        hi = float(np.median(vv[-max(3, vv.size // 10):]))
        v_rise = hi / lo - 1 if lo > 0 else 0.0
    why = "; ".join(x for x in (
        "" if fall >= HEALTHY_FALL else f"fell only {fall:.0%}",
        "" if late <= HEALTHY_SETTLE * (start - end) else "still falling at the end",
        f"shows {', '.join(found)}" if found else "",
        f"validation loss ends {v_rise:.0%} above its minimum" if v_rise > HEALTHY_VAL_RISE else "") if x)
    return sorted(found, key=PRIORITY.index), not why, why


def _end(rec, key: str) -> float:
    v = rec.values(key)
    v = v[np.isfinite(v)]
    if not v.size:
        return float("inf")
    k = max(1, v.size // 20)
    return float(np.mean(v[-k:]))


def decide(recipe: dict[str, Any], faulty, fixed=None) -> dict[str, Any]:
    """The label of one recipe from its recordings: ``{"label": cause | "healthy" | None,
    "symptoms": [...], "why": ...}`` (``label`` None: dropped)."""
    found, ok, why = symptoms(faulty)
    fault = recipe.get("fault")
    if fault is None:
        if ok:
            return {"label": "healthy", "symptoms": [], "found": found, "why": "passes the healthy check"}
        return {"label": None, "symptoms": [], "found": found, "why": f"healthy recipe failed its check: {why}"}
    cause = fault["cause"]
    fixed_found, fixed_ok, _ = symptoms(fixed)
    removed = [s for s in found if s not in fixed_found and s in MAKES[cause]]
    added = [s for s in fixed_found if s not in found and (s not in MAY_ADD or cause in VAL_CAUSES)]
    key = "val_loss" if cause in VAL_CAUSES else "loss"
    a, b = _end(faulty, key), _end(fixed, key)
    better = (not np.isfinite(a)) or (np.isfinite(b) and a - b >= BETTER * max(abs(a), 1e-12))
    out = {"found": found, "fixed_found": fixed_found, "fixed_healthy": fixed_ok,
           "end": a, "fixed_end": b}
    if removed and not added and better:
        return {**out, "label": cause, "symptoms": removed,
                "why": f"the fix removed {', '.join(removed)} ({key} at the end {a:.4g} -> {b:.4g})"}
    reason = ("the faulty run shows no symptom" if not found else
              f"the fix did not remove {', '.join(found)} (or {cause} does not make it)" if not removed else
              f"the fix added {', '.join(added)}" if added else
              f"the fixed run is not better ({key} {a:.4g} -> {b:.4g})")
    return {**out, "label": None, "symptoms": [], "why": reason}
