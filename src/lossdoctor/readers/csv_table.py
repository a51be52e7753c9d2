"""CSV and TSV tables: Lightning's ``metrics.csv``, Keras' ``CSVLogger``, YOLOv5/v8
``results.csv`` and any table of numbers with a header row.

The delimiter is sniffed (comma, tab, semicolon, or runs of spaces). Well-formed files go
through pyarrow's CSV reader, which reads a million rows in about 0.1 s; files pyarrow refuses
(ragged or cut-off rows, text in numeric columns, junk lines) are read line by line, keeping
every good row. An empty cell is *missing* (Lightning writes one per metric a row did not log);
a logged ``nan`` is a real NaN and stays one.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from .. import signals as S
from ..core import LogError, Run
from ._common import Columns, columns_to_run

FORMAT = "csv"

DELIMITERS = (",", "\t", ";")
WHITESPACE = " "  # stands for "runs of spaces or tabs" (fixed-width tables)
SNIFF_LINES = 20  # a consistent delimiter over this many lines is convincing; more adds nothing
# Share of sniffed data rows that must agree with the header's width and hold only numbers
# or empty cells before we call the file a table (a text log fails both by a wide margin).
SNIFF_AGREEMENT = 0.8
# A column whose non-empty cells are mostly not numbers is a text column (a run name, a
# timestamp) and is left out without a warning; below this share, bad cells are junk.
TEXT_COLUMN_SHARE = 0.5
# A head this long may be a cut-off prefix of a bigger file, so its last line may be partial.
PARTIAL_HEAD_BYTES = 32 * 1024
# pyarrow needs a whole row inside one block; a generous block copes with very wide headers.
ARROW_BLOCK_BYTES = 8 << 20
# A cell quoted in warnings is cut to this many characters (it may be binary junk).
QUOTE_CHARS = 24

_YOLO_COL = re.compile(r"^(train|val)/(box|obj|cls|dfl|seg)_loss$|^metrics/map")
_LINE_END = re.compile(r"\r*\n|\r")
_LINE_END_B = re.compile(rb"\r*\n|\r")
_ASCII_SPACE = " \t\r\n\x0b\x0c"  # what bytes.strip() and rb"\s" treat as blank


# -- sniffing ----------------------------------------------------------------------------------

def sniff(path: Path, head: bytes) -> float:
    """How sure we are that ``head`` starts a table of numbers with a header row."""
    if not head:
        return 0.0
    data, _ = _to_utf8(head)
    if b"\x00" in data[:4096]:
        return 0.0
    text = data.decode("utf-8", errors="replace")
    parts = _LINE_END.split(text)
    if len(head) >= PARTIAL_HEAD_BYTES and len(parts) > 1 and parts[-1]:
        parts.pop()  # the head probably cut its last line short
    lines = [ln for ln in parts if ln.strip()][: SNIFF_LINES + 1]
    if not lines or lines[0].lstrip()[:1] in ("{", "[", "<"):
        return 0.0
    delim = _delimiter(lines)
    header = [c.strip().strip('"') for c in _split(lines[0], delim)]
    loss_like = any(_is_loss_name(c) for c in header)
    if len(lines) == 1:  # a header longer than the head, or a header-only file
        return 0.3 if loss_like and len(header) >= 2 else 0.0
    if _all_numbers(header):  # no header row: a bare matrix of numbers
        rows = [_split(ln, delim) for ln in lines]
        return 0.15 if _agreement(rows, len(header)) >= SNIFF_AGREEMENT else 0.0
    if sum(_is_number(c) for c in header) > len(header) / 2:
        return 0.0
    rows = [_split(ln, delim) for ln in lines[1:]]
    if len(header) < 2 and not loss_like:
        return 0.0
    if _agreement(rows, len(header), _decimal(delim, lines)) < SNIFF_AGREEMENT:
        return 0.0
    score = 0.55
    if loss_like:
        score += 0.3
    if path.suffix.lower() in (".csv", ".tsv"):
        score += 0.1
    return min(score, 0.95)


def _agreement(rows: list[list[str]], width: int, decimal: str = ".") -> float:
    """Share of rows that have the header's width and hold only numbers or empty cells."""
    if not rows:
        return 0.0
    good = sum(1 for r in rows if len(r) == width
               and all(not c.strip() or _is_number(c, decimal) for c in r)
               and any(c.strip() for c in r))
    return good / len(rows)


