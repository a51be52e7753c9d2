"""The terminal report, rendered with rich.

Per run: a header (source, format, points, step unit, signals, known hyper-parameters), the
curve at a glance (a sparkline of the loss and the validation loss on one scale), the
symptoms, the causes with their verdicts, the evidence that was missing, the reader's
warnings and a one-line verdict. Several runs end with a summary table.

Everything that comes from a log or a diagnosis goes in as :class:`rich.text.Text`, never as
markup, so a ``[`` in a column name or an evidence line prints as itself, and through
:func:`.safe.printable`, so an escape sequence in a file name or a hyper-parameter prints as
``\x1b`` instead of acting on the terminal. Colour only adds to
words that already say the same thing (the verdict is written out), so ``--no-color`` and
piped output lose nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from .. import signals as S
from ..core import Diagnosis, Run, Series
from .safe import printable, short
from .titles import cause_title, symptom_title, verdict_title

# -- layout ----------------------------------------------------------------------------------
INDENT = 2  # every section's body sits under its heading
LABEL_WIDTH = 10  # "val_loss" plus a space: the sparkline rows' label column
SPARK_MAX = 100  # a wider sparkline shows no more than a reader can take in at a glance
SPARK_MIN = 24  # runs with fewer points are stretched (interpolated) so the shape still reads
LOG_SCALE_RATIO = 10.0  # a loss spanning more than one decade looks flat after the first drop
# on a linear axis; a log axis keeps the late part of the curve readable
MAX_HPARAMS = 8  # more than this is a config dump, not a header
HEADER_LINES = 2  # the signals and the hparams take at most this many lines each: a narrow
# terminal gets fewer names and a count of the rest
MAX_HPARAM_VALUE = 24  # longer values (lists, nested configs) are cut with an ellipsis

# Hyper-parameters that the causes depend on come first in the header.
_HPARAM_FIRST = (
    "lr", "learning_rate", "optimizer", "optim", "weight_decay", "batch_size", "momentum",
    "dropout", "scheduler", "lr_scheduler_type", "warmup_steps", "warmup_ratio", "epochs",
    "num_train_epochs", "max_steps", "grad_clip", "max_grad_norm", "init", "seed",
)

# Series named first in the header: the curves, then the internals the causes rest on.
_SIGNALS_FIRST = (S.LOSS, S.VAL_LOSS, S.LR, S.GRAD_NORM, S.WEIGHT_NORM, S.UPDATE_RATIO,
                  S.WD_SHARE, S.REG_LOSS, S.DEAD_FRAC, S.SATURATION, S.ACC, S.VAL_ACC)

# -- styles ----------------------------------------------------------------------------------
VERDICT_STYLE = {
    "confirmed": "bold green",
    "likely": "bold red",
    "possible": "yellow",
    "unlikely": "dim",
    "ruled_out": "dim strike",
}
_ROW_STYLE = {"unlikely": "dim", "ruled_out": "dim"}  # the whole row fades, not just the word
_SERIES_STYLE = {S.LOSS: "cyan", S.VAL_LOSS: "magenta"}


@dataclass(frozen=True)
class _Glyphs:
    spark: str
    bad: str  # a bin holding a NaN or inf
    bullet: str
    arrow: str
    dash: str  # ranges: steps 0-100
    dot: str  # separator between facts on one line
    ok: str
    fail: str
    ellipsis: str
    mark: str  # under the sparkline: where the symptoms are


_UNICODE = _Glyphs("▁▂▃▄▅▆▇█", "×", "•", "→", "–", "·", "✔", "✘", "…", "▔")
_ASCII = _Glyphs("_.-~=+*#", "x", "*", "->", "-", "|", "ok", "x", "...", "^")


def _glyphs(console: Console) -> _Glyphs:
    # A terminal that cannot encode the block characters gets an ASCII report, not an error.
    return _UNICODE if console.encoding.lower().startswith("utf") else _ASCII


# -- entry points ----------------------------------------------------------------------------
def render(diagnoses: Diagnosis | Sequence[Diagnosis], console: Console | None = None) -> None:
    """Render one diagnosis or several (one section per run, then a summary table)."""
    dxs = [diagnoses] if isinstance(diagnoses, Diagnosis) else list(diagnoses)
    console = console or Console()
    g = _glyphs(console)
    for i, dx in enumerate(dxs):
        if i:
            console.print()
        with np.errstate(all="ignore"):  # bins of values near 1e308 overflow to inf: shown as such
            _render_one(dx, console, g)
    if len(dxs) > 1:
        console.print()
        console.print(_heading(f"Summary of {len(dxs)} runs"))
        console.print(_indent(_summary_table(dxs, g)))


def render_quiet(diagnoses: Diagnosis | Sequence[Diagnosis],
                 console: Console | None = None) -> None:
    """One line per run: its name and its verdict."""
    dxs = [diagnoses] if isinstance(diagnoses, Diagnosis) else list(diagnoses)
    console = console or Console()
    g = _glyphs(console)
    for dx in dxs:
        line = Text.assemble((_name(dx), "bold"), ": ")
        line.append_text(_verdict(dx, g, hints=False))
        console.print(line, soft_wrap=True)  # one run, one line, however long: grep-able


def verdict_line(dx: Diagnosis, console: Console | None = None) -> Text:
    """The final line of a run's report, as rich Text."""
    g = _glyphs(console) if console is not None else _UNICODE
    return Text.assemble(("Verdict: ", "bold")).append_text(_verdict(dx, g))


