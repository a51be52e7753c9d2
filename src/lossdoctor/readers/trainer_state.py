"""Hugging Face ``trainer_state.json`` (written by ``transformers.Trainer`` into each checkpoint
folder): ``log_history`` holds one entry per logging event with ``loss``, ``learning_rate``,
``grad_norm``, ``epoch`` and ``step``, and one per evaluation with ``eval_loss`` and other
``eval_*`` metrics.

Entries without a ``step`` (``predict_*`` results) and the end-of-training summary (the entry
with ``train_runtime``, whose ``train_loss`` is a whole-run average) are not part of the curves.
Throughput and run-time numbers are dropped; every other metric is kept under its own name.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..core import LogError, Run
from ._common import load_json, series_to_run
from .hparams import canonicalize

FORMAT = "trainer_state"

# Bookkeeping numbers that are not training signals.
_SKIP_KEYS = frozenset({"step", "total_flos", "num_input_tokens_seen"})
_SKIP_SUFFIXES = ("_runtime", "_samples_per_second", "_steps_per_second", "_flos")
# Top-level fields that say how the run was set up (to hparams) or how far it got (to meta).
_HPARAM_FIELDS = ("train_batch_size", "num_train_epochs", "max_steps", "logging_steps",
                  "eval_steps", "save_steps")
_META_FIELDS = ("global_step", "max_steps", "epoch", "logging_steps", "eval_steps",
                "best_metric", "best_model_checkpoint", "trial_name")


def sniff(path: Path, head: bytes) -> float:
    if b'"log_history"' not in head:
        return 0.0
    if path.name.endswith("trainer_state.json"):
        return 0.99
    if b'"global_step"' in head or b'"max_steps"' in head:
        return 0.95
    return 0.8


def read(path: Path) -> Run:
    path = Path(path)
    warnings: list[str] = []
    state = load_json(path, warnings)
    if not isinstance(state, dict) or not isinstance(state.get("log_history"), list):
        raise LogError(f"{path}: no 'log_history' list; not a Hugging Face trainer_state.json")

    steps: dict[str, list[float]] = {}
    values: dict[str, list[float]] = {}
    skipped_no_step = 0
    for entry in state["log_history"]:
        if not isinstance(entry, dict):
            continue
        step = entry.get("step")
        if not _is_num(step) or not math.isfinite(_int_to_float(step)):
            skipped_no_step += 1  # predict_* results: no position on the training curve
            continue
        if "train_runtime" in entry:
            continue  # the end-of-training summary
        for k, v in entry.items():
            if k in _SKIP_KEYS or k.endswith(_SKIP_SUFFIXES):
                continue
            x = _value(v)
            if x is None:
                continue
            steps.setdefault(k, []).append(_int_to_float(step))
            values.setdefault(k, []).append(x)
    if not values:
        n = len(state["log_history"])
        raise LogError(f"{path}: 'log_history' has {n} entries but no logged metrics "
                       f"(saved before the first logging step?)")

    raw = {k: (np.asarray(steps[k], dtype=np.float64), np.asarray(values[k], dtype=np.float64))
           for k in values}
    hp = canonicalize({k: state[k] for k in _HPARAM_FIELDS if _is_num(state.get(k))})
    meta: dict[str, Any] = {k: state[k] for k in _META_FIELDS if state.get(k) is not None}
    if skipped_no_step:
        meta["entries_without_step"] = skipped_no_step
    gs, ms = state.get("global_step"), state.get("max_steps")
    if _is_num(gs) and _is_num(ms) and ms > 0:
        meta["finished"] = gs >= ms
    # the Trainer's optimizer when nothing beside the log says otherwise (optim="adamw_torch")
    meta["default_optimizer"] = "adamw"
    return series_to_run(path, raw, FORMAT, hparams=hp, warnings=warnings, step_unit="step",
                         meta=meta)


def _is_num(v: Any) -> bool:
    return type(v) in (int, float)


def _value(v: Any) -> float | None:
    """A logged number; ``NaN``/``Infinity`` arrive as floats from ``json.loads``. Some versions
    wrote non-finite values as strings."""
    if type(v) in (int, float):
        return _int_to_float(v)
    if isinstance(v, str) and v.strip().lower() in ("nan", "inf", "-inf", "infinity", "-infinity"):
        return float(v.strip().lower().replace("infinity", "inf"))
    return None


def _int_to_float(v: int | float) -> float:
    try:
        return float(v)
    except OverflowError:  # JSON integers have no size limit
        return math.inf if v > 0 else -math.inf
