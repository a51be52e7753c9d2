"""Plain-text training output: what a terminal (or ``nohup``, ``tee``, a W&B ``output.log``)
kept of a run. Many people have nothing else.

Each line is searched for ``key <sep> number`` pairs::

    epoch 3 loss: 0.41 val_loss: 0.52          Epoch [3/50], Loss: 0.41, Accuracy: 83.1%
    Epoch 3/200 | Loss: 0.5                    step=120 loss=2.3 lr=1e-3
    iter 120: loss 2.3                         train loss 2.3 | valid loss 2.1
    {'loss': 0.69, 'grad_norm': 1.2, 'learning_rate': 5e-05, 'epoch': 0.1}
    100/100 [====] - 2s 20ms/step - loss: 0.41 - val_loss: 0.52        (Keras, after "Epoch 3/10")
    100%|####| 50/50 [00:01<00:00, loss=0.23, lr=0.001]                 (tqdm postfix)

``key: number`` and ``key=number`` accept any key of up to three words; ``key number`` (no
separator) only a known metric word (loss, acc, lr, epoch, step, ...) that does not follow a
plain word, so prose such as "saved with accuracy 93.45%" is not read as a metric.

Lines are cut at carriage returns and backspaces, the way progress bars redraw themselves, and
only the final state of each bar counts (the last piece, and any piece that a new bar or plain
text followed). A bar that stopped short of its total (a run killed mid-epoch, or a per-batch
refresh that landed on its own line) counts only when the log has no finished ones.

Lines without a step or epoch inherit the last one seen ("Epoch: 3/30" on one line, the losses
on the next ones). The step axis is the logged step/iteration when every loss line has one
(per-epoch batch counters such as ``Step [100/600]`` are made global), else the epoch, else
the order of the loss lines; ``Run.meta['step_unit']`` says which (``step``, ``epoch``,
``row``). ``key: value`` lines before the first metric line (a printed config) become
hyper-parameters.

Known limits: a metric whose name is a sentence ("the loss is now 0.3") is not read; two runs
printed interleaved into one file are read as one.
"""

from __future__ import annotations

import bisect
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .. import signals as S
from ..core import LogError, Run
from ._common import read_text_bytes, series_to_run
from .hparams import canonicalize

FORMAT = "text_log"

# -- sniffing ----------------------------------------------------------------------------------
SNIFF_MANY = 0.6  # three or more loss-like pairs: below the structured formats, which are surer
SNIFF_FEW = 0.45  # one or two loss-like pairs in the first 64 KiB
SNIFF_EPOCHS = 0.25  # "Epoch N" lines but no loss yet (a long model summary first)
SNIFF_WANDB = 0.45  # W&B's files/output.log: the run's stdout by construction
SNIFF_TEXT_LOG = 0.1  # any readable .log/.txt/.out: it might be a terminal log
SNIFF_TEXT = 0.05  # any other readable text
SNIFF_JSON = 0.1  # a JSON document or JSON lines: another reader's format
SNIFF_MANY_HITS = 3
# Share of undecodable characters above which the "text" is really binary.
MAX_BAD_CHARS = 0.01
_LOG_SUFFIXES = (".log", ".txt", ".out", ".err", ".stdout", ".stderr")
_WANDB_SIBLINGS = ("wandb-summary.json", "wandb-metadata.json", "config.yaml")

_SNIFF_LOSS = re.compile(r"(?i)loss['\"]?\s*[:=]?\s*(?:tensor\()?[-+]?(?:\d|\.\d|nan|inf)")
_SNIFF_EPOCH = re.compile(r"(?i)\bepoch\b\s*[:=]?\s*[\[(#]?\s*\d")

# -- parsing -----------------------------------------------------------------------------------
_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?i:nan|inf(?:inity)?)(?![a-zA-Z])"
# What may follow a value: "%", "/N" (of a total); not a unit ("2s", "12it/s"), not a thousands
# separator ("4,961"), not tqdm's "100%|".
_VALUE = (r"(?:tensor\()?(?P<val>" + _NUM + r")(?:\s*/\s*(?P<of>\d+))?(?P<pct>\s?%)?"
          r"(?![\w.%|]|,\d)")
_WORD = r"[A-Za-z](?:[\w.\-/@]*\w)?"
# A key starts at a word boundary: not inside "20ms/step" or "lr0.5".
_KEY_START = r"(?<![\w.\-/@'\"])"
_SEP_PAIR = re.compile(
    _KEY_START + r"(?P<q>['\"]?)(?P<key>" + _WORD + r"(?: " + _WORD + r"){0,2})(?P=q)"
    r"\s*[:=]\s*(?P<br>[\[(#]\s*)?" + _VALUE)
