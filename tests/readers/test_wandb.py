"""W&B runs read as they are: real offline runs made by the wandb package (no account, no
network) and read back through its own reader of ``.wandb`` logs, and the CSV a W&B chart
exports. Each is diagnosed the same as the same numbers written to a CSV."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tracker_helpers import CASES, log_wandb, metrics, same_diagnosis, source_run, write_csv

import lossdoctor
from lossdoctor.core import LogError
from lossdoctor.readers import wandb as reader
from lossdoctor.readers import wandb_csv

pytest.importorskip("wandb")


@pytest.fixture(scope="module")
def offline_runs(tmp_path_factory):
    """A project folder whose wandb/ holds one offline run per case."""
    root = tmp_path_factory.mktemp("wandb_project")
    folders = {case: log_wandb(root, case, source_run(case)) for case in CASES}
    return root, folders


@pytest.fixture(scope="module")
def csv_diagnoses(tmp_path_factory):
    root = tmp_path_factory.mktemp("csv")
    return {case: lossdoctor.diagnose(write_csv(source_run(case), root / case)) for case in CASES}


def test_offline_runs_diagnose_like_the_csv(offline_runs, csv_diagnoses):
    root, folders = offline_runs
    for case, folder in folders.items():
        run = lossdoctor.read(folder)
        src = source_run(case)
        assert run.meta["format"] == "wandb"
        assert run.name.startswith(f"{case} (")  # the display name, then the run id
        for name, (steps, values) in metrics(src).items():
            assert list(run.series[name].steps) == list(steps), name
        assert run.hparams["lr"] == src.hparams["lr"]
        same_diagnosis(lossdoctor.diagnose(run), csv_diagnoses[case])


def test_the_wandb_folder_holds_one_run_per_run_folder(offline_runs):
    root, folders = offline_runs
    dxs = lossdoctor.diagnose_all(root / "wandb")
    assert sorted(dx.run.meta["wandb_run_id"] for dx in dxs) == sorted(
        f.name.rsplit("-", 1)[1] for f in folders.values())
    # and the .wandb file alone
    log = next(folders["jena_lr_low"].glob("run-*.wandb"))
    assert lossdoctor.read(log).name == lossdoctor.read(folders["jena_lr_low"]).name


def test_nan_and_nested_and_text_values(tmp_path):
    import dataclasses

    import numpy as np

    from lossdoctor.core import Series

    steps = np.arange(40.0)
    loss = np.linspace(2.0, 1.0, 40)
    loss[30] = np.nan
    loss[31] = np.inf
    src = lossdoctor.Run("x", {"loss": Series("loss", steps, loss)})
    folder = log_wandb(tmp_path, "nan-run", src, config={"opt": {"lr": 0.5, "name": "sgd"}})
    run = lossdoctor.read(folder)
    v = run.series["loss"].values
    assert np.isnan(v[30]) and np.isinf(v[31]) and v[0] == 2.0
    assert run.hparams["lr"] == 0.5  # nested config flattened
    assert lossdoctor.diagnose(run).symptom("nan_inf") is not None
    del dataclasses


def test_chart_export_csv(tmp_path, csv_diagnoses):
    """The CSV of a W&B line chart: Step, then '<run> - <metric>' with __MIN/__MAX per run."""
    cases = ("jena_lr_low", "overfit_moons")
    runs = {c: source_run(c) for c in cases}
    steps = sorted({int(s) for r in runs.values() for s in r.series["loss"].steps})
    head = ['"Step"']
    for c in cases:
        head += [f'"{c} - train/loss"', f'"{c} - train/loss__MIN"', f'"{c} - train/loss__MAX"']
    lines = [",".join(head)]
    for st in steps:
        row = [f'"{st}"']
        for c in cases:
            s = runs[c].series["loss"]
            hit = np.flatnonzero(s.steps == st)
            cell = f'"{float(s.values[hit[0]])!r}"' if hit.size else '""'
            row += [cell, cell, cell]
        lines.append(",".join(row))
    path = tmp_path / "wandb_export_2026-12-04T10_00_00.csv"
    path.write_text("\n".join(lines) + "\n")
    got = lossdoctor.read_all(path)
    assert [r.name for r in got] == [f"{path.name}: {c}" for c in cases]
    for c, run in zip(cases, got):
        assert run.meta["format"] == "wandb_csv"
        loss_only = lossdoctor.Run("x", {"loss": runs[c].series["loss"]})
        expected = lossdoctor.diagnose(write_csv(loss_only, tmp_path / c))
        same_diagnosis(lossdoctor.diagnose(run), expected)
    with pytest.raises(LogError, match="read them all"):
        wandb_csv.read(path)


def test_without_wandb_the_message_names_the_install(offline_runs):
    root, folders = offline_runs
    log = next(folders["jena_lr_low"].glob("run-*.wandb"))
    code = ("import sys; sys.modules['wandb'] = None; sys.modules['wandb.util'] = None\n"
            "from lossdoctor.readers import wandb as r\n"
            "from lossdoctor.core import LogError\n"
            "try:\n    r.read(__import__('pathlib').Path(sys.argv[1]))\n"
            "except LogError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code, str(log)], capture_output=True, text=True,
                         timeout=60).stdout
    assert "pip install 'lossdoctor[wandb]'" in out


import numpy as np  # noqa: E402  (used by the chart-export test)
