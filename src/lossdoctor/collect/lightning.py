"""Lightning adapter: a ``Callback`` that records a ``Trainer.fit`` through the same monitor.

    from lossdoctor.collect.lightning import LossdoctorCallback
    trainer = L.Trainer(callbacks=[LossdoctorCallback("runs/exp1.jsonl")])

The monitor is created at ``on_train_start`` from the trainer's first optimizer, scheduler and
GradScaler (``precision="16-mixed"``), with the LightningModule's ``hparams``. Gradients are read
in ``on_before_optimizer_step``, which Lightning calls after unscaling and before clipping; the
loss comes from ``training_step``'s output; ``val_loss`` (or any key that means it) from
``trainer.callback_metrics`` after each validation. Needs ``pip install lightning``.
"""

from __future__ import annotations

import os
from typing import Any

from .. import signals as S
from .introspect import jsonable
from . import reporting
from .monitor import Monitor

try:
    from lightning.pytorch.callbacks import Callback
except ImportError:  # pragma: no cover - exercised only without lightning
    try:
        from pytorch_lightning.callbacks import Callback
    except ImportError:
        raise ImportError("lossdoctor.collect.lightning needs Lightning: pip install 'lossdoctor[lightning]'"
                          ) from None


class LossdoctorCallback(Callback):
    """Records training into ``path`` (a ``lossdoctor.log/1`` JSONL file). Keyword arguments
    are those of :func:`lossdoctor.watch` (``report="run.html"`` writes the HTML report at the end, ``detail``, ``every_n``, ``stop_on``, ``on_alert``...)."""

    def __init__(self, path: str | os.PathLike | None = "lossdoctor.jsonl", **watch_kwargs: Any):
        super().__init__()
        self.path = path
        self.watch_kwargs = watch_kwargs
        self.monitor: Monitor | None = None
        self._accumulate = 1

    def on_train_start(self, trainer, pl_module) -> None:
        if self.monitor is not None and not self.monitor.closed:
            self.monitor.close(_error=True)  # a fit() that ended without on_train_end
        opt = trainer.optimizers[0] if trainer.optimizers else None
        configs = getattr(trainer, "lr_scheduler_configs", None) or []
        sched = configs[0].scheduler if configs else None
        scaler = getattr(getattr(trainer, "precision_plugin", None), "scaler", None)
        self._accumulate = int(getattr(trainer, "accumulate_grad_batches", 1) or 1)
        hp: dict[str, Any] = {}
        try:
            hp.update(jsonable(dict(pl_module.hparams)))
        except Exception:  # hparams that cannot be read must not cost the monitor
            pass
        for key, attr in (("max_epochs", "max_epochs"), ("max_steps", "max_steps"),
                          ("accumulate_grad_batches", "accumulate_grad_batches"),
                          ("gradient_clip_val", "gradient_clip_val"), ("precision", "precision")):
            v = getattr(trainer, attr, None)
            if v is not None and v != -1:
                hp.setdefault(key, jsonable(v))
        kwargs = dict(self.watch_kwargs)
        hp.update(kwargs.pop("hparams", None) or {})
        self.monitor = reporting.monitor(pl_module, opt, self.path, scheduler=sched, scaler=scaler, hparams=hp,
                               **kwargs)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        if self.monitor is not None:
            self.monitor.capture_gradients()  # unscaled, not yet clipped

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.monitor is None:
            return
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if loss is not None and self._accumulate > 1:
            loss = loss * self._accumulate  # Lightning hands over the loss divided for accumulation
        self.monitor.step(loss)

    def on_validation_end(self, trainer, pl_module) -> None:
        if self.monitor is None or getattr(trainer, "sanity_checking", False):
            return
        metrics = getattr(trainer, "callback_metrics", {}) or {}
        key = next((k for k in metrics if S.canonical(k) == S.VAL_LOSS), None)
        if key is not None:
            self.monitor.log(val_loss=metrics[key])

    def on_train_end(self, trainer, pl_module) -> None:
        if self.monitor is not None:
            self.monitor.close()

    def on_exception(self, trainer, pl_module, exception) -> None:
        if self.monitor is not None:
            self.monitor.close(_error=True)
