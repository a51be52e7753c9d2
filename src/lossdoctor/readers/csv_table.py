"""CSV and TSV tables: Lightning's ``metrics.csv``, Keras' ``CSVLogger``, YOLOv5/v8
``results.csv`` and any table of numbers with a header row.

The delimiter is sniffed (comma, tab, semicolon, or runs of spaces). pyarrow's CSV reader
reads a million clean rows in about 0.1 s; it also takes damaged files: ragged or cut-off rows
are handed back and repaired here, text in numeric columns is parsed with Arrow kernels. What
it cannot take (space-aligned tables, bytes that are not UTF-8, rows wider than a block, many
ragged rows) is read line by line. Either way every good row is kept and each kind of damage
gives one warning naming the first line. An empty cell is *missing* (Lightning writes one per
metric a row did not log); a logged ``nan`` is a real NaN and stays one.
"""

from __future__ import annotations

import codecs
import csv
import re
from pathlib import Path

import numpy as np

from .. import signals as S
from ..core import LogError, Run
from ._common import Columns, columns_to_run, nul_warning, to_utf8

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
# Ragged rows the fast path puts back by hand; a file with more goes line by line.
MAX_RAGGED_ROWS = 1000
# More columns than this is not a training log (a per-layer log of 10,000 layers with five
# statistics each has 50,000); 100,000 columns already take ~6 s and 0.5 GB to read.
MAX_COLUMNS = 50_000
# A cell quoted in warnings is cut to this many characters (it may be binary junk).
QUOTE_CHARS = 24

_YOLO_COL = re.compile(r"^(train|val)/(box|obj|cls|dfl|seg)_loss$|^metrics/map")
_LINE_END = re.compile(r"\r*\n|\r")
_LINE_END_B = re.compile(rb"\r*\n|\r")
# What float() accepts, in RE2 syntax for Arrow's regex kernel (1_000 is the one exception).
_FLOAT_RE2 = r"^[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|(?i:nan|inf|infinity))$"
# An empty line: pyarrow skips it, so row numbers and line numbers part from there on.
_EMPTY_LINE = re.compile(rb"(?>\r*\n|\r)(?>\r*\n|\r)")
_ASCII_SPACE = " \t\r\n\x0b\x0c"  # what bytes.strip() and rb"\s" treat as blank


# -- sniffing ----------------------------------------------------------------------------------

def sniff(path: Path, head: bytes) -> float:
    """How sure we are that ``head`` starts a table of numbers with a header row."""
    if not head:
        return 0.0
    data = to_utf8(head)[0]
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
    if '"' in text and delim != WHITESPACE:
        lines = _records(lines, delim)  # a quoted cell may hold line breaks
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
    decimal = _decimal(delim, lines)
    # text columns, or ragged rows, only under a header of names with a real delimiter: a
    # header with numbers in it is more likely a line of a text log ("step 10 loss 0.5"), and
    # space-separated "key: value" lines (YAML) would pass for a table
    names_only = delim != WHITESPACE and not any(_is_number(c) for c in header)
    if _agreement(rows, len(header), decimal) < SNIFF_AGREEMENT and not (
            names_only and (_mixed_table(rows, header, decimal)
                            or _ragged_numbers(rows, header, decimal))):
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


def _mixed_table(rows: list[list[str]], header: list[str], decimal: str) -> bool:
    """A table with text columns (a timestamp, a run name): rows of the header's width whose
    loss column, or at least half of whose columns, hold numbers."""
    width = len(header)
    same = [r for r in rows if len(r) == width]
    if not rows or len(same) < SNIFF_AGREEMENT * len(rows):
        return False
    numeric = [j for j in range(width)
               if sum(_is_number(r[j], decimal) for r in same) >= SNIFF_AGREEMENT * len(same)]
    return bool(numeric) and (any(_is_loss_name(header[j]) for j in numeric)
                              or len(numeric) >= width / 2)


def _ragged_numbers(rows: list[list[str]], header: list[str], decimal: str) -> bool:
    """A table of numbers whose rows do not all have the header's width (a column logged
    every few rows without trailing delimiters, a row cut off): rows of at least two cells,
    all numbers or empty, under a header that names a loss."""
    if not rows or not any(_is_loss_name(c) for c in header):
        return False
    good = sum(1 for r in rows if len(r) >= 2 and all(not c.strip() or _is_number(c, decimal) for c in r)
               and any(c.strip() for c in r))
    return good >= SNIFF_AGREEMENT * len(rows)


