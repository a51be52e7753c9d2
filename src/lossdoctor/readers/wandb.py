"""Weights & Biases run folders (``wandb/offline-run-*``, ``wandb/run-*``) and their ``.wandb``
files, read through the ``wandb`` package's own reader of its transaction log: the
``wandb-core`` binary it ships, as ``wandb leet inspect --json`` runs it (one JSON object per
record). Offline runs need no account and no network.

What is read: every ``history`` record (the metrics of each ``wandb.log`` call; nested dicts
arrive flattened as ``a.b``; ``"NaN"``/``"Infinity"`` strings are read as such), the step from
``_step``; the config from the ``run`` and ``config`` records, as hyper-parameters; the display
name as the run's name. Non-numeric values (media, tables, text) are skipped.

A folder of W&B's ``files/`` alone (``output.log``, ``config.yaml``: what ``wandb sync`` leaves
in a repository) is still the text reader's, and needs no extra.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from ..core import LogError, Run
from ._common import series_to_run
from .hparams import canonicalize

FORMAT = "wandb"
INSTALL_HINT = "pip install 'lossdoctor[wandb]'"
MAGIC = b":W&B"
#: Seconds one ``.wandb`` file may take to read (a 1M-record log takes a few).
TIMEOUT_S = 300
_SPECIAL = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
#: Keys W&B adds to every history row; not metrics of the training.
_BOOKKEEPING = ("_step", "_runtime", "_timestamp", "_wandb")


def sniff(path: Path, head: bytes) -> float:
    return 0.98 if head.startswith(MAGIC) else 0.0


def claims_folder(folder: Path) -> bool:
    """A W&B run folder: it holds the run's ``run-<id>.wandb`` log."""
    try:
        return any(p.is_file() for p in Path(folder).glob("run-*.wandb"))
    except OSError:
        return False


def read_many(path: Path) -> list[Run]:
    path = Path(path)
    files = sorted(path.glob("run-*.wandb")) if path.is_dir() else [path]
    if not files:
        raise LogError(f"{path}: no W&B run log (run-*.wandb) in this folder")
    return [read(f) for f in files]


def read(path: Path) -> Run:
    path = Path(path)
    if path.is_dir():
        runs = read_many(path)
        return runs[0]
    raw: dict[str, tuple[list, list]] = {}
    config: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    warnings: list[str] = []
    n_hist = 0
    for rec in _records(path):
        kind = rec.get("type")
        if kind == "history":
            n_hist += 1
            _history(rec.get("history") or {}, raw)
        elif kind == "run":
            r = rec.get("run") or {}
            config.update(_config(r.get("config")))
            if r.get("display_name"):
                meta["name"] = str(r["display_name"])
            meta["wandb_run_id"] = r.get("run_id")
            meta["wandb_project"] = r.get("project")
        elif kind == "config":
            config.update(_config(rec.get("config")))
        elif kind == "exit":
            meta["exit_code"] = (rec.get("exit") or {}).get("exit_code")
    if not raw:
        raise LogError(f"{path}: the W&B run logged no numeric metrics ({n_hist} history records)")
    series = {k: (np.asarray(s, float), np.asarray(v, float)) for k, (s, v) in raw.items()}
    if meta.get("name") and meta.get("wandb_run_id"):
        meta["name"] = f"{meta['name']} ({meta['wandb_run_id']})"
    return series_to_run(path, series, FORMAT, hparams=canonicalize(config), warnings=warnings,
                         meta=meta)


# -- internals ----------------------------------------------------------------------------------
def _core(path: Path) -> str:
    try:
        from wandb.util import get_core_path
    except ImportError:
        raise LogError(f"{path}: reading W&B run logs needs the wandb package; {INSTALL_HINT}") from None
    try:
        return get_core_path()
    except Exception as exc:
        raise LogError(f"{path}: the wandb package's reader (wandb-core) is not available "
                       f"({exc}); {INSTALL_HINT}") from None


def _records(path: Path):
    core = _core(path)
    cmd = [core, "leet", "inspect", "--no-observability", "--json", "--run-file",
           str(path.resolve()), str(path.resolve().parent.parent)]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise LogError(f"{path}: reading the W&B log took over {TIMEOUT_S} s") from None
    except OSError as exc:
        raise LogError(f"{path}: the wandb package's reader could not run ({exc})") from None
    if proc.returncode != 0:
        why = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        hint = "" if b"inspect" not in proc.stderr else f"; a newer wandb may be needed: {INSTALL_HINT}"
        raise LogError(f"{path}: the wandb package could not read this log "
                       f"({why[-1] if why else f'exit {proc.returncode}'}){hint}")
    for line in proc.stdout.splitlines():
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except ValueError:
            continue  # a record the reader could not render; the rest still count


def _history(h: dict, raw: dict) -> None:
    items = h.get("item") or {}
    step = items.get("_step", (h.get("step") or {}).get("num"))
    if not isinstance(step, (int, float)):
        return
    for key, value in items.items():
        if key.startswith(_BOOKKEEPING):
            continue
        v = _number(value)
        if v is None:
            continue
        steps, values = raw.setdefault(key, ([], []))
        steps.append(float(step))
        values.append(v)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value in _SPECIAL:
        return _SPECIAL[value]
    return None


def _config(cfg: Any) -> dict[str, Any]:
    """A config record: ``{"update": {key: value}}`` (W&B's own ``_wandb`` left out)."""
    if not isinstance(cfg, dict):
        return {}
    update = cfg.get("update", cfg)
    return {k: v for k, v in update.items() if k != "_wandb"} if isinstance(update, dict) else {}


__all__ = ["read", "read_many", "sniff", "claims_folder", "FORMAT"]