_QUALIFIERS = ("train", "training", "trn", "tr", "val", "valid", "validation", "eval",
               "evaluation", "test", "dev", "avg", "average", "mean", "total", "running",
               "overall", "epoch", "batch", "global", "final", "current", "smoothed")
_METRIC_WORDS = ("loss", "acc", "accuracy", "lr", "learning rate", "ppl", "perplexity", "epoch",
                 "step", "iter", "iteration", "it", "batch", "global step", "grad norm",
                 "grad_norm", "gnorm", "learning_rate", "val_loss", "train_loss", "num_updates",
                 "nll_loss")
_SPACE_PAIR = re.compile(
    r"(?i)" + _KEY_START + r"(?P<key>(?:(?:" + "|".join(_QUALIFIERS) + r")[ _])?(?:"
    + "|".join(sorted((w.replace(" ", "[ _]") for w in _METRIC_WORDS), key=len, reverse=True))
    + r"))\s+(?P<br>[\[(#]\s*)?" + _VALUE)
# "Train Epoch: 1 [640/60000 (1%)]" (PyTorch's MNIST example), "Epoch: [3][100/500]":
# progress inside the epoch.
_SUB_EPOCH = re.compile(r"\]?\s*\[\s*(\d+)\s*/\s*(\d+)\s*[\](\s]")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_REDRAW = re.compile(r"[\r\x08]+")
# tqdm: " 87%|####4    | 341/390 [00:27<00:03, ...]"; Keras: "341/390 [====>....]" or "━━".
# The bar between the pipes holds no pipe: [^|]* keeps each try short (".*?" scanned to the end
# of the line from every "%|", quadratic on a long line).
_TQDM = re.compile(r"\d%\|[^|]*\|\s*(\d+)/(\d+)")
_KERAS_BAR = re.compile(r"^\s*(\d+)/(\d+)\s*(?:\[|━)")
# A line that reports an evaluation: "Test set: Average loss: ...", "[val] loss=...", and
# fairseq's "| valid on 'valid' subset | loss 5.96".
_SPLIT_LINE = re.compile(r"(?i)^\W*(test|val|valid|validation|eval|evaluation|dev)\b"
                         r"|\b(valid|test) on '\w+' subset\b")

_VAL_WORDS = {"val": "val", "valid": "val", "validation": "val", "eval": "val",
              "evaluation": "val", "dev": "val", "test": "test"}
_STEP_KEYS = {"step", "global_step", "iter", "iteration", "it", "batch", "update", "n_iter",
              "train/step", "trainer/global_step", "_step", "num_updates", "global_iter"}
_EPOCH_KEYS = {"epoch", "ep"}
_ACC_WORDS = ("acc", "accuracy")
# Progress-bar bookkeeping, not metrics.
_NOISE_KEYS = {"v_num", "eta", "it/s", "s/it"}
PERCENT = 100.0
# Share of loss lines that may repeat the step (or epoch) of the loss line before them and the
# axis still be trusted: fairseq and others print an epoch summary at the epoch's last step.
MAX_REPEATS = 0.1


def sniff(path: Path, head: bytes) -> float:
    if not head or b"\x00" in head[:4096]:
        return 0.0
    text = head.decode("utf-8", errors="replace")
    if text.count("\ufffd") > MAX_BAD_CHARS * len(text):
        return 0.0
    start = text.lstrip()[:2]
    json_like = start.startswith("[") or start in ('{"', "{\n", "{\r")
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith('{"')]
    hits = sum(1 for ln in lines if _SNIFF_LOSS.search(ln))
    if hits >= SNIFF_MANY_HITS:
        score = SNIFF_MANY
    elif hits:
        score = SNIFF_FEW
    elif sum(1 for ln in lines if _SNIFF_EPOCH.search(ln)) >= 2:
        score = SNIFF_EPOCHS
    else:
        score = SNIFF_TEXT_LOG if path.suffix.lower() in _LOG_SUFFIXES else SNIFF_TEXT
    if path.name == "output.log" and any((path.parent / s).is_file() for s in _WANDB_SIBLINGS):
        score = max(score, SNIFF_WANDB)
    if json_like:
        score = min(score, SNIFF_JSON)
    return score


