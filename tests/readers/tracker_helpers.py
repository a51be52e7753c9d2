"""One run written three ways for the tracker tests: as a CSV (with an hparams.json sidecar),
into MLflow through its client, into a W&B offline run through ``wandb.log``. The same numbers
and hyper-parameters go into each, so the diagnoses must agree."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

import lossdoctor

ROOT = Path(__file__).resolve().parents[2]
#: Example runs with different symptoms and (with their internals) different true causes.
CASES = ("jena_lr_low", "overfit_moons", "lr_high_divergence", "jena_healthy")


def source_run(case: str):
    return lossdoctor.read(ROOT / "examples" / f"{case}.jsonl")


def metrics(run) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The run's series under their logged names, steps as whole numbers."""
    return {k: (s.steps.astype(int), s.values) for k, s in run.series.items() if len(s)}


def params(run) -> dict:
    """The scalar hyper-parameters (trackers store params as flat strings)."""
    return {k: v for k, v in run.hparams.items()
            if isinstance(v, (int, float, str, bool)) and v is not None}


def write_csv(run, folder: Path) -> Path:
    """A wide CSV of every series (empty cells where a series has no point) and hparams.json."""
    folder.mkdir(parents=True, exist_ok=True)
    m = metrics(run)
    steps = np.unique(np.concatenate([s for s, _ in m.values()]))
    cols = {}
    for name, (s, v) in m.items():
        col = [""] * steps.size
        for i, val in zip(np.searchsorted(steps, s), v):
            col[i] = repr(float(val))
        cols[name] = col
    lines = [",".join(["step"] + list(cols))]
    for i, st in enumerate(steps):
        lines.append(",".join([str(int(st))] + [c[i] for c in cols.values()]))
    path = folder / "metrics.csv"
    path.write_text("\n".join(lines) + "\n")
    (folder / "hparams.json").write_text(json.dumps(params(run)))
    return path


def log_mlflow(client, experiment: str, run_name: str, run) -> str:
    """Log the run with the MLflow client (log_batch: 1000 metrics a call, MLflow's limit)."""
    from mlflow.entities import Metric, Param

    exp = client.get_experiment_by_name(experiment)
    exp_id = exp.experiment_id if exp else client.create_experiment(experiment)
    r = client.create_run(exp_id, run_name=run_name)
    ms = [Metric(name, float(val) if math.isfinite(val) else float(val), 0, int(st))
          for name, (s, v) in metrics(run).items() for st, val in zip(s, v)]
    ps = [Param(k, str(v)) for k, v in params(run).items()]
    client.log_batch(r.info.run_id, params=ps)
    for i in range(0, len(ms), 1000):
        client.log_batch(r.info.run_id, metrics=ms[i:i + 1000])
    client.set_terminated(r.info.run_id)
    return r.info.run_id


_WANDB_SCRIPT = r"""
import json, sys, wandb
spec = json.load(open(sys.argv[1]))
run = wandb.init(project="lossdoctor-test", mode="offline", dir=spec["dir"], name=spec["name"],
                 config=spec["config"])
for step, row in spec["rows"]:
    run.log({k: float(v) for k, v in row.items()}, step=step)
run.finish()
"""


def log_wandb(folder: Path, name: str, run, config: dict | None = None) -> Path:
    """An offline W&B run of these numbers, made by the wandb package in a child process (as a
    training script would); returns its run folder."""
    m = metrics(run)
    rows: dict[int, dict] = {}
    for key, (s, v) in m.items():
        for st, val in zip(s, v):
            rows.setdefault(int(st), {})[key] = val if math.isfinite(val) else str(val)
    spec = {"dir": str(folder), "name": name, "config": params(run) if config is None else config,
            "rows": sorted(rows.items())}
    folder.mkdir(parents=True, exist_ok=True)
    spec_path = folder / "spec.json"
    spec_path.write_text(json.dumps(spec))
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DISABLE_CODE": "true",
           "WANDB_CONSOLE": "off"}
    subprocess.run([sys.executable, "-c", _WANDB_SCRIPT, str(spec_path)], check=True, env=env,
                   timeout=180, capture_output=True)
    spec_path.unlink()
    runs = sorted((folder / "wandb").glob("offline-run-*"))
    return runs[-1]


def same_diagnosis(a, b) -> None:
    assert [s.id for s in a.symptoms] == [s.id for s in b.symptoms]
    assert a.healthy == b.healthy
    assert (a.causes[0].id, a.causes[0].verdict) == (b.causes[0].id, b.causes[0].verdict)
