"""Hugging Face adapter: a ``TrainerCallback`` that records ``Trainer.train`` through the same
monitor.

    from lossdoctor.collect.hf import LossdoctorTrainerCallback
    trainer = Trainer(..., callbacks=[LossdoctorTrainerCallback("runs/exp1.jsonl")])

The monitor is created at ``on_train_begin`` from the model, optimizer and scheduler the Trainer
hands to callbacks, with the ``TrainingArguments`` and the model's config as hyper-parameters.
The per-step loss is read from the model's output (a forward hook keeps ``outputs.loss`` of each
training forward pass) and recorded at ``on_step_end``, once per optimizer step; a step the
Trainer skipped (fp16 overflow) is recorded as ``skipped``. ``eval_loss`` becomes ``val_loss``.

The Trainer clips gradients (``max_grad_norm``, 1.0 by default) before any callback or step hook
can see them, so ``grad_norm`` here is the norm after clipping, what the optimizer used; the
Trainer's own pre-clipping norm, logged every ``logging_steps``, is kept as ``grad_norm_preclip``.
Needs ``pip install transformers``.

The Trainer calls ``on_train_end`` only when ``train()`` returns: after an exception no callback
hears of it. The log loses nothing (it is flushed every few seconds) and the monitor is closed,
its hook removed, at the next ``train()`` (which logs to a file of its own) or at exit, or by
:meth:`LossdoctorTrainerCallback.close`.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from .introspect import jsonable
from . import reporting
from .monitor import Monitor

try:
    from transformers import TrainerCallback
except ImportError:  # pragma: no cover - exercised only without transformers
    raise ImportError("lossdoctor.collect.hf needs transformers: "
                      "pip install 'lossdoctor[transformers]'") from None

#: Training forward passes whose loss is held until the step ends (more than gradient
#: accumulation ever needs): a forward pass run in training mode outside train() must not grow it.
MAX_HELD = 4096
#: TrainingArguments worth a place in the header (the rest is plumbing).
ARGS = ("learning_rate", "weight_decay", "adam_beta1", "adam_beta2", "adam_epsilon", "max_grad_norm",
        "num_train_epochs", "max_steps", "lr_scheduler_type", "warmup_steps", "warmup_ratio",
        "per_device_train_batch_size", "gradient_accumulation_steps", "seed", "fp16", "bf16", "optim",
        "label_smoothing_factor")
#: Model config entries that describe dropout, init and activations.
CONFIG = ("model_type", "hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout",
          "dropout", "attention_dropout", "initializer_range", "hidden_act", "num_hidden_layers",
          "hidden_size", "problem_type")


class LossdoctorTrainerCallback(TrainerCallback):
    """Records training into ``path`` (default: ``<output_dir>/lossdoctor.jsonl``). Keyword
    arguments are those of :func:`lossdoctor.watch` (``report="run.html"`` writes the HTML report
    when training ends)."""

    def __init__(self, path: str | os.PathLike | None = None, **watch_kwargs: Any):
        self.path = path
        self.watch_kwargs = watch_kwargs
        self.monitor: Monitor | None = None
        self._losses: list = []
        self._sum_losses = False
        self._hook = None

    def close(self) -> None:
        """Remove the forward hook and close the log (``on_train_end`` does it after a finished
        ``train()``; after one that raised, call this, or the next ``train()`` does it)."""
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        self._losses = []
        if self.monitor is not None:
            self.monitor.close(_error=True)

    def on_train_begin(self, args, state, control, model=None, optimizer=None, lr_scheduler=None, **kw):
        if self.monitor is not None and not self.monitor.closed:
            self.close()  # the previous train() raised: on_train_end never came
        if model is None:
            return
        path = self.path if self.path is not None else os.path.join(args.output_dir, "lossdoctor.jsonl")
        hp: dict[str, Any] = {k: jsonable(getattr(args, k)) for k in ARGS if hasattr(args, k)}
        cfg = getattr(model, "config", None)
        for k in CONFIG:
            v = getattr(cfg, k, None)
            if v is not None:
                hp[k] = jsonable(v)
        if "hidden_dropout_prob" in hp:
            hp["dropout"] = hp["hidden_dropout_prob"]
        if isinstance(hp.get("hidden_act"), str):
            # the blocks' activation is a function (not a module the monitor can see)
            hp["activation"] = hp["hidden_act"]
        kwargs = dict(self.watch_kwargs)
        hp.update(kwargs.pop("hparams", None) or {})
        self.monitor = reporting.monitor(model, optimizer, path, scheduler=lr_scheduler, hparams=hp,
                               one_step_per_call=True, **kwargs)
        self._hook = model.register_forward_hook(self._keep_loss, with_kwargs=True)

    def _keep_loss(self, module, args, kwargs, output):
        try:
            if not module.training:
                return None
            loss = getattr(output, "loss", None)
            if loss is None and isinstance(output, dict):
                loss = output.get("loss")
            if loss is None and isinstance(output, (tuple, list)) and output and \
                    isinstance(output[0], torch.Tensor) and output[0].dim() == 0:
                loss = output[0]
            if isinstance(loss, torch.Tensor) and loss.numel() == 1 and len(self._losses) < MAX_HELD:
                self._losses.append(loss.detach())
                # with num_items_in_batch the micro-batch losses are shares of one mean: they add up
                self._sum_losses = kwargs.get("num_items_in_batch") is not None
        except Exception:  # reading the output must never break the forward pass
            pass
        return None

    def on_step_end(self, args, state, control, **kw):
        if self.monitor is None:
            return
        losses, self._losses = self._losses, []
        loss = None
        if losses:
            total = torch.stack(losses).sum()
            loss = total if self._sum_losses else total / len(losses)
        self.monitor.step(loss)

    def on_log(self, args, state, control, logs=None, **kw):
        if self.monitor is None or not logs:
            return
        extra = {}
        if "eval_loss" in logs:
            extra["val_loss"] = logs["eval_loss"]
        if "grad_norm" in logs:
            extra["grad_norm_preclip"] = logs["grad_norm"]
        if extra:
            self.monitor.log(**extra)

    def on_train_end(self, args, state, control, **kw):
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        self._losses = []
        if self.monitor is not None:
            self.monitor.close()