#: Text logs are read whole (a few times their size in memory): bigger ones are refused.
MAX_TEXT_BYTES = 1 << 30
#: A line (once progress-bar redraws are split off) longer than this is not terminal output;
#: it is skipped, which also bounds what each line costs the patterns below.
MAX_LINE_CHARS = 1 << 20


def read(path: Path) -> Run:
    path = Path(path)
    data, warnings = read_text_bytes(path, MAX_TEXT_BYTES)
    if b"\x00" in data[:4096]:
        raise LogError(f"{path}: binary content, not a text log")
    return parse(data.decode("utf-8", errors="replace"), path, warnings)


_METRIC, _EPOCH, _STEP = 0, 1, 2
# Numbers as the parser sees them, for line templates: "step=120 loss=2.3" and
# "step=121 loss=2.2" share the template "step=# loss=#", whose regex scan is done once.
_TOKEN = re.compile(r"(?=[-+.\d])(?<![\w.])([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)")
_NANINF = re.compile(r"(?i)nan|inf")
# Templates kept; logs have few distinct line shapes, and each prose line makes its own.
MAX_TEMPLATES = 20_000
_SLOW: Any = object()  # marker: this template cannot stand for other lines, scan each in full


class _Spec(NamedTuple):
    """Where one metric sits on a line: character spans, or token indices once planned."""

    name: str
    kind: int
    val: Any
    of: Any = None
    sub_k: Any = None
    sub_n: Any = None
    acc: str | None = None  # "pct": "83.1%"; "of": "9898/10000"
    key: tuple[int, int] = (0, 0)


class _Table:
    """What the lines said, one row per metric line: its step/epoch (own or inherited) and,
    per metric name, which rows logged it with which value."""

    def __init__(self) -> None:
        self.step: list[float] = []
        self.step_of: list[float] = []
        self.epoch: list[float] = []
        self.partial: list[bool] = []
        self.cols: dict[str, tuple[list[int], list[float]]] = {}

    def __len__(self) -> int:
        return len(self.step)


def parse(text: str, source: str | Path = "<text>", warnings: list[str] | None = None) -> Run:
    """Parse terminal output already in memory (:func:`read` for a file)."""
    tab = _Table()
    hparams_raw: dict[str, Any] = {}
    planned: dict[str, int] = {}
    nan = float("nan")
    step = step_of = epoch = nan
    started = False
    plans: dict[str, Any] = {}
    lines = text.split("\n")
    too_long = 0
    for physical in lines:
        # a bar redrawn with carriage returns or backspaces: only its final states count
        pieces = _final_states(physical) if "\r" in physical or "\x08" in physical else (physical,)
        for line in pieces:
            if len(line) > MAX_LINE_CHARS:
                too_long += 1  # data, not terminal output (a JSON document on one line)
                continue
            if "\x1b" in line:
                line = _ANSI.sub("", line)
            parts = _TOKEN.split(line)
            if len(parts) == 1 and not _NANINF.search(line):
                continue  # no number on the line
            tpl = "\x00".join(parts[0::2])
            plan = plans.get(tpl)
            if plan is None:
                specs = _scan(line)
                plan = _index(specs, parts)
                if len(plans) < MAX_TEMPLATES:
                    plans[tpl] = _SLOW if plan is None else plan
                pairs = _values(specs, line) if plan is None else _read_plan(plan, parts[1::2])
            elif plan is _SLOW:
                pairs = _values(_scan(line), line)
            else:
                pairs = _read_plan(plan, parts[1::2])
            if not pairs:
                continue
            metrics: dict[str, float] = {}
            own_step = own_epoch = None
            lossy = False
            for name, kind, value, of in pairs:
                if kind == _EPOCH:
                    if own_epoch is None:
                        own_epoch = value
                        if of:
                            planned.setdefault("epochs", of)
                elif kind == _STEP:
                    if own_step is None:
                        own_step, step_of = value, (of or nan)
                elif name not in metrics:
                    metrics[name] = value
                    lossy = lossy or _is_loss(name)
            if not started and own_step is None and own_epoch is None and not lossy:
                for k, v in metrics.items():  # a printed config before training starts
                    hparams_raw.setdefault(k, int(v) if v.is_integer() else v)
                continue
            started = True
            if own_epoch is not None:
                epoch = own_epoch
            if own_step is not None:
                step = own_step
            if metrics:
                row = len(tab.step)
                tab.step.append(step)
                tab.step_of.append(step_of if own_step is not None else nan)
                tab.epoch.append(epoch)
                tab.partial.append(_partial_bar(line))
                cols = tab.cols
                for k, v in metrics.items():
                    col = cols.get(k)
                    if col is None:
                        col = cols[k] = ([], [])
                    col[0].append(row)
                    col[1].append(v)
    warnings = list(warnings or [])
    long_note = (f"{too_long} line(s) longer than {MAX_LINE_CHARS:,} characters were not read "
                 f"(no terminal prints such lines)") if too_long else ""
    if too_long:
        warnings.append(f"{source}: {long_note}")
    bar = _bar_state(_last_line(lines))
    if bar is not None and bar[0] < bar[1]:
        warnings.append(f"{source}: the log ends inside an unfinished progress bar "
                        f"({bar[0]}/{bar[1]}): the run was stopped mid-epoch")
    try:
        raw, unit = _columns(tab, source)
    except LogError as exc:
        if not too_long:
            raise
        raise LogError(f"{exc}; {long_note}") from None
    hparams = canonicalize(hparams_raw) if hparams_raw else {}
    for k, v in planned.items():
        hparams.setdefault(k, v)
    return series_to_run(source, raw, FORMAT, hparams=hparams, warnings=warnings,
                         step_unit=unit, meta={"lines": len(lines)})


