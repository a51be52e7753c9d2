"""What a recorded run holds, and how it is written in the log formats people have.

The ``jsonl`` format is lossdoctor's own monitor log (``lossdoctor.log/1``): a header line, then
one object per step with the run's internals. The other formats keep only what those tools log
(loss, validation loss, sometimes the learning rate), so the same run can be read back through
every reader. Keep this format stable: the live monitor writes the same.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

import numpy as np

SCHEMA = "lossdoctor.log/1"
FORMATS = ("jsonl", "csv", "keras_csv", "lightning", "tensorboard", "text", "trainer_state")
# Significant digits written by default: more than any detector needs.
#: Global keys a live monitor also records on sampled steps only (kept with the per-layer ones).
SAMPLED = ("grad_stale", "input_rms", "out_min", "out_max", "out_rowsum_dev")
DIGITS = 6
# Keys of a row that are bookkeeping, not series.
_AXES = ("step", "epoch")


@dataclass
class Recording:
    """One recorded run: ``rows`` are per-step dicts (``step``, ``epoch``, ``loss``, ``lr``,
    ``grad_norm``... and ``val_loss`` on the steps where validation ran). ``meta`` says how it
    was made (scenario, seed, runtime); it is never written into the logs, so a log does not
    give its own cause away."""

    hparams: dict[str, Any]
    model: dict[str, Any]
    rows: list[dict[str, float]]
    steps_per_epoch: int
    meta: dict[str, Any] = field(default_factory=dict)

    # -- reading -------------------------------------------------------------------------

    def keys(self) -> list[str]:
        """Every series name, in first-logged order."""
        seen: dict[str, None] = {}
        for r in self.rows:
            for k in r:
                if k not in _AXES:
                    seen.setdefault(k, None)
        return list(seen)

    def series(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, values)`` of one series over the rows that logged it."""
        pts = [(r["step"], r[key]) for r in self.rows if key in r]
        if not pts:
            return np.zeros(0), np.zeros(0)
        s, v = zip(*pts)
        return np.asarray(s, dtype=float), np.asarray(v, dtype=float)

    def values(self, key: str) -> np.ndarray:
        return self.series(key)[1]

    @property
    def n_steps(self) -> int:
        return len(self.rows)

    def layers(self, signal: str) -> list[str]:
        """Layer names of one per-layer signal (``grad_norm`` -> ``['net.0.weight', ...]``)."""
        prefix = signal + "/"
        return [k[len(prefix):] for k in self.keys() if k.startswith(prefix)]

    # -- thinning ------------------------------------------------------------------------

    def thin(self, max_points: int, *, layer_every: int = 1) -> "Recording":
        """Keep about ``max_points`` rows, evenly spaced (always the first and the last, and
        every non-finite loss). Rows are picked, not averaged, so noise and spikes keep their
        size. The stride is a multiple or a divisor of the validation interval where one is
        near, so kept rows carry validation values at an even pace. Per-layer keys (and the
        :data:`SAMPLED` ones) are kept on every ``layer_every``-th kept row only (a live monitor
        logs them less often, too)."""
        n = len(self.rows)
        val_every = int(self.meta.get("val_every", 0))
        stride = _stride(math.ceil(n / max(max_points, 1)), val_every)
        # On an aligned grid the kept rows carry validation values already (a stride coarser
        # than val_every keeps every k-th of them); off the grid every validation row stays.
        aligned = val_every > 0 and (stride % val_every == 0 or val_every % stride == 0)
        kept = [r for i, r in enumerate(self.rows)
                if i % stride == 0 or i == n - 1 or ("val_loss" in r and not aligned)
                or not _finite(r.get("loss", 0.0))]
        if layer_every > 1:
            kept = [r if j % layer_every == 0 else {k: v for k, v in r.items() if "/" not in k and k not in SAMPLED}
                    for j, r in enumerate(kept)]
        meta = dict(self.meta, thinned_stride=stride)
        return replace(self, rows=kept, meta=meta)

    # -- writing -------------------------------------------------------------------------

    def write(self, path: str | Path, fmt: str = "jsonl", *, digits: int = DIGITS) -> Path:
        """Write the run in one format; returns the file (or, for ``lightning`` and
        ``tensorboard``, the folder) written. ``path`` is the file, or the folder for
        ``lightning`` (``path/lightning_logs/version_0/``) and ``tensorboard``."""
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
        path = Path(path)
        writer = getattr(self, f"_write_{fmt}")
        return writer(path, digits)

    def _write_jsonl(self, path: Path, digits: int) -> Path:
        header = {"type": "header", "schema": SCHEMA, "hparams": _plain(self.hparams),
                  "model": _plain(self.model), "steps_per_epoch": self.steps_per_epoch}
        lines = [json.dumps(header)]
        lines += [json.dumps({k: _num(v, digits) for k, v in r.items()}) for r in self.rows]
        return _text(path, "\n".join(lines) + "\n")

    def _write_csv(self, path: Path, digits: int) -> Path:
        out = [["step", "loss", "val_loss"]]
        for r in self.rows:
            out.append([r["step"], _cell(digits, r.get("loss")), _cell(digits, r.get("val_loss"))])
        return _csv(path, out)

    def _write_keras_csv(self, path: Path, digits: int) -> Path:
        out = [["epoch", "loss", "val_loss"]]
        for epoch, rows in _by_epoch(self.rows):
            losses = [r["loss"] for r in rows if "loss" in r]
            vals = [r["val_loss"] for r in rows if "val_loss" in r]
            out.append([epoch, _cell(digits, float(np.mean(losses)) if losses else None),
                        _cell(digits, vals[-1] if vals else None)])
        return _csv(path, out)

    def _write_lightning(self, path: Path, digits: int) -> Path:
        import yaml

        folder = path / "lightning_logs" / "version_0"
        folder.mkdir(parents=True, exist_ok=True)
        out = [["epoch", "step", "train_loss_step", "val_loss"]]
        for r in self.rows:
            if "loss" in r:
                out.append([r["epoch"], r["step"], _cell(digits, r["loss"]), ""])
            if "val_loss" in r:
                out.append([r["epoch"], r["step"], "", _cell(digits, r["val_loss"])])
        _csv(folder / "metrics.csv", out)
        hp = {k: v for k, v in _plain(self.hparams).items() if v is not None}
        (folder / "hparams.yaml").write_text(yaml.safe_dump(hp, sort_keys=True))
        return folder

    def _write_tensorboard(self, path: Path, digits: int) -> Path:
        from torch.utils.tensorboard import SummaryWriter

        path.mkdir(parents=True, exist_ok=True)
        w = SummaryWriter(log_dir=str(path))
        try:
            for r in self.rows:
                if "loss" in r:
                    w.add_scalar("train/loss", r["loss"], r["step"])
                if "lr" in r:
                    w.add_scalar("train/lr", r["lr"], r["step"])
                if "val_loss" in r:
                    w.add_scalar("val/loss", r["val_loss"], r["step"])
        finally:
            w.close()
        return path

    def _write_text(self, path: Path, digits: int) -> Path:
        lines = []
        for r in self.rows:
            line = f"epoch {r['epoch']} step {r['step']} loss: {_fmt(r.get('loss'), digits)}"
            if "val_loss" in r:
                line += f" val_loss: {_fmt(r['val_loss'], digits)}"
            lines.append(line)
        return _text(path, "\n".join(lines) + "\n")

    def _write_trainer_state(self, path: Path, digits: int) -> Path:
        spe = max(self.steps_per_epoch, 1)
        hist: list[dict[str, Any]] = []
        for r in self.rows:
            epoch = round((r["step"] + 1) / spe, 4)
            if "loss" in r:
                e = {"epoch": epoch, "grad_norm": _num(r.get("grad_norm"), digits),
                     "learning_rate": _num(r.get("lr"), digits), "loss": _num(r["loss"], digits),
                     "step": r["step"]}
                hist.append({k: v for k, v in e.items() if v is not None})
            if "val_loss" in r:
                hist.append({"epoch": epoch, "eval_loss": _num(r["val_loss"], digits),
                             "step": r["step"]})
        last = self.rows[-1]["step"] if self.rows else 0
        state = {"best_metric": None, "best_model_checkpoint": None,
                 "epoch": round((last + 1) / spe, 4), "global_step": last,
                 "is_hyper_param_search": False, "is_local_process_zero": True,
                 "is_world_process_zero": True, "log_history": hist,
                 "logging_steps": int(self.meta.get("thinned_stride", 1)),
                 "max_steps": int(self.hparams.get("max_steps", last + 1)),
                 "num_train_epochs": math.ceil((last + 1) / spe),
                 "train_batch_size": self.hparams.get("batch_size")}
        return _text(path, json.dumps(state, indent=2) + "\n")