# -- one run ---------------------------------------------------------------------------------
def _render_one(dx: Diagnosis, console: Console, g: _Glyphs) -> None:
    run = dx.run
    console.print(Rule(Text(f" {_name(dx)} ", style="bold"), style="cyan", align="left"))
    console.print(_indent(_header(dx, g, console.width - INDENT)))

    if run is not None and run.loss is not None:
        avail = console.width - INDENT - LABEL_WIDTH - 1
        lines, note = _glance(run, avail, g, dx.symptoms)
        console.print()
        console.print(_heading("The curve at a glance", note))
        for line in lines:
            console.print(_indent(line), overflow="ellipsis", no_wrap=True, crop=True)

    console.print()
    console.print(_heading("Symptoms", f"{len(dx.symptoms)} found" if dx.symptoms else None))
    if dx.symptoms:
        console.print(_indent(_symptoms(dx, g)))
    elif dx.healthy is None:
        console.print(_indent(Text(f"none seen, but {dx.inconclusive or 'the log cannot be judged'}",
                                   style="yellow")))
    else:
        console.print(_indent(Text("none: the loss curve looks healthy", style="green")))

    shown = _causes_to_show(dx)
    if shown:
        console.print()
        console.print(_heading("Causes", "most likely first"))
        console.print(_indent(_causes_table(shown, g)))

    if dx.missing:
        console.print()
        console.print(_heading("Missing evidence", "log these to decide between the causes"))
        console.print(_indent(_bullets(dx.missing, g)))

    warnings = _warnings(dx)
    if warnings:
        console.print()
        console.print(_heading("Warnings", "what the reader had to skip or repair"))
        console.print(_indent(_bullets(warnings, g, style="yellow")))

    console.print()
    console.print(_indent(verdict_line(dx, console)))


def _name(dx: Diagnosis) -> str:
    return printable(dx.run.name if dx.run is not None else dx.source)


def _heading(title: str, note: str | None = None) -> Text:
    t = Text(title, style="bold")
    if note:
        t.append(f"  ({note})", style="dim")
    return t


def _indent(renderable) -> Padding:
    # expand=False: no padding to the full width, so piped output has no trailing spaces
    return Padding(renderable, (0, 0, 0, INDENT), expand=False)


def _bullets(items: Iterable[str], g: _Glyphs, style: str = "") -> Table:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True, style=style or None)
    grid.add_column(style=style or None)
    for item in items:
        grid.add_row(g.bullet, Text(printable(item)))
    return grid


# -- header ----------------------------------------------------------------------------------
def _header(dx: Diagnosis, g: _Glyphs, width: int = 80) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(overflow="fold")  # a long path wraps whole rather than losing its end
    grid.add_row("source", Text(printable(dx.source)))
    run = dx.run
    if run is None:
        return grid
    fmt = printable(run.meta.get("format") or "unknown format", MAX_HPARAM_VALUE)
    unit = str(run.meta.get("step_unit") or "step")
    loss = run.loss
    points = _count(len(loss), "loss point") if loss is not None else "no loss series"
    grid.add_row("format", Text(f" {g.dot} ".join((fmt, points, f"logged per {unit}"))))
    budget = HEADER_LINES * (width - len("hparams") - 2)  # less the label column and padding
    grid.add_row("signals", _signals(run, budget))
    grid.add_row("hparams", _hparams(run.hparams, g, budget))
    return grid


