"""The child side of a verification arm: apply one change to the model, optimizer and scheduler
that ``watch()`` (or a Lightning / Hugging Face callback) was handed, when it starts.

Every change is one function here, ``name(value, target) -> str`` returning what it did in a few
words, or raising :class:`NotApplicable` with the reason when this script cannot take it (no
Dropout module to switch off, no weight decay to cut). It runs once, before the monitor builds
its header, so the log records the changed setting (the arm's lr, decay, init scale...).

Changes that act during training do it through optimizer step hooks and forward hooks; the
monitor's own hooks are registered after these, so it sees what the optimizer really gets.

The vocabulary (the ``change`` object of the taxonomy's ``verification`` JSON):

==========================  ===================================================================
``lr_scale: k``             every param group's lr times k, and the scheduler's base/max lrs
``weight_decay_scale: k``   every param group's weight decay times k (0: off)
``weight_decay: x``         every param group's weight decay set to x (when it had none)
``dropout: p``              every Dropout module's p set to p (0: off)
``reinit: "default"``       every module's own ``reset_parameters()`` (PyTorch's default scheme)
``reinit: "gain"``          Linear/Conv weights Kaiming (ReLU family) or Xavier with the
                            activation's gain (tanh, sigmoid), biases 0
``reinit: "bias"``          Linear/Conv biases set to 0, weights kept
``clip: c``                 gradient norm clipped to c before every optimizer step
``zero_grad: true``         gradients cleared after every optimizer step
``momentum: m``             SGD groups without momentum get momentum m
``constant_lr: true``       the lr held at its peak (base) value: the schedule switched off
``layer_grads: "equalize"`` every weight matrix's gradient scaled up to the largest one's norm
``activation: "relu"``      Sigmoid/Tanh modules replaced by ReLU, and the Linear/Conv layers
                            re-initialised at the ReLU gain (Kaiming, biases 0): the gradient is
                            not squashed
``standardize: true``       the model's float input standardised per feature (statistics of the
                            first training batch)
``logits: true``            an output softmax or sigmoid undone (log / logit of it): the loss
                            gets logits
``shuffle: true``           every torch ``DataLoader`` that reads a map-style dataset in a fixed
                            order (``shuffle=False``) draws a random order each pass instead
``seed: n``                 torch's, numpy's and Python's global generators reseeded (a noise arm)
==========================  ===================================================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn


class NotApplicable(Exception):
    """This script cannot take the change (the message says why)."""


@dataclass
class Target:
    """What ``watch()`` was handed, and the hooks a change registers (kept alive with it)."""

    model: nn.Module
    optimizer: Any
    scheduler: Any = None
    handles: list = field(default_factory=list)
    after_step: list = field(default_factory=list)  # called from the monitor's step, after the optimizer's

    @property
    def groups(self) -> list:
        return list(getattr(self.optimizer, "param_groups", []) or [])


def _unwrap(opt):
    seen = 0
    while opt is not None and seen < 5:
        inner = getattr(opt, "optimizer", None) or getattr(opt, "_optimizer", None)
        if isinstance(inner, torch.optim.Optimizer) and inner is not opt:
            opt, seen = inner, seen + 1
            continue
        break
    return opt


def find_scheduler(optimizer) -> Any:
    """The LR scheduler that drives ``optimizer`` when the script did not pass ``scheduler=``:
    schedulers hold their optimizer, the optimizer does not know them."""
    import gc

    for obj in gc.get_referrers(optimizer):
        if isinstance(obj, dict):
            for owner in gc.get_referrers(obj):
                if isinstance(owner, torch.optim.lr_scheduler.LRScheduler) and owner.optimizer is optimizer:
                    return owner
        elif isinstance(obj, torch.optim.lr_scheduler.LRScheduler) and obj.optimizer is optimizer:
            return obj
    return None


def _need_optimizer(t: Target) -> None:
    if not t.groups:
        raise NotApplicable("the monitor was given no optimizer")


# -- the changes -----------------------------------------------------------------------------

LR_KEYS = ("lr", "initial_lr", "max_lr", "min_lr", "base_lr")


def lr_scale(k: float, t: Target) -> str:
    _need_optimizer(t)
    k = float(k)
    for g in t.groups:
        for key in LR_KEYS:
            if isinstance(g.get(key), (int, float)):
                g[key] = g[key] * k
    s = t.scheduler
    if s is not None:
        for attr in ("base_lrs", "max_lrs", "_last_lr"):
            v = getattr(s, attr, None)
            if isinstance(v, list) and all(isinstance(x, (int, float)) for x in v):
                setattr(s, attr, [x * k for x in v])
        for inner in getattr(s, "_schedulers", []) or []:  # SequentialLR, ChainedScheduler
            for attr in ("base_lrs", "_last_lr"):
                v = getattr(inner, attr, None)
                if isinstance(v, list):
                    setattr(inner, attr, [x * k for x in v])
    lr = t.groups[0].get("initial_lr", t.groups[0]["lr"])
    return f"lr x{k:g} (now {lr:.3g})"


def weight_decay_scale(k: float, t: Target) -> str:
    _need_optimizer(t)
    had = [g.get("weight_decay", 0.0) or 0.0 for g in t.groups]
    if not any(had):
        raise NotApplicable("the optimizer has no weight decay")
    for g in t.groups:
        if "weight_decay" in g:
            g["weight_decay"] = (g["weight_decay"] or 0.0) * float(k)
    return f"weight decay x{float(k):g} ({max(had):.3g} -> {max(had) * float(k):.3g})"


def weight_decay(x: float, t: Target) -> str:
    _need_optimizer(t)
    if not all("weight_decay" in g for g in t.groups):
        raise NotApplicable(f"{type(t.optimizer).__name__} takes no weight decay")
    had = max(g.get("weight_decay", 0.0) or 0.0 for g in t.groups)
    if had >= float(x):
        raise NotApplicable(f"weight decay is already {had:.3g}")
    for g in t.groups:
        g["weight_decay"] = float(x)
    return f"weight decay {had:.3g} -> {float(x):.3g}"


DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)


def dropout(p: float, t: Target) -> str:
    mods = [m for m in t.model.modules() if isinstance(m, DROPOUTS)]
    had = max((float(m.p) for m in mods), default=0.0)
    if not mods or had <= float(p):
        raise NotApplicable("the model has no Dropout module above that rate" if mods else
                            "the model has no Dropout module")
    for m in mods:
        m.p = float(p)
    return f"dropout {had:g} -> {float(p):g} in {len(mods)} module{'s' if len(mods) > 1 else ''}"


SATURATING = (nn.Tanh, nn.Sigmoid, nn.Hardtanh, nn.Softsign, nn.Hardsigmoid)
RELU_LIKE = (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.GELU, nn.SiLU, nn.ReLU6, nn.SELU, nn.Mish)


def _dense(model: nn.Module) -> list[nn.Module]:
    kinds = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
    return [m for m in model.modules() if isinstance(m, kinds)]


@torch.no_grad()
def reinit(scheme: str, t: Target) -> str:
    if scheme == "default":
        n = 0
        for m in t.model.modules():
            fn = getattr(m, "reset_parameters", None)
            if callable(fn) and any(True for _ in m.parameters(recurse=False)):
                fn()
                n += 1
        if not n:
            raise NotApplicable("no module of the model has reset_parameters()")
        return f"{n} modules re-initialised with PyTorch's default scheme"
    if scheme == "gain":
        dense = _dense(t.model)
        if not dense:
            raise NotApplicable("the model has no Linear or Conv layer")
        sat = any(isinstance(m, SATURATING) for m in t.model.modules())
        relu = any(isinstance(m, RELU_LIKE) for m in t.model.modules())
        for m in dense:
            if relu or not sat:
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            else:
                act = "tanh" if any(isinstance(x, nn.Tanh) for x in t.model.modules()) else "sigmoid"
                nn.init.xavier_normal_(m.weight, gain=nn.init.calculate_gain(act))
            if m.bias is not None:
                m.bias.zero_()
        return (f"{len(dense)} layers re-initialised "
                f"({'Kaiming' if relu or not sat else 'Xavier with the activation gain'}, biases 0)")
    if scheme == "bias":
        biased = [m for m in _dense(t.model) if m.bias is not None]
        if not biased:
            raise NotApplicable("the model's layers have no biases")
        for m in biased:
            m.bias.zero_()
        return f"the biases of {len(biased)} layers set to 0"
    raise ValueError(f"unknown reinit scheme {scheme!r}")


def _params(t: Target) -> list:
    return [p for g in t.groups for p in g["params"]]


def clip(c: float, t: Target) -> str:
    _need_optimizer(t)
    params, c = _params(t), float(c)

    def pre(opt, args, kwargs):
        grads = [p for p in params if p.grad is not None]
        if grads:
            torch.nn.utils.clip_grad_norm_(grads, c)

    t.handles.append(_unwrap(t.optimizer).register_step_pre_hook(pre))
    return f"gradient norm clipped to {c:g}"


def zero_grad(on: bool, t: Target) -> str:
    _need_optimizer(t)
    opt = _unwrap(t.optimizer)
    stepped = [False]

    def post(o, args, kwargs):
        stepped[0] = True

    def clear():  # after the monitor's step: every hook has read the gradients by then
        if stepped[0]:
            stepped[0] = False
            opt.zero_grad(set_to_none=True)

    t.handles.append(opt.register_step_post_hook(post))
    t.after_step.append(clear)
    return "gradients cleared after every optimizer step"


def momentum(m: float, t: Target) -> str:
    _need_optimizer(t)
    opt = _unwrap(t.optimizer)
    if not isinstance(opt, torch.optim.SGD):
        raise NotApplicable(f"{type(opt).__name__} is not SGD (it has its own running averages)")
    groups = [g for g in t.groups if not g.get("momentum")]
    if not groups:
        raise NotApplicable("SGD already uses momentum")
    for g in groups:
        g["momentum"] = float(m)
        g["dampening"] = 0.0
    return f"SGD momentum 0 -> {float(m):g}"


def constant_lr(on: bool, t: Target) -> str:
    _need_optimizer(t)
    opt = _unwrap(t.optimizer)
    peak = [float(g.get("max_lr") or g.get("initial_lr") or g["lr"]) for g in t.groups]
    if t.scheduler is None and all(abs(g["lr"] - p) <= 1e-12 * max(p, 1e-30) for g, p in zip(t.groups, peak)):
        raise NotApplicable("no LR scheduler drives the optimizer")

    def pre(o, args, kwargs):
        for g, p in zip(o.param_groups, peak):
            g["lr"] = p

    for g, p in zip(t.groups, peak):
        g["lr"] = p
    t.handles.append(opt.register_step_pre_hook(pre))
    return f"lr held at {peak[0]:.3g} (the schedule switched off)"


def _replace(model: nn.Module, kinds: tuple, make: Callable[[nn.Module], nn.Module]) -> int:
    n = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, kinds) and not isinstance(child, nn.LeakyReLU):
                setattr(parent, name, make(child))
                n += 1
    return n


#: The largest factor a layer's gradient is scaled up by (a layer with no gradient at all stays so).
MAX_BOOST = 1e6


def layer_grads(mode: str, t: Target) -> str:
    if mode != "equalize":
        raise ValueError(f"unknown layer_grads mode {mode!r}")
    _need_optimizer(t)
    weights = [p for p in _params(t) if p.dim() >= 2]
    if len(weights) < 2:
        raise NotApplicable("the model has fewer than two weight matrices")

    @torch.no_grad()
    def pre(opt, args, kwargs):
        have = [p for p in weights if p.grad is not None]
        if len(have) < 2:
            return
        norms = torch.stack([torch.linalg.vector_norm(p.grad) for p in have])
        top = norms.max()
        scale = torch.where(norms > 0, (top / norms).clamp(max=MAX_BOOST), torch.ones_like(norms))
        for p, k in zip(have, scale):
            p.grad.mul_(k)

    t.handles.append(_unwrap(t.optimizer).register_step_pre_hook(pre))
    return f"each of {len(weights)} weight matrices' gradients scaled up to the largest one's norm"


def activation(kind: str, t: Target) -> str:
    if kind != "relu":
        raise ValueError(f"unknown activation {kind!r}")
    n = _replace(t.model, SATURATING, lambda m: nn.ReLU())
    if not n:
        raise NotApplicable("the model has no Sigmoid/Tanh module (a functional one cannot be swapped)")
    # a ReLU stack needs the ReLU gain: at PyTorch's default (or a tanh/sigmoid Xavier) scale the
    # signal halves layer by layer and a deep net stays as starved as before (He et al., 2015);
    # with no saturating module left, the gain re-init is Kaiming's
    swapped = f"{n} saturating activation modules -> ReLU"
    return f"{swapped}, {reinit('gain', t)}" if _dense(t.model) else swapped


#: A float input whose features are already this close to mean 0, std 1 needs no standardising.
STANDARD_MEAN = 0.5
STANDARD_STD = (0.3, 3.0)


def standardize(on: bool, t: Target) -> str:
    state: dict[str, Any] = {}

    def pre(module, args):
        if not args or not isinstance(args[0], torch.Tensor) or not args[0].is_floating_point() \
                or args[0].dim() < 2:
            return None
        x = args[0]
        if "mu" not in state:
            if not module.training or x.shape[0] < 2:
                return None
            dims = [0] if x.dim() == 2 else [0] + list(range(2, x.dim()))
            mu = x.detach().mean(dim=dims, keepdim=True)
            sd = x.detach().std(dim=dims, keepdim=True)
            sd = torch.where(sd > 0, sd, torch.ones_like(sd))
            state["mu"], state["sd"] = mu, sd
        return ((x - state["mu"]) / state["sd"],) + tuple(args[1:])

    t.handles.append(t.model.register_forward_pre_hook(pre))
    return "the model's input standardised per feature (first training batch's mean and std)"


#: An output whose rows are all >= 0 and sum to 1 within this is a softmax's.
SOFTMAX_TOL = 1e-3
LOGIT_EPS = 1e-7


def logits(on: bool, t: Target) -> str:
    kind: dict[str, str | None] = {}

    def post(module, args, out):
        if not isinstance(out, torch.Tensor) or not out.is_floating_point() or out.dim() < 1:
            return None
        if "k" not in kind:
            if not module.training:
                return None
            o = out.detach()
            if o.dim() >= 2 and o.shape[-1] > 1 and bool((o >= 0).all()) and \
                    bool(((o.sum(-1) - 1).abs() < SOFTMAX_TOL).all()):
                kind["k"] = "softmax"
            elif bool((o > 0).all()) and bool((o < 1).all()):
                kind["k"] = "sigmoid"
            else:
                kind["k"] = None
        if kind["k"] == "softmax":
            return torch.log(out.clamp_min(1e-30))
        if kind["k"] == "sigmoid":
            p = out.clamp(LOGIT_EPS, 1 - LOGIT_EPS)
            return torch.log(p) - torch.log1p(-p)
        return None

    t.handles.append(t.model.register_forward_hook(post))
    return "an output softmax or sigmoid undone: the loss gets logits"


class _Patched:
    """A class attribute replaced for the rest of the process; ``remove()`` (a hook handle's
    method) puts the original back."""

    def __init__(self, owner: type, name: str, new: Any):
        self.owner, self.name, self.old = owner, name, owner.__dict__.get(name)
        setattr(owner, name, new)

    def remove(self) -> None:
        if self.old is None:  # it was inherited: the owner's own one goes
            delattr(self.owner, self.name)
        else:
            setattr(self.owner, self.name, self.old)


def _fixed_order(loader) -> bool:
    """A DataLoader that reads a map-style dataset in index order (``shuffle=False``)."""
    from torch.utils.data import BatchSampler, IterableDataset, SequentialSampler

    return (isinstance(loader.sampler, SequentialSampler) and not isinstance(loader.dataset, IterableDataset)
            and (loader.batch_sampler is None or type(loader.batch_sampler) is BatchSampler))


def shuffle(on: bool, t: Target) -> str:
    """Batches in a fixed (often label-sorted) order pull the net one way for a stretch of each
    epoch and back the next. The change draws a random order for every DataLoader that reads a
    map-style dataset in index order, from its next pass on (a validation loader too: a mean
    over the whole set does not depend on the order). DataLoader's own guard forbids setting
    its sampler after construction; the change sets it underneath, as ``shuffle=True`` would
    have at construction."""
    import gc

    from torch.utils.data import BatchSampler, DataLoader, RandomSampler

    # type(), not isinstance: isinstance reads __class__, which some module proxies warn on
    existing = [o for o in gc.get_objects() if issubclass(type(o), DataLoader)]
    fixed = sum(_fixed_order(dl) for dl in existing)
    if existing and not fixed:
        raise NotApplicable(f"every DataLoader of the script already draws a random order ({len(existing)} found)")
    orig = DataLoader.__iter__

    def __iter__(self):
        try:
            if _fixed_order(self):
                sampler = RandomSampler(self.dataset)
                object.__setattr__(self, "sampler", sampler)
                if self.batch_sampler is not None:
                    object.__setattr__(self, "batch_sampler", BatchSampler(sampler, self.batch_size, self.drop_last))
        except Exception:  # a loader the change cannot read keeps its order; the user's run goes on
            pass
        return orig(self)

    t.handles.append(_Patched(DataLoader, "__iter__", __iter__))
    return ("DataLoaders read in a random order each pass" +
            (f" ({fixed} of {len(existing)} found read in a fixed one)" if existing else ""))


def seed(n: int, t: Target) -> str:
    import random

    torch.manual_seed(int(n))
    random.seed(int(n))
    try:
        import numpy as np

        np.random.seed(int(n) % 2 ** 32)
    except Exception:  # numpy is optional for a training script
        pass
    return f"global random generators reseeded with {int(n)}"


CHANGES: dict[str, Callable[[Any, Target], str]] = {
    "lr_scale": lr_scale, "weight_decay_scale": weight_decay_scale, "weight_decay": weight_decay,
    "dropout": dropout, "reinit": reinit, "clip": clip, "zero_grad": zero_grad,
    "momentum": momentum, "constant_lr": constant_lr, "layer_grads": layer_grads,
    "activation": activation, "standardize": standardize, "logits": logits, "shuffle": shuffle,
    "seed": seed,
}


def apply(change: dict[str, Any], model, optimizer, scheduler=None) -> tuple[Target, list[str]]:
    """Apply every entry of ``change``; returns the target (its hooks) and what was done.
    :class:`NotApplicable` propagates: an arm whose change the script cannot take does not run."""
    opt = _unwrap(optimizer)
    if scheduler is None and opt is not None:
        try:
            scheduler = find_scheduler(opt)
        except Exception:  # finding it is a courtesy: a plain lr change still applies
            scheduler = None
    t = Target(model, opt, scheduler)
    done = []
    for key, value in change.items():
        fn = CHANGES.get(key)
        if fn is None:
            raise NotApplicable(f"unknown change {key!r}")
        done.append(fn(value, t))
    return t, done


def finite(x: float) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)
