"""Small builders the scenarios share: data from scikit-learn's bundled datasets (no
downloads), a named MLP, the optimizer, an LR schedule, and :func:`classifier` that turns one
flat description into a :class:`TrainConfig` with matching ``hparams``.

torch and scikit-learn are imported inside the functions: importing this module costs nothing.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Sequence

import numpy as np

from .base import TrainConfig

# Share of each dataset held out for validation.
VAL_SHARE = 0.25
# Validate about this many times per run (cheap, and enough to see a rise), on a round
# interval (1, 2, 2.5 or 5 x 10^k steps) so that thinned logs keep every validation row.
VAL_POINTS = 60


# -- data ------------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _raw(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Features and targets of one bundled or generated dataset (fixed, seed-independent)."""
    from sklearn import datasets as D

    if name == "digits":
        X, y = D.load_digits(return_X_y=True)
    elif name.startswith("digits") and name[6:].isdigit():  # digits4: the classes 0..3
        X, y = D.load_digits(return_X_y=True)
        keep = y < int(name[6:])
        X, y = X[keep], y[keep]
    elif name == "wine":
        X, y = D.load_wine(return_X_y=True)
    elif name == "breast_cancer":
        X, y = D.load_breast_cancer(return_X_y=True)
    elif name == "diabetes":
        X, y = D.load_diabetes(return_X_y=True)
        y = (y - y.mean()) / y.std()
    elif name == "moons":
        X, y = D.make_moons(n_samples=1200, noise=0.25, random_state=0)
    elif name == "classification":
        X, y = D.make_classification(n_samples=1600, n_features=20, n_informative=10,
                                     n_redundant=4, n_classes=4, n_clusters_per_class=1,
                                     class_sep=1.5, random_state=0)
    else:
        raise ValueError(f"unknown dataset {name!r}")
    return np.asarray(X, dtype=np.float64), np.asarray(y)


def dataset(name: str, seed: int, *, n_train: int | None = None, standardize: bool = True,
            labels: str = "true", regression: bool = False):
    """``(Xtr, ytr, Xva, yva, n_classes)`` as tensors: a seeded split, features standardised
    on the training part (unless ``standardize=False``), labels ``"true"`` or ``"shuffled"``
    (training labels permuted: no relation left between input and label)."""
    import torch

    X, y = _raw(name)
    rng = np.random.default_rng(1000 + seed)
    order = rng.permutation(len(X))
    n_val = int(round(VAL_SHARE * len(X)))
    va, tr = order[:n_val], order[n_val:]
    if n_train is not None:
        tr = tr[:n_train]
    Xtr, Xva, ytr, yva = X[tr], X[va], y[tr].copy(), y[va]
    if standardize:
        mu, sd = Xtr.mean(0), Xtr.std(0)
        sd[sd == 0] = 1.0
        Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
    if labels == "shuffled":
        ytr = ytr[rng.permutation(len(ytr))]
    f = torch.float32
    if regression:
        return (torch.tensor(Xtr, dtype=f), torch.tensor(ytr, dtype=f)[:, None],
                torch.tensor(Xva, dtype=f), torch.tensor(yva, dtype=f)[:, None], 1)
    n_classes = int(y.max()) + 1
    return (torch.tensor(Xtr, dtype=f), torch.tensor(ytr, dtype=torch.long),
            torch.tensor(Xva, dtype=f), torch.tensor(yva, dtype=torch.long), n_classes)


# -- model -----------------------------------------------------------------------------------

_ACTS = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid", "linear": None}