def _signals(run: Run, budget: int) -> Text:
    first = {k: i for i, k in enumerate(_SIGNALS_FIRST)}
    names = sorted((k for k, v in run.series.items() if len(v) and S.layer_of(k)[1] is None),
                   key=lambda k: first.get(k, len(first)))  # stable: the rest keep log order
    per_layer = sum(1 for k, v in run.series.items() if len(v) and S.layer_of(k)[1] is not None)
    tail = f" (+ {per_layer} per-layer series)" if per_layer else ""
    text = _fit(names, budget - len(tail)) if names else Text("none")
    return text.append(tail, style="dim")


def _hparams(hparams, g: _Glyphs, budget: int) -> Text:
    if not hparams:
        return Text("none logged", style="dim")
    rank = {k: i for i, k in enumerate(_HPARAM_FIRST)}
    keys = sorted(hparams, key=lambda k: (rank.get(str(k).lower(), len(rank)), str(k)))
    parts = [f"{printable(k, MAX_HPARAM_VALUE, g.ellipsis)}={_short(hparams[k], g)}"
             for k in keys[:MAX_HPARAMS]]
    return _fit(parts, budget, total=len(keys))


def _fit(parts: Sequence[str], budget: int, total: int | None = None) -> Text:
    """``a, b, c (+ 12 more)``: as many parts as fit in about ``budget`` characters (wrapping
    breaks at spaces, so keep some slack), at least one."""
    total = len(parts) if total is None else total
    used = len(" (+ 999 more)") + 8
    shown: list[str] = []
    for part in parts:
        if shown and used + len(part) + 2 > budget:
            break
        shown.append(part)
        used += len(part) + 2
    text = Text(", ".join(printable(p) for p in shown))
    if total > len(shown):
        text.append(f" (+ {total - len(shown)} more)", style="dim")
    return text


def _short(value, g: _Glyphs) -> str:
    if isinstance(value, float):
        return fmt_num(value)
    # cut while it is built: str() of a nested value first could be exponentially long
    return short(value, MAX_HPARAM_VALUE, g.ellipsis)


