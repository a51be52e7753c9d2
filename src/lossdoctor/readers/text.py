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

Lines are cut at carriage returns and backspaces and only the last piece counts: progress bars
redraw themselves that way, and the final state of a bar is the one that means something. A bar
that stopped short of its total (a run killed mid-epoch, or a per-batch refresh that landed on
its own line) counts only when the log has no finished ones.

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

import re
from pathlib import Path
from typing import Any

import numpy as np

from .. import signals as S
from ..core import LogError, Run
from ._common import series_to_run
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
                 "grad_norm", "gnorm", "learning_rate", "val_loss", "train_loss")
_SPACE_PAIR = re.compile(
    r"(?i)" + _KEY_START + r"(?P<key>(?:(?:" + "|".join(_QUALIFIERS) + r")[ _])?(?:"
    + "|".join(sorted((w.replace(" ", "[ _]") for w in _METRIC_WORDS), key=len, reverse=True))
    + r"))\s+(?P<br>[\[(#]\s*)?" + _VALUE)
# "Train Epoch: 1 [640/60000 (1%)]" (PyTorch's MNIST example), "Epoch: [3][100/500]":
# progress inside the epoch.
_SUB_EPOCH = re.compile(r"\]?\s*\[\s*(\d+)\s*/\s*(\d+)\s*[\](\s]")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_REDRAW = re.compile(r"[\r\x08]+")
_CANDIDATE = re.compile(r"\d|(?i:nan|inf)")
# tqdm: " 87%|####4    | 341/390 [00:27<00:03, ...]"; Keras: "341/390 [====>....]" or "━━".
_TQDM = re.compile(r"\d%\|.*?\|\s*(\d+)/(\d+)")
_KERAS_BAR = re.compile(r"^\s*(\d+)/(\d+)\s*(?:\[|━)")
# A line that reports an evaluation: "Test set: Average loss: ...", "[val] loss=...".
_SPLIT_LINE = re.compile(r"(?i)^\W*(test|val|valid|validation|eval|evaluation|dev)\b")

_VAL_WORDS = {"val": "val", "valid": "val", "validation": "val", "eval": "val",
              "evaluation": "val", "dev": "val", "test": "test"}
_STEP_KEYS = {"step", "global_step", "iter", "iteration", "it", "batch", "update", "n_iter",
              "train/step", "trainer/global_step", "_step", "num_updates", "global_iter"}
_EPOCH_KEYS = {"epoch", "ep"}
_ACC_WORDS = ("acc", "accuracy")
# Progress-bar bookkeeping, not metrics.
_NOISE_KEYS = {"v_num", "eta", "it/s", "s/it"}
PERCENT = 100.0


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


def read(path: Path) -> Run:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LogError(f"{path}: cannot be opened ({exc.strerror or exc})") from None
    if b"\x00" in data[:4096]:
        raise LogError(f"{path}: binary content, not a text log")
    text = data.decode("utf-8", errors="replace")
    return parse(text, path)


class _Rec:
    __slots__ = ("line", "step", "step_of", "epoch", "values", "partial", "loss")

    def __init__(self, line, step, step_of, epoch, values, partial):
        self.line, self.step, self.step_of, self.epoch = line, step, step_of, epoch
        self.values, self.partial = values, partial
        self.loss = any(_is_loss(k) for k in values)


def parse(text: str, source: str | Path = "<text>") -> Run:
    """Parse terminal output already in memory (``read`` for a file)."""
    records: list[_Rec] = []
    hparams_raw: dict[str, Any] = {}
    planned: dict[str, int] = {}
    step = step_of = epoch = None
    started = False
    last_line = ""
    for lineno, line in enumerate(text.split("\n"), 1):
        if "\r" in line or "\x08" in line:
            line = _last_piece(line)
        if "\x1b" in line:
            line = _ANSI.sub("", line)
        if line.strip():
            last_line = line
        if not _CANDIDATE.search(line):
            continue
        pairs = _pairs(line)
        if not pairs:
            continue
        metrics: dict[str, float] = {}
        own_step = own_epoch = None
        for name, value, of, sub in pairs:
            if name in _EPOCH_KEYS:
                if own_epoch is None:
                    own_epoch = value + (sub if sub is not None else 0.0)
                    if of:
                        planned.setdefault("epochs", of)
            elif name in _STEP_KEYS:
                if own_step is None:
                    own_step, step_of = value, of
            elif name not in metrics:
                metrics[name] = value
        if not started and own_step is None and own_epoch is None and not any(
                _is_loss(k) for k in metrics):
            for k, v in metrics.items():  # a printed config before training starts
                hparams_raw.setdefault(k, int(v) if v.is_integer() else v)
            continue
        started = True
        if own_epoch is not None:
            epoch = own_epoch
        if own_step is not None:
            step = own_step
        if metrics:
            records.append(_Rec(lineno, step, step_of if own_step is not None else None, epoch,
                                metrics, _partial_bar(line)))
    warnings: list[str] = []
    bar = _bar_state(last_line)
    if bar is not None and bar[0] < bar[1]:
        warnings.append(f"{source}: the log ends inside an unfinished progress bar "
                        f"({bar[0]}/{bar[1]}): the run was stopped mid-epoch")
    if any(r.loss and not r.partial for r in records):
        records = [r for r in records if not r.partial]
    if not any(r.loss for r in records):
        raise LogError(f"{source}: no loss values found (looked for lines such as "
                       f"'epoch 3 loss: 0.41' or 'step=120 loss=2.3')")
    _globalize_steps(records)
    raw, unit = _columns(records)
    hparams = canonicalize(hparams_raw) if hparams_raw else {}
    for k, v in planned.items():
        hparams.setdefault(k, v)
    return series_to_run(source, raw, FORMAT, hparams=hparams, warnings=warnings,
                         step_unit=unit, meta={"records": len(records)})


