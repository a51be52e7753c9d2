"""The CSV a W&B chart exports ("Export panel data" / "Download CSV").

The first column is the chart's x axis (``Step``, or whatever the chart used); then, per run
(or group) on the chart, ``<run> - <metric>`` with its ``__MIN`` and ``__MAX`` band columns::

    "Step","dry-sun-3 - train/loss","dry-sun-3 - train/loss__MIN","dry-sun-3 - train/loss__MAX"
    "0","2.3012","2.3012","2.3012"

Each run on the chart becomes one :class:`~lossdoctor.core.Run` named after it; the band
columns and W&B's ``_step`` are left out. No wandb package needed.
"""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path

import numpy as np

from ..core import LogError, Run
from ._common import series_to_run

FORMAT = "wandb_csv"
_RUN_COL = re.compile(r"^(?P<run>.+?) - (?P<metric>.+)$")
_BAND = ("__MIN", "__MAX")
#: A W&B chart export is a few MB at most (W&B samples the chart); bigger files are not one.
MAX_BYTES = 256 * 1024 * 1024


def sniff(path: Path, head: bytes) -> float:
    text = head.decode("utf-8-sig", errors="replace")
    first = text.splitlines()[0] if text else ""
    if " - " not in first or "__MIN" not in first:
        return 0.0
    try:
        header = next(csv.reader([first]))
    except (csv.Error, StopIteration):
        return 0.0
    cols = [c for c in header[1:] if c]
    bands = [c for c in cols if c.endswith(_BAND)]
    named = [c for c in cols if _RUN_COL.match(c)]
    return 0.97 if bands and len(named) == len(cols) else 0.0  # above any plain CSV


def read(path: Path) -> Run:
    runs = read_many(path)
    if len(runs) > 1:
        raise LogError(f"{path}: a W&B chart export of {len(runs)} runs; read them all with read_all()")
    return runs[0]


def read_many(path: Path) -> list[Run]:
    path = Path(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise LogError(f"{path}: too large for a W&B chart export")
        text = path.read_bytes().decode("utf-8-sig", errors="replace")
    except OSError as exc:
        raise LogError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    rows = list(csv.reader(io.StringIO(text)))
    if len(rows) < 2:
        raise LogError(f"{path}: a W&B chart export with no rows")
    header, body = rows[0], rows[1:]
    x = np.array([_float(r[0]) if r else math.nan for r in body])
    by_run: dict[str, dict[str, int]] = {}
    for j, col in enumerate(header[1:], start=1):
        m = _RUN_COL.match(col)
        if not m or col.endswith(_BAND) or m["metric"] == "_step":
            continue
        by_run.setdefault(m["run"], {})[m["metric"]] = j
    runs = []
    for name, cols in by_run.items():
        raw = {}
        for metric, j in cols.items():
            v = np.array([_float(r[j]) if j < len(r) else math.nan for r in body])
            present = np.array([j < len(r) and r[j].strip() != "" for r in body]) & np.isfinite(x)
            if present.any():
                raw[metric] = (x[present], v[present])
        if raw:
            runs.append(series_to_run(path, raw, FORMAT, meta={"name": f"{path.name}: {name}",
                                                                "wandb_run": name}))
    if not runs:
        raise LogError(f"{path}: a W&B chart export without values")
    return runs


def _float(s: str) -> float:
    try:
        return float(s)
    except ValueError:
        return math.nan


__all__ = ["read", "read_many", "sniff", "FORMAT"]
