"""What can be read off the model, optimizer and scheduler at ``watch()`` time: the header's
hyper-parameters and model description.

Hyper-parameter keys follow :data:`lossdoctor.readers.hparams.CANONICAL` (``lr``,
``weight_decay``, ``momentum``, ``dropout``, ``optimizer``, ``num_classes``, ``scheduler``...),
so the diagnosis reads them without mapping. What the user passes as ``hparams=`` wins.
"""

from __future__ import annotations

import math
import statistics
from typing import Any, Iterable, Mapping

import torch
from torch import nn

from ..readers.hparams import canonicalize

#: Wrapper prefixes that are not part of a layer's name (DDP/DataParallel, torch.compile).
WRAPPER_PREFIXES = ("module.", "_orig_mod.")

#: Activations whose units can die (output <= 0 for every input): ``dead_frac``.
DEAD_FAMILY = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.GELU)
#: Activations with flat tails: ``saturation``.
SATURATING = (nn.Tanh, nn.Sigmoid)
#: Every activation module whose output scale is recorded (``act_std``).
ACTIVATIONS = DEAD_FAMILY + SATURATING + (nn.SiLU, nn.ELU, nn.SELU, nn.CELU, nn.Mish, nn.Softplus,
                                          nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid)
#: A final module of these types means the model outputs probabilities, not logits.
OUTPUT_ACTIVATIONS = (nn.Softmax, nn.LogSoftmax, nn.Sigmoid, nn.Softmin)
DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
            nn.FeatureAlphaDropout)

#: Scheduler attributes that describe it (the rest is state).
_SCHED_SKIP = frozenset({"last_epoch", "base_lrs", "verbose", "optimizer", "lr_lambdas",
                         "_last_lr", "_step_count", "_get_lr_called_within_step"})


def clean_name(name: str) -> str:
    """A parameter or module name without wrapper prefixes (``module.net.0`` -> ``net.0``)."""
    changed = True
    while changed:
        changed = False
        for p in WRAPPER_PREFIXES:
            if name.startswith(p):
                name, changed = name[len(p):], True
    return name


def trainable(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """Parameters that train, in ``named_parameters()`` order (input side first)."""
    return [(clean_name(n), p) for n, p in model.named_parameters() if p.requires_grad]


def activation_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(clean_name(n), m) for n, m in model.named_modules() if isinstance(m, ACTIVATIONS)]


def n_outputs(model: nn.Module) -> int | None:
    """The output size: ``out_features`` of the last ``nn.Linear`` registered in the model."""
    last = None
    for m in model.modules():
        if isinstance(m, nn.Linear):
            last = m
    return int(last.out_features) if last is not None else None


def _float(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().tolist() if x.numel() != 1 else float(x.detach().cpu())
    return x


def jsonable(x: Any) -> Any:
    """A value the header can hold: numbers, strings, lists and dicts of them."""
    x = _float(x)
    if x is None or isinstance(x, (bool, int, str)):
        return x
    if isinstance(x, float):
        return x if math.isfinite(x) else str(x)
    if isinstance(x, Mapping):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in x]
    try:
        import numpy as np

        if isinstance(x, np.generic):
            return jsonable(x.item())
    except ImportError:  # pragma: no cover - numpy is a core dependency
        pass
    return str(x)


def is_decoupled(optimizer: torch.optim.Optimizer, group: Mapping[str, Any]) -> bool:
    """Weight decay applied to the weights directly (AdamW), not added to the gradient (L2)."""
    if group.get("decoupled_weight_decay"):
        return True
    return type(optimizer).__name__ in ("AdamW", "Lion", "SGDW", "LAMB", "Lamb")


def optimizer_hparams(optimizer: torch.optim.Optimizer | None) -> dict[str, Any]:
    if optimizer is None:
        return {}
    groups = optimizer.param_groups
    g0 = groups[0] if groups else {}
    hp: dict[str, Any] = {"optimizer": type(optimizer).__name__}
    lr = g0.get("initial_lr", g0.get("lr"))
    if lr is not None:
        hp["lr"] = _float(lr)
    for key in ("momentum", "betas", "weight_decay", "eps", "nesterov", "dampening", "alpha",
                "amsgrad", "max_iter", "history_size"):
        if key in g0:
            hp[key] = jsonable(g0[key])
    if "weight_decay" in g0:
        hp["weight_decay_decoupled"] = is_decoupled(optimizer, g0)
    if len(groups) > 1:
        hp["param_groups"] = [
            {"lr": jsonable(g.get("initial_lr", g.get("lr"))),
             "weight_decay": jsonable(g.get("weight_decay", 0.0)),
             "n_params": int(sum(p.numel() for p in g["params"]))}
            for g in groups]
    return hp