def _last_line(lines: list[str]) -> str:
    for line in reversed(lines):
        pieces = _final_states(line) if "\r" in line or "\x08" in line else [line]
        if pieces and pieces[-1].strip():
            return _ANSI.sub("", pieces[-1])
    return ""


def _final_states(line: str) -> list[str]:
    """The pieces of a redrawn line that were not redrawn over by the same bar: the last one,
    and each one followed by a new bar (its counter starts again) or by plain text."""
    pieces = [p for p in _REDRAW.split(line) if p.strip()]
    if len(pieces) < 2:
        return pieces
    states = [_bar_state(_ANSI.sub("", p) if "\x1b" in p else p) for p in pieces]
    keep = []
    for i, (piece, state) in enumerate(zip(pieces, states)):
        nxt = states[i + 1] if i + 1 < len(pieces) else None
        if nxt is None or state is None or nxt[0] < state[0]:
            keep.append(piece)
    return keep


def _scan(line: str) -> list[_Spec]:
    """Every metric on a line, in the order they appear (the regex path)."""
    found: list[_Spec] = []
    taken: list[tuple[int, int]] = []
    if ":" in line or "=" in line:
        for m in _SEP_PAIR.finditer(line):
            sp = _spec(line, m)
            if sp is not None:
                found.append(sp)
                taken.append(m.span())
    for m in _SPACE_PAIR.finditer(line):
        s, e = m.span()
        if any(s < te and e > ts for ts, te in taken):
            continue
        before = line[:s].rstrip()
        if before and before[-1].isalpha():
            continue  # "saved with accuracy 93.4%": prose, not a metric
        sp = _spec(line, m)
        if sp is not None:
            found.append(sp)
    if not found:
        return found
    found.sort(key=lambda sp: sp.key)
    split = _split_of(line)
    if split is not None:
        found = [sp._replace(name=_with_split(sp.name, split)) if sp.kind == _METRIC else sp
                 for sp in found]
    return found


def _spec(line: str, m: re.Match) -> _Spec | None:
    name = _name(m.group("key"))
    if name in _NOISE_KEYS:
        return None
    kind = _EPOCH if name in _EPOCH_KEYS else _STEP if name in _STEP_KEYS else _METRIC
    if m.group("br") and kind == _METRIC:
        return None  # "Mean: [0.49 0.48 0.45]" is a list, not a metric
    of = m.span("of") if m.group("of") else None
    sub_k = sub_n = acc = None
    if kind == _EPOCH:
        s = _SUB_EPOCH.match(line, m.end())
        if s:
            sub_k, sub_n = s.span(1), s.span(2)
    elif kind == _METRIC and any(w in name for w in _ACC_WORDS):
        acc = "pct" if m.group("pct") else "of" if of else None
    return _Spec(name, kind, m.span("val"), of, sub_k, sub_n, acc, m.span("key"))


