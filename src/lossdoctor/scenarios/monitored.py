"""Train a scenario under the live monitor (``lossdoctor.watch``) instead of the private
recorder: the log is exactly what a user's monitored run writes, and the alerts are the ones a
user would see, step by step.

    from lossdoctor.scenarios.monitored import train_monitored
    result = train_monitored("jena_lr_low", path="runs/jena_lr_low.jsonl")
    result.alerts     # [Alert(step, symptom, likely_cause, fix, summary), ...]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable


@dataclass
class MonitoredRun:
    name: str
    path: Path
    steps: int
    alerts: list[Any] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)


def train_monitored(name: str, path: str | Path, seed: int = 0, steps: int | None = None,
                    on_step: Callable[[int, float], Any] | None = None,
                    hparams: dict[str, Any] | None = None, **watch_kw: Any) -> MonitoredRun:
    """Train scenario ``name`` with the same data, model, optimizer and batches as
    :func:`lossdoctor.scenarios.record`, logging through :func:`lossdoctor.watch`.
    ``on_step(step, loss)`` is called after each step is logged (a progress display).
    ``hparams`` replaces the scenario's own (which name its fault) with what a user would log."""
    import torch

    import lossdoctor

    from . import build
    from .base import batches

    cfg = build(name, seed, steps)
    model, opt = cfg.model, cfg.optimizer
    Xtr, ytr = cfg.train
    Xva, yva = cfg.val
    run = MonitoredRun(name, Path(path), cfg.steps)
    hp = dict(cfg.hparams if hparams is None else hparams)
    watch_kw.setdefault("on_alert", run.alerts.append)
    watch_kw.setdefault("mode", "overwrite")  # the caller names its output: a rerun replaces it
    with lossdoctor.watch(model, opt, path=path, scheduler=cfg.scheduler, hparams=hp, **watch_kw) as mon:
        if mon.path is not None:
            run.path = Path(mon.path)
        for step, _epoch, idx in batches(cfg):
            model.train()
            if cfg.zero_grad:
                opt.zero_grad(set_to_none=True)
            loss = cfg.loss_fn(model(Xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
            if cfg.scheduler is not None:
                cfg.scheduler.step()
            extra = {}
            if step % cfg.val_every == 0 or step == cfg.steps - 1:
                model.eval()
                with torch.no_grad():
                    extra["val_loss"] = float(cfg.loss_fn(model(Xva), yva))
            run.losses.append(float(loss.detach()))
            mon.step(loss, **extra)
            if on_step is not None:
                on_step(step, run.losses[-1])
            if not torch.isfinite(loss):
                break
    return run
