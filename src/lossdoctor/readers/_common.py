"""What every reader shares: turning named raw columns into a :class:`Run`.

A reader's job ends at "these column names, these numbers, these steps". Mapping names to
signals, choosing among several loss columns, sorting, restarts and repairs happen here, once.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .. import signals as S
from ..core import LogError, Run, Series

# A column that is present on fewer than this share of the best candidate's points loses
# to a denser candidate for the same signal (Lightning logs loss_step on most rows and
# loss_epoch on few).
DENSITY_PREFERENCE = 0.5

_TRAIN_PART = re.compile(r"^(train|training|trn)[/_].*loss$")
_VAL_PART = re.compile(r"^(val|valid|validation|eval)[/_].*loss$")


class Columns:
    """Raw columns of one run: name -> values, with an optional mask of logged (present) cells.

    ``present[name]`` False marks an empty cell (the row did not log this column), which is
    different from a logged NaN (a NaN loss is a symptom, an empty cell is not).
    """

    def __init__(self) -> None:
        self.values: dict[str, np.ndarray] = {}
        self.present: dict[str, np.ndarray] = {}

    def add(self, name: str, values: np.ndarray, present: np.ndarray | None = None) -> None:
        name = str(name).strip()
        values = np.asarray(values, dtype=np.float64)
        if present is None:
            present = np.ones(values.shape, dtype=bool)
        base, i = name, 1
        while name in self.values:  # duplicate header names stay apart
            i += 1
            name = f"{base}.{i}"
        self.values[name] = values
        self.present[name] = np.asarray(present, dtype=bool)

    def __len__(self) -> int:
        return len(self.values)


#: Bigger JSON documents are refused: ``json.loads`` holds about ten times the file in Python
#: objects, and no trainer_state.json or Keras history comes near this.
MAX_JSON_BYTES = 512 << 20
#: Share of characters, NUL bytes left out, that may be undecodable or control characters in
#: content that is still text (so that its NUL bytes are padding, not binary data).
MAX_JUNK_SHARE = 0.01
_CHUNK = 16 << 20  # NUL padding is removed this many bytes at a time (bounded extra memory)
_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))


def text_encoding(data) -> tuple[str, int]:
    """The encoding a log's bytes announce by their byte-order mark, and the mark's length
    (PowerShell's ``>`` writes UTF-16 with one, Excel's "Unicode text" too); UTF-8 without."""
    start = bytes(data[:3])
    for bom, enc in _BOMS:
        if start.startswith(bom):
            return enc, len(bom)
    return "utf-8", 0


def has_nul(data) -> bool:
    """Whether ``data`` (bytes, a memoryview or a buffer) holds a NUL byte, without a copy."""
    if isinstance(data, bytes):
        return b"\x00" in data
    return any(b"\x00" in bytes(data[i:i + _CHUNK]) for i in range(0, len(data), _CHUNK))


def looks_like_text(data: bytes) -> bool:
    """Text, once NUL bytes are left out: valid UTF-8 with few control characters."""
    sample = bytes(data[:65536]).replace(b"\x00", b"")
    if not sample:
        return False
    text = sample.decode("utf-8", errors="replace")
    junk = text.count("\ufffd") + sum(1 for c in text if c < " " and c not in "\t\n\r\x1b\x08\x0c")
    return junk <= MAX_JUNK_SHARE * len(text)


def to_utf8(data) -> tuple[bytes, str, int]:
    """A text log's bytes as UTF-8: a byte-order mark stripped, UTF-16 transcoded, and NUL bytes
    removed when the rest is text (a crash leaves blocks of NUL bytes where the file system
    had allocated room the writer never filled). Returns the bytes (``data`` itself, uncopied,
    when there is nothing to do), the encoding, and how many NUL bytes were removed."""
    enc, n = text_encoding(data)
    if enc != "utf-8":
        data = bytes(data[n:]).decode(enc, errors="replace").encode("utf-8")
    elif n:
        data = data[n:]
    if not has_nul(data) or not looks_like_text(data):
        return data, enc, 0
    parts = [bytes(data[i:i + _CHUNK]).translate(None, b"\x00") for i in range(0, len(data), _CHUNK)]
    out = b"".join(parts)
    return out, enc, len(data) - len(out)


def nul_warning(path, n: int) -> str:
    return (f"{path}: {n:,} NUL byte(s) were left out (padding where a crashed writer left "
            f"blocks unwritten?)")


def read_text_bytes(path: Path, limit: int | None = None) -> tuple[bytes, list[str]]:
    """A text log's content as UTF-8 bytes (see :func:`to_utf8`) and the warnings that says
    what was repaired; a LogError when it cannot be read, is empty, or is larger than
    ``limit``."""
    try:
        size = Path(path).stat().st_size
        if limit is not None and size > limit:
            raise LogError(f"{path}: {size / (1 << 20):,.0f} MB, more than the "
                           f"{limit >> 20:,} MB this format is read up to; keep the part you "
                           f"need (tail -c, split) and read that")
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise LogError(f"{path}: cannot be opened ({exc.strerror or exc})") from None
    data, _, nuls = to_utf8(raw)
    del raw
    if not data.strip():
        raise LogError(f"{path}: the file is empty" if not nuls else
                       f"{path}: holds nothing but NUL bytes (a writer that crashed before "
                       f"writing?)")
    return data, [nul_warning(path, nuls)] if nuls else []


def load_json(path: Path, warnings: list[str] | None = None) -> Any:
    """One JSON document, or a LogError that says what is wrong with it and where."""
    import json

    data, notes = read_text_bytes(path, MAX_JSON_BYTES)
    if warnings is not None:
        warnings.extend(notes)
    text = data.decode("utf-8", errors="replace")
    del data
    if not text.strip():
        raise LogError(f"{path}: the file is empty")
    try:
        return json.loads(text)
    except RecursionError:
        raise LogError(f"{path}: JSON nested too deeply to read") from None
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        where = f" at line {line}" if line else ""
        raise LogError(f"{path}: not valid JSON{where} (cut off?): {exc}") from None


def series_to_run(
    source: str | Path,
    raw: Mapping[str, tuple[np.ndarray, np.ndarray]],
    fmt: str,
    *,
    hparams: Mapping[str, Any] | None = None,
    warnings: list[str] | None = None,
    step_unit: str = "step",
    meta: Mapping[str, Any] | None = None,
) -> Run:
    """Build a Run from per-name ``(steps, values)`` pairs (formats that log each scalar with its
    own step, such as TensorBoard, JSONL or ``trainer_state.json``)."""
    warnings = list(warnings or [])
    chosen = _choose(list(raw), lambda n: int(np.isfinite(raw[n][1]).sum() + (~np.isfinite(raw[n][1])).sum()))
    series: dict[str, Series] = {}
    for out, col in chosen.items():
        steps, values = raw[col]
        series[out] = _clean(out, np.asarray(steps, float), np.asarray(values, float), source, warnings)
    _synthesize_totals(series)
    return _make_run(source, series, fmt, hparams, warnings, step_unit, meta)


def columns_to_run(
    source: str | Path,
    cols: Columns,
    fmt: str,
    *,
    hparams: Mapping[str, Any] | None = None,
    warnings: list[str] | None = None,
    meta: Mapping[str, Any] | None = None,
    first_line: int = 2,
) -> Run:
    """Build a Run from a table (CSV-like formats): one row per logging event."""
    warnings = list(warnings or [])
    names = list(cols.values)
    if not names:
        raise LogError(f"{source}: no columns found")
    n = len(cols.values[names[0]])
    step_col = next((c for a in S.STEP_ALIASES for c in names if S.normalize(c) == a), None)
    epoch_col = next((c for a in S.EPOCH_ALIASES for c in names if S.normalize(c) == a), None)
    step_unit = "step"
    if step_col is not None and cols.present[step_col].any():
        axis, axis_present = cols.values[step_col], cols.present[step_col]
    elif epoch_col is not None and cols.present[epoch_col].any():
        axis, axis_present, step_unit = cols.values[epoch_col], cols.present[epoch_col], "epoch"
    else:
        axis, axis_present = np.arange(n, dtype=np.float64), np.ones(n, dtype=bool)
        step_unit = "epoch" if fmt in ("keras_csv", "keras_history") else "row"
    axis_ok = axis_present & np.isfinite(axis)
    if not axis_ok.all():
        bad = int(np.argmin(axis_ok))
        warnings.append(f"{source}: {int((~axis_ok).sum())} rows without a valid {step_unit} "
                        f"(first at line {bad + first_line}) were skipped")
    data_names = [c for c in names if c not in (step_col, epoch_col)]
    counts = {c: int((cols.present[c] & axis_ok).sum()) for c in data_names}
    chosen = _choose(data_names, counts.__getitem__)
    series: dict[str, Series] = {}
    for out, col in chosen.items():
        keep = cols.present[col] & axis_ok
        if keep.all():  # a dense column (most logs): skip two boolean-index copies
            series[out] = _clean(out, axis, cols.values[col], source, warnings)  # steps shared: never mutated
        else:
            series[out] = _clean(out, axis[keep], cols.values[col][keep], source, warnings)
    if step_col is not None and epoch_col is not None:
        keep = cols.present[epoch_col] & axis_ok
        series[S.EPOCH] = _clean(S.EPOCH, axis[keep], cols.values[epoch_col][keep], source, warnings)
    _synthesize_totals(series)
    return _make_run(source, series, fmt, hparams, warnings, step_unit, meta)


def _choose(names: list[str], count) -> dict[str, str]:
    """Map output series names to source columns. Known signals get their canonical name
    (the best candidate wins; the others keep their own names); unknown columns keep theirs."""
    by_signal: dict[str, list[str]] = {}
    out: dict[str, str] = {}
    for c in names:
        sig = S.canonical(c)
        if sig is None:
            out[S.normalize(c)] = c
        else:
            by_signal.setdefault(sig, []).append(c)
    for sig, cands in by_signal.items():
        best = max(count(c) for c in cands)
        dense = [c for c in cands if count(c) >= DENSITY_PREFERENCE * best and count(c) > 0]
        if not dense:
            continue
        winner = min(dense, key=S.alias_rank)
        out[sig] = winner
        for c in cands:
            if c != winner and count(c) > 0:
                out.setdefault(S.normalize(c), c)
    return out


#: Steps beyond this magnitude are junk, not a position in a run (floats stop counting whole
#: numbers past 2**53, and spans between such steps overflow): their points are skipped.
MAX_STEP = float(2 ** 53)


def _clean(name: str, steps: np.ndarray, values: np.ndarray, source, warnings: list[str]) -> Series:
    """Sort by step; on repeated steps (a restarted or resumed run) keep the later values."""
    sane = np.abs(steps) <= MAX_STEP
    if not sane.all():
        bad = int((~sane).sum())
        warnings.append(f"{source}: {name}: {bad} point(s) with a step beyond ±2^53 (or not a "
                        f"number) were skipped")
        steps, values = steps[sane], values[sane]
    if steps.size > 1 and not np.all(steps[1:] > steps[:-1]):
        dup_start = np.flatnonzero(steps[1:] <= steps[:-1])
        # keep the last occurrence of each step, in order of steps
        order = np.argsort(steps, kind="stable")
        s_sorted = steps[order]
        last = np.ones(s_sorted.size, dtype=bool)
        last[:-1] = s_sorted[1:] != s_sorted[:-1]
        idx = order[last]
        n_dup = int(steps.size - idx.size)
        if name == S.LOSS:
            if n_dup:
                warnings.append(f"{source}: steps go back {dup_start.size} time(s) (restarted or "
                                f"resumed run?); kept the later of {n_dup} repeated step(s)")
            else:
                warnings.append(f"{source}: steps were out of order; sorted them")
        steps, values = steps[idx], values[idx]
    return Series(name, np.ascontiguousarray(steps), np.ascontiguousarray(values))


def _synthesize_totals(series: dict[str, Series]) -> None:
    """Logs with only component losses (YOLO's box/obj/cls) get their sum as the loss."""
    for target, pat in ((S.LOSS, _TRAIN_PART), (S.VAL_LOSS, _VAL_PART)):
        if target in series:
            continue
        parts = [s for k, s in series.items() if pat.match(k)]
        if len(parts) < 1:
            continue
        steps = parts[0].steps
        if all(p.steps.shape == steps.shape and np.array_equal(p.steps, steps) for p in parts):
            with np.errstate(invalid="ignore", over="ignore"):  # inf + -inf is NaN, and a NaN is a NaN
                total = np.sum([p.values for p in parts], axis=0)
            series[target] = Series(target, steps, total)


def _make_run(source, series, fmt, hparams, warnings, step_unit, meta) -> Run:
    m = {"format": fmt, "step_unit": step_unit}
    m.update(meta or {})
    return Run(source=str(source), series=series, hparams=dict(hparams or {}), meta=m,
               warnings=tuple(warnings))
