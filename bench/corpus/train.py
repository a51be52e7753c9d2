"""Train one corpus recipe for real, as a user's script would: a plain PyTorch loop, watched by
``lossdoctor.watch`` (the monitor log a user gets), with the loss curve kept for the other
formats and for labelling.

    python bench/corpus/train.py recipe.json --out runs/r0001     # one recipe as a script

The loop is written here, not taken from ``lossdoctor.scenarios``: the corpus must not share its
recording code with the runs the rules were first written against.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `corpus` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from corpus import data as D  # noqa: E402
from corpus import models as M  # noqa: E402

#: Stop after this many non-finite losses in a row (every later step is NaN too).
NONFINITE_PATIENCE = 10
#: Validate about this many times per run.
VAL_POINTS = 50


@dataclass
class Result:
    rows: list[dict[str, float]]
    hparams: dict[str, Any]  # what the "user" logged
    model: dict[str, Any]
    steps_per_epoch: int
    val_every: int
    n_classes: int
    task: str
    alerts: list[Any] = field(default_factory=list)
    runtime_s: float = 0.0
    log: Path | None = None


def build(recipe: dict[str, Any]):
    """``(data, model, optimizer, scheduler, loss_fn)`` of a recipe, seeded."""
    import torch

    inp = recipe["inputs"]
    data = D.load(recipe["data"], recipe["seed"], recipe["kind"], n_train=inp.get("n_train"),
                  input_scale=inp.get("input_scale", 1.0), input_offset=inp.get("input_offset", 0.0),
                  label_noise=inp.get("label_noise", 0.0))
    if inp.get("labels") == "shuffled":
        data = D.shuffled_labels(data, recipe["seed"])
    torch.manual_seed(recipe["seed"])
    model = M.build(recipe["model"], data)
    opt = optimizer(model.parameters(), recipe["optim"])
    sched = scheduler(opt, recipe["schedule"], recipe["train"]["steps"], recipe["optim"]["lr"])
    return data, model, opt, sched, loss_function(recipe["loss"], data.n_classes)


def optimizer(params, o: dict[str, Any]):
    import torch

    name, lr, wd = o["name"], float(o["lr"]), float(o.get("weight_decay", 0.0))
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=wd)
    if name == "nesterov":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=wd)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=wd)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, weight_decay=wd)
    raise ValueError(f"unknown optimizer {name!r}")


def scheduler(opt, s: dict[str, Any], steps: int, lr: float):
    import torch

    kind = s.get("kind", "constant")
    if kind == "constant":
        return None
    if kind == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps + 1,
                                                   pct_start=float(s.get("pct_start", 0.25)),
                                                   cycle_momentum=False)
    n = max(steps, 1)

    def cosine(t: float, floor: float) -> float:
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(max(t, 0.0), 1.0)))

    if kind == "step":
        at, gamma = int(float(s["at"]) * n), float(s["gamma"])
        f = lambda i: gamma if i >= at else 1.0  # noqa: E731
    elif kind == "cosine":
        f = lambda i: cosine(i / n, float(s.get("floor", 0.0)))  # noqa: E731
    elif kind == "warmup_cosine":
        w = max(1, int(float(s["warmup"]) * n))
        fl = float(s.get("floor", 0.0))
        f = lambda i: (i + 1) / w if i < w else cosine((i - w) / max(n - w, 1), fl)  # noqa: E731
    elif kind == "warmup_linear":
        w = max(1, int(float(s["warmup"]) * n))
        f = lambda i: min(1.0, (i + 1) / w)  # noqa: E731
    elif kind == "exp":
        g = float(s["end"]) ** (1.0 / n)
        f = lambda i: g ** i  # noqa: E731
    elif kind == "exp_to":
        g = float(s["end"]) ** (1.0 / max(1, float(s["by"]) * n))
        f = lambda i: max(g ** i, 1e-12)  # noqa: E731
    else:
        raise ValueError(f"unknown schedule {kind!r}")
    return torch.optim.lr_scheduler.LambdaLR(opt, f)


def loss_function(kind: str, n_classes: int):
    import torch
    from torch import nn

    if kind == "ce":
        return nn.CrossEntropyLoss()
    if kind == "mse":
        return nn.MSELoss()
    if kind == "bce_onehot":
        bce = nn.BCEWithLogitsLoss()
        return lambda out, y: bce(out, torch.nn.functional.one_hot(y, n_classes).to(out.dtype))
    raise ValueError(f"unknown loss {kind!r}")


def user_hparams(recipe: dict[str, Any]) -> dict[str, Any]:
    """What this recipe's imagined user passes as hyper-parameters: a random few of the usual
    ones, never the fault itself."""
    o, m, t = recipe["optim"], recipe["model"], recipe["train"]
    every = {"lr": o["lr"], "batch_size": t["batch"], "max_steps": t["steps"], "optimizer": o["name"],
             "weight_decay": o.get("weight_decay", 0.0), "dropout": m.get("dropout", 0.0),
             "width": m.get("width"), "depth": m.get("depth"), "seed": recipe["seed"]}
    if o["name"] in ("momentum", "nesterov"):
        every["optimizer"] = "sgd"
    return {k: every[k] for k in recipe.get("user_hparams", []) if every.get(k) is not None}


def train(recipe: dict[str, Any], log_path: str | Path | None = None, *, monitor: bool = True,
          threads: int = 1) -> Result:
    """Train ``recipe``; with ``monitor``, under ``lossdoctor.watch`` writing ``log_path``."""
    import contextlib

    import torch

    torch.set_num_threads(threads)
    data, model, opt, sched, loss_fn = build(recipe)
    t = recipe["train"]
    steps, bs = int(t["steps"]), min(int(t["batch"]), len(data.Xtr))
    spe = max(len(data.Xtr) // bs, 1)
    val_every = max(1, _round_interval(steps / VAL_POINTS))
    l2 = float(t.get("l2", 0.0))
    clip = t.get("clip")
    weights = [p for p in model.parameters() if p.dim() >= 2]
    hp = user_hparams(recipe)
    alerts: list[Any] = []
    if monitor:
        import lossdoctor

        ctx = lossdoctor.watch(model, opt, path=log_path, scheduler=sched, hparams=hp, on_alert=alerts.append)
    else:
        ctx = contextlib.nullcontext(None)
    gen = torch.Generator().manual_seed(recipe["seed"] + 1)
    fixed = None
    if not t.get("shuffle", True):  # the same label-sorted order every epoch, read as a user's
        # DataLoader(shuffle=False) reads it (a verification arm can shuffle it, as it would theirs)
        from torch.utils.data import DataLoader

        key = data.ytr.reshape(len(data.ytr), -1)[:, 0]
        fixed = DataLoader(torch.argsort(key, stable=True), batch_size=bs, shuffle=False, drop_last=True)
    rows: list[dict[str, float]] = []
    bad = 0
    t0 = time.perf_counter()
    params = [p for p in model.parameters() if p.requires_grad]
    with ctx as mon:
        perm = None
        for step in range(steps):
            epoch, k = divmod(step, spe)
            if fixed is not None:
                if k == 0:
                    perm = iter(fixed)
                idx = next(perm)
            else:
                if k == 0:
                    perm = torch.randperm(len(data.Xtr), generator=gen)
                idx = perm[k * bs:(k + 1) * bs]
            model.train()
            if t.get("zero_grad", True):
                opt.zero_grad(set_to_none=True)
            out = model(data.Xtr[idx])
            data_loss = loss_fn(out, data.ytr[idx])
            loss = data_loss
            reg = None
            if l2:
                reg = l2 * sum((w * w).sum() for w in weights)
                loss = data_loss + reg
            loss.backward()
            if clip:
                gn = torch.nn.utils.clip_grad_norm_(params, float(clip))
            else:
                grads = [p.grad for p in params if p.grad is not None]
                gn = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))) if grads else torch.zeros(())
            lr = float(opt.param_groups[0]["lr"])
            opt.step()
            if sched is not None:
                sched.step()
            row = {"step": step, "epoch": epoch, "loss": float(loss.detach()), "lr": lr, "grad_norm": float(gn)}
            extra: dict[str, float] = {}
            if step % val_every == 0 or step == steps - 1:
                model.eval()
                with torch.no_grad():
                    v = float(loss_fn(model(data.Xva), data.yva))
                row["val_loss"] = extra["val_loss"] = v
            if reg is not None and t.get("log_reg_loss"):
                extra["reg_loss"] = float(reg.detach())
            rows.append(row)
            if mon is not None:
                if clip:  # the norm before clipping, as the user's clip_grad_norm_ returned it
                    extra["grad_norm"] = gn
                mon.step(loss, **extra)
            bad = 0 if math.isfinite(row["loss"]) else bad + 1
            if bad >= NONFINITE_PATIENCE:
                break
    runtime = time.perf_counter() - t0
    return Result(rows=rows, hparams=hp, model=_describe(model), steps_per_epoch=spe, val_every=val_every,
                  n_classes=data.n_classes, task=data.task, alerts=alerts, runtime_s=runtime,
                  log=Path(log_path) if log_path else None)


def _round_interval(x: float) -> int:
    if x < 2:
        return 1
    e = 10 ** int(math.floor(math.log10(x)))
    return int(max(m * e for m in (1, 2, 5) if m * e <= x))


def _describe(model) -> dict[str, Any]:
    layers = []
    for name, m in model.named_modules():
        if list(m.children()):
            continue
        entry: dict[str, Any] = {"name": name, "type": type(m).__name__}
        w = getattr(m, "weight", None)
        if w is not None and hasattr(w, "shape"):
            entry["shape"] = list(w.shape)
        layers.append(entry)
    return {"n_params": sum(p.numel() for p in model.parameters()), "layers": layers}


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    ap = argparse.ArgumentParser(description="train one corpus recipe under lossdoctor.watch")
    ap.add_argument("recipe", help="a recipe JSON file")
    ap.add_argument("--out", required=True, help="folder for the monitor log (run.jsonl)")
    args = ap.parse_args(argv)
    recipe = json.loads(Path(args.recipe).read_text())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    res = train(recipe, out / "run.jsonl")
    print(f"{recipe.get('id', 'recipe')}: {len(res.rows)} steps in {res.runtime_s:.1f} s -> {out / 'run.jsonl'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
