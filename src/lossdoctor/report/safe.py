"""Strings taken from a log, made safe to print: the one place for it.

A log's file and folder names, column names, hyper-parameter values and cells are data that
someone else may have written. Printed as they are, an escape sequence in them would clear the
screen, recolour the report, plant a hyperlink (OSC 8) or retitle the terminal, and a bidi
override would show text in another order than it has. :func:`printable` writes every such
character as a visible escape (``\\x1b``, ``\\u202e``), so nothing is lost and nothing acts;
a file name that is not valid UTF-8 (its bytes are carried as lone surrogates) shows its bytes
(``\\xff``) instead of failing to encode. The terminal report and the CLI's error lines pass
every such string through it; JSON output needs nothing (``json.dumps`` escapes them).

Standard library only: the CLI imports this on its error path without loading rich.
"""

from __future__ import annotations

import re

#: C0 controls (newline and tab too: every string printed through here is one field of one
#: line), DEL, C1 controls, bidi embeddings/overrides/isolates, the BOM and other invisible
#: format characters that change how a line reads, and lone surrogates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069"
                     "\ufeff\ufff9-\ufffb\ud800-\udfff]")
#: A string cut to a limit ends with this.
ELLIPSIS = "…"


def _escape(m: re.Match) -> str:
    c = m.group()
    o = ord(c)
    if 0xDC80 <= o <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape): show the byte
        return f"\\x{o - 0xDC00:02x}"
    return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}"


def printable(value: object, limit: int | None = None, ellipsis: str = ELLIPSIS) -> str:
    """``str(value)`` with every control, format or surrogate character escaped; cut to
    ``limit`` characters (ending in ``ellipsis``) when given. A long string is cut *before* it
    is escaped, so the cost stays bounded by ``limit``, not by the value."""
    s = value if isinstance(value, str) else str(value)
    if limit is not None and len(s) > limit:
        s = s[: max(limit - len(ellipsis), 0)]
        out = _UNSAFE.sub(_escape, s)
        return out[: max(limit - len(ellipsis), 0)] + ellipsis
    return _UNSAFE.sub(_escape, s) if _UNSAFE.search(s) else s


def is_printable(text: str) -> bool:
    """Whether ``text`` holds no character :func:`printable` would escape (newlines aside)."""
    return not _UNSAFE.search(text.replace("\n", ""))




def short(value: object, limit: int, ellipsis: str = ELLIPSIS) -> str:
    """A value from a log (a hyper-parameter: maybe a list or a nested mapping) as printable
    text of at most ``limit`` characters, built piece by piece and stopped at the limit: ``str``
    of a value whose parts are shared many times over (YAML aliases) would be exponentially
    long before it could be cut."""
    parts: list[str] = []
    budget = [limit + 1]  # one more than fits: then we know it was cut

    def put(s: str) -> bool:
        if budget[0] <= 0:
            return False
        s = s[: budget[0]]
        parts.append(s)
        budget[0] -= len(s)
        return budget[0] > 0

    def walk(v: object, depth: int) -> bool:
        if isinstance(v, (str, int, float, bool)) or v is None:
            return put(v if isinstance(v, str) else _scalar(v))
        if depth > 20:
            return put("...")
        if isinstance(v, dict):
            if not put("{"):
                return False
            for i, (k, x) in enumerate(v.items()):
                if (i and not put(", ")) or not walk(k, depth + 1) or not put(": ") \
                        or not walk(x, depth + 1):
                    return False
            return put("}")
        if isinstance(v, (list, tuple, set, frozenset)):
            o, c = ("[", "]") if isinstance(v, list) else ("(", ")") if isinstance(v, tuple) else ("{", "}")
            if not put(o):
                return False
            for i, x in enumerate(v):
                if (i and not put(", ")) or not walk(x, depth + 1):
                    return False
            return put(c)
        return put(str(v)[: budget[0]])

    walk(value, 0)
    return printable("".join(parts), limit, ellipsis)


def _scalar(v: object) -> str:
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > 200:
        return f"<an integer of {v.bit_length()} bits>"  # str() of a huge int is quadratic
    return str(v)


__all__ = ["printable", "is_printable", "short"]
