"""Live monitoring of PyTorch training: one line per step, a JSONL log, live alerts.

    with lossdoctor.watch(model, optimizer, path="runs/exp1.jsonl") as mon:
        for x, y in loader:
            loss = loss_fn(model(x), y)
            optimizer.zero_grad(); loss.backward(); optimizer.step()
            mon.step(loss)                 # or mon.step(loss, val_loss=v, reg_loss=r, acc=a)

``lossdoctor diagnose runs/exp1.jsonl`` then reads every signal recorded.

What is recorded
----------------
Every step (cheap, computed on the device):
  ``loss``; ``lr`` of param group 0 and ``lr/pg1``, ``lr/pg2``... of the others; ``grad_norm``,
  the global L2 norm of the gradients as the optimizer sees them (unscaled under GradScaler,
  after any clipping: pass ``grad_norm=`` the value ``clip_grad_norm_`` returns to log the
  pre-clipping norm); ``skipped`` = 1 on steps a GradScaler skipped. At ``detail="default"``
  the gradient norm is spaced (every 2-10 steps) when one pass over the gradients would cost
  more than a small share of a step of 1 ms or more (see ``monitor.Budget``).
Every ``every_n`` steps (``detail="default"``: 10, spaced further by the same budget unless
``every_n`` is passed; ``"full"``: 1):
  ``grad_norm/<param>`` and ``weight_norm/<param>`` per parameter in ``named_parameters()``
  order (input side first); ``weight_norm``; ``update_ratio`` = ||w_after - w_before|| /
  ||w_before|| globally and ``update_ratio/<param>``; ``wd_share``, the share of the update
  that weight decay contributes (see ``Monitor._wd_share``). The update ratio needs a copy of
  the weights, made only on these steps (transient memory: one copy of the trained weights).
  ``grad_stale`` (also at the second step): 1 when, at the first backward pass after the
  optimizer step, the gradients still held that step's values (``optimizer.zero_grad()`` was not
  called in between), 0 when they had been cleared. One tensor hook on the smallest parameter
  with a gradient does this, registered for the backward pass it looks at and removed after;
  gradient accumulation (several backward passes per step, cleared after the step) is not
  mistaken for it.
Every ``act_every`` steps (default 100, spaced further by the same budget unless ``act_every``
  is passed; ``"full"``: 1), through forward hooks that exist only for that step: ``dead_frac`` and ``dead_frac/<module>`` (ReLU family), ``saturation`` and
  ``saturation/<module>`` (Tanh, Sigmoid), ``act_std/<module>``. Only activation *modules* are
  seen: ``F.relu`` called as a function has no hook, but its zeros are: ``dead_frac/<layer>.input``
  is the share of exactly-zero input units of every Linear/Conv layer but the first.
  ``input_rms``: root mean square of the data reaching the first Linear/Conv/recurrent layer
  (~1 for standardised inputs, hundreds for raw pixels). ``out_min``, ``out_max``,
  ``out_rowsum_dev``: the range of the model's output and how far its rows are from summing to
  1 (~0: the model returns probabilities, a softmax before a loss that expects logits).
Once, in the header: optimizer class, lr, momentum/betas, weight decay (and whether it is
  decoupled), scheduler and its settings, dropout rates, activation types, the number of
  parameters, ``num_classes`` from the last ``nn.Linear`` (so the diagnosis compares the first
  loss with ln(C)), each weight's standard deviation at ``watch()`` time and ``init_std``, their
  median over dense (Linear/Conv) weights.
Events: the first NaN/inf as ``{"type": "event", "event": "nan", "step": s, "where":
  "net.3.weight (grad)"}``.

Host-device syncs
-----------------
No statistic is read back per step. Gradient norms, update ratios and activation statistics stay
on the device. Every ``sync_every`` calls (32 on a GPU) they are concatenated and copied to
pinned host memory without blocking, and that copy is read at the next pull, ``sync_every``
calls later, when it has long finished: the default path never makes the host wait for the GPU.
Under DDP the per-rank values are averaged by one ``all_reduce`` per pull, queued on the GPU
(NCCL). What does sync: a loss passed as a Python float (the caller's ``.item()``), and
``close()`` (it waits for the last copy). GradScaler syncs on its own every step (its ``step``
reads ``found_inf``); ``scaler=`` adds no sync (the monitor keeps its ``found_inf`` and scale as
device tensors). On the CPU, records are built every 32 calls: in a batch, that Python work runs
several times faster than one record between two training steps (on the CPU the loss itself is
read at the call: there is no device to wait for). So records, alerts and
``stop_on`` lag by up to ``sync_every`` steps on the CPU and ``2 * sync_every`` on a GPU.

Schedules
---------
``every_n=0`` or ``act_every=0`` switches the per-layer or activation samples off. A
``torch.compile``d model gets no activation samples by default (adding and removing forward
hooks would recompile it).

Gradient accumulation, AMP, closures, DDP
-----------------------------------------
Records are written at optimizer steps: ``mon.step`` calls between two optimizer steps are
merged (mean loss). Pass ``scaler=`` (a GradScaler) so that a step the scaler skipped is recorded
as ``skipped`` rather than merged. Closure optimizers (LBFGS) read the gradients after the step.
Under torchrun every rank runs the monitor; only rank 0 writes (see :mod:`.dist`). One optimizer
is watched (the first, in the framework adapters), with the param groups it has at ``watch()``.

Guarantees
----------
The monitor never changes training: it reads detached tensors (no autograd graph), writes to no
parameter or gradient, draws no random numbers, and a failure inside it is reported once
(``MonitorWarning`` and the ``lossdoctor`` logger) and switches that part off. Only ``stop_on``
stops a run, with :class:`TrainingStopped`.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Mapping

from .live import ALERT_ON, CHECK_EVERY, Alert, LossdoctorAlert, TrainingStopped
from .writer import FLUSH_EVERY, FLUSH_SECS

# torch is imported when a run is watched, not by ``import lossdoctor.collect``: the alert and
# stop classes are importable (and catchable) where torch is not installed
_FROM_MONITOR = ("Monitor", "MonitorWarning", "DETAIL")


def __getattr__(name: str):
    if name in _FROM_MONITOR:
        from . import monitor

        return getattr(monitor, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def watch(model, optimizer=None, path: str | os.PathLike | None = None, *, scheduler=None,
          scaler=None, hparams: Mapping[str, Any] | None = None, detail: str = "default",
          every_n: int | None = None, act_every: int | None = None, sync_every: int | None = None,
          alerts: bool = True, check_every: int = CHECK_EVERY, alert_on: Iterable[str] = ALERT_ON,
          on_alert: Callable[[Alert], Any] | None = None, stop_on: Iterable[str] = (),
          flush_every: int = FLUSH_EVERY, flush_secs: float = FLUSH_SECS, mode: str = "w",
          report: str | os.PathLike | None = None) -> "Monitor":
    """Start monitoring ``model`` trained by ``optimizer``; returns a :class:`Monitor` (a context
    manager: leaving the ``with`` block writes what is pending and closes the log).

    Args:
        path: the JSONL log to write (``None``: live alerts only; a folder: ``lossdoctor.jsonl``
            in it). ``mode="w"`` (default) never truncates a log that holds records or that
            another monitor of this process writes: the run then goes to ``name.1.jsonl`` (and
            a warning says so); ``mode="a"`` appends; ``mode="overwrite"`` replaces the file.
        scheduler: the LR scheduler, for the header (the lr itself is read every step).
        scaler: the ``torch.amp.GradScaler``, so that skipped steps are recorded as such.
        hparams: what you know that the objects do not tell (``num_classes``, ``loss``...).
        detail: ``"default"`` or ``"full"`` (every statistic every step).
        every_n, act_every, sync_every: override the schedule of ``detail``.
        alerts: run the live diagnosis; ``on_alert(alert)`` is called with each :class:`Alert`,
            which is also warned (:class:`LossdoctorAlert`) and logged (logger ``lossdoctor``).
        alert_on: the symptoms that alert; ``check_every``: minimum steps between checks.
        stop_on: symptoms that stop training with :class:`TrainingStopped`, e.g.
            ``("nan_inf", "divergence")``.
        flush_every, flush_secs: the log is flushed every this many records or seconds.
        report: write the HTML report of the log to this file when the monitor closes (needs
            ``path``; see :mod:`lossdoctor.collect.reporting`).
    """
    from .reporting import monitor

    return monitor(model, optimizer, path, scheduler=scheduler, scaler=scaler, hparams=hparams,
                   detail=detail, every_n=every_n, act_every=act_every, sync_every=sync_every,
                   alerts=alerts, check_every=check_every, alert_on=alert_on, on_alert=on_alert,
                   stop_on=stop_on, flush_every=flush_every, flush_secs=flush_secs, mode=mode,
                   report=report)


__all__ = ["watch", "Monitor", "Alert", "LossdoctorAlert", "TrainingStopped", "MonitorWarning",
           "DETAIL", "ALERT_ON"]