def _records(lines: list[str], delim: str) -> list[str]:
    """Lines joined back into records where a quoted cell spans line breaks (each record's
    line breaks inside quotes become spaces: the sniffer only counts cells)."""
    out: list[str] = []
    cur = ""
    for ln in lines:
        cur = f"{cur} {ln}" if cur else ln
        if cur.count('"') % 2 == 0:
            out.append(cur)
            cur = ""
    if cur:
        out.append(cur)
    return out


def _is_loss_name(name: str) -> bool:
    return "loss" in S.normalize(name) or S.canonical(name) in (S.LOSS, S.VAL_LOSS)


# -- reading -----------------------------------------------------------------------------------

def read(path: Path) -> Run:
    path = Path(path)
    import pyarrow as pa

    try:
        mm = pa.memory_map(str(path))  # zero-copy: a big log is never copied into Python bytes
    except UnicodeEncodeError:  # a file name that is not UTF-8: pyarrow cannot open it by name
        try:
            return _read_buffer(path, pa.py_buffer(path.read_bytes()))
        except OSError as exc:
            raise LogError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except OSError as exc:
        raise LogError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        return _read_buffer(path, mm.read_buffer())
    finally:
        mm.close()


def _read_buffer(path: Path, buf) -> Run:
    data, encoding, nuls = to_utf8(memoryview(buf))
    if not re.search(rb"\S", data):
        raise LogError(f"{path}: the file is empty" if not nuls else
                       f"{path}: holds nothing but NUL bytes (a writer that crashed before writing?)")
    warnings: list[str] = [nul_warning(path, nuls)] if nuls else []

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
    if len(names) > MAX_COLUMNS:
        raise LogError(f"{path}: {len(names):,} columns, more than the {MAX_COLUMNS:,} a training "
                       f"log is read with (each costs time and memory); keep the columns you need "
                       f"(e.g. cut -d, -f1-100)")

    decimal = _decimal(delim, sample)
    cols = None
    if delim != WHITESPACE:
        cols = _read_arrow(body, names, delim, decimal, path, first_line, warnings)
    if cols is None:
        text = bytes(body).decode("utf-8", errors="replace")
        cols = _read_lines(text, names, delim, decimal, path, first_line, warnings)

    if not len(cols):
        raise LogError(f"{path}: no numeric columns (header: {', '.join(names[:8])})")
    n_rows = len(next(iter(cols.values.values())))
    fmt = _flavour(names, path)
    meta = {"delimiter": {"\t": "tab", WHITESPACE: "spaces"}.get(delim, delim), "rows": n_rows}
    if encoding != "utf-8":
        meta["encoding"] = encoding
    return columns_to_run(path, cols, fmt, warnings=warnings, meta=meta, first_line=first_line)


class _Raw:
    """One column as parsed, before the checks: values, the present mask, the rows whose cell
    is not a number (``bad``) and a way to see a cell's text (``cells``: a list, an Arrow
    column or a function of the row; ``None`` for a column pyarrow typed as numbers)."""

    __slots__ = ("name", "values", "present", "bad", "cells")

    def __init__(self, name, values, present, bad=(), cells=None):
        self.name, self.values, self.present = name, values, present
        self.bad = np.asarray(bad, dtype=np.intp)
        self.cells = cells

    def cell(self, i: int) -> str:
        c = self.cells
        if c is None:
            return ""
        if callable(c):
            c = c(i)
        elif isinstance(c, list):
            c = c[i]
        else:
            c = c[i].as_py()
        if isinstance(c, bytes):
            c = c.decode("utf-8", errors="replace")
        return "" if c is None else str(c)


