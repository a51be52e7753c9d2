"""JSON Lines: one JSON object per line, any keys. This is also lossdoctor's own monitor log
(``lossdoctor.log/1``): an optional first record ``{"type": "header", "schema": ...,
"hparams": {...}, "model": {...}}`` then records such as ``{"step": 10, "loss": 2.3, "lr": 0.1,
"grad_norm": 1.2, "grad_norm/fc1.weight": 0.4}``. Not every record has every key.

Nested objects flatten to ``outer/inner``; non-numeric values are skipped. The step comes from
``step``/``global_step``/``iteration``/... or, failing those, the epoch or the record index.
Big clean files (the monitor's own logs) are parsed by pyarrow's JSON reader; any file it
refuses or that has a quirk it does not cover goes through the line reader, which gives the
same result (a test compares the two) plus its warnings.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from .. import signals as S
from ..core import LogError, Run
from ._common import read_text_bytes, series_to_run
from .hparams import canonicalize

FORMAT = "jsonl"

SCHEMA = "lossdoctor.log/1"
# Records of these types carry no metrics (the header, events such as "lr changed").
NON_METRIC_TYPES = frozenset({"header", "event", "meta", "config", "summary", "hparams", "note"})
# One-object JSON files that summarise a run rather than log it.
SUMMARY_FILES = frozenset({"wandb-summary.json", "metadata.json", "results.json",
                           "all_results.json", "train_results.json", "eval_results.json"})
SNIFF_LINES = 10  # enough to see that lines are objects; the head may cut the last one
LONG_LINE = 16 * 1024  # a first line this long may run past the head; judge it by its schema
# When more than this share of non-blank lines are not JSON objects, the file is not JSONL.
MAX_BAD_SHARE = 0.5
_NONFINITE = {"nan": math.nan, "-nan": math.nan, "+nan": math.nan, "inf": math.inf,
              "+inf": math.inf, "infinity": math.inf, "+infinity": math.inf,
              "-inf": -math.inf, "-infinity": -math.inf}


def sniff(path: Path, head: bytes) -> float:
    """Confident when the first lines are JSON objects holding scalar numbers."""
    if head[:3] == b"\xef\xbb\xbf":
        head = head[3:]
    if not head.lstrip()[:1] == b"{" or b"\x00" in head[:4096]:
        return 0.0
    lines = [ln for ln in head.splitlines() if ln.strip()]
    complete = lines if head.endswith((b"\n", b"\r")) else lines[:-1]
    if not complete:
        complete = lines[:1]  # a one-line file without a final newline
    objects = numeric = bad = 0
    header = False
    for n, ln in enumerate(complete[:SNIFF_LINES]):
        try:
            rec = json.loads(ln)
        except (ValueError, RecursionError):
            if n == 0 and len(lines) == 1 and len(ln) > LONG_LINE:  # one line longer than the head
                return 0.9 if SCHEMA.encode() in ln else 0.0
            if n == 0:
                return 0.0  # a pretty-printed JSON document starts with "{" alone on its line
            bad += 1  # a line cut or garbled in the middle: the reader skips it and says so
            continue
        if not isinstance(rec, dict):
            return 0.0
        if "log_history" in rec:
            return 0.0  # trainer_state.json written on one line
        objects += 1
        if rec.get("type") == "header" or rec.get("schema") == SCHEMA:
            header = True
            continue
        scalars = sum(1 for v in rec.values() if _number(v) is not None or isinstance(v, dict))
        lists = sum(1 for v in rec.values() if isinstance(v, list))
        if scalars and scalars >= lists:
            numeric += 1
    if bad > MAX_BAD_SHARE * (objects + bad):
        return 0.0
    if header:
        return 0.97
    if numeric == 0 or path.name in SUMMARY_FILES:
        return 0.0
    if objects == 1 and len(lines) == 1 and head.endswith((b"}", b"}\n", b"}\r\n")):
        return 0.3  # a single object: a run summary more often than a one-record log
    score = 0.6 + 0.1 * min(objects, 3)
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        score += 0.05
    return min(score, 0.95)


def read(path: Path) -> Run:
    path = Path(path)
    fast = _read_arrow(path)
    if fast is not None:
        return fast
    raw, warnings = read_text_bytes(path)
    text = raw.decode("utf-8", errors="replace")
    del raw
    lines = text.split("\n")  # not splitlines(): JSON text may hold U+2028 and other breaks
    numbers = [i for i, ln in enumerate(lines) if ln and not ln.isspace()]
    records, bad, truncated = _decode(lines, numbers, text.endswith(("\n", "\r")))
    del lines, text

    if bad and len(bad) > MAX_BAD_SHARE * len(numbers):
        raise LogError(f"{path}: not JSON lines ({len(bad)} of {len(numbers)} lines are not JSON "
                       f"objects, first at line {bad[0]})")
    if bad:
        warnings.append(f"{path}: skipped {len(bad)} line(s) that are not JSON objects "
                        f"(first at line {bad[0]})")
    if truncated:
        warnings.append(f"{path}: the last line (line {truncated}) is cut off (crashed run?); "
                        f"read the lines before it")

    acc = _Records()
    for rec in records:
        acc.add(rec)
    del records
    cols = acc.columns()
    if not cols:
        raise LogError(f"{path}: no numeric values in any record")

    axis, step_unit = _axis(acc.steps, acc.epochs, path, warnings)
    raw_series: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for k, (recs, v) in cols.items():
        if step_unit == "epoch" and k in acc.epoch_keys:
            continue
        s = axis[recs]
        ok = np.isfinite(s)
        raw_series[k] = (s, v) if ok.all() else (s[ok], v[ok])
    if not raw_series:
        raise LogError(f"{path}: records hold only steps, no metric values")
    meta = dict(acc.meta)
    meta["records"] = acc.n
    return series_to_run(path, raw_series, FORMAT, hparams=acc.hparams, warnings=warnings,
                         step_unit=step_unit, meta=meta)


#: Files smaller than this are read line by line: pyarrow's start-up is not worth it.
ARROW_MIN_BYTES = 1 << 20


def _read_arrow(path: Path) -> Run | None:
    """The fast path for big, clean logs such as the monitor's own: pyarrow's JSON reader
    (C++, several times faster than decoding line by line). It takes only files whose metric
    records are flat numbers, one step column at most, and whose other records are typed
    (a header, events); anything else (bad or cut-off lines, nested metrics, text values,
    metrics tagged with a type, several step columns) returns ``None`` and the line reader,
    with all its warnings, takes over."""
    try:
        if path.stat().st_size < ARROW_MIN_BYTES:
            return None
        from pyarrow import json as pajson

        table = pajson.read_json(str(path))
    except Exception:  # any refusal (a bad line, a type conflict): the line reader decides and says why
        return None
    import pyarrow as pa

    names = table.column_names
    typed = None
    if "type" in names:
        kind = table.column("type")
        if not pa.types.is_string(kind.type):
            return None
        typed = _valid(kind)
        kinds = set(kind.drop_null().unique().to_pylist())
        if not kinds <= NON_METRIC_TYPES:
            return None  # metrics tagged with a type: the line reader knows them
    numeric, other = [], []
    for name in names:
        if name == "type":
            continue
        ty = table.column(name).type
        if pa.types.is_integer(ty) or pa.types.is_floating(ty) or pa.types.is_null(ty):
            numeric.append(name)
        elif pa.types.is_boolean(ty):
            continue  # flags are no metric
        else:
            other.append(name)
    untyped = ~typed if typed is not None else None
    for name in other:  # text, lists, objects: allowed on typed records (the header) only
        valid = _valid(table.column(name))
        if untyped is None or (valid & untyped).any():
            return None
    step_cols = [n for n in numeric if n.lower() in _STEP_RANK]
    epoch_cols = [n for n in numeric if n.lower() in _EPOCH_RANK]
    if len(step_cols) > 1 or len(epoch_cols) > 1:
        return None

    acc = _Records()
    if typed is not None and typed.any():
        for rec in _records_at(path, np.flatnonzero(typed)):
            if rec.get("type") == "header" or rec.get("schema") == SCHEMA:
                acc._header(rec)
    rows = untyped if untyped is not None else np.ones(table.num_rows, dtype=bool)

    def floats(name: str) -> tuple[np.ndarray, np.ndarray]:
        col = table.column(name).cast(pa.float64(), safe=False)
        valid = _valid(col)[rows]
        vals = np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)[rows]
        return vals, valid

    metrics = {n: floats(n) for n in numeric if n not in step_cols}
    metrics = {n: m for n, m in metrics.items() if m[1].any()}  # a header's numbers are no metric
    if not metrics:
        return None
    kept = np.zeros(int(rows.sum()), dtype=bool)
    for _, valid in metrics.values():
        kept |= valid
    if not kept.all():  # records with only a step: nothing to plot
        metrics = {n: (v[kept], ok[kept]) for n, (v, ok) in metrics.items()}
    n = int(kept.sum())

    def axis_values(cols: list[str]) -> list[float | None]:
        if not cols:
            return [None] * n
        v, ok = floats(cols[0])
        v, ok = v[kept], ok[kept]
        return v.tolist() if ok.all() else [x if o else None for x, o in zip(v.tolist(), ok.tolist())]

    warnings: list[str] = []
    axis, step_unit = _axis(axis_values(step_cols), axis_values(epoch_cols), path, warnings)
    raw_series: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for k, (v, ok) in metrics.items():
        if step_unit == "epoch" and k in epoch_cols:
            continue
        ok = ok & np.isfinite(axis)
        raw_series[k] = (axis[ok], v[ok])
    if not any(s.size for s, _ in raw_series.values()):
        return None
    meta = dict(acc.meta)
    meta["records"] = n
    return series_to_run(path, raw_series, FORMAT, hparams=acc.hparams, warnings=warnings,
                         step_unit=step_unit, meta=meta)


def _valid(col) -> np.ndarray:
    """Which rows of an Arrow column hold a value (not null)."""
    return np.asarray(col.is_valid().to_numpy(zero_copy_only=False), dtype=bool)


def _records_at(path: Path, rows: np.ndarray) -> list[dict]:
    """The records of the given rows (pyarrow's rows are the non-blank lines, in order),
    decoded as the line reader decodes them: pyarrow would add a null for every key that only
    other records have."""
    want, out = set(rows.tolist()), []
    last = int(rows[-1])
    with open(path, "rb") as f:
        row = 0
        for line in f:
            if not line.strip():
                continue
            if row in want:
                rec = _loads(line.decode("utf-8", errors="replace"))
                if rec is not None:
                    out.append(rec)
            row += 1
            if row > last:
                break
    return out


def _decode(lines: list[str], numbers: list[int], ends_cleanly: bool):
    """JSON-decode the non-blank lines. Returns the objects, the line numbers (1-based) of bad
    lines, and the number of a cut-off last line (or 0).

    All lines are first decoded as one JSON array, one C-level call that is several times
    faster than a call per line; only a file with bad lines pays for the line-by-line pass."""
    def batch(idx):
        try:
            out = json.loads("[" + ",".join([lines[i] for i in idx]) + "]")
        except (ValueError, RecursionError):
            return None
        # a line such as '1, 2' decodes as two items: then the count tells
        return out if len(out) == len(idx) and all(type(o) is dict for o in out) else None

    recs = batch(numbers)
    if recs is not None:
        return recs, [], 0
    last_cut = bool(numbers) and not ends_cleanly
    if last_cut:
        recs = batch(numbers[:-1])
        if recs is not None and _loads(lines[numbers[-1]]) is None:
            return recs, [], numbers[-1] + 1
    recs, bad, truncated = [], [], 0
    for j, i in enumerate(numbers):
        rec = _loads(lines[i])
        if rec is not None:
            recs.append(rec)
        elif last_cut and j == len(numbers) - 1:
            truncated = i + 1
        else:
            bad.append(i + 1)
    return recs, bad, truncated


def _loads(line: str) -> dict | None:
    try:
        rec = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return rec if type(rec) is dict else None


class _Records:
    """Collects records column-wise. Records of one shape (the same keys in the same order, the
    usual case) share a plan: which key is the step, which hold metrics. A record whose values
    are all plain numbers is only stored as a tuple; its plan's tuples become one numpy array
    at the end, so a million lines cost little more than their JSON decoding."""

    def __init__(self) -> None:
        self.n = 0  # records kept
        self.steps: list[float | None] = []
        self.epochs: list[float | None] = []
        self.epoch_keys: set[str] = set()
        self.hparams: dict[str, Any] = {}
        self.meta: dict[str, Any] = {}
        self._plans: dict[tuple, _Plan] = {}
        self._slow: dict[str, tuple[list[int], list[float]]] = {}  # records of mixed types

    def add(self, rec: dict) -> None:
        sig = tuple(rec)
        plan = self._plans.get(sig)
        if plan is None:
            plan = self._plans[sig] = _Plan(sig)
            if plan.epoch_key is not None:
                self.epoch_keys.add(plan.epoch_key)
        if plan.typed:  # the header, an event, or metrics tagged with a type
            kind = rec["type"]
            if isinstance(kind, str) and kind in NON_METRIC_TYPES:
                if kind == "header" or rec.get("schema") == SCHEMA:
                    self._header(rec)
                return
        elif not plan.metrics:
            return  # only a step: nothing to plot
        else:
            vals = tuple(rec.values())
            if set(map(type, vals)) <= _PLAIN:
                plan.rows.append(self.n)
                plan.vals.append(vals)
                self.steps.append(vals[plan.step_at] if plan.step_at is not None else None)
                self.epochs.append(vals[plan.epoch_at] if plan.epoch_at is not None else None)
                self.n += 1
                return
        self._add_slow(rec, plan)

    def _add_slow(self, rec: dict, plan: _Plan) -> None:
        r, n = self.n, 0
        for k, _ in plan.metrics:
            x = rec[k]
            t = type(x)
            if t is dict:
                items = [(k2, v2) for k2, v2 in _flatten(x, k + "/").items()
                         if k2.lower() not in _STEP_RANK]
            else:
                v = _number(x) if t is not bool else None
                items = [] if v is None else [(k, v)]
            for k2, v2 in items:
                c = self._slow.setdefault(k2, ([], []))
                c[0].append(r)
                c[1].append(v2)
                n += 1
        if n == 0:
            return  # only a step, or only text
        self.steps.append(_number(rec[plan.step_key]) if plan.step_key is not None else None)
        self.epochs.append(_number(rec[plan.epoch_key]) if plan.epoch_key is not None else None)
        self.n += 1

    def columns(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per key: record numbers and values, in file order."""
        parts: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        for plan in self._plans.values():
            if not plan.rows:
                continue
            rows = np.asarray(plan.rows, dtype=np.intp)
            try:
                table = np.asarray(plan.vals, dtype=np.float64)
            except OverflowError:  # a JSON integer beyond float range
                table = np.asarray([[_number(v) for v in row] for row in plan.vals],
                                   dtype=np.float64)
            for k, j in plan.metrics:
                parts.setdefault(k, []).append((rows, table[:, j]))
        for k, (rl, vl) in self._slow.items():
            parts.setdefault(k, []).append((np.asarray(rl, dtype=np.intp),
                                            np.asarray(vl, dtype=np.float64)))
        out = {}
        for k, chunks in parts.items():
            if len(chunks) == 1:
                out[k] = chunks[0]
                continue
            rows = np.concatenate([c[0] for c in chunks])
            vals = np.concatenate([c[1] for c in chunks])
            order = np.argsort(rows, kind="stable")
            out[k] = (rows[order], vals[order])
        return out

    def _header(self, rec: dict) -> None:
        if isinstance(rec.get("hparams"), dict):
            self.hparams.update(canonicalize(rec["hparams"]))
        if isinstance(rec.get("model"), dict):
            self.meta["model"] = rec["model"]
        if isinstance(rec.get("schema"), str):
            self.meta["schema"] = rec["schema"]
        for k, v in rec.items():
            if k not in ("type", "schema", "hparams", "model") and isinstance(v, (str, int, float)):
                self.meta.setdefault(k, v)


class _Plan:
    """What the records of one shape hold, and their plain-number rows."""

    __slots__ = ("typed", "step_key", "epoch_key", "step_at", "epoch_at", "metrics", "rows",
                 "vals")

    def __init__(self, keys: tuple) -> None:
        step_keys = [k for k in keys if k.lower() in _STEP_RANK]
        self.step_key = min(step_keys, key=lambda k: _STEP_RANK[k.lower()]) if step_keys else None
        self.epoch_key = next((k for k in keys if k.lower() in _EPOCH_RANK), None)
        self.step_at = keys.index(self.step_key) if self.step_key is not None else None
        self.epoch_at = keys.index(self.epoch_key) if self.epoch_key is not None else None
        self.typed = "type" in keys
        self.metrics = [(k, j) for j, k in enumerate(keys) if k not in step_keys and k != "type"]
        self.rows: list[int] = []
        self.vals: list[tuple] = []


_PLAIN = frozenset({float, int})  # bool is not int here: type(True) is bool


_STEP_RANK = {a: i for i, a in enumerate(S.STEP_ALIASES)}
_EPOCH_RANK = {a: i for i, a in enumerate(S.EPOCH_ALIASES)}


def _flatten(rec: dict, prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a record, nested keys joined with '/'; booleans and text are skipped."""
    out: dict[str, float] = {}
    for k, v in rec.items():
        key = f"{prefix}{k}"
        t = type(v)
        if t is float or t is int:
            out[key] = _number(v)
        elif t is dict:
            out.update(_flatten(v, key + "/"))
        elif t is str:
            x = _number(v)
            if x is not None:
                out[key] = x
    return out


def _number(v: Any) -> float | None:
    """A JSON value as a number: ints and floats, and the strings loggers write for NaN/inf
    (JSON has no NaN) or numbers ("1e-3")."""
    t = type(v)
    if t is float:
        return v
    if t is int:
        return _int_to_float(v)
    if t is str and len(v) < 32:
        s = v.strip().lower()
        if s in _NONFINITE:
            return _NONFINITE[s]
        try:
            return float(s)
        except ValueError:
            return None
    return None


def _int_to_float(v: int) -> float:
    try:
        return float(v)
    except OverflowError:  # JSON integers have no size limit
        return math.inf if v > 0 else -math.inf


def _floats(xs: list) -> np.ndarray:
    """Numbers (``None`` for none) as a float array; integers beyond float range become inf."""
    try:
        return np.array([np.nan if x is None else x for x in xs], dtype=np.float64)
    except OverflowError:
        return np.array([np.nan if x is None else _number(x) for x in xs], dtype=np.float64)


def _axis(steps, epochs, path, warnings) -> tuple[np.ndarray, str]:
    """The x axis per record: the logged step, else the epoch, else the record number.
    A record without a step in a log that has them belongs to the step logged before it."""
    n = len(steps)
    have_steps = [s is not None for s in steps]
    if any(have_steps):
        a = _floats(steps)
        if not all(have_steps):
            # forward-fill: an eval or event record written between steps
            idx = np.where(~np.isnan(a), np.arange(n), -1)
            np.maximum.accumulate(idx, out=idx)
            lead = int((idx < 0).sum())
            a = np.where(idx >= 0, a[np.maximum(idx, 0)], np.nan)
            if lead:
                warnings.append(f"{path}: {lead} record(s) before the first logged step were "
                                f"skipped")
        return a, "step"
    if any(e is not None for e in epochs):
        return _floats(epochs), "epoch"
    return np.arange(n, dtype=np.float64), "record"
