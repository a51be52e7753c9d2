"""The monitor's log: JSON Lines (``lossdoctor.log/1``), appended as training goes and flushed
often enough that a crash loses little.

Non-finite numbers are written as the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``:
JSON has no NaN, strict parsers (jq, browsers) reject Python's bare ``NaN`` token, and
:mod:`lossdoctor.readers.jsonl` reads the strings back as numbers.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

SCHEMA = "lossdoctor.log/1"
#: Records held in memory before a write + flush: a flush is a system call (~10 us), too dear to
#: pay every step of a fast loop, and a hard kill loses at most this many records.
FLUSH_EVERY = 100
#: ...or this many seconds, whichever comes first, so a slow run's log stays current.
FLUSH_SECS = 2.0

_ENCODE = json.JSONEncoder(allow_nan=False, separators=(",", ":")).encode


def encode(rec: dict[str, Any]) -> str:
    """One record as a line of strict JSON (non-finite floats become strings)."""
    try:
        return _ENCODE(rec)
    except ValueError:  # a NaN or inf somewhere: the rare path
        return _ENCODE(_finite(rec))


def _finite(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return "NaN" if x != x else ("Infinity" if x > 0 else "-Infinity")
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


class JsonlWriter:
    """Buffered JSON Lines writer: flushes every ``flush_every`` records or ``flush_secs``
    seconds, and on :meth:`flush`/:meth:`close`."""

    def __init__(self, path: str | os.PathLike, *, mode: str = "w", flush_every: int = FLUSH_EVERY,
                 flush_secs: float = FLUSH_SECS) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(self.path, mode, encoding="utf-8")
        self._buf: list[str] = []
        self.flush_every = max(1, int(flush_every))
        self.flush_secs = float(flush_secs)
        self._last = time.monotonic()

    def write(self, rec: dict[str, Any]) -> None:
        self._buf.append(encode(rec))
        if len(self._buf) >= self.flush_every or time.monotonic() - self._last >= self.flush_secs:
            self.flush()

    def flush(self) -> None:
        if self._f.closed:
            return
        if self._buf:
            self._f.write("\n".join(self._buf) + "\n")
            self._buf.clear()
        self._f.flush()
        self._last = time.monotonic()

    def close(self) -> None:
        if not self._f.closed:
            self.flush()
            self._f.close()

    @property
    def closed(self) -> bool:
        return self._f.closed