def _index(specs: list[_Spec], parts: list[str]) -> tuple[_Spec, ...] | None:
    """The specs with spans replaced by token indices, or None when the line's template cannot
    stand for other lines (a number inside a key, a value the tokenizer cuts differently)."""
    where: dict[tuple[int, int], int] = {}
    starts: list[int] = []  # token starts, in order: a binary search per key, not a scan
    pos = 0
    for i, part in enumerate(parts):
        if i % 2:
            where[(pos, pos + len(part))] = i // 2
            starts.append(pos)
        pos += len(part)
    out = []
    for sp in specs:
        ks, ke = sp.key
        j = bisect.bisect_left(starts, ks)
        if j < len(starts) and starts[j] < ke:  # a number inside the key
            return None
        spans = (sp.val, sp.of, sp.sub_k, sp.sub_n)
        idx = [None if x is None else where.get(x) for x in spans]
        if any(i is None and x is not None for i, x in zip(idx, spans)):
            return None
        out.append(sp._replace(val=idx[0], of=idx[1], sub_k=idx[2], sub_n=idx[3]))
    return tuple(out)


def _read_plan(plan: tuple[_Spec, ...], nums: list[str]) -> list[tuple[str, int, float, Any]]:
    out = []
    for name, kind, vi, oi, ki, ni, acc, _ in plan:
        if oi is None and ki is None and acc is None:
            out.append((name, kind, float(nums[vi]), None))
            continue
        of = int(nums[oi]) if oi is not None else None
        k = int(nums[ki]) if ki is not None else 0
        n = int(nums[ni]) if ni is not None else 0
        out.append((name, kind, _adjust(acc, float(nums[vi]), of, k, n), of))
    return out


def _values(specs: list[_Spec], line: str) -> list[tuple[str, int, float, Any]]:
    out = []
    for sp in specs:
        value = float(line[sp.val[0]:sp.val[1]])
        of = int(line[sp.of[0]:sp.of[1]]) if sp.of is not None else None
        k = int(line[sp.sub_k[0]:sp.sub_k[1]]) if sp.sub_k is not None else 0
        n = int(line[sp.sub_n[0]:sp.sub_n[1]]) if sp.sub_n is not None else 0
        out.append((sp.name, sp.kind, _adjust(sp.acc, value, of, k, n), of))
    return out


def _adjust(acc: str | None, value: float, of: int | None, sub_k: int, sub_n: int) -> float:
    if sub_n > 0:  # "Train Epoch: 1 [640/60000 (1%)]" is epoch 1.0107
        value += sub_k / sub_n
    if acc == "pct":
        value /= PERCENT
    elif acc == "of" and of:
        value /= of  # "Accuracy: 9898/10000"
    return value


@lru_cache(maxsize=4096)
def _name(key: str) -> str:
    """A raw key as a column name that :func:`signals.canonical` understands."""
    joined = re.sub(r"[\s]+", "_", key.strip().lower())
    if joined in _EPOCH_KEYS or joined in _STEP_KEYS or S.canonical(joined) is not None:
        return joined
    words = [w for w in re.split(r"[\s_]+", key.strip().lower()) if w]
    last, quals = words[-1], words[:-1]
    if not quals or not all(q in _QUALIFIERS for q in quals):
        return joined
    if last in _EPOCH_KEYS or last in ("step", "iter", "iteration"):
        return last  # "Train Epoch", "global step"
    if last == "loss" or last in _ACC_WORDS:
        base = "accuracy" if last in _ACC_WORDS else "loss"
        split = next((_VAL_WORDS[q] for q in quals if q in _VAL_WORDS), None)
        return f"{split}_{base}" if split else base
    return joined


def _split_of(line: str) -> str | None:
    m = _SPLIT_LINE.search(line)
    return _VAL_WORDS[(m.group(1) or m.group(2)).lower()] if m else None


def _with_split(name: str, split: str) -> str:
    """On an evaluation line, metrics without a split of their own belong to that split."""
    if name.split("_", 1)[0] in _VAL_WORDS or "train" in name:
        return name
    return f"{split}_{name}"


@lru_cache(maxsize=4096)
def _is_loss(name: str) -> bool:
    return S.canonical(name) in (S.LOSS, S.VAL_LOSS) or name.endswith("loss")


def _bar_state(line: str) -> tuple[int, int] | None:
    m = (_TQDM.search(line) if "%|" in line else None) or _KERAS_BAR.match(line)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _partial_bar(line: str) -> bool:
    if "%|" not in line and "/" not in line:
        return False
    bar = _bar_state(line)
    return bar is not None and bar[0] < bar[1]


