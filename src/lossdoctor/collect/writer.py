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
import stat
import time
import weakref
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


#: How :class:`JsonlWriter` opens its log: ``"w"`` a new log (never over one that holds
#: records: then ``name.1.jsonl``, ``name.2.jsonl``...), ``"a"`` appended to, ``"overwrite"``
#: replaced whatever it held. None writes into a log another writer of this process holds.
MODES = ("w", "a", "overwrite")
#: Logs held open by a writer of this process, by real path: a second monitor on the same
#: path would interleave its records with the first's, or (truncating) leave the first writing
#: at an offset past the end of the file, which fills with NUL bytes.
_HELD: "weakref.WeakValueDictionary[str, JsonlWriter]" = weakref.WeakValueDictionary()


def _key(path: Path) -> str:
    return os.path.realpath(path)


def _holds_records(path: Path) -> bool:
    try:
        st = path.stat()
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size > 0


def choose_path(path: str | os.PathLike, mode: str = "w") -> tuple[Path, str, str | None]:
    """Where a log asked for at ``path`` goes, the mode to open it with, and, when that is not
    ``path``, why (one line for the user)."""
    p = Path(path)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    held = _key(p) in _HELD
    if not held and (mode != "w" or not _holds_records(p)):
        return p, ("w" if mode == "overwrite" else mode), None
    stem, suffix = (p.name[: -len(p.suffix)], p.suffix) if p.suffix else (p.name, "")
    n = 1
    while True:
        alt = p.with_name(f"{stem}.{n}{suffix}")
        if _key(alt) not in _HELD and not _holds_records(alt):
            break
        n += 1
    why = ("another monitor in this process is writing it" if held else
           "it holds the records of an earlier run")
    return alt, "w", f"{p}: {why}; this run is logged to {alt} instead"


class JsonlWriter:
    """Buffered JSON Lines writer: flushes every ``flush_every`` records or ``flush_secs``
    seconds, and on :meth:`flush`/:meth:`close`. ``path`` is where it writes, which may differ
    from what was asked for (see :func:`choose_path`; ``note`` then says why)."""

    def __init__(self, path: str | os.PathLike, *, mode: str = "w", flush_every: int = FLUSH_EVERY,
                 flush_secs: float = FLUSH_SECS) -> None:
        self.path, mode, self.note = choose_path(path, mode)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(self.path, mode, encoding="utf-8")
        _HELD[_key(self.path)] = self
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
        """Write what is buffered and close the file; the file is closed (and released) even
        when the write fails (a full disk), and that failure is raised once."""
        if self._f.closed:
            return
        try:
            self.flush()
        finally:
            self._buf.clear()
            if _HELD.get(_key(self.path)) is self:
                del _HELD[_key(self.path)]
            try:
                self._f.close()
            except OSError:  # its buffer could not be written either: it is closed all the same
                pass

    @property
    def closed(self) -> bool:
        return self._f.closed
