"""The recorder: trains one :class:`TrainConfig` and logs, at every step, the loss and the
internals that tell causes apart. Private and small on purpose: the live monitor replaces it
and must keep :class:`~lossdoctor.scenarios.recording.Recording` as it is.

What one row holds (norms are L2; "weight tensors" are parameters with 2+ dimensions):

- ``loss`` (the mini-batch loss before the update), ``lr`` (param group 0, the rate used),
  ``grad_norm`` (all parameters; with a missing ``zero_grad`` this is the accumulated gradient
  the optimizer really used), ``weight_norm`` (before the update), ``update_ratio``
  (||w_after - w_before|| / ||w_before||);
- ``wd_share``: the weight-decay part of the step against the gradient part,
  ``|decay| / (|decay| + |gradient|)`` in 0..1. Coupled L2 (SGD, Adam ``weight_decay``):
  decay ``wd*w`` against the data gradient. Decoupled (AdamW): ``lr*wd*w`` against the rest
  of the step;
- per weight tensor: ``grad_norm/<name>``, ``weight_norm/<name>``, ``update_ratio/<name>``;
- ``dead_frac`` (share of ReLU units that are zero for the whole batch) and ``saturation``
  (share of tanh outputs with |y| > 0.99, sigmoid outputs below 0.01 or above 0.99), overall and
  per activation module (``dead_frac/net.1``);
- ``val_loss`` and ``val_acc`` (after the step's update) at steps 0, ``val_every``,
  ``2*val_every``... and at the last step.
"""

from __future__ import annotations

import math
import time
from typing import Any

from .base import TrainConfig, batches
from .recording import Recording

# Stop after this many non-finite losses in a row: every later step is NaN as well.
NONFINITE_PATIENCE = 10
# |tanh| above this (sigmoid this close to 0 or 1) counts as saturated: the local slope is
# below ~2% of its maximum there.
TANH_SATURATED = 0.99
SIGMOID_SATURATED = 0.01