def _read_arrow(body, names, delim, decimal, path, first_line, warnings) -> Columns | None:
    """The fast path. ``None`` when pyarrow refuses the file (the line reader then takes over).

    Ragged rows (a cut-off last line, an extra cell) make pyarrow stop; a second, serial pass
    hands them to us with their row numbers, and they are parsed here and put back in place."""
    import pyarrow as pa
    from pyarrow import csv as pacsv

    invalid: list[tuple[int, str]] = []

    def on_invalid(row):
        if row.number is None or len(invalid) >= MAX_RAGGED_ROWS:
            return "error"
        invalid.append((row.number - 1, row.text))
        return "skip"

    def attempt(types, handler):
        invalid.clear()
        return pacsv.read_csv(
            pa.BufferReader(pa.py_buffer(body)),  # zero-copy view of the memory map
            read_options=pacsv.ReadOptions(column_names=names, block_size=ARROW_BLOCK_BYTES,
                                           use_threads=handler is None),
            parse_options=pacsv.ParseOptions(delimiter=delim, invalid_row_handler=handler),
            convert_options=pacsv.ConvertOptions(
                column_types=types, null_values=[""], strings_can_be_null=False,
                quoted_strings_can_be_null=True, decimal_point=decimal))

    table = None
    for handler in (None, on_invalid):
        if handler is not None and not _is_utf8(body):
            return None  # pyarrow cannot hand over rows that are not text

        # all columns as float64 first; when some column holds text, let pyarrow type each one
        for types in ({n: pa.float64() for n in names}, None):
            try:
                table = attempt(types, handler)
                break
            except pa.ArrowInvalid as exc:
                if "conversion error" not in str(exc):
                    break  # a parse error (ragged rows): the next handler
            except pa.ArrowException:
                return None
        if table is not None:
            break
    if table is None:
        return None

    # each column is released once converted, so the Arrow table and its numpy copy are never
    # both whole in memory (a 10M-row log would otherwise hold both)
    arrow_cols = table.columns
    del table
    raws = []
    pool = pa.default_memory_pool()
    for i, name in enumerate(names):
        col, arrow_cols[i] = arrow_cols[i], None
        if i:
            pool.release_unused()  # hand the previous column's memory back to the system
        t = col.type
        if pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_boolean(t):
            if not pa.types.is_float64(t):
                col = col.cast(pa.float64(), safe=False)
            raws.append(_Raw(name, *_float_chunks(col)))
        elif pa.types.is_null(t):
            raws.append(_Raw(name, np.full(len(col), np.nan), np.zeros(len(col), dtype=bool)))
        elif pa.types.is_string(t) or pa.types.is_large_string(t):
            raws.append(_text_column(name, col, decimal))
        elif pa.types.is_binary(t):  # not valid UTF-8: cell by cell
            cells = col.to_pylist()
            raws.append(_Raw(name, *_parse_cells(cells, decimal), cells=cells))
        else:  # timestamps, dates: not a metric
            raws.append(_Raw(name, np.full(len(col), np.nan), np.zeros(len(col), dtype=bool)))
    ragged = np.zeros(0, dtype=np.intp)
    if invalid:
        raws, ragged = _merge_invalid(raws, invalid, delim, decimal)

    line_of_row: list[int] = []

    def row_line(i: int) -> int:  # only needed for warnings
        if not _has_empty_line(body):
            return first_line + i  # rows and lines match one to one
        if not line_of_row:
            line_of_row.extend(_row_lines(bytes(body), first_line))
        return line_of_row[i] if i < len(line_of_row) else first_line + i

    return _finish(raws, ragged, row_line, names, path, warnings)