def _last_piece(line: str) -> str:
    """The final state of a line that was redrawn with carriage returns or backspaces."""
    for piece in reversed(_REDRAW.split(line)):
        if piece.strip():
            return piece
    return ""


def _pairs(line: str) -> list[tuple[str, float, int | None, float | None]]:
    """(name, value, total-after-slash, progress-inside-epoch) for each metric on a line, in
    the order they appear."""
    found: list[tuple[int, tuple]] = []
    taken: list[tuple[int, int]] = []
    for m in _SEP_PAIR.finditer(line):
        p = _pair(line, m)
        if p is not None:
            found.append((m.start(), p))
            taken.append(m.span())
    for m in _SPACE_PAIR.finditer(line):
        s, e = m.span()
        if any(s < te and e > ts for ts, te in taken):
            continue
        before = line[:s].rstrip()
        if before and before[-1].isalpha():
            continue  # "saved with accuracy 93.4%": prose, not a metric
        p = _pair(line, m)
        if p is not None:
            found.append((s, p))
    if not found:
        return []
    found.sort(key=lambda t: t[0])
    out = [p for _, p in found]
    split = _split_of(line)
    if split is not None:
        out = [(_with_split(n, split), v, of, sub) for n, v, of, sub in out]
    return out


def _pair(line: str, m: re.Match) -> tuple[str, float, int | None, float | None] | None:
    name = _name(m.group("key"))
    if name in _NOISE_KEYS:
        return None
    axis = name in _EPOCH_KEYS or name in _STEP_KEYS
    if m.group("br") and not axis:
        return None  # "Mean: [0.49 0.48 0.45]" is a list, not a metric
    value = float(m.group("val"))
    of = int(m.group("of")) if m.group("of") else None
    sub = None
    if name in _EPOCH_KEYS:
        s = _SUB_EPOCH.match(line, m.end())
        if s and int(s.group(2)) > 0:
            sub = int(s.group(1)) / int(s.group(2))
    elif not axis and any(w in name for w in _ACC_WORDS):
        if m.group("pct"):
            value /= PERCENT
        elif of:
            value /= of  # "Accuracy: 9898/10000"
    return name, value, of, sub


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
    m = _SPLIT_LINE.match(line)
    return _VAL_WORDS[m.group(1).lower()] if m else None


def _with_split(name: str, split: str | None) -> str:
    """On an evaluation line, unqualified losses and accuracies belong to that split."""
    if split is None or S.canonical(name) not in (S.LOSS, S.ACC) or "train" in name:
        return name
    return f"{split}_{name}"


def _is_loss(name: str) -> bool:
    return S.canonical(name) in (S.LOSS, S.VAL_LOSS) or name.endswith("loss")


def _bar_state(line: str) -> tuple[int, int] | None:
    m = _TQDM.search(line) or _KERAS_BAR.match(line)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _partial_bar(line: str) -> bool:
    bar = _bar_state(line)
    return bar is not None and bar[0] < bar[1]


def _globalize_steps(records: list[_Rec]) -> None:
    """``Epoch [2/10], Step [100/600]`` counts batches inside the epoch: when the step only ever
    goes back where the epoch changes, add up the epochs before it (their ``/600`` totals, or
    their last step when no total is printed)."""
    stepped = [r for r in records if r.step is not None]
    resets = 0
    for a, b in zip(stepped, stepped[1:]):
        if b.step < a.step:
            if b.epoch is None or b.epoch == a.epoch:
                return  # a restart, not a per-epoch counter: keep the steps as logged
            resets += 1
    if not resets:
        return
    raw = [r.step for r in stepped]
    offset, total = 0.0, None
    for i, r in enumerate(stepped):
        total = r.step_of or total
        if i and raw[i] < raw[i - 1]:
            offset += total or raw[i - 1]
        r.step = raw[i] + offset


def _columns(records: list[_Rec]) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], str]:
    key = _main_loss(records)
    losses = [r for r in records if key in r.values]
    if _usable(r.step for r in losses):
        unit, axis = "step", [r.step for r in records]
    elif _usable(r.epoch for r in losses):
        unit, axis = "epoch", [r.epoch for r in records]
    else:
        unit, axis, i = "row", [], -1
        for r in records:
            if r in losses:
                i += 1
            axis.append(i if i >= 0 else None)
    cols: dict[str, tuple[list[float], list[float]]] = {}
    for r, x in zip(records, axis):
        if x is None:
            continue
        for k, v in r.values.items():
            st, va = cols.setdefault(k, ([], []))
            st.append(x)
            va.append(v)
        if unit == "step" and r.epoch is not None:
            st, va = cols.setdefault(S.EPOCH, ([], []))
            if not st or st[-1] != x:
                st.append(x)
                va.append(r.epoch)
    raw = {k: (np.asarray(s, float), np.asarray(v, float)) for k, (s, v) in cols.items()}
    return raw, unit


def _main_loss(records: list[_Rec]) -> str:
    """The loss column the axis is judged on: the most logged training loss (nanoGPT prints
    ``iter N: loss`` every step and ``step N: train loss`` at evaluations, on the same steps)."""
    counts: dict[str, int] = {}
    for r in records:
        for k in r.values:
            if _is_loss(k):
                counts[k] = counts.get(k, 0) + 1
    train = {k: n for k, n in counts.items() if S.canonical(k) == S.LOSS}
    pool = train or counts
    return max(pool, key=lambda k: (pool[k], -S.alias_rank(k)))


def _usable(values) -> bool:
    """Every loss line has this axis and no two loss lines in a row share a value."""
    prev = object()
    for v in values:
        if v is None or v == prev:
            return False
        prev = v
    return True