def train_and_record(cfg: TrainConfig, meta: dict[str, Any] | None = None) -> Recording:
    """Train ``cfg`` on one CPU thread (fast for small nets and bit-for-bit repeatable) and
    return the recording. The previous torch thread count is restored afterwards."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(cfg, dict(meta or {}))
    finally:
        torch.set_num_threads(threads)


def _train(cfg: TrainConfig, meta: dict[str, Any]) -> Recording:
    import torch

    model, opt = cfg.model, cfg.optimizer
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    params = [p for _, p in named]
    weight_idx = [i for i, (_, p) in enumerate(named) if p.dim() >= 2]
    weight_names = [named[i][0] for i in weight_idx]
    groups = _group_per_param(opt, params)
    decay = [float(g.get("weight_decay", 0.0) or 0.0) for g in groups]
    decoupled = _is_decoupled(opt)
    acts = _ActivationStats(model)
    from ..collect.activations import _logits, first_layer

    takes_data = bool(first_layer(model, lambda n: n))  # the data meets a Linear/Conv/RNN first
    smallest = min(params, key=lambda p: p.numel()) if params else None

    Xtr, ytr = cfg.train
    Xva, yva = cfg.val
    spe = max(len(Xtr) // cfg.batch_size, 1)

    rows: list[dict[str, float]] = []
    bad = 0
    t0 = time.perf_counter()
    for step, epoch, idx in batches(cfg):
        model.train()
        if cfg.zero_grad:
            opt.zero_grad(set_to_none=True)
        acts.on = True
        xb = Xtr[idx]
        out = model(xb)
        acts.on = False
        loss = cfg.loss_fn(out, ytr[idx])
        # what the monitor also records: were the gradients cleared since the last step, the
        # data's scale at the first layer, and the model's outputs (probabilities or logits)
        extra = {}
        if step and smallest is not None:
            g = smallest.grad
            extra["grad_stale"] = float(g is not None and bool(g.ne(0).any()))
        if takes_data and xb.is_floating_point():
            extra["input_rms"] = float(xb.float().pow(2).mean().sqrt())
        y = _logits(out)
        if y is not None and y.is_floating_point() and y.numel() >= 2:
            yd = y.detach().float()
            rows_ = yd.reshape(-1, yd.shape[-1]) if yd.dim() >= 2 else yd.reshape(1, -1)
            extra.update(out_min=float(yd.min()), out_max=float(yd.max()),
                         out_rowsum_dev=float((rows_.sum(-1) - 1).abs().max()))
        loss.backward()
        lr = float(opt.param_groups[0]["lr"])
        with torch.no_grad():
            grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
            before = [p.detach().clone() for p in params]
            opt.step()
            delta = [p.detach() - b for p, b in zip(params, before)]
            gn, wn, dn = _norms(grads), _norms(before), _norms(delta)
            parts = [loss.detach().reshape(1), gn, wn, dn]
            lrs = [float(g["lr"]) for g in groups]
            parts.append(_wd_parts(decay, lrs, decoupled, before, delta, gn))
            parts.append(acts.vector())
            vals = torch.cat([t.reshape(-1).double() for t in parts]).tolist()
        if cfg.scheduler is not None:
            cfg.scheduler.step()
        row = _row(step, epoch, lr, vals, len(params), weight_idx, weight_names, acts)
        row.update(extra)
        if step % cfg.val_every == 0 or step == cfg.steps - 1:
            row.update(_validate(model, cfg, Xva, yva))
        rows.append(row)
        bad = 0 if math.isfinite(row["loss"]) else bad + 1
        if bad >= NONFINITE_PATIENCE:
            meta["stopped_early"] = f"loss non-finite for {bad} steps in a row"
            break
    acts.close()
    meta["runtime_s"] = round(time.perf_counter() - t0, 3)
    meta["val_every"] = cfg.val_every
    return Recording(hparams=dict(cfg.hparams), model=_describe(model), rows=rows,
                     steps_per_epoch=spe, meta=meta)


def _norms(ts):
    import torch

    foreach = getattr(torch, "_foreach_norm", None)
    if foreach is not None and ts:
        return torch.stack(foreach(ts))
    return torch.stack([t.norm() for t in ts]) if ts else torch.zeros(0)


def _group_per_param(opt, params) -> list[dict]:
    group_of = {id(p): g for g in opt.param_groups for p in g["params"]}
    return [group_of.get(id(p), {"lr": 0.0, "weight_decay": 0.0}) for p in params]


def _is_decoupled(opt) -> bool:
    import torch

    return isinstance(opt, torch.optim.AdamW) or any(
        bool(g.get("decoupled_weight_decay", False)) for g in opt.param_groups)


def _wd_parts(decay, lrs, decoupled, before, delta, gn):
    """``[|decay part|, |gradient part|]`` of this step (see the module docstring)."""
    import torch

    if not any(decay):
        return torch.zeros(2, dtype=torch.float64)
    if decoupled:
        # AdamW shrinks w by lr*wd*w before its Adam step; the rest of delta is the Adam step.
        dec = [b * (lr * wd) for b, wd, lr in zip(before, decay, lrs)]
        rest = [d + c for d, c in zip(delta, dec)]
        a, b = _norms(dec), _norms(rest)
        return torch.stack([a.norm(), b.norm()]).double()
    dec = [b * wd for b, wd in zip(before, decay)]
    return torch.stack([_norms(dec).norm(), gn.norm()]).double()


def _row(step, epoch, lr, vals, n_params, weight_idx, weight_names, acts) -> dict[str, float]:
    loss = vals[0]
    gn = vals[1:1 + n_params]
    wn = vals[1 + n_params:1 + 2 * n_params]
    dn = vals[1 + 2 * n_params:1 + 3 * n_params]
    a, b = vals[1 + 3 * n_params:3 + 3 * n_params]
    act_vals = vals[3 + 3 * n_params:]
    g_all = math.sqrt(sum(x * x for x in gn))
    w_all = math.sqrt(sum(x * x for x in wn))
    d_all = math.sqrt(sum(x * x for x in dn))
    row: dict[str, float] = {"step": step, "epoch": epoch, "loss": loss, "lr": lr,
                             "grad_norm": g_all, "weight_norm": w_all,
                             "update_ratio": _ratio(d_all, w_all),
                             "wd_share": a / (a + b) if a + b > 0 else 0.0}
    row.update(acts.summary(act_vals))
    for i, name in zip(weight_idx, weight_names):
        row[f"grad_norm/{name}"] = gn[i]
    for i, name in zip(weight_idx, weight_names):
        row[f"weight_norm/{name}"] = wn[i]
    for i, name in zip(weight_idx, weight_names):
        row[f"update_ratio/{name}"] = _ratio(dn[i], wn[i])
    row.update(acts.per_layer(act_vals))
    return row


def _ratio(num: float, den: float) -> float:
    if den > 0:
        return num / den
    return 0.0 if num == 0 else math.inf


def _validate(model, cfg: TrainConfig, Xva, yva) -> dict[str, float]:
    import torch

    model.eval()
    with torch.no_grad():
        out = model(Xva)
        res = {"val_loss": float(cfg.loss_fn(out, yva))}
        if cfg.classification:
            res["val_acc"] = float((out.argmax(-1) == yva).float().mean())
    return res


def _describe(model) -> dict[str, Any]:
    layers = []
    for name, m in model.named_modules():
        if list(m.children()):
            continue
        entry: dict[str, Any] = {"name": name, "type": type(m).__name__}
        w = getattr(m, "weight", None)
        if w is not None:
            entry["shape"] = list(w.shape)
        n = sum(p.numel() for p in m.parameters(recurse=False))
        if n:
            entry["params"] = n
        layers.append(entry)
    return {"n_params": sum(p.numel() for p in model.parameters()), "layers": layers}


class _ActivationStats:
    """Forward hooks on ReLU / tanh / sigmoid modules that measure, on the training batch,
    the dead-unit share (ReLU) or the saturated-output share (tanh, sigmoid)."""

    def __init__(self, model) -> None:
        from torch import nn

        self.on = False
        self.kinds: list[tuple[str, str]] = []
        self._cur: dict[int, Any] = {}
        self._handles = []
        for name, m in model.named_modules():
            kind = ("relu" if isinstance(m, nn.ReLU) else "tanh" if isinstance(m, nn.Tanh)
                    else "sigmoid" if isinstance(m, nn.Sigmoid) else None)
            if kind:
                i = len(self.kinds)
                self.kinds.append((name, kind))
                self._handles.append(m.register_forward_hook(self._hook(i, kind)))

    def _hook(self, i: int, kind: str):
        import torch

        def hook(_m, _inp, out):
            if not self.on:
                return
            y = out.detach()
            y = y.reshape(-1, y.shape[-1]) if y.dim() > 1 else y.reshape(-1, 1)
            if kind == "relu":
                hit, total = (y <= 0).all(dim=0).sum(), y.shape[1]
            elif kind == "tanh":
                hit, total = (y.abs() > TANH_SATURATED).sum(), y.numel()
            else:
                hit = ((y < SIGMOID_SATURATED) | (y > 1 - SIGMOID_SATURATED)).sum()
                total = y.numel()
            self._cur[i] = torch.stack([hit.double(), torch.tensor(float(total),
                                                                   dtype=torch.float64)])
        return hook

    def vector(self):
        import torch

        if not self.kinds:
            return torch.zeros(0, dtype=torch.float64)
        nan = torch.tensor([math.nan, math.nan], dtype=torch.float64)
        return torch.cat([self._cur.get(i, nan) for i in range(len(self.kinds))])

    def summary(self, vals: list[float]) -> dict[str, float]:
        out: dict[str, float] = {}
        for kind_set, key in (({"relu"}, "dead_frac"), ({"tanh", "sigmoid"}, "saturation")):
            hit = tot = 0.0
            for i, (_, kind) in enumerate(self.kinds):
                if kind in kind_set and math.isfinite(vals[2 * i + 1]):
                    hit += vals[2 * i]
                    tot += vals[2 * i + 1]
            if tot:
                out[key] = hit / tot
        return out

    def per_layer(self, vals: list[float]) -> dict[str, float]:
        out: dict[str, float] = {}
        for i, (name, kind) in enumerate(self.kinds):
            key = "dead_frac" if kind == "relu" else "saturation"
            tot = vals[2 * i + 1]
            if math.isfinite(tot) and tot:
                out[f"{key}/{name}"] = vals[2 * i] / tot
        return out

    def close(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