def _columns(tab: _Table, source) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], str]:
    """Pick the step axis and cut the table into per-name (steps, values)."""
    n = len(tab)
    partial = np.asarray(tab.partial, dtype=bool)
    loss_keys = [k for k in tab.cols if _is_loss(k)]
    if not loss_keys:
        raise LogError(f"{source}: no loss values found (looked for lines such as "
                       f"'epoch 3 loss: 0.41' or 'step=120 loss=2.3')")
    keep = np.ones(n, dtype=bool)
    if partial.any():
        finished = np.zeros(n, dtype=bool)
        for k in loss_keys:
            finished[tab.cols[k][0]] = True
        if (finished & ~partial).any():
            keep = ~partial  # redraws of a bar count only when no finished bar logged a loss
    cols = {}
    for k, (rows, vals) in tab.cols.items():
        rows_a = np.asarray(rows, dtype=np.int64)
        ok = keep[rows_a]
        if ok.any():
            cols[k] = (rows_a[ok], np.asarray(vals, float)[ok])
    step = _global_steps(np.asarray(tab.step, float), np.asarray(tab.step_of, float),
                         np.asarray(tab.epoch, float))
    epoch = np.asarray(tab.epoch, float)
    main = _main_loss({k: len(v[0]) for k, v in cols.items() if _is_loss(k)})
    main_rows = cols[main][0]
    if _usable(step[main_rows]):
        unit, axis = "step", step
    elif _usable(epoch[main_rows]):
        unit, axis = "epoch", epoch
    else:  # the order of the loss lines; other lines belong to the loss line before them
        unit = "row"
        is_main = np.zeros(n, dtype=bool)
        is_main[main_rows] = True
        axis = (np.cumsum(is_main) - 1).astype(float)
        axis[axis < 0] = np.nan
    raw = {}
    for k, (rows, vals) in cols.items():
        x = axis[rows]
        ok = np.isfinite(x)
        x, v = x[ok], vals[ok]
        if x.size:
            last = _last_of_runs(x)
            raw[k] = (x[last], v[last])
    if unit == "step" and S.EPOCH not in raw:
        ok = np.isfinite(step) & np.isfinite(epoch) & keep
        if ok.any():
            s, e = step[ok], epoch[ok]
            first = np.ones(s.size, dtype=bool)
            first[1:] = s[1:] != s[:-1]
            raw[S.EPOCH] = (s[first], e[first])
    return raw, unit


def _global_steps(step: np.ndarray, step_of: np.ndarray, epoch: np.ndarray) -> np.ndarray:
    """``Epoch [2/10], Step [100/600]`` counts batches inside the epoch: when the step only ever
    goes back where the epoch changes, add up the epochs before it (their ``/600`` totals, or
    their last step when no total is printed)."""
    has = np.flatnonzero(np.isfinite(step))
    if has.size < 2:
        return step
    s, e = step[has], epoch[has]
    back = np.flatnonzero(s[1:] < s[:-1]) + 1
    if back.size == 0:
        return step
    if not np.all(np.isfinite(e[back]) & (e[back] != e[back - 1])):
        return step  # a restart, not a per-epoch counter: keep the steps as logged
    of = step_of[has]
    known = np.where(np.isfinite(of), of, np.nan)
    # the last printed total up to each point (forward fill)
    idx = np.where(np.isfinite(known), np.arange(known.size), 0)
    np.maximum.accumulate(idx, out=idx)
    total = known[idx]
    add = np.zeros(s.size)
    prev_total = total[back - 1]
    add[back] = np.where(np.isfinite(prev_total), prev_total, s[back - 1])
    out = step.copy()
    out[has] = s + np.cumsum(add)
    return out


def _main_loss(counts: dict[str, int]) -> str:
    """The loss column the axis is judged on: the most logged training loss (nanoGPT prints
    ``iter N: loss`` every step and ``step N: train loss`` at evaluations, on the same steps)."""
    train = {k: c for k, c in counts.items() if S.canonical(k) == S.LOSS}
    pool = train or counts
    return max(pool, key=lambda k: (pool[k], -S.alias_rank(k)))


def _usable(x: np.ndarray) -> bool:
    """Every loss line has this axis value, and few repeat the one before."""
    if not x.size or not np.isfinite(x).all():
        return False
    return int((x[1:] == x[:-1]).sum()) <= MAX_REPEATS * (x.size - 1)


def _last_of_runs(x: np.ndarray) -> np.ndarray:
    """Mask keeping the last of consecutive points on the same step (a summary line printed
    at the step of the line before it replaces it, without a restart warning)."""
    keep = np.ones(x.size, dtype=bool)
    keep[:-1] = x[1:] != x[:-1]
    return keep
