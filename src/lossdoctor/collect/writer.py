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


#: Keys as JSON strings, by key (a log has a few hundred distinct keys at most; bounded anyway).
_KEYS: dict[str, str] = {}
_MAX_KEYS = 10_000


def encode(rec: dict[str, Any]) -> str:
    """One record as a line of strict JSON (non-finite floats become strings).

    A record of plain finite floats and ints (nearly all of them) is formatted directly:
    ``repr`` of a float is what :mod:`json` writes, and this is ~3x faster than the encoder's
    per-call set-up, which on a fast training loop is most of what writing a record costs."""
    parts = []
    for k, v in rec.items():
        t = type(v)
        if t is float:
            if v - v != 0.0:  # NaN or inf
                break
        elif t is not int:
            break
        key = _KEYS.get(k) if type(k) is str else None
        if key is None:
            if type(k) is not str or len(_KEYS) >= _MAX_KEYS:
                break
            key = _KEYS[k] = _ENCODE(k)
        parts.append(f"{key}:{v!r}")
    else:
        return "{" + ",".join(parts) + "}"
    try:
        return _ENCODE(rec)
    except ValueError:  # a NaN or inf somewhere: the rare path
        return _ENCODE(_finite(rec))


def light_dict(rec: tuple) -> dict[str, Any]:
    """A light record ``(step, loss, learning rates)`` (see :func:`encode_light`) as a dict."""
    step, loss, lrs = rec
    out = {"step": step, "loss": loss}
    if lrs:
        out["lr"] = lrs[0]
        for i in range(1, len(lrs)):
            out[f"lr/pg{i}"] = lrs[i]
    return out


def encode_light(rec: tuple) -> str:
    """A light record: the monitor's most common one, a step with its loss and learning rates
    only, passed as the tuple ``(step, loss, lrs)`` (int, float, list of floats) and formatted
    at once; the same line :func:`encode` writes for :func:`light_dict`."""
    step, loss, lrs = rec
    if loss - loss == 0.0 and len(lrs) == 1 and lrs[0] - lrs[0] == 0.0:
        return '{"step":%d,"loss":%r,"lr":%r}' % (step, loss, lrs[0])
    return encode(light_dict(rec))


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
        self._buf: list = []  # records not yet written (encoded when flushed)
        self.flush_every = max(1, int(flush_every))
        self.flush_secs = float(flush_secs)
        self._last = time.monotonic()

    def write(self, rec: dict[str, Any]) -> None:
        self.write_many((rec,))

    def write_many(self, recs) -> None:
        """Append records, dicts or light tuples (see :func:`encode_light`), flushing every
        ``flush_every`` records or ``flush_secs`` seconds."""
        buf = self._buf
        buf.extend(recs)
        if len(buf) >= self.flush_every or (buf and time.monotonic() - self._last >= self.flush_secs):
            self.flush()

    def flush(self) -> None:
        if self._f.closed:
            return
        if self._buf:
            # encoded here, all at once: a tight loop, faster than one record at a time
            lines = [encode_light(r) if type(r) is tuple else encode(r) for r in self._buf]
            self._buf.clear()
            self._f.write("\n".join(lines) + "\n")
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
