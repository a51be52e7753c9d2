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
        except SidecarError as exc:
            if warnings is not None:
                warnings.append(f"{p}: hyper-parameters not read: {exc}")
            continue
        except Exception as exc:  # a broken sidecar must not cost the diagnosis
            if warnings is not None:
                warnings.append(f"{p}: hyper-parameters not read ({type(exc).__name__}: "
                                f"{str(exc)[:200]})")
            continue
        if isinstance(data, Mapping):
            for k, v in canonicalize(data).items():
                found.setdefault(k, v)
    return found


#: A sidecar larger than this is not a list of hyper-parameters (Lightning's are a few hundred
#: bytes, a Hugging Face config.json a few KB); it is skipped with a warning, unread.
MAX_SIDECAR_BYTES = 4 << 20
#: YAML aliases let a 1 KB file stand for billions of values ("billion laughs"); a document
#: whose value, aliases expanded, has more nodes than this, or nests deeper, is refused before
#: anything is built from it.
MAX_YAML_NODES = 100_000
MAX_YAML_DEPTH = 64


class SidecarError(ValueError):
    """A sidecar that is refused by a bound (size, aliases, depth)."""


def _load(p: Path) -> Any:
    size = p.stat().st_size
    if size > MAX_SIDECAR_BYTES:
        raise SidecarError(f"{size:,} bytes, more than the {MAX_SIDECAR_BYTES >> 20} MB a sidecar "
                           f"may have")
    text = p.read_bytes().decode("utf-8-sig", errors="replace")
    if p.suffix == ".json":
        return json.loads(text)
    return load_yaml(text)


def load_yaml(text: str) -> Any:
    """A YAML document as plain data, bounded: the C parser where PyYAML has it (a 7 MB file
    takes 19 s in the pure-Python one), python/* tags read as plain data (Lightning writes
    them), and a document that would expand past :data:`MAX_YAML_NODES` nodes or nest past
    :data:`MAX_YAML_DEPTH` levels refused as a :class:`SidecarError` before it is built."""
    loader = _yaml_loader()(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_size(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


_LOADER = None


def _yaml_loader():
    global _LOADER
    if _LOADER is None:
        import yaml

        base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

        class _Loader(base):  # Lightning writes python tags; read them as plain data
            pass

        def _any(loader, suffix, node):
            if isinstance(node, yaml.MappingNode):
                return loader.construct_mapping(node, deep=True)
            if isinstance(node, yaml.SequenceNode):
                return loader.construct_sequence(node, deep=True)
            return loader.construct_scalar(node)

        _Loader.add_multi_constructor("", _any)
        _LOADER = _Loader
    return _LOADER


def _check_size(root) -> None:
    """Count the nodes of the document with every alias expanded (each shared node counted as
    often as it is used), without expanding anything: a node's size is computed once."""
    import yaml

    sizes: dict[int, int] = {}
    # iterative post-order walk; a node on the current path again is a recursive alias
    stack: list[tuple[Any, int, bool]] = [(root, 0, False)]
    on_path: set[int] = set()
    while stack:
        node, depth, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            if isinstance(node, yaml.MappingNode):
                kids = [x for kv in node.value for x in kv]
            else:
                kids = node.value
            total = 1 + sum(sizes[id(k)] for k in kids)
            if total > MAX_YAML_NODES:
                raise SidecarError(f"its aliases expand to more than {MAX_YAML_NODES:,} values "
                                   f"(a 'billion laughs' document?)")
            sizes[key] = total
            continue
        if key in sizes:
            continue
        if depth > MAX_YAML_DEPTH:
            raise SidecarError(f"nested more than {MAX_YAML_DEPTH} levels deep")
        if not isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            sizes[key] = 1
            continue
        if key in on_path:
            raise SidecarError("an alias refers to a value that holds it (a recursive document)")
        on_path.add(key)
        stack.append((node, depth, True))
        kids = [x for kv in node.value for x in kv] if isinstance(node, yaml.MappingNode) else node.value
        for k in kids:
            if id(k) not in sizes:
                stack.append((k, depth + 1, False))
