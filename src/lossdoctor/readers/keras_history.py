"""Keras ``History`` saved as JSON: ``json.dump(history.history, f)``, i.e.
``{"loss": [...], "val_loss": [...], "accuracy": [...], "lr": [...]}`` with one value per epoch.

Lists may differ in length (a metric added later, a validation run every few epochs is not
what Keras writes, but people splice histories); the epoch is the list index unless the file
also holds Keras' ``epoch`` list. A wrapper ``{"history": {...}, "epoch": [...],
"params": {...}}`` (the whole ``History`` object's state) is read too.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from .. import signals as S
from ..core import LogError, Run
from ._common import load_json, series_to_run
from .hparams import canonicalize

FORMAT = "keras_history"

# How a history longer than the sniffed head opens: an object whose first value is a list.
_HISTORY_OPENING = re.compile(
    rb'^\s*\{\s*"[^"]{1,200}"\s*:\s*\[\s*(-?[0-9.]|NaN|Infinity|-Infinity|null|")')
# Shared keys that are not metrics.
_NOT_METRICS = frozenset({"epoch", "epochs", "params"})


def sniff(path: Path, head: bytes) -> float:
    if head[:3] == b"\xef\xbb\xbf":
        head = head[3:]
    if b'"log_history"' in head or not head.lstrip()[:1] == b"{":
        return 0.0
    try:
        doc = json.loads(head)
    except (ValueError, RecursionError):
        doc = None
    if isinstance(doc, dict):
        hist = _history_dict(doc)
        if hist is None:
            return 0.0
        loss_like = any("loss" in S.normalize(k) for k in hist)
        return 0.9 if loss_like else 0.4
    # a history longer than the head: judge by how it opens
    if _HISTORY_OPENING.match(head) or (head.lstrip()[:1] == b"{" and b'"history"' in head[:200]):
        return 0.7 if b"loss" in head else 0.3
    return 0.0


def read(path: Path) -> Run:
    path = Path(path)
    warnings: list[str] = []
    doc = load_json(path, warnings)
    if not isinstance(doc, dict):
        raise LogError(f"{path}: not a Keras history (expected an object of metric lists)")
    hist = _history_dict(doc)
    if hist is None:
        raise LogError(f"{path}: not a Keras history (no list of numbers per metric)")

    epochs = doc.get("epoch") if isinstance(doc.get("epoch"), list) else hist.get("epoch")
    epoch_axis = None
    if isinstance(epochs, list) and epochs and all(
            _num(e) is not None and math.isfinite(_num(e)) for e in epochs):
        epoch_axis = np.asarray([_num(e) for e in epochs], dtype=np.float64)
    raw: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    lengths = set()
    for k, lst in hist.items():
        if k in _NOT_METRICS or not isinstance(lst, list):
            continue
        vals = [_num(v) for v in lst]
        present = np.asarray([v is not None for v in vals], dtype=bool)
        if not present.any():
            continue
        values = np.asarray([np.nan if v is None else v for v in vals], dtype=np.float64)
        n = len(values)
        lengths.add(n)
        if epoch_axis is not None and len(epoch_axis) == n:
            steps = epoch_axis
        else:
            steps = np.arange(n, dtype=np.float64)
        raw[k] = (steps[present], values[present])
    if not raw:
        raise LogError(f"{path}: no metric holds a number")
    if len(lengths) > 1:
        warnings.append(f"{path}: metric lists differ in length ({min(lengths)}..{max(lengths)} "
                        f"epochs); each is indexed from epoch 0")
    params = doc.get("params") if isinstance(doc.get("params"), dict) else {}
    hp = canonicalize(params) if params else {}
    return series_to_run(path, raw, FORMAT, hparams=hp, warnings=warnings, step_unit="epoch")


def _history_dict(doc: dict) -> dict[str, Any] | None:
    """The metric lists: the document itself or its ``history`` entry; ``None`` if neither is
    an object with at least one list of numbers (and no config-like nested objects)."""
    hist = doc.get("history") if isinstance(doc.get("history"), dict) else doc
    lists = [v for k, v in hist.items() if isinstance(v, list) and k not in _NOT_METRICS]
    if not lists:
        return None
    numeric = [v for v in lists if v and any(_num(x) is not None for x in v[:5])]
    if len(numeric) < len(lists) / 2 or not numeric:
        return None
    others = [v for k, v in hist.items() if not isinstance(v, list) and k not in _NOT_METRICS]
    if len(others) > len(lists):
        return None  # mostly scalars or objects: a config or a summary, not a history
    return hist


def _num(v: Any) -> float | None:
    if type(v) in (int, float):
        try:
            return float(v)
        except OverflowError:  # JSON integers have no size limit
            return math.inf if v > 0 else -math.inf
    if isinstance(v, str):
        try:
            return float(v.strip())  # json.dump(..., default=str) writes numpy floats as text
        except ValueError:
            return None
    return None
