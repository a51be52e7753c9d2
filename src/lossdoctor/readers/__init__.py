"""Readers: one module per log format, picked by content (not only the suffix).

Every reader module has ``FORMAT`` (its name), ``sniff(path, head) -> float`` (how sure it is,
0..1, from the path and the first bytes) and ``read(path) -> Run``. A new format is one new
module plus one line in :data:`READERS`.

A format whose one file or folder holds several runs (a tracking store: MLflow's ``mlflow.db``
and ``mlruns/``, a W&B run folder, a W&B chart export) also has ``read_many(path) ->
list[Run]``, and ``claims_folder(folder) -> bool`` when a folder as a whole is one store: such a
folder is read by its reader and not searched file by file.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

from ..core import LogError, Run
from ._common import to_utf8
from . import csv_table, jsonl, keras_history, mlflow, tensorboard, text, trainer_state, wandb, wandb_csv
from .hparams import SIDECARS, load_sidecars

#: The formats, in order of preference when two are equally sure (and, for a folder holding
#: several logs of one run, which one stands for it).
READERS = (
    jsonl,          # lossdoctor's own monitor logs and any one-object-per-line log
    trainer_state,  # Hugging Face trainer_state.json
    csv_table,      # CSV/TSV, Lightning metrics.csv, Keras CSVLogger, YOLO results.csv
    keras_history,  # json.dump(history.history)
    tensorboard,    # events.out.tfevents.* (needs the tensorboard extra)
    wandb,          # W&B run logs (run-<id>.wandb) and run folders (needs the wandb extra)
    mlflow,         # MLflow stores: mlflow.db, mlruns/ (needs the mlflow extra)
    wandb_csv,      # the CSV a W&B chart exports
    text,           # plain terminal output
)

#: Formats of binary files: their sniffers see the bytes as they are, never transcoded.
BINARY = (tensorboard, wandb, mlflow)
HEAD_BYTES = 64 * 1024
MAX_DEPTH = 6  # folder search depth
SKIP_DIRS = {".git", "__pycache__", "checkpoints", "wandb-metadata", "media", "weights", "node_modules"}


def read(path: str | os.PathLike) -> Run:
    """Read one training run from a log file or a run folder.

    Raises :class:`LogError` when nothing usable is found, or when ``path`` holds several runs
    (use :func:`read_all` then)."""
    runs = read_all(path)
    if len(runs) > 1:
        names = ", ".join(r.name for r in runs[:5])
        raise LogError(f"{path}: holds {len(runs)} runs ({names}...); use read_all()")
    return runs[0]


def read_all(path: str | os.PathLike) -> list[Run]:
    """Every run under ``path``: one for a file, one per run folder for a folder. What a folder
    holds but could not be read (a broken link, a file or sub-folder without permission, a twin
    of a log already read) is listed in the first run's warnings, or in the error when nothing
    could be read."""
    p = Path(path)
    kind = _kind(p)
    store = _store_reader(p)
    if store is not None:
        return store.read_many(p)
    if kind == "file":
        return [_read_file(p)]
    skipped: list[str] = []
    stores: list[tuple[Path, object]] = []
    groups = _find_logs(p, skipped, stores)
    if not groups and stores:
        return _read_stores(stores, p, [])
    if not groups:
        more = f"; skipped: {'; '.join(skipped[:5])}" if skipped else ""
        raise LogError(f"{p}: no training logs found in this folder (looked for CSV, JSON, JSONL, "
                       f"trainer_state.json, TensorBoard event files and text logs){more}")
    runs, errors = [], list(skipped)
    for folder, files in sorted(groups.items()):
        split = _split_group(files)
        for group in split:
            try:
                run = _read_group(folder, group, p)
            except LogError as exc:
                errors.append(str(exc))
                continue
            if len(split) > 1:  # several runs in one folder: each is named by its file
                run = dataclasses.replace(run, meta={**run.meta, "name": str(group[0][2].relative_to(p))})
            runs.append(run)
    runs.extend(_read_stores(stores, p, errors, strict=False))
    if not runs:
        raise LogError("; ".join(errors))
    if errors:
        runs[0] = dataclasses.replace(runs[0], warnings=runs[0].warnings + tuple(
            f"skipped: {e}" for e in errors))
    return runs


def sniff(path: Path) -> tuple[float, object]:
    """The best reader for one file and how sure it is. Text readers see the head as UTF-8
    (UTF-16 transcoded, NUL padding left out: see :func:`._common.to_utf8`); the readers of
    binary formats (:data:`BINARY`) see the bytes as they are."""
    raw = _head(path)
    head = to_utf8(raw)[0]
    best = (0.0, None)
    for mod in READERS:
        score = float(mod.sniff(path, raw if mod in BINARY else head))
        if score > best[0]:
            best = (score, mod)
    return best


def _kind(p: Path) -> str:
    """``"file"`` or ``"folder"``, or a LogError that says what else ``p`` is."""
    try:
        st = p.stat()
    except FileNotFoundError:
        if p.is_symlink():
            raise LogError(f"{p}: a symbolic link to {os.readlink(p)}, which does not exist") from None
        raise LogError(f"{p}: no such file or folder") from None
    except OSError as exc:  # a parent folder without permission, a name too long
        raise LogError(f"{p}: cannot be looked at ({exc.strerror or exc})") from None
    if stat.S_ISREG(st.st_mode):
        return "file"
    if stat.S_ISDIR(st.st_mode):
        if not os.access(p, os.R_OK | os.X_OK):
            raise LogError(f"{p}: this folder cannot be read (permission denied)")
        return "folder"
    what = ("a named pipe (FIFO)" if stat.S_ISFIFO(st.st_mode) else
            "a socket" if stat.S_ISSOCK(st.st_mode) else "a device")
    raise LogError(f"{p}: {what}, not a file or a folder; save the log to a file and pass that")


def _head(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(HEAD_BYTES)
    except OSError as exc:
        raise LogError(f"{path}: cannot be opened ({exc.strerror or exc})") from None


def _read_file(path: Path) -> Run:
    head = _head(path)
    if not head:
        raise LogError(f"{path}: the file is empty")
    score, mod = sniff(path)
    if mod is None:
        if not head.strip(b"\x00"):
            raise LogError(f"{path}: holds nothing but NUL bytes (a writer that crashed before "
                           f"writing?)")
        if b"\x00" in head[:4096] and not path.name.startswith("events.out.tfevents"):
            raise LogError(f"{path}: binary content, not a training log this tool can read")
        raise LogError(f"{path}: not a training log this tool can read (no loss values found)")
    run = mod.read(path)
    return _with_sidecars(run, path.parent)


def _with_sidecars(run: Run, folder: Path) -> Run:
    warnings: list[str] = []
    side = load_sidecars(folder, warnings)
    if not side and not warnings:
        return run
    hp = dict(side)
    hp.update(run.hparams)  # what the log itself says wins over a sidecar
    return dataclasses.replace(run, hparams=hp, warnings=run.warnings + tuple(warnings))


def _store_reader(path: Path):
    """The reader that reads ``path`` whole as a store of runs (see the module doc), or None."""
    if path.is_dir():
        return next((m for m in READERS if hasattr(m, "claims_folder") and m.claims_folder(path)), None)
    try:
        score, mod = sniff(path)
    except LogError:
        return None
    return mod if mod is not None and hasattr(mod, "read_many") else None


def _read_stores(stores, root: Path, errors: list[str], strict: bool = True) -> list[Run]:
    runs = []
    for where, mod in stores:
        try:
            found = mod.read_many(where)
        except LogError as exc:
            errors.append(str(exc))
            continue
        rel = str(where.relative_to(root)) if where != root else root.name
        runs.extend(dataclasses.replace(r, meta={**r.meta, "name": f"{rel}: {r.meta['name']}"
                                                 if r.meta.get("name") else rel}) for r in found)
    if strict and not runs:
        raise LogError("; ".join(errors))
    return runs


def _find_logs(root: Path, skipped: list[str], stores: list | None = None) -> dict[Path, list[tuple[float, int, Path]]]:
    """Candidate logs grouped by run folder. TensorBoard's ``train/`` and ``validation/``
    sub-folders belong to their parent run. What cannot be looked at is added to ``skipped``
    (files that are simply not logs are not). Stores of several runs (tracking stores, W&B run
    folders) go to ``stores`` as ``(path, reader)``; the folder of one is not searched."""
    groups: dict[Path, list[tuple[float, int, Path]]] = {}
    root_depth = len(root.parts)

    def unlisted(exc: OSError) -> None:
        if exc.filename is not None and Path(exc.filename) != root:
            skipped.append(f"{exc.filename}: this folder cannot be read ({exc.strerror or exc})")
        else:
            skipped.append(f"{root}: cannot be read ({exc.strerror or exc})")

    for dirpath, dirnames, filenames in os.walk(root, onerror=unlisted):
        d = Path(dirpath)
        if stores is not None and d != root:
            mod = _store_reader(d)
            if mod is not None:
                stores.append((d, mod))
                dirnames[:] = []
                continue
        if len(d.parts) - root_depth >= MAX_DEPTH:
            dirnames[:] = []
        dirnames[:] = sorted(x for x in dirnames if x not in SKIP_DIRS and not x.startswith("."))
        for fn in sorted(filenames):
            f = d / fn
            if f.name in _SIDECAR_NAMES or fn.startswith("."):
                continue
            try:
                st = f.stat()
            except FileNotFoundError:
                if f.is_symlink():
                    skipped.append(f"{f}: a broken symbolic link (to {os.readlink(f)})")
                continue
            except OSError as exc:
                skipped.append(f"{f}: cannot be looked at ({exc.strerror or exc})")
                continue
            if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
                continue
            try:
                score, mod = sniff(f)
            except LogError as exc:
                skipped.append(str(exc))
                continue
            if mod is None or score < 0.2:
                continue
            if stores is not None and hasattr(mod, "read_many"):
                stores.append((f, mod))
                continue
            run_dir = d
            if mod is tensorboard and d.name in tensorboard.SPLIT_DIRS and d != root:
                run_dir = d.parent
            groups.setdefault(run_dir, []).append((score, READERS.index(mod), f))
    return groups


def _split_group(files: list[tuple[float, int, Path]]) -> list[list[tuple[float, int, Path]]]:
    """The runs in one folder: each log of the preferred format is a run, and so is every other
    log whose name differs from theirs. Copies are not: ``a.csv`` beside ``a.jsonl`` is one run
    written twice, and TensorBoard event files beside another log (YOLO's results.csv, a
    Trainer's state) hold the same numbers; a folder of event files only is one run."""
    best = min(i for _, i, _ in files)
    if READERS[best] is tensorboard:
        return [files]
    same = [f for f in files if f[1] == best]
    stems = {f[2].stem for f in same}
    others = [f for f in files if f[1] != best and f[2].stem not in stems and READERS[f[1]] is not tensorboard]
    if len(same) == 1 and not others:
        return [files]
    return [[f] for f in sorted(same + others, key=lambda t: str(t[2]))]


def _read_group(folder: Path, files: list[tuple[float, int, Path]], root: Path) -> Run:
    """One run folder: the most preferred format stands for the run (a YOLO folder holds both
    results.csv and an event file of the same numbers)."""
    files.sort(key=lambda t: (t[1], -t[0], str(t[2])))
    idx = files[0][1]
    mod = READERS[idx]
    errors = []
    if mod is tensorboard:
        try:
            run = tensorboard.read_folder(folder)
            return _named(_with_sidecars(run, folder), folder, root)
        except LogError as exc:
            errors.append(str(exc))
    for k, (score, i, f) in enumerate(files):
        try:
            run = READERS[i].read(f)
        except LogError as exc:
            errors.append(str(exc))
            continue
        # the same run written twice (a.csv beside a.jsonl): say which files were left, and why
        twins = [t for _, j, t in files[k + 1:] if not (mod is tensorboard and READERS[j] is tensorboard)]
        notes = [f"skipped: {e}" for e in errors]
        notes += [f"skipped: {t}: the same run as {f.name}, which was read" for t in twins]
        if notes:
            run = dataclasses.replace(run, warnings=run.warnings + tuple(notes))
        return _named(_with_sidecars(run, f.parent), folder, root)
    raise LogError("; ".join(errors))


def _named(run: Run, folder: Path, root: Path) -> Run:
    rel = folder.relative_to(root) if folder != root else Path(root.name)
    meta = dict(run.meta)
    meta.setdefault("name", str(rel))
    return dataclasses.replace(run, meta=meta)


_SIDECAR_NAMES = set(SIDECARS) | {
    "wandb-metadata.json", "requirements.txt", "wandb-summary.json", "args.yaml"}

__all__ = ["read", "read_all", "READERS", "sniff"]