def mlp(n_in: int, hidden: Sequence[int], n_out: int, *, act: str = "relu",
        init_scale: float = 1.0, init: str = "default", bias_init: float | None = None,
        out_act: str | None = None, dropout: float = 0.0):
    """An MLP as ``Net(net=Sequential(Linear, act, [Dropout], ..., Linear[, Softmax]))`` so the
    layers are named ``net.0``, ``net.1``... ``init`` is ``"default"`` (PyTorch's) or
    ``"xavier"`` (Glorot with the activation's gain); ``init_scale`` then multiplies every
    weight; ``bias_init`` sets the hidden layers' biases (``None``: as initialised)."""
    import torch
    from torch import nn

    layers: list[nn.Module] = []
    d = n_in
    hidden_linears = []
    for w in hidden:
        lin = nn.Linear(d, w)
        hidden_linears.append(lin)
        layers.append(lin)
        if _ACTS[act]:
            layers.append(getattr(nn, _ACTS[act])())
        if dropout:
            layers.append(nn.Dropout(dropout))
        d = w
    layers.append(nn.Linear(d, n_out))
    if out_act == "softmax":
        layers.append(nn.Softmax(dim=-1))
    net = nn.Sequential(*layers)
    with torch.no_grad():
        for m in net:
            if isinstance(m, nn.Linear):
                if init == "xavier":
                    gain = nn.init.calculate_gain(act if act != "linear" else "linear")
                    nn.init.xavier_normal_(m.weight, gain=gain)
                    m.bias.zero_()
                m.weight.mul_(init_scale)
                if init_scale != 1.0:
                    m.bias.mul_(init_scale)
        if bias_init is not None:
            for lin in hidden_linears:
                lin.bias.fill_(bias_init)
    return Net(net)


@lru_cache(maxsize=None)
def _net_class():
    from torch import nn

    class _Net(nn.Module):
        """Holds the Sequential as ``.net`` so parameter names read ``net.0.weight``."""

        def __init__(self, net: nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x)

    return _Net


def Net(net):  # noqa: N802 - a factory that stands for the class
    return _net_class()(net)


@lru_cache(maxsize=None)
def _one_hot_bce_class():
    from torch import nn

    class _OneHotBCE(nn.Module):
        """``BCEWithLogitsLoss`` against the one-hot encoding of class-index targets."""

        def __init__(self, n_classes: int) -> None:
            super().__init__()
            self.n_classes = n_classes
            self.bce = nn.BCEWithLogitsLoss()

        def forward(self, out, y):
            return self.bce(out, nn.functional.one_hot(y, self.n_classes).to(out.dtype))

    return _OneHotBCE


# -- optimizer and schedule ------------------------------------------------------------------

def optimizer(params, kind: str, lr: float, *, weight_decay: float = 0.0, momentum: float = 0.0):
    import torch

    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if kind == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {kind!r}")


