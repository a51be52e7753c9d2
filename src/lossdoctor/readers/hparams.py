"""Hyper-parameter sidecars found beside a log: ``hparams.yaml`` (Lightning), ``hparams.json``,
``config.json``/``config.yaml`` (W&B's ``{key: {value: ...}}`` included), YOLO's ``hyp.yaml`` and
``opt.yaml``, Hugging Face's ``training_args.json``, ``args.json``.

Keys are mapped to a small canonical vocabulary (:data:`CANONICAL`) so that rules can use
them; every other key is kept as it was written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

SIDECARS = ("hparams.yaml", "hparams.yml", "hparams.json", "config.yaml", "config.yml",
            "config.json", "hyp.yaml", "opt.yaml", "args.json", "training_args.json",
            "args.yaml")

CANONICAL: dict[str, tuple[str, ...]] = {
    "lr": ("lr", "learning_rate", "lr0", "base_lr", "learningrate", "max_lr", "init_lr"),
    "weight_decay": ("weight_decay", "wd", "decay", "l2", "l2_reg", "l2_lambda", "weight_decay_rate"),
    "momentum": ("momentum", "beta1", "adam_beta1"),
    "dropout": ("dropout", "dropout_rate", "drop_rate", "hidden_dropout_prob", "dropout_p", "p_dropout"),
    "optimizer": ("optimizer", "optim", "opt", "optimizer_name"),
    "num_classes": ("num_classes", "n_classes", "num_labels", "nc", "classes_count", "n_class",
                    "vocab_size", "n_vocab"),
    "batch_size": ("batch_size", "per_device_train_batch_size", "train_batch_size", "bs", "batch"),
    "init": ("init", "initialization", "weight_init", "init_scale", "init_std", "initializer_range"),
    "warmup_steps": ("warmup_steps", "warmup_iters", "num_warmup_steps", "warmup_epochs"),
    "scheduler": ("scheduler", "lr_scheduler", "lr_scheduler_type", "schedule"),
    "epochs": ("epochs", "num_train_epochs", "max_epochs", "n_epochs"),
    "max_steps": ("max_steps", "total_steps", "num_steps", "max_iters"),
}
_LOOKUP = {a: k for k, aliases in CANONICAL.items() for a in aliases}


def canonicalize(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Flatten one level of nesting (``optimizer: {lr: ..}``), unwrap W&B ``{value: x}`` and map
    known keys to their canonical names. The first canonical hit wins; raw keys are kept too."""
    flat: dict[str, Any] = {}
    for k, v in raw.items():
        if isinstance(v, Mapping) and set(v) >= {"value"}:
            v = v["value"]
        if isinstance(v, Mapping):
            for k2, v2 in v.items():
                if isinstance(v2, Mapping) and "value" in v2:
                    v2 = v2["value"]
                if not isinstance(v2, Mapping):
                    flat.setdefault(str(k2), v2)
            continue
        flat[str(k)] = v
    out: dict[str, Any] = dict(flat)
    for k, v in flat.items():
        canon = _LOOKUP.get(k.strip().lower())
        if canon == k.strip().lower() or (canon and canon not in out):
            out[canon] = _coerce(v)
    return out


def _coerce(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return float(v) if any(ch in v for ch in ".eE") else int(v)
        except ValueError:
            return v
    return v


def load_sidecars(folder: Path, warnings: list[str] | None = None) -> dict[str, Any]:
    """Hyper-parameters from the sidecar files in ``folder`` (later files do not override
    earlier ones). Unreadable sidecars add a warning and are skipped."""
    found: dict[str, Any] = {}
    for name in SIDECARS:
        p = folder / name
        if not p.is_file():
            continue
        try:
            data = _load(p)
        except Exception as exc:  # a broken sidecar must not cost the diagnosis
            if warnings is not None:
                warnings.append(f"{p}: hyper-parameters not read ({type(exc).__name__}: {exc})")
            continue
        if isinstance(data, Mapping):
            for k, v in canonicalize(data).items():
                found.setdefault(k, v)
    return found


def _load(p: Path) -> Any:
    text = p.read_text(encoding="utf-8-sig", errors="replace")
    if p.suffix == ".json":
        return json.loads(text)
    import yaml

    class _Loader(yaml.SafeLoader):  # Lightning writes python tags; read them as plain data
        pass

    def _any(loader, suffix, node):
        if isinstance(node, yaml.MappingNode):
            return loader.construct_mapping(node, deep=True)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node, deep=True)
        return loader.construct_scalar(node)

    _Loader.add_multi_constructor("", _any)
    return yaml.load(text, Loader=_Loader)
