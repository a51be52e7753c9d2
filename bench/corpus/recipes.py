"""Randomised training recipes, each healthy or with one injected fault at a random severity,
and the one-factor fix that should remove that fault's symptom.

A recipe is a plain JSON-able dict (so that a run can be replayed, or rerun by a script)::

    {"id", "seed", "data", "kind", "model": {...}, "optim": {...}, "schedule": {...},
     "train": {...}, "inputs": {...}, "loss", "log": {...}, "user_hparams": [...],
     "fault": {"cause", "variant", "severity"} | None, "fix": {dotted.path: value} | None}

The fix is a patch of dotted paths (``{"optim.lr": 0.01}``): applying it changes exactly one
factor of the faulty recipe. ``fault.cause`` is only what was injected; a run is *labelled* with
it only when the fix removes a symptom in a paired run (:mod:`corpus.label`).

Family split (the held-out evaluation): a recipe is ``heldout`` when its data source is in
:data:`HELDOUT_DATA` or its model family in :data:`HELDOUT_FAMILIES`; thresholds and weights
are only ever fitted on ``tune``.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Callable

import numpy as np

from .data import IMAGE_LIKE, SOURCES
from .models import FAMILIES, TAKES

CAUSES = (
    "regularization_too_strong", "lr_too_low", "stuck_plateau", "lr_too_high", "lr_schedule",
    "bad_initialization", "vanishing_gradients", "exploding_gradients", "dead_relu",
    "insufficient_regularization", "data_problem", "missing_zero_grad", "loss_misuse",
)
HELDOUT_DATA = ("breast_cancer", "circles", "friedman", "images")
HELDOUT_FAMILIES = ("transformer",)
#: Healthy runs get this many shares of the draw against one per cause (more of them survive
#: as controls than of any one cause).
HEALTHY_SHARES = 2.0
#: Causes whose faults more often leave no symptom (and are dropped) are drawn more often.
DRAW_WEIGHT = {"bad_initialization": 1.4, "lr_schedule": 1.4, "regularization_too_strong": 1.4,
               "lr_too_high": 1.4, "exploding_gradients": 1.3, "data_problem": 1.3, "lr_too_low": 1.2,
               "insufficient_regularization": 1.2, "dead_relu": 0.8, "missing_zero_grad": 0.8}

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad")
#: Healthy learning-rate ranges (log-uniform) per optimizer on standardised inputs.
LR_RANGE = {
    "sgd": (0.05, 0.4), "momentum": (0.005, 0.05), "nesterov": (0.005, 0.05),
    "adam": (5e-4, 3e-3), "adamw": (5e-4, 3e-3), "rmsprop": (2e-4, 2e-3), "adagrad": (0.02, 0.2),
}
SCHEDULES = ("constant", "step", "cosine", "warmup_cosine", "onecycle", "exp")
HEAVY = ("rnn", "transformer", "cnn")


def split_of(recipe: dict[str, Any]) -> str:
    return ("heldout" if recipe["data"] in HELDOUT_DATA or recipe["model"]["family"] in HELDOUT_FAMILIES
            else "tune")


def kinds_of(data: str) -> tuple[str, ...]:
    if data == "text":
        return ("seq",)
    if data in IMAGE_LIKE:
        return ("flat", "image", "rows")
    return ("flat",)


#: A linear model cannot separate these at all: every run of it would fail the healthy check.
NOT_LINEAR = ("circles",)


def families_for(data: str) -> list[tuple[str, str]]:
    """(family, input kind) pairs that can train on ``data``."""
    return [(f, k) for f in FAMILIES for k in kinds_of(data) if k in TAKES[f]
            and not (f == "linear" and data in NOT_LINEAR)]


def _logu(rng, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _pick(rng, seq, p=None):
    return seq[int(rng.choice(len(seq), p=p))]


# -- the healthy base ---------------------------------------------------------------------------

def base_recipe(rng: np.random.Generator, seed: int, data: str | None = None,
                family: str | None = None) -> dict[str, Any]:
    """A sane recipe: standard init, a learning rate in its optimizer's usual range, a mild
    schedule, shuffled standardised data."""
    data = data or _pick(rng, SOURCES)
    pairs = families_for(data)
    if family is not None:
        pairs = [p for p in pairs if p[0] == family] or pairs
    fam, kind = _pick(rng, pairs)
    reg = data in ("regression", "friedman")
    model: dict[str, Any] = {"family": fam, "width": int(_pick(rng, (16, 32, 64, 128))),
                             "depth": int(rng.integers(2, 5)), "act": _pick(rng, ("relu", "relu", "tanh", "gelu")),
                             "dropout": 0.0, "init": "default", "init_scale": 1.0, "last_scale": 1.0,
                             "bias_init": None, "out_act": None, "residual": False}
    if fam == "mlp":
        model["functional"] = bool(rng.random() < 0.3)
        if rng.random() < 0.15:
            model["dropout"] = round(float(rng.uniform(0.05, 0.3)), 2)
    if fam == "rnn":
        model["cell"] = _pick(rng, ("gru", "lstm", "gru", "lstm", "rnn"))
    if fam in ("mlp", "cnn") and rng.random() < 0.4:
        model["init"] = _pick(rng, ("kaiming_normal", "kaiming_uniform", "xavier_normal", "xavier_uniform", "orthogonal"))
    opt = _pick(rng, OPTIMIZERS, p=[0.12, 0.16, 0.08, 0.24, 0.2, 0.1, 0.1])
    if fam in ("transformer", "rnn") and opt in ("sgd", "adagrad") and rng.random() < 0.7:
        opt = "adam"
    lo, hi = LR_RANGE[opt]
    lr = _logu(rng, lo, hi)
    wd = 0.0
    if rng.random() < 0.35:
        wd = _logu(rng, 0.01, 0.1) if opt == "adamw" else _logu(rng, 1e-5, 5e-4)
    heavy = fam in HEAVY
    steps = int(_pick(rng, (300, 400, 500) if heavy else (400, 600, 800, 1000)))
    batch = int(_pick(rng, (8, 16, 32, 64, 128, 256, 512), p=[0.06, 0.12, 0.22, 0.26, 0.18, 0.1, 0.06]))
    if data in ("wine", "breast_cancer"):  # a few hundred examples: long runs only memorise
        steps = int(_pick(rng, (150, 250, 350)))
    if data == "text":  # next-character prediction needs more steps and a brisk lr to get going
        steps = max(steps, 600)
        lr *= 2.0
    if heavy:  # a few seconds per run on one CPU thread
        batch = min(batch, 64)
        model["width"] = min(model["width"], 32 if fam != "cnn" else 16)
        model["depth"] = min(model["depth"], 3)
    sched_kind = _pick(rng, SCHEDULES, p=[0.35, 0.13, 0.15, 0.15, 0.1, 0.12])
    schedule: dict[str, Any] = {"kind": sched_kind}
    if sched_kind == "step":
        schedule.update(at=round(float(rng.uniform(0.5, 0.75)), 2), gamma=round(float(rng.uniform(0.2, 0.5)), 2))
    elif sched_kind == "cosine":
        schedule.update(floor=round(float(rng.uniform(0.0, 0.1)), 3))
    elif sched_kind == "warmup_cosine":
        schedule.update(warmup=round(float(rng.uniform(0.02, 0.1)), 3), floor=round(float(rng.uniform(0.0, 0.1)), 3))
    elif sched_kind == "onecycle":
        schedule.update(pct_start=round(float(rng.uniform(0.15, 0.3)), 2))
    elif sched_kind == "exp":
        schedule.update(end=round(_logu(rng, 0.05, 0.4), 3))
    log_every = _pick(rng, (1, 1, 1, 5, 10, 25, "epoch"))
    user = [k for k in ("lr", "batch_size", "max_steps", "optimizer", "weight_decay", "dropout", "width",
                        "depth", "seed") if rng.random() < 0.5]
    return {
        "seed": int(seed), "data": data, "kind": kind, "model": model,
        "optim": {"name": opt, "lr": lr, "weight_decay": wd},
        "schedule": schedule,
        "train": {"steps": steps, "batch": batch, "zero_grad": True, "shuffle": True, "clip": None,
                  "l2": 0.0, "log_reg_loss": False},
        "inputs": {"n_train": None, "input_scale": 1.0, "input_offset": 0.0, "labels": "true",
                   "label_noise": 0.0},
        "loss": "mse" if reg else "ce",
        "log": {"every": log_every},
        "user_hparams": user,
        "fault": None, "fix": None,
    }


# -- faults: each injects one cause into a base recipe and says the fix ----------------------------

def _set(r: dict[str, Any], path: str, value: Any) -> None:
    keys = path.split(".")
    d = r
    for k in keys[:-1]:
        d = d[k]
    d[keys[-1]] = value


def _get(r: dict[str, Any], path: str) -> Any:
    d = r
    for k in path.split("."):
        d = d[k]
    return d


def apply_fix(recipe: dict[str, Any]) -> dict[str, Any]:
    """The paired run: the faulty recipe with its one-factor fix applied."""
    fixed = copy.deepcopy(recipe)
    for path, value in (recipe.get("fix") or {}).items():
        _set(fixed, path, value)
    fixed["fault"] = None
    fixed["fix"] = None
    return fixed


def _patch(r, changes: dict[str, Any]) -> dict[str, Any]:
    """Apply ``changes`` to ``r`` and return the fix that undoes them (their old values)."""
    undo = {p: copy.deepcopy(_get(r, p)) for p in changes}
    for p, v in changes.items():
        _set(r, p, v)
    return undo


def _deepen(r, rng) -> None:
    """A linear model has no depth for init, dead units or memorisation to act on: make it an MLP."""
    if r["model"]["family"] == "linear":
        r["model"]["family"] = "mlp"
        r["model"]["depth"] = max(r["model"]["depth"], 3)
        r["kind"] = "flat" if r["data"] != "text" else "seq"


def _sgd_family(r, rng, share: float) -> None:
    """Switch to SGD (plain, momentum or Nesterov) with this probability: some faults show only
    under it (Adam rescales small or piled-up gradients and walks off saddles)."""
    if r["optim"]["name"] not in ("sgd", "momentum", "nesterov") and rng.random() < share:
        name = _pick(rng, ("sgd", "momentum", "nesterov"))
        r["optim"] = {"name": name, "lr": _logu(rng, *LR_RANGE[name]), "weight_decay": r["optim"]["weight_decay"]
                      if r["optim"]["name"] != "adamw" else 0.0}


def _lr_too_low(r, s, rng):
    return "small_lr", _patch(r, {"optim.lr": r["optim"]["lr"] / 10 ** (1.3 + 1.5 * s)})


def _lr_too_high(r, s, rng):
    # small nets tolerate a lot: below ~30x (adaptive) or ~20x (SGD) the "too high" lr is often
    # simply a better one, and the paired run drops the recipe
    adaptive = r["optim"]["name"] in ("adam", "adamw", "rmsprop")
    k = 10 ** ((1.5 if adaptive else 1.3) + 1.2 * s)
    return "large_lr", _patch(r, {"optim.lr": r["optim"]["lr"] * k})


def _regularization(r, s, rng):
    fam, opt = r["model"]["family"], r["optim"]["name"]
    variants = ["decay", "decay", "l2_term"]
    if fam in ("mlp", "cnn"):
        variants.append("dropout")
    v = _pick(rng, variants)
    if v == "decay":
        if opt == "adamw":
            wd = 10 ** (1.0 + 1.0 * s) / max(r["optim"]["lr"] / 1e-3, 0.3)
        elif opt in ("adam", "rmsprop"):
            wd = 10 ** (-0.5 + 1.0 * s)
        else:
            wd = 10 ** (-0.8 + 1.0 * s) * min(1.0, 0.1 / r["optim"]["lr"])
        return "weight_decay", _patch(r, {"optim.weight_decay": float(wd)})
    if v == "dropout":
        if r["model"]["family"] == "mlp":
            r["model"]["depth"] = max(r["model"]["depth"], 3)
        return "dropout", _patch(r, {"model.dropout": round(0.85 + 0.1 * s, 2)})
    r["train"]["log_reg_loss"] = bool(rng.random() < 0.5)
    return "l2_term", _patch(r, {"train.l2": float(10 ** (-1.5 + 1.5 * s))})


def _stuck(r, s, rng):
    if r["model"]["family"] not in ("mlp", "cnn"):
        r["model"]["family"] = "mlp"
        r["kind"] = "flat" if r["data"] != "text" else "seq"
    r["model"]["depth"] = int(rng.integers(4, 7)) if r["model"]["family"] == "mlp" else 4
    r["model"]["init"] = "default"
    _sgd_family(r, rng, 0.7)
    r["model"]["init_scale"] = float(10 ** (-0.5 - 1.0 * s))
    # the fix: a scaled scheme at its own gain (PyTorch's default is itself small for deep nets)
    good = "kaiming_normal" if r["model"]["act"] in ("relu", "gelu") else "xavier_normal"
    return "small_init", {"model.init": good, "model.init_scale": 1.0}


def _schedule(r, s, rng):
    _deepen(r, rng)
    v = _pick(rng, ("long_warmup", "early_decay", "early_step"))
    if v == "long_warmup":
        _sgd_family(r, rng, 0.6)  # Adam learns a lot even at a tenth of its lr
        new = {"kind": "warmup_linear", "warmup": round(0.8 + 0.17 * s, 3)}
    elif v == "early_decay":
        new = {"kind": "exp_to", "end": 1e-5, "by": round(0.25 - 0.22 * s, 3)}
    else:
        new = {"kind": "step", "at": round(0.2 - 0.17 * s, 3), "gamma": 0.002}
    undo = _patch(r, {"schedule": new})
    undo["schedule"] = {"kind": "constant"}
    return v, undo


def _bad_init(r, s, rng):
    _deepen(r, rng)
    if r["model"]["family"] == "transformer":  # its LayerNorms undo a scale: an MLP instead
        r["model"]["family"], r["kind"] = "mlp", ("flat" if r["data"] != "text" else "seq")
    v = _pick(rng, ("large_all", "large_last")) if r["loss"] == "ce" else "large_all"
    _sgd_family(r, rng, 0.6)  # Adam shrinks an oversized start back in a few steps
    if v == "large_all":
        return v, _patch(r, {"model.init_scale": float(10 ** (1.0 + 1.0 * s))})
    return v, _patch(r, {"model.last_scale": float(10 ** (1.7 + 1.0 * s))})


def _vanishing(r, s, rng):
    if r["data"] in ("text",):
        r["kind"] = "seq"
    elif r["kind"] != "flat":
        r["kind"] = "flat"
    r["model"]["family"] = "mlp"
    r["model"]["depth"] = int(8 + round(12 * s))
    r["model"]["init"] = _pick(rng, ("default", "xavier_normal"))
    r["model"]["dropout"] = 0.0
    r["model"]["act"] = _pick(rng, ("sigmoid", "sigmoid", "sigmoid", "tanh"))
    if r["model"]["act"] == "tanh":
        r["model"]["init"] = "default"
        r["model"]["depth"] = max(r["model"]["depth"], 12)
    _sgd_family(r, rng, 0.8)
    return "deep_saturating", {"model.residual": True}


def _exploding(r, s, rng):
    """A deep plain ReLU stack (no normalisation, no skips) at a standard init and an lr in the
    usual range: nothing is wrong but the depth, and the gradient blows up; clipping is the fix."""
    if rng.random() < 0.8:  # an unbounded loss (MSE) is where a blown-up gradient shows
        r["data"] = _pick(rng, ("regression", "friedman"))
        r["loss"] = "mse"
    r["model"].update(family="mlp", depth=int(8 + round(8 * s)), init=_pick(rng, ("kaiming_normal", "orthogonal")),
                      act="relu", dropout=0.0, width=int(_pick(rng, (32, 64, 128))))
    r["kind"] = "flat" if r["data"] != "text" else "seq"
    name = _pick(rng, ("momentum", "nesterov", "sgd"))
    lo, hi = (0.02, 0.08) if name != "sgd" else (0.05, 0.3)
    r["optim"] = {"name": name, "lr": _logu(rng, lo, hi), "weight_decay": 0.0}
    return "deep_plain_relu", {"train.clip": 1.0}


def _dead_relu(r, s, rng):
    _deepen(r, rng)
    if r["model"]["family"] not in ("mlp", "cnn"):
        r["model"]["family"] = "mlp"
        r["kind"] = "flat" if r["data"] != "text" else "seq"
    r["model"]["act"] = "relu"
    r["model"]["depth"] = max(r["model"]["depth"], 3)
    return "negative_bias", _patch(r, {"model.bias_init": float(-(1.0 + 3.0 * s))})


#: Classification sources with enough examples that the full training set cures memorisation.
LARGE = ("digits", "moons", "circles", "classification", "images")


def _insufficient(r, s, rng):
    if r["data"] not in LARGE:
        r["data"] = _pick(rng, LARGE)
        r["loss"] = "ce"
    if r["model"]["family"] not in ("mlp", "cnn") or r["kind"] not in ("flat", "image"):
        r["model"]["family"], r["kind"] = "mlp", "flat"
    if r["model"]["family"] == "cnn":
        r["model"]["width"] = 16
    else:
        r["model"]["width"] = int(_pick(rng, (256, 512)))
    r["model"]["depth"] = max(r["model"]["depth"], 3)
    r["model"]["dropout"] = 0.0
    r["optim"]["weight_decay"] = 0.0
    if r["optim"]["name"] in ("sgd", "adagrad"):
        r["optim"] = {"name": "adam", "lr": _logu(rng, 1e-3, 3e-3), "weight_decay": 0.0}
    r["train"]["steps"] = max(r["train"]["steps"], 1000)
    r["schedule"] = {"kind": "constant"}
    n = int(30 + 150 * (1 - s))
    r["train"]["batch"] = min(r["train"]["batch"], max(8, n // 2))
    return "small_train_set", _patch(r, {"inputs.n_train": n})


def _data_problem(r, s, rng):
    clf = r["loss"] == "ce"
    variants = ["unnormalized", "unnormalized", "shuffled_labels"] + (["unshuffled", "noisy_labels"] if clf else [])
    if r["data"] == "text":
        variants = [v for v in variants if v != "unnormalized"] or ["shuffled_labels"]
    v = _pick(rng, variants)
    if v == "unnormalized":
        _sgd_family(r, rng, 0.8)  # adaptive optimizers rescale per weight and hide the scale
        return v, _patch(r, {"inputs.input_scale": float(10 ** (1.5 + 1.5 * s)),
                             "inputs.input_offset": float(rng.choice([0.0, 0.0, 50.0]))})
    if v == "shuffled_labels":
        return v, _patch(r, {"inputs.labels": "shuffled"})
    if v == "unshuffled":
        r["train"]["batch"] = max(r["train"]["batch"], 32)
        return v, _patch(r, {"train.shuffle": False})
    return v, _patch(r, {"inputs.label_noise": round(0.4 + 0.5 * s, 2)})


def _missing_zero_grad(r, s, rng):
    _sgd_family(r, rng, 0.7)
    return "no_zero_grad", _patch(r, {"train.zero_grad": False})


#: Softmax before cross-entropy leaves a floor of log(1 + (C-1)/e): for 2 or 3 classes a loss that
#: halves, which no one would call broken; these sources have 4 classes or more.
MANY_CLASSES = ("digits", "classification", "text", "images")


def _loss_misuse(r, s, rng):
    if r["loss"] == "ce" and r["data"] not in MANY_CLASSES:
        r["data"] = _pick(rng, MANY_CLASSES)
        pairs = families_for(r["data"])
        fam = r["model"]["family"]
        r["model"]["family"], r["kind"] = next((p for p in pairs if p[0] == fam), _pick(rng, pairs))
    if r["loss"] == "mse":
        return "bounded_output", _patch(r, {"model.out_act": "sigmoid"})
    v = _pick(rng, ("softmax_ce", "softmax_ce", "softmax_bce"))
    if v == "softmax_bce":
        r["loss"] = "bce_onehot"
    return v, _patch(r, {"model.out_act": "softmax"})


FAULTS: dict[str, Callable] = {
    "regularization_too_strong": _regularization,
    "lr_too_low": _lr_too_low,
    "stuck_plateau": _stuck,
    "lr_too_high": _lr_too_high,
    "lr_schedule": _schedule,
    "bad_initialization": _bad_init,
    "vanishing_gradients": _vanishing,
    "exploding_gradients": _exploding,
    "dead_relu": _dead_relu,
    "insufficient_regularization": _insufficient,
    "data_problem": _data_problem,
    "missing_zero_grad": _missing_zero_grad,
    "loss_misuse": _loss_misuse,
}


def make(index: int, master_seed: int = 0, cause: str | None = "draw") -> dict[str, Any]:
    """Recipe number ``index`` of the corpus: a base recipe, and (unless drawn healthy, or
    ``cause=None``) one fault at a random severity."""
    rng = np.random.default_rng([master_seed, index])
    if cause == "draw":
        shares = np.array([DRAW_WEIGHT.get(c, 1.0) for c in CAUSES] + [HEALTHY_SHARES])
        k = int(rng.choice(len(shares), p=shares / shares.sum()))
        cause = CAUSES[k] if k < len(CAUSES) else None
    r = base_recipe(rng, seed=int(rng.integers(0, 2**31 - 1)))
    r["id"] = f"r{index:04d}" if index < 100_000 else f"h{index - 100_000:04d}"
    if cause is not None:
        s = float(rng.uniform())
        variant, fix = FAULTS[cause](r, s, rng)
        r["fault"] = {"cause": cause, "variant": variant, "severity": round(s, 3)}
        r["fix"] = fix
    r["split"] = split_of(r)
    return r