# -- the curve at a glance ---------------------------------------------------------------------
def bin_means(steps: np.ndarray, values: np.ndarray, lo: float, hi: float, n: int):
    """Mean of the finite values in ``n`` equal step bins over ``[lo, hi]``, and whether each
    bin held a NaN or inf. Empty bins are NaN.

    Steps are sorted (the :class:`~lossdoctor.core.Series` contract), so the bin edges are
    found by binary search and the sums by one ``add.reduceat`` pass: ~30 ms for 10M points.
    Unsorted input takes a slower ``bincount`` path.
    """
    steps = np.asarray(steps, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    fin = np.isfinite(values)
    all_finite = bool(fin.all())
    if steps.size == 0:
        return np.full(n, np.nan), np.zeros(n, dtype=bool)
    if steps.size > 1 and not (steps[1:] >= steps[:-1]).all():
        return _bin_means_unsorted(steps, values, fin, lo, hi, n)
    if hi > lo:
        half = not math.isfinite(hi - lo)  # steps near +-1e308: their difference overflows
        edges = (lo / 2 + (hi / 2 - lo / 2) * (np.arange(1, n) / n)) * 2 if half else \
            lo + (hi - lo) * (np.arange(1, n) / n)
        bounds = np.concatenate(([0], np.searchsorted(steps, edges, side="left"), [steps.size]))
    else:
        bounds = np.concatenate(([0], np.full(n - 1, steps.size), [steps.size]))
    starts = np.minimum(bounds[:-1], steps.size - 1)
    if all_finite:
        counts = np.diff(bounds)
        sums = np.add.reduceat(values, starts)
        bad = np.zeros(n, dtype=bool)
    else:
        counts = np.add.reduceat(fin.astype(np.intp), starts)
        sums = np.add.reduceat(np.where(fin, values, 0.0), starts)
        bad = np.add.reduceat((~fin).astype(np.intp), starts) > 0
        empty = np.diff(bounds) == 0  # reduceat gives the start element for an empty slice
        counts[empty], bad[empty] = 0, False
    means = np.divide(sums, counts, out=np.full(n, np.nan), where=counts > 0)
    return means, bad


def _bin_means_unsorted(steps, values, fin, lo, hi, n):
    if hi > lo:
        idx = ((steps - lo) * (n / (hi - lo))).astype(np.intp)
        np.clip(idx, 0, n - 1, out=idx)
    else:
        idx = np.zeros(steps.shape, dtype=np.intp)
    bad = np.bincount(idx[~fin], minlength=n) > 0
    counts = np.bincount(idx[fin], minlength=n)
    sums = np.bincount(idx[fin], weights=values[fin], minlength=n)
    means = np.divide(sums, counts, out=np.full(n, np.nan), where=counts > 0)
    return means, bad


def _fill_gaps(means: np.ndarray) -> np.ndarray:
    """Interpolate empty bins between logged ones (a sparse validation loss reads as a line);
    bins before the first and after the last logged point stay empty."""
    have = np.flatnonzero(~np.isnan(means))
    if have.size < 2:
        return means
    out = means.copy()
    inside = np.arange(have[0], have[-1] + 1)
    gaps = inside[np.isnan(means[inside])]
    if gaps.size:
        out[gaps] = np.interp(gaps, have, means[have])
    return out


def sparkline(rows: Sequence[tuple[np.ndarray, np.ndarray]], g: _Glyphs = _UNICODE,
              log: bool | None = None) -> tuple[list[str], bool]:
    """Sparkline strings for binned series that share one scale, and whether it is a log scale.

    ``rows`` holds ``(means, bad)`` per series as from :func:`bin_means`. Empty bins print
    as spaces, bins that held a NaN or inf as ``g.bad``. ``log=None`` picks a log scale when
    the finite values span more than :data:`LOG_SCALE_RATIO`.
    """
    filled = [_fill_gaps(m) for m, _ in rows]
    finite = np.concatenate([m[np.isfinite(m)] for m in filled]) if filled else np.array([])
    if finite.size == 0:
        return ["".join(g.bad if b else " " for b in bad) for _, bad in rows], False
    vmin, vmax = float(finite.min()), float(finite.max())
    if log is None:
        log = vmin > 0 and vmax / vmin > LOG_SCALE_RATIO
    tr = np.log10 if log else (lambda a: a)
    tmin, tmax = float(tr(vmin)), float(tr(vmax))
    top = len(g.spark) - 1
    out = []
    for m, (_, bad) in zip(filled, rows):
        ok = np.isfinite(m)
        levels = np.zeros(m.shape, dtype=np.intp)
        if tmax > tmin:
            with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                # halves: a scale from -1e308 to 1e308 overflows as a difference
                t = (tr(np.where(ok, m, vmin)) / 2 - tmin / 2) / (tmax / 2 - tmin / 2)
            levels = np.clip(np.nan_to_num(np.rint(t * top), nan=0.0), 0, top).astype(np.intp)
        chars = [g.bad if b else (g.spark[lv] if o else " ") for lv, o, b in zip(levels, ok, bad)]
        out.append("".join(chars))
    return out, bool(log)


def _glance(run: Run, avail: int, g: _Glyphs, symptoms=()) -> tuple[list[Text], str]:
    unit = str(run.meta.get("step_unit") or "step")
    series: list[tuple[str, Series]] = [(S.LOSS, run.loss)]
    val = run.get(S.VAL_LOSS)
    if val is not None:
        series.append((S.VAL_LOSS, val))
    lo = min(float(s.steps[0]) for _, s in series)  # steps are sorted (Series contract)
    hi = max(float(s.steps[-1]) for _, s in series)
    points = max(len(s) for _, s in series)
    width = max(1, min(SPARK_MAX, avail, max(SPARK_MIN, points)))
    binned = [bin_means(s.steps, s.values, lo, hi, width) for _, s in series]
    sparks, log = sparkline(binned, g)

    lines: list[Text] = []
    for (name, _), spark in zip(series, sparks):
        line = Text(name.ljust(LABEL_WIDTH), style="dim")
        line.append(spark, style=_SERIES_STYLE.get(name, ""))
        for i, ch in enumerate(spark):
            if ch == g.bad:
                line.stylize("bold red", LABEL_WIDTH + i, LABEL_WIDTH + i + 1)
        lines.append(line)

    marks = symptom_marks(symptoms, lo, hi, width, g)
    if marks.strip():
        lines.append(Text("symptoms".ljust(LABEL_WIDTH), style="dim").append(marks, style="red"))

    left, right = fmt_step(lo), f"{fmt_step(hi)} {_plural(unit)}"
    gap = width - len(left) - len(right)
    axis = left + (" " * gap if gap >= 1 else f" {g.dash} ") + right
    lines.append(Text(" " * LABEL_WIDTH + axis, style="dim"))

    for name, s in series:
        line = Text(name.ljust(LABEL_WIDTH), style="dim")
        line.append_text(_stats(s, unit, g))
        lines.append(line)

    note = ["log scale" if log else "linear scale"]
    if val is not None:
        note.append("loss and val_loss share it")
    if any(b.any() for _, b in binned):
        note.append(f"{g.bad} = NaN or inf")
    return lines, ", ".join(note)


def symptom_marks(symptoms, lo: float, hi: float, n: int, g: _Glyphs = _UNICODE) -> str:
    """A row of ``n`` columns marking the bins that the symptoms' step ranges cover."""
    row = [" "] * n
    for s in symptoms:
        a, b = sorted((float(s.start), float(s.end)))
        if not (math.isfinite(a) and math.isfinite(b)) or b < lo or a > hi:
            continue
        i, j = (_bin_index(x, lo, hi, n) for x in (a, b))
        row[i:j + 1] = [g.mark] * (j + 1 - i)
    return "".join(row)


def _bin_index(x: float, lo: float, hi: float, n: int) -> int:
    # the same mapping as bin_means, for one value
    if hi <= lo:
        return 0
    if not math.isfinite(hi - lo):  # steps near +-1e308: their difference overflows
        x, lo, hi = x / 2, lo / 2, hi / 2
    t = (x - lo) * (n / (hi - lo))
    return min(max(int(t), 0), n - 1) if math.isfinite(t) else 0


def _stats(s: Series, unit: str, g: _Glyphs) -> Text:
    v = s.values
    fin = np.isfinite(v)
    n_bad = int(v.size - np.count_nonzero(fin))
    t = Text()
    t.append(f"first {fmt_num(v[0])}")
    if n_bad < v.size:
        i = int(np.argmin(v if not n_bad else np.where(fin, v, np.inf)))
        t.append(f"  {g.dot}  min {fmt_num(v[i])} at {unit} {fmt_step(s.steps[i])}")
    t.append(f"  {g.dot}  last {fmt_num(v[-1])}")
    if n_bad:
        t.append(f"  {g.dot}  {n_bad:,} NaN/inf", style="bold red")
    return t


# -- symptoms and causes -----------------------------------------------------------------------
def _symptoms(dx: Diagnosis, g: _Glyphs) -> Table:
    unit = str(dx.run.meta.get("step_unit") or "step") if dx.run is not None else "step"
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True, style="red")
    grid.add_column()
    for s in dx.symptoms:
        body = Text()
        body.append(symptom_title(s.id), style="bold")
        body.append(f"  {s.id}", style="dim")
        body.append("\n")
        body.append(f"{where(s.start, s.end, unit, g)}  {g.dot}  "
                    f"confidence {float(s.confidence):.2f}")
        if s.summary:
            body.append("\n")
            body.append(printable(s.summary))
        grid.add_row(g.bullet, body)
    return grid