# -- helpers ---------------------------------------------------------------------------------

def _stride(target: int, val_every: int) -> int:
    """A stride near ``target`` that is a multiple or a divisor of ``val_every`` (so that
    validation rows fall on kept rows), or ``target`` itself when none is within 2x."""
    target = max(target, 1)
    if val_every <= 1:
        return target
    if target >= val_every:
        return math.ceil(target / val_every) * val_every
    d = next(d for d in range(target, val_every + 1) if val_every % d == 0)
    return d if d <= 2 * target else target


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _num(v: Any, digits: int = DIGITS) -> Any:
    """A number rounded to ``digits`` significant digits; NaN/inf stay as they are (JSON gets
    ``NaN``/``Infinity``, as Python's json writes them in real logs)."""
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return float(f"{v:.{digits}g}") if math.isfinite(v) else v
    return v


def _fmt(v: Any, digits: int = DIGITS) -> str:
    if v is None:
        return ""
    return f"{v:.4f}" if _finite(v) and abs(v) >= 1e-3 else f"{v:.{digits}g}"


def _cell(digits: int, v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return f"{v:.{digits}g}"


def _plain(d: Any) -> Any:
    """JSON/YAML-safe copy (tuples to lists, numpy scalars to Python numbers)."""
    if isinstance(d, dict):
        return {str(k): _plain(v) for k, v in d.items()}
    if isinstance(d, (list, tuple)):
        return [_plain(v) for v in d]
    if isinstance(d, np.generic):
        return d.item()
    return d


def _by_epoch(rows: Iterable[dict[str, float]]):
    cur: list[dict[str, float]] = []
    epoch = None
    for r in rows:
        if epoch is not None and r["epoch"] != epoch:
            yield epoch, cur
            cur = []
        epoch = r["epoch"]
        cur.append(r)
    if cur:
        yield epoch, cur


def _text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _csv(path: Path, rows: list[list[Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    return path
