"""Write the committed example logs::

    python -m lossdoctor.scenarios.make_examples examples/

For each example scenario: ``<name>.csv`` (loss only: ``step,loss,val_loss``) and
``<name>.jsonl`` (the monitor log, with internals), plus ``README.md`` and ``manifest.json``
listing every run with its true cause. A run whose curve fails its self-check is not written:
the script stops with the reason.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Sequence

from . import SCENARIOS, record, selfcheck
from .checks import levels
from .recording import Recording

#: Jena's four runs and her healthy baseline, one run per other cause, two healthy controls.
EXAMPLES = (
    "jena_regularization", "jena_lr_low", "jena_local_minimum", "jena_lr_high", "jena_healthy",
    "regularization_sgd_wd", "lr_low_shallow", "stuck_deep_linear", "lr_high_divergence",
    "schedule_long_warmup", "bad_init_large", "vanishing_sigmoid", "exploding_deep_init",
    "dead_relu_bias", "overfit_moons", "data_unshuffled", "missing_zero_grad",
    "softmax_before_ce", "healthy_adam", "healthy_warmup_cosine",
)
# Committed files stay small: the loss-only CSV keeps every step up to this many points, the
# JSONL keeps fewer rows, with per-layer values on every LAYER_EVERY-th of them.
CSV_POINTS = 600
JSONL_POINTS = 80
LAYER_EVERY = 6
CSV_DIGITS = 5
JSONL_DIGITS = 4


def write_example(name: str, out: Path, rec: Recording | None = None) -> list[Path]:
    rec = rec if rec is not None else record(name)
    fails = selfcheck(name, rec)
    if fails:
        raise RuntimeError(f"{name}: does not show what it claims: {'; '.join(fails)}")
    return [rec.thin(CSV_POINTS).write(out / f"{name}.csv", "csv", digits=CSV_DIGITS),
            rec.thin(JSONL_POINTS, layer_every=LAYER_EVERY).write(
                out / f"{name}.jsonl", "jsonl", digits=JSONL_DIGITS)]


def _row(name: str, rec: Recording) -> dict:
    sc = SCENARIOS[name]
    start, end = levels(rec.values("loss"))
    return {"name": name, "cause": sc.cause, "symptom": sc.symptom, "group": sc.group,
            "story": " ".join(sc.story.split()), "steps": rec.n_steps,
            "loss_start": round(start, 4), "loss_end": round(end, 4),
            "files": [f"{name}.csv", f"{name}.jsonl"]}


def _readme(rows: list[dict]) -> str:
    lines = [
        "# Example logs",
        "",
        "Real small trainings (PyTorch on CPU, scikit-learn's bundled datasets), each with a",
        "known fault, written by `python -m lossdoctor.scenarios.make_examples examples/`.",
        "Every run comes twice: `<name>.csv` holds the loss only (`step,loss,val_loss`, empty",
        "cells where validation did not run), `<name>.jsonl` is the monitor log with the run's",
        "internals (learning rate, gradient, weight and update norms, weight-decay share,",
        "activation statistics, per layer too). The logs do not name their cause: this table",
        "does (and `manifest.json`, for scripts). Long runs are thinned (every k-th step kept,",
        "not averaged) to keep the files small; `lossdoctor.scenarios.record(name)` gives every",
        "step.",
        "",
        "Jena's case is the seed's quiz: one network, four runs, one per answer. The first three",
        "show the same curve (the loss sits at chance, then drops late) for three different",
        "reasons; only their internals tell them apart.",
        "",
        "| run | true cause | curve shows | steps | loss start -> end | what happens |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| `{r['name']}` | {r['cause'] or 'healthy'} | {r['symptom'] or 'healthy'} "
                     f"| {r['steps']} | {r['loss_start']:.3g} -> {r['loss_end']:.3g} "
                     f"| {r['story']} |")
    lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    out = Path(args[0] if args else "examples")
    names = args[1:] or list(EXAMPLES)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in names:
        rec = record(name)
        try:
            write_example(name, out, rec)
        except RuntimeError as exc:
            sys.exit(str(exc))
        rows.append(_row(name, rec))
    (out / "manifest.json").write_text(json.dumps(rows, indent=1) + "\n")
    (out / "README.md").write_text(_readme(rows))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