def scheduler_hparams(scheduler: Any) -> dict[str, Any]:
    if scheduler is None:
        return {}
    args: dict[str, Any] = {}
    for k, v in vars(scheduler).items():
        if k.startswith("_") or k in _SCHED_SKIP:
            continue
        if isinstance(v, (int, float, str, bool)) or (
                isinstance(v, (list, tuple)) and all(isinstance(x, (int, float)) for x in v)):
            args[k] = jsonable(v)
        elif k == "_schedulers" or (isinstance(v, (list, tuple)) and v and
                                    all(hasattr(x, "get_last_lr") for x in v)):
            args[k] = [type(x).__name__ for x in v]
    hp: dict[str, Any] = {"scheduler": type(scheduler).__name__}
    if args:
        hp["scheduler_args"] = args
    return hp


def model_hparams(model: nn.Module) -> dict[str, Any]:
    hp: dict[str, Any] = {}
    drops = {clean_name(n): float(m.p) for n, m in model.named_modules() if isinstance(m, DROPOUTS)}
    # No Dropout module: dropout 0 (functional F.dropout calls cannot be seen; see the docs).
    hp["dropout"] = max(drops.values()) if drops else 0.0
    if drops and len(set(drops.values())) > 1:
        hp["dropout_rates"] = drops
    acts = sorted({type(m).__name__ for _, m in activation_modules(model)})
    if acts:
        hp["activation"] = ",".join(acts)
    leaves = [m for m in model.modules() if not any(True for _ in m.children())]
    if leaves and isinstance(leaves[-1], OUTPUT_ACTIVATIONS):
        hp["output_activation"] = type(leaves[-1]).__name__
    params = list(model.parameters())
    hp["n_params"] = int(sum(p.numel() for p in params))
    hp["n_trainable"] = int(sum(p.numel() for p in params if p.requires_grad))
    return hp


@torch.no_grad()
def layer_table(params: Iterable[tuple[str, nn.Parameter]]) -> list[dict[str, Any]]:
    """Name, shape and standard deviation of each trained tensor (its scale at watch() time)."""
    out = []
    for name, p in params:
        row: dict[str, Any] = {"name": name, "shape": list(p.shape)}
        if p.numel() > 1 and not p.is_meta:
            row["init_std"] = float(p.detach().float().std().cpu())
        out.append(row)
    return out


def build_header(model: nn.Module, optimizer, scheduler, user: Mapping[str, Any] | None,
                 params: list[tuple[str, nn.Parameter]], monitor: Mapping[str, Any]) -> dict[str, Any]:
    """The header record: hyper-parameters read from the objects, then the user's on top."""
    hp: dict[str, Any] = {}
    hp.update(optimizer_hparams(optimizer))
    hp.update(scheduler_hparams(scheduler))
    hp.update(model_hparams(model))
    layers = layer_table(params)
    dense = {id(m.weight) for m in model.modules()
             if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd)) and isinstance(m.weight, torch.Tensor)}
    stds = [r["init_std"] for r, (_, p) in zip(layers, params)
            if id(p) in dense and "init_std" in r and math.isfinite(r["init_std"])]
    if stds:
        # The typical scale of the dense weight matrices: biases, norm gains and embeddings
        # (N(0, 1) by default) follow other conventions and would drown it.
        hp["init_std"] = statistics.median(stds)
    n_out = n_outputs(model)
    user = dict(user or {})
    if n_out is not None and n_out >= 2 and "num_classes" not in canonicalize(user):
        hp["num_classes"] = n_out
    hp.update(user)
    acts = [{"name": n, "type": type(m).__name__} for n, m in activation_modules(model)]
    model_meta = {"class": type(model).__name__, "n_params": hp["n_params"],
                  "n_outputs": n_out, "layers": layers, "activations": acts}
    return {"type": "header", "schema": "lossdoctor.log/1", "source": "lossdoctor.collect",
            "hparams": jsonable(hp), "model": jsonable(model_meta), "monitor": jsonable(monitor)}