def _is_loss_name(name: str) -> bool:
    return "loss" in S.normalize(name) or S.canonical(name) in (S.LOSS, S.VAL_LOSS)


# -- reading -----------------------------------------------------------------------------------

def read(path: Path) -> Run:
    path = Path(path)
    import pyarrow as pa

    try:
        mm = pa.memory_map(str(path))  # zero-copy: a big log is never copied into Python bytes
    except OSError as exc:
        raise LogError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        return _read_buffer(path, mm.read_buffer())
    finally:
        mm.close()


def _read_buffer(path: Path, buf) -> Run:
    data, encoding = _to_utf8(memoryview(buf))
    if not re.search(rb"\S", data):
        raise LogError(f"{path}: the file is empty")
    warnings: list[str] = []

    start, end, header_line = _first_line(data)
    header_text = bytes(data[start:end]).decode("utf-8", errors="replace")
    sample = [ln for ln in _LINE_END.split(
        bytes(data[start:start + 64 * 1024]).decode("utf-8", errors="replace"))
        if ln.strip(_ASCII_SPACE)][: SNIFF_LINES + 1] or [header_text]
    delim = _delimiter(sample)
    header = [c.strip().strip('"').strip() for c in _split(header_text, delim)]
    if _all_numbers(header):  # no header row: the first line is data
        names = [f"column_{i + 1}" for i in range(len(header))]
        body_start, first_line = start, header_line
    else:
        names = _unique([c or f"column_{i + 1}" for i, c in enumerate(header)])
        body_start, first_line = end, header_line + 1
    body = data[body_start:]
    if not names or not re.search(rb"\S", body):
        raise LogError(f"{path}: header only, no data rows")

    decimal = _decimal(delim, sample)
    cols = None
    if delim != WHITESPACE:
        cols = _read_arrow(body, names, delim, decimal, path, first_line, warnings)
    if cols is None:
        text = bytes(body).decode("utf-8", errors="replace")
        cols = _read_lines(text, names, delim, decimal, path, first_line, warnings)

    n_rows = len(next(iter(cols.values.values()))) if len(cols) else 0
    if not any(p.any() for p in cols.present.values()):
        if n_rows == 0 and len(cols):
            raise LogError(f"{path}: header only, no data rows")
        raise LogError(f"{path}: no numeric columns (header: {', '.join(names[:8])})")
    fmt = _flavour(names, path)
    meta = {"delimiter": {"\t": "tab", WHITESPACE: "spaces"}.get(delim, delim), "rows": n_rows}
    if encoding != "utf-8":
        meta["encoding"] = encoding
    return columns_to_run(path, cols, fmt, warnings=warnings, meta=meta, first_line=first_line)


def _read_arrow(body, names, delim, decimal, path, first_line, warnings) -> Columns | None:
    """The fast path. ``None`` when pyarrow refuses the file (the line reader then takes over)."""
    import pyarrow as pa
    from pyarrow import csv as pacsv

    def attempt(types):
        return pacsv.read_csv(
            pa.BufferReader(pa.py_buffer(body)),  # zero-copy view of the memory map
            read_options=pacsv.ReadOptions(column_names=names, block_size=ARROW_BLOCK_BYTES),
            parse_options=pacsv.ParseOptions(delimiter=delim),
            convert_options=pacsv.ConvertOptions(
                column_types=types, null_values=[""], strings_can_be_null=False,
                quoted_strings_can_be_null=True, decimal_point=decimal))

    try:
        table = attempt({n: pa.float64() for n in names})
    except pa.ArrowInvalid as exc:
        if "conversion error" not in str(exc):
            return None  # ragged rows, cut-off line, stray quotes: read line by line
        try:  # some column holds text: let pyarrow type each column, fix the text ones here
            table = attempt(None)
        except pa.ArrowException:
            return None
    except pa.ArrowException:
        return None

    line_of_row: list[int] = []

    def line_of_row_fn() -> list[int]:  # only needed for a warning: computed at most once
        if not line_of_row:
            line_of_row.extend(_row_lines(bytes(body), first_line))
        return line_of_row

    cols = Columns()
    for name, col in zip(names, table.columns):
        t = col.type
        if pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_boolean(t):
            if not pa.types.is_float64(t):
                col = col.cast(pa.float64(), safe=False)
            values, present = _float_chunks(col)
        elif pa.types.is_null(t):
            values, present = np.full(len(col), np.nan), np.zeros(len(col), dtype=bool)
        elif pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t):
            cells = col.to_pylist()
            values, present, bad = _parse_cells(cells, decimal)
            if not _accept_column(name, values, present, bad, cells, path, warnings,
                                  lambda i: line_of_row_fn()[i]):
                continue
        else:  # timestamps, dates: not a metric
            continue
        cols.add(name, values, present)

    return cols