def lr_lambda(schedule: str | None, steps: int, *, warmup_steps: int = 0, step_size: int = 0,
              gamma: float = 0.1, min_factor: float = 0.0):
    """The multiplier of the base lr at each step, or ``None`` for a constant lr.

    ``warmup_linear``: 0 -> 1 over ``warmup_steps``, then constant; ``warmup_cosine``: that,
    then a cosine to ``min_factor`` at ``steps``; ``cosine``: cosine from the start; ``step``:
    times ``gamma`` every ``step_size`` steps; ``exp``: times ``gamma`` every step."""
    if schedule in (None, "constant"):
        return None
    w = max(int(warmup_steps), 0)

    def warm(i: int) -> float:
        return min(1.0, (i + 1) / w) if w else 1.0

    def cos(i: int, start: int) -> float:
        t = min(max(i - start, 0) / max(steps - start, 1), 1.0)
        return min_factor + (1 - min_factor) * 0.5 * (1 + math.cos(math.pi * t))

    if schedule == "warmup_linear":
        return warm
    if schedule == "warmup_cosine":
        return lambda i: warm(i) if i < w else cos(i, w)
    if schedule == "cosine":
        return lambda i: cos(i, 0)
    if schedule == "step":
        return lambda i: gamma ** (i // step_size)
    if schedule == "exp":
        return lambda i: gamma ** i
    raise ValueError(f"unknown schedule {schedule!r}")


def round_interval(x: float) -> int:
    """The largest of 1, 2, 2.5, 5 x 10^k steps not above ``x`` (at least 1)."""
    if x < 2:
        return 1
    e = 10 ** int(math.floor(math.log10(x)))
    return int(max(m * e for m in (1, 2, 2.5, 5) if m * e <= x and (m * e) % 1 == 0))


# -- one flat description -> TrainConfig -------------------------------------------------------

def classifier(seed: int, *, data: str = "digits", n_train: int | None = None,
               standardize: bool = True, labels: str = "true", hidden: Sequence[int] = (64, 64),
               act: str = "relu", init: str = "default", init_scale: float = 1.0,
               bias_init: float | None = None, out_act: str | None = None, dropout: float = 0.0,
               opt: str = "sgd", lr: float = 0.01, momentum: float = 0.9,
               weight_decay: float = 0.0, schedule: str | None = None, warmup_steps: int = 0,
               step_size: int = 0, gamma: float = 0.1, min_factor: float = 0.0,
               steps: int = 1000, batch_size: int | None = 64, val_every: int | None = None,
               zero_grad: bool = True, sort_batches: bool = False,
               regression: bool = False, loss: str | None = None,
               extra: dict[str, Any] | None = None) -> TrainConfig:
    """Build a whole run from one flat description; ``hparams`` are filled from the same
    arguments, so what a log says is what was trained. ``batch_size=None``: full batch.
    ``loss``: ``None`` (cross-entropy, or MSE for a regression) or ``"bce_one_hot"``
    (``BCEWithLogitsLoss`` on one-hot targets, the multi-label loss)."""
    import torch
    from torch import nn

    Xtr, ytr, Xva, yva, n_classes = dataset(data, seed, n_train=n_train, standardize=standardize,
                                            labels=labels, regression=regression)
    batch_size = batch_size or len(Xtr)
    torch.manual_seed(seed)
    model = mlp(Xtr.shape[1], hidden, n_classes, act=act, init=init, init_scale=init_scale,
                bias_init=bias_init, out_act=out_act, dropout=dropout)
    mom = momentum if opt == "sgd" else None
    optim = optimizer(model.parameters(), opt, lr, weight_decay=weight_decay, momentum=mom or 0.0)
    lam = lr_lambda(schedule, steps, warmup_steps=warmup_steps, step_size=step_size,
                    gamma=gamma, min_factor=min_factor)
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lam) if lam else None
    loss_fn = nn.MSELoss() if regression else nn.CrossEntropyLoss()
    loss_name = "mse" if regression else "cross_entropy"
    if loss == "bce_one_hot":
        loss_fn, loss_name = _one_hot_bce_class()(n_classes), "binary_cross_entropy_with_logits"
    elif loss is not None:
        raise ValueError(f"unknown loss {loss!r}")
    init_desc = init if init_scale == 1.0 else f"{init} x{init_scale:g}"
    if bias_init is not None:
        init_desc += f", hidden bias {bias_init:g}"
    hp: dict[str, Any] = {
        "optimizer": opt, "lr": lr, "weight_decay": weight_decay,
        "momentum": mom if mom is not None else (0.9 if opt in ("adam", "adamw") else 0.0),
        "dropout": dropout, "num_classes": n_classes if not regression else None,
        "batch_size": batch_size, "init": init_desc, "init_scale": init_scale,
        "scheduler": schedule or "constant", "warmup_steps": warmup_steps, "loss": loss_name,
        "output_activation": out_act, "activation": act, "hidden": list(hidden),
        "depth": len(hidden) + 1, "dataset": data, "n_train": int(len(Xtr)),
        "max_steps": steps, "standardized_inputs": standardize,
    }
    if opt in ("adam", "adamw"):
        hp["betas"] = [0.9, 0.999]
    if schedule == "step":
        hp.update(step_size=step_size, gamma=gamma)
    if schedule == "exp":
        hp["gamma"] = gamma
    if labels != "true":
        hp["labels"] = labels
    if loss == "bce_one_hot":
        hp["targets"] = "one_hot"
    if sort_batches:
        hp["shuffle"] = False
    if extra:
        hp.update(extra)
    hp["epochs"] = round(steps / max(len(Xtr) // batch_size, 1), 2)
    return TrainConfig(model=model, train=(Xtr, ytr), val=(Xva, yva), loss_fn=loss_fn,
                       optimizer=optim, scheduler=sched, steps=steps, batch_size=batch_size,
                       val_every=val_every or round_interval(steps / VAL_POINTS), seed=seed,
                       hparams=hp, zero_grad=zero_grad, sort_batches=sort_batches,
                       classification=not regression)