def _text_column(name, col, decimal) -> _Raw:
    """A column pyarrow typed as text: parse its numbers with Arrow kernels (a Python loop
    over a million cells takes seconds); only the bad cells are looked at one by one."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pc.utf8_trim_whitespace(col)
    if decimal == ",":
        text = pc.replace_substring(text, ",", ".")
    is_num = pc.fill_null(pc.match_substring_regex(text, _FLOAT_RE2), False)
    try:
        nums = pc.cast(pc.if_else(is_num, text, pa.scalar(None, text.type)), pa.float64())
    except pa.ArrowInvalid:  # a spelling the pattern lets through but Arrow does not parse
        cells = col.to_pylist()
        return _Raw(name, *_parse_cells(cells, decimal), cells=cells)
    values, present = _float_chunks(nums)
    bad_mask = pc.and_(pc.invert(is_num), pc.fill_null(pc.greater(pc.utf8_length(text), 0), False))
    bad = pc.indices_nonzero(bad_mask).to_pylist() if pc.any(bad_mask).as_py() else []
    return _Raw(name, values, present, bad, cells=col)


def _merge_invalid(raws, invalid, delim, decimal):
    """Put the rows pyarrow skipped back at their places, parsed cell by cell."""
    n = len(raws[0].values) + len(invalid)
    pos = np.asarray([p for p, _ in invalid], dtype=np.intp)
    valid = np.ones(n, dtype=bool)
    valid[pos] = False
    valid_idx = np.flatnonzero(valid)
    rows = [_split(text, delim) for _, text in invalid]
    out = []
    for j, r in enumerate(raws):
        values = np.full(n, np.nan)
        present = np.zeros(n, dtype=bool)
        values[valid], present[valid] = r.values, r.present
        bad = list(valid_idx[r.bad])
        extra: dict[int, str] = {}
        for p, row in zip(pos.tolist(), rows):
            c = row[j] if j < len(row) else ""
            extra[p] = c
            c = c.strip().strip('"').strip()
            v = _to_float(c, decimal) if c else None
            if v is not None:
                values[p], present[p] = v, True
            elif c:
                bad.append(p)
        out.append(_Raw(r.name, values, present, sorted(bad), _shifted(r, np.sort(pos), extra)))
    return out, np.sort(pos)


def _shifted(raw: _Raw, pos: np.ndarray, extra: dict[int, str]):
    """Cell text by row once the skipped rows at ``pos`` are back in place."""
    def cell(i: int) -> str:
        if i in extra:
            return extra[i]
        return raw.cell(i - int(np.searchsorted(pos, i)))
    return cell


def _read_lines(text, names, delim, decimal, path, first_line, warnings) -> Columns:
    """The robust path: line by line, every cell on its own."""
    width = len(names)
    rows: list[list[str]] = []
    row_lines: list[int] = []
    ragged: list[int] = []
    for i, line in enumerate(_LINE_END.split(text)):
        if not line.strip():
            continue
        cells = _split(line, delim)
        if len(cells) != width:
            ragged.append(len(rows))
            cells = (cells + [""] * width)[:width]
        rows.append(cells)
        row_lines.append(first_line + i)
    raws = []
    for j, name in enumerate(names):
        cells = [r[j] for r in rows]
        raws.append(_Raw(name, *_parse_cells(cells, decimal), cells=cells))
    return _finish(raws, np.asarray(ragged, dtype=np.intp), row_lines.__getitem__, names, path,
                   warnings)


def _finish(raws: list[_Raw], ragged: np.ndarray, row_line, names, path, warnings) -> Columns:
    """The checks both paths share. Rows without any number are skipped (a repeated header
    of appended runs, junk) with one warning per kind; ragged rows are kept with their
    missing cells empty; a column of numbers with some bad cells warns once, naming the
    first line; a column of text is left out."""
    n = len(raws[0].values) if raws else 0
    any_present = np.zeros(n, dtype=bool)
    has_bad = np.zeros(n, dtype=bool)
    for r in raws:
        any_present |= r.present
        has_bad[r.bad] = True
    junk = np.flatnonzero(~any_present & has_bad)
    if junk.size:
        header = [S.normalize(x) for x in names]
        looked = junk[:MAX_RAGGED_ROWS]  # a file of junk needs no row-by-row look
        is_header = np.zeros(junk.size, dtype=bool)
        is_header[:looked.size] = [[S.normalize(r.cell(int(i)).strip('"')) for r in raws] == header
                                   for i in looked]
        if is_header.any():
            warnings.append(f"{path}: the header is repeated {int(is_header.sum())} time(s) "
                            f"(several runs appended to one file?)")
        junk = junk[~is_header]
        if junk.size:
            warnings.append(f"{path}: skipped {junk.size} line(s) without any number "
                            f"(first at line {row_line(int(junk[0]))})")
    ragged = ragged[any_present[ragged]]
    if ragged.size:
        warnings.append(f"{path}: {ragged.size} row(s) do not have {len(names)} cells (first at "
                        f"line {row_line(int(ragged[0]))}; cut off?); their missing cells are "
                        f"left empty")
    keep = None if any_present.all() else any_present
    cols = Columns()
    for r in raws:
        if not r.present.any():
            continue  # text only, or empty
        bad = r.bad[any_present[r.bad]]
        if bad.size:
            n_ok = int(r.present.sum())
            if bad.size > TEXT_COLUMN_SHARE * (bad.size + n_ok):
                continue  # a text column
            i = int(bad[0])
            shown = r.cell(i).strip()[:QUOTE_CHARS]
            warnings.append(f"{path}: column '{r.name}': {bad.size} cell(s) are not numbers "
                            f"(first at line {row_line(i)}: {shown!r}); read as missing")
        if keep is None:
            cols.add(r.name, r.values, r.present)
        else:
            cols.add(r.name, r.values[keep], r.present[keep])
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


def _has_empty_line(body) -> bool:
    """Whether ``body`` has an empty line (where pyarrow's row numbers part from the lines)."""
    raw = bytes(body)
    if raw[:1] in (b"\n", b"\r"):
        return True
    if b"\r\r" in raw:  # CR CR LF is one line end, CR CR x is two: let the pattern decide
        return bool(_EMPTY_LINE.search(raw))
    return b"\n\n" in raw or b"\n\r" in raw


def _is_utf8(data) -> bool:
    try:
        codecs.decode(data, "utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _row_lines(body: bytes, first_line: int) -> list[int]:
    """Line number of each row pyarrow saw: it skips empty lines and nothing else."""
    return [first_line + i
            for i, line in enumerate(_LINE_END.split(body.decode("utf-8", errors="replace")))
            if line]


# -- small helpers -----------------------------------------------------------------------------

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