def _float_chunks(col) -> tuple[np.ndarray, np.ndarray]:
    """A float64 ChunkedArray as numpy values and a present mask, straight from the Arrow
    buffers (``to_numpy`` would import pandas, which costs more than the whole read)."""
    n = len(col)
    values = np.empty(n, dtype=np.float64)
    present = np.ones(n, dtype=bool)
    pos = 0
    for ch in col.chunks:
        m = len(ch)
        if m == 0:
            continue
        validity, buf = ch.buffers()[:2]
        values[pos:pos + m] = np.frombuffer(buf, dtype=np.float64, count=m, offset=ch.offset * 8)
        if validity is not None and ch.null_count:
            bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little",
                                 count=ch.offset + m)
            present[pos:pos + m] = bits[ch.offset:].astype(bool)
            values[pos:pos + m][~present[pos:pos + m]] = np.nan  # null slots hold garbage
        pos += m
    return values, present


def _read_lines(text, names, delim, decimal, path, first_line, warnings) -> Columns:
    """The robust path: line by line, every cell on its own. Ragged rows are padded or cut,
    cells that are not numbers become missing, lines with no number at all are skipped."""
    width = len(names)
    rows: list[list[str]] = []
    row_lines: list[int] = []
    ragged, ragged_first = 0, 0
    junk, junk_first = 0, 0
    repeated_header = 0
    header_norm = [S.normalize(n) for n in names]
    for i, line in enumerate(_LINE_END.split(text)):
        if not line.strip():
            continue
        lineno = first_line + i
        cells = _split(line, delim)
        if not any(_is_number(c, decimal) for c in cells):
            if [S.normalize(c.strip('"')) for c in cells] == header_norm:
                repeated_header += 1  # runs appended to one file repeat the header
            else:
                junk += 1
                junk_first = junk_first or lineno
            continue
        if len(cells) != width:
            ragged += 1
            ragged_first = ragged_first or lineno
            cells = (cells + [""] * width)[:width]
        rows.append(cells)
        row_lines.append(lineno)
    if repeated_header:
        warnings.append(f"{path}: the header is repeated {repeated_header} time(s) "
                        f"(several runs appended to one file?)")
    if junk:
        warnings.append(f"{path}: skipped {junk} line(s) without any number "
                        f"(first at line {junk_first})")
    if ragged:
        warnings.append(f"{path}: {ragged} row(s) do not have {width} cells (first at line "
                        f"{ragged_first}; cut off?); their missing cells are left empty")
    cols = Columns()
    for j, name in enumerate(names):
        cells = [r[j] for r in rows]
        values, present, bad = _parse_cells(cells, decimal)
        if _accept_column(name, values, present, bad, cells, path, warnings,
                          row_lines.__getitem__):
            cols.add(name, values, present)
    return cols