def _causes_to_show(dx: Diagnosis):
    # A healthy run's causes are all unlikely or ruled out; listing them is noise.
    if dx.healthy:
        return [c for c in dx.causes if c.verdict in ("confirmed", "likely", "possible")]
    return list(dx.causes)


def _causes_table(causes, g: _Glyphs) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=True,
                  header_style="bold")
    table.add_column("verdict", no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("cause, evidence and fix", ratio=1, overflow="fold")
    for group in _group_causes(causes):
        c = group[0]
        vstyle = VERDICT_STYLE.get(c.verdict, "")
        title_style = "bold strike" if c.verdict == "ruled_out" else "bold"
        body = Text()
        for i, member in enumerate(group):
            if i:
                body.append("\n")
            body.append(cause_title(member), style=title_style)
            body.append(f"  {member.id}", style="dim")
        for e in c.evidence:
            body.append(f"\n{g.bullet} {printable(e)}")
        if _shows_fix(c):
            body.append("\nfix: ", style="bold green")
            body.append(printable(c.fix))
        table.add_row(Text(verdict_title(c.verdict), style=vstyle), Text(f"{float(c.score):.2f}"),
                      body, style=_ROW_STYLE.get(c.verdict))
    return table


def _shows_fix(c) -> bool:
    return bool(c.fix) and c.verdict not in ("unlikely", "ruled_out")


def _group_causes(causes) -> list[list]:
    """Causes that would print the same row but for their name (same verdict, score, evidence
    and shown fix) share one row, at the place of the first: a rules table often dismisses
    eight causes with one sentence, and eight copies of it bury the two that matter."""
    groups: dict[tuple, list] = {}
    for c in causes:
        fix = c.fix if _shows_fix(c) else ""
        key = (c.verdict, f"{float(c.score):.2f}", tuple(c.evidence), fix)
        groups.setdefault(key if c.evidence else (id(c),), []).append(c)
    return list(groups.values())


def _warnings(dx: Diagnosis) -> list[str]:
    """The diagnosis's warnings and its run's (readers put theirs on the Run), each once."""
    seen: dict[str, None] = {}
    for w in tuple(dx.warnings) + (tuple(dx.run.warnings) if dx.run is not None else ()):
        seen.setdefault(str(w), None)
    return list(seen)


def _verdict(dx: Diagnosis, g: _Glyphs, hints: bool = True) -> Text:
    """``✘ symptoms → likely cause(s)``; ``hints`` points to the sections above."""
    if dx.healthy:
        return Text.assemble((f"{g.ok} healthy", "bold green"), ": no symptoms found")
    if dx.healthy is None:
        t = Text.assemble(("? inconclusive", "bold yellow"), f": {dx.inconclusive or 'cannot be judged'}")
        for i, c in enumerate(dx.likely):
            t.append(f" {g.arrow} " if not i else "; ")
            t.append(f"{verdict_title(c.verdict)}: ", style=VERDICT_STYLE.get(c.verdict, ""))
            t.append(cause_title(c), style="bold")
            t.append(f" ({c.id})")
        return t
    t = Text()
    t.append(f"{g.fail} ", style="bold red")
    t.append(", ".join(s.id for s in dx.symptoms) or "symptoms found", style="bold red")
    decided = dx.likely
    possible = [c for c in dx.causes if c.verdict == "possible"]
    t.append(f" {g.arrow} ")
    if decided:
        for i, c in enumerate(decided):
            if i:
                t.append("; ")
            t.append(f"{verdict_title(c.verdict)}: ", style=VERDICT_STYLE.get(c.verdict, ""))
            t.append(cause_title(c), style="bold")
            t.append(f" ({c.id})", style="dim")
    elif possible:
        t.append(f"{len(possible)} possible cause{'s' if len(possible) > 1 else ''}: ",
                 style="yellow")
        t.append(", ".join(c.id for c in possible))
        if dx.missing and hints:
            t.append("; the missing evidence above would decide", style="dim")
    else:
        t.append("no known cause fits" + ("; see the symptoms above" if hints else ""),
                 style="dim")
    return t


def _summary_table(dxs: Sequence[Diagnosis], g: _Glyphs) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    table.add_column("run", overflow="fold")
    table.add_column("result")
    table.add_column("likely cause", overflow="fold")
    for dx in dxs:
        if dx.healthy:
            result = Text("healthy", style="green")
        elif dx.healthy is None:
            result = Text("inconclusive", style="yellow")
        else:
            result = Text(", ".join(s.id for s in dx.symptoms) or "symptoms", style="red")
        likely = ", ".join(c.id for c in dx.likely)
        if not likely and dx.healthy is False:
            n = sum(1 for c in dx.causes if c.verdict == "possible")
            likely = f"undecided ({n} possible)" if n else "-"
        table.add_row(Text(_name(dx)), result, Text(likely or "-"))
    return table


# -- number formatting -------------------------------------------------------------------------
def fmt_num(x) -> str:
    """A loss-like value in at most 4 significant digits: 2.303, 0.0412, 3.1e-06, 12,345."""
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    a = abs(x)
    if a == 0:
        return "0"
    if a < 1e-3 or a >= 1e9:
        return f"{x:.3g}"
    if a >= 1e4:
        return f"{x:,.0f}"
    return f"{x:.4g}"


def fmt_step(x) -> str:
    """A step or epoch: 1,500 or 2.5."""
    x = float(x)
    if not math.isfinite(x):
        return fmt_num(x)
    if x.is_integer():
        return f"{int(x):,}"
    return f"{x:.4g}"


def where(start, end, unit: str, g: _Glyphs = _UNICODE) -> str:
    """``steps 0–1,380`` or ``step 450`` (or epochs)."""
    if float(start) == float(end):
        return f"{unit} {fmt_step(start)}"
    return f"{_plural(unit)} {fmt_step(start)}{g.dash}{fmt_step(end)}"


def _plural(unit: str) -> str:
    return unit if unit.endswith("s") else unit + "s"


def _count(n: int, what: str) -> str:
    """``1 loss point``, ``1,500 loss points``."""
    return f"{n:,} {what}" if n == 1 else f"{n:,} {_plural(what)}"


__all__ = ["render", "render_quiet", "verdict_line", "bin_means", "sparkline", "fmt_num",
           "fmt_step", "where", "VERDICT_STYLE"]