def _parse_cells(cells: list, decimal: str) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Parse text cells: empty -> missing; not a number -> missing and listed in ``bad``."""
    n = len(cells)
    values = np.full(n, np.nan)
    present = np.zeros(n, dtype=bool)
    bad: list[int] = []
    for i, c in enumerate(cells):
        if c is None:
            continue
        if isinstance(c, bytes):
            c = c.decode("utf-8", errors="replace")
        c = c.strip().strip('"').strip()
        if not c:
            continue
        v = _to_float(c, decimal)
        if v is None:
            bad.append(i)
        else:
            values[i] = v
            present[i] = True
    return values, present, bad


def _accept_column(name, values, present, bad, cells, path, warnings, line_of) -> bool:
    """Keep a column of numbers (warning once about its bad cells); drop a text column."""
    if not bad:
        return True
    n_ok = int(present.sum())
    if n_ok == 0 or len(bad) > TEXT_COLUMN_SHARE * (len(bad) + n_ok):
        return False
    cell = cells[bad[0]]
    if isinstance(cell, bytes):
        cell = cell.decode("utf-8", errors="replace")
    shown = str(cell).strip()[:QUOTE_CHARS]
    warnings.append(f"{path}: column '{name}': {len(bad)} cell(s) are not numbers (first at line "
                    f"{line_of(bad[0])}: {shown!r}); read as missing")
    return True


def _row_lines(body: bytes, first_line: int) -> list[int]:
    """Line number of each non-blank line of ``body`` (pyarrow skips blank lines)."""
    out = []
    for i, line in enumerate(_LINE_END.split(body.decode("utf-8", errors="replace"))):
        if line.strip():
            out.append(first_line + i)
    return out


# -- small helpers -----------------------------------------------------------------------------

def _to_utf8(data):
    """Strip a byte-order mark; UTF-16 files (Excel's "Unicode text") are transcoded.
    Takes and returns bytes or a memoryview (slicing a memoryview copies nothing)."""
    if bytes(data[:3]) == b"\xef\xbb\xbf":
        return data[3:], "utf-8"
    for bom, enc in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if bytes(data[:2]) == bom:
            return bytes(data[2:]).decode(enc, errors="replace").encode("utf-8"), enc
    return data, "utf-8"


def _first_line(data: bytes) -> tuple[int, int, int]:
    """Start and end (past the line break) of the first non-blank line, and its number."""
    pos, lineno = 0, 1
    while pos < len(data):
        m = _LINE_END_B.search(data, pos)
        end = m.end() if m else len(data)
        line_end = m.start() if m else len(data)
        if bytes(data[pos:line_end]).strip():
            return pos, end, lineno
        pos, lineno = end, lineno + 1
    return len(data), len(data), lineno


def _delimiter(lines: list[str]) -> str:
    """The delimiter that splits the header and the sampled rows into the same number of
    cells; the header's most frequent candidate breaks ties. Runs of spaces when none fits."""
    header = lines[0]
    best, best_key = None, (-1.0, 0)
    for d in DELIMITERS:
        k = header.count(d)
        if k == 0:
            continue
        rows = lines[1:]
        same = sum(1 for ln in rows if ln.count(d) == k) / len(rows) if rows else 1.0
        key = (same, k)
        if key > best_key:
            best, best_key = d, key
    if best is not None:
        return best
    return WHITESPACE if len(header.split()) > 1 else ","


def _decimal(delim: str, lines: list[str]) -> str:
    """Semicolon-separated files from locales that write 0,5 for a half."""
    return "," if delim == ";" and len(lines) > 1 and "," in lines[1] else "."


def _split(line: str, delim: str) -> list[str]:
    """Cells of one line."""
    if delim == WHITESPACE:
        return line.split()
    if '"' not in line:
        return line.split(delim)
    try:
        return next(csv.reader([line], delimiter=delim), [])
    except csv.Error:  # a field over the csv module's size limit, or a stray quote
        return [c.strip().strip('"') for c in line.split(delim)]


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        if n in seen:
            seen[n] += 1
            new = f"{n}.{seen[n]}"
            while new in seen:
                seen[n] += 1
                new = f"{n}.{seen[n]}"
            seen[new] = 1
            out.append(new)
        else:
            seen[n] = 1
            out.append(n)
    return out


def _to_float(c: str, decimal: str = ".") -> float | None:
    try:
        return float(c)
    except ValueError:
        pass
    if decimal == "," and c.count(",") == 1:
        try:
            return float(c.replace(",", "."))
        except ValueError:
            return None
    return None


def _is_number(c: str, decimal: str = ".") -> bool:
    c = c.strip().strip('"')
    return bool(c) and _to_float(c, decimal) is not None


def _all_numbers(cells: list[str]) -> bool:
    return bool(cells) and all(_is_number(c) for c in cells)


def _flavour(names: list[str], path: Path) -> str:
    norm = {S.normalize(n) for n in names}
    if any(_YOLO_COL.match(n) for n in norm):
        return "yolo_csv"
    if "step" in norm and ("epoch" in norm or path.name == "metrics.csv"):
        return "lightning_csv"
    if names and S.normalize(names[0]) == "epoch" and "loss" in norm:
        return "keras_csv"
    return "csv"
