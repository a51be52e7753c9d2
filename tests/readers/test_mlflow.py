"""MLflow runs read through MLflow's own client: a sqlite store (MLflow 3's default), the old
file store, and a local ``mlflow server`` started here on 127.0.0.1. Each run is diagnosed the
same as the same numbers written to a CSV."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from pathlib import Path

import pytest
from tracker_helpers import CASES, log_mlflow, metrics, same_diagnosis, source_run, write_csv

import lossdoctor
from lossdoctor import cli
from lossdoctor.core import LogError
from lossdoctor.readers import mlflow as reader

mlflow = pytest.importorskip("mlflow")
# MLflow's own dependencies warn about their deprecations while we write the test stores
pytestmark = pytest.mark.filterwarnings("ignore")


def _client(uri: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mlflow.MlflowClient(tracking_uri=uri)


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory):
    """One mlflow.db holding every case, as runs of one experiment, plus one other experiment."""
    folder = tmp_path_factory.mktemp("mlflow_sqlite")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = _client(uri)
    ids = {case: log_mlflow(client, "cases", case, source_run(case)) for case in CASES}
    log_mlflow(client, "other", "healthy_adam", lossdoctor.read(Path("examples/healthy_adam.jsonl")))
    return folder / "mlflow.db", uri, ids


@pytest.fixture(scope="module")
def csv_diagnoses(tmp_path_factory):
    root = tmp_path_factory.mktemp("csv")
    return {case: lossdoctor.diagnose(write_csv(source_run(case), root / case)) for case in CASES}


def test_sqlite_uri_diagnoses_like_the_csv(sqlite_store, csv_diagnoses):
    db, uri, ids = sqlite_store
    runs = reader.read_uri(uri, experiment="cases")
    assert [r.name for r in runs] == [f"cases/{c}" for c in CASES]
    for case, run in zip(CASES, runs):
        src = source_run(case)
        # metrics keep their steps, every point of their history
        for name, (steps, values) in metrics(src).items():
            got = run.series[name] if name in run.series else run.series[name.lower()]
            assert list(got.steps) == list(steps)
        assert run.hparams["lr"] == src.hparams["lr"]
        assert run.hparams["optimizer"] == src.hparams["optimizer"]
        assert run.meta["mlflow_run_id"] == ids[case]
        same_diagnosis(lossdoctor.diagnose(run), csv_diagnoses[case])


def test_an_mlflow_db_given_as_a_path_is_read_as_a_store(sqlite_store):
    db, uri, ids = sqlite_store
    runs = lossdoctor.read_all(db)
    assert len(runs) == len(CASES) + 1
    assert {r.meta["mlflow_experiment"] for r in runs} == {"cases", "other"}
    # found inside a project folder too, beside other logs
    dxs = lossdoctor.diagnose_all(db.parent)
    assert len(dxs) == len(CASES) + 1


def test_narrowed_by_run_and_experiment(sqlite_store):
    db, uri, ids = sqlite_store
    one = reader.read_uri(uri, run=ids["overfit_moons"])
    assert [r.name for r in one] == ["cases/overfit_moons"]
    assert [r.name for r in reader.read_uri(uri, experiment="other")] == ["other/healthy_adam"]
    with pytest.raises(LogError, match="no MLflow experiment named 'nope'.*cases"):
        reader.read_uri(uri, experiment="nope")


def test_cli_mlflow_option(sqlite_store, tmp_path, capsys):
    db, uri, ids = sqlite_store
    out = tmp_path / "r.html"
    code = cli.main(["diagnose", "--mlflow", uri, "--experiment", "cases", "--quiet", "--html", str(out)])
    text = capsys.readouterr().out
    assert code == 1  # overfitting, divergence...
    assert all(f"cases/{c}" in text for c in CASES)
    assert out.is_file() and "cases/jena_lr_low" in out.read_text()


def test_a_missing_sqlite_file_is_an_error_not_a_new_store(tmp_path):
    with pytest.raises(LogError, match="no such sqlite file"):
        reader.read_uri(f"sqlite:///{tmp_path / 'typo.db'}")
    assert not (tmp_path / "typo.db").exists()


def test_file_store_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 wants the opt-out to write one
    # the file store keeps a metric per file: grad_norm beside grad_norm/<layer> cannot be
    # written there, so this run is the curve alone
    src = source_run("jena_lr_low")
    src = dataclasses.replace(src, series={k: src.series[k] for k in ("loss", "val_loss")})
    expected = lossdoctor.diagnose(write_csv(src, tmp_path / "csv"))
    store = tmp_path / "project" / "mlruns"
    client = _client(f"file:{store}")
    log_mlflow(client, "cases", "jena_lr_low", src)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")  # reading sets it for itself
    runs = lossdoctor.read_all(store)
    assert [r.name for r in runs] == ["cases/jena_lr_low"]
    same_diagnosis(lossdoctor.diagnose(runs[0]), expected)
    assert expected.symptom("plateau_then_drop") is not None
    assert "MLFLOW_ALLOW_FILE_STORE" not in os.environ
    assert [r.name for r in reader.read_uri(f"file:{store}")] == ["cases/jena_lr_low"]
    # a project folder holding mlruns/: the store is found and read whole
    assert [r.name for r in lossdoctor.read_all(store.parent)] == ["mlruns: cases/jena_lr_low"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_local_tracking_server(tmp_path, csv_diagnoses):
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
         f"sqlite:///{tmp_path / 'server.db'}", "--default-artifact-root", str(tmp_path / "art"),
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, "mlflow server exited"
            assert time.monotonic() < deadline, "mlflow server did not start in 90 s"
            time.sleep(0.5)
        client = _client(url)
        for case in ("jena_lr_low", "overfit_moons"):
            log_mlflow(client, "served", case, source_run(case))
        runs = reader.read_uri(url, experiment="served")
        assert [r.name for r in runs] == ["served/jena_lr_low", "served/overfit_moons"]
        for case, run in zip(("jena_lr_low", "overfit_moons"), runs):
            same_diagnosis(lossdoctor.diagnose(run), csv_diagnoses[case])
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


def test_without_mlflow_the_message_names_the_install(tmp_path):
    code = ("import sys; sys.modules['mlflow'] = None\n"
            "from lossdoctor.readers import mlflow as r\n"
            "from lossdoctor.core import LogError\n"
            "open(sys.argv[1], 'w').close()\n"
            "try:\n    r.read_uri('sqlite:///' + sys.argv[1])\n"
            "except LogError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "m.db")], capture_output=True,
                         text=True, timeout=60).stdout
    assert "pip install 'lossdoctor[mlflow]'" in out


def test_a_run_without_a_loss_is_skipped_not_fatal(tmp_path, capsys):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = _client(uri)
    log_mlflow(client, "mixed", "good", source_run("jena_lr_low"))
    exp = client.get_experiment_by_name("mixed").experiment_id
    bad = client.create_run(exp, run_name="accuracy-only")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client.log_metric(bad.info.run_id, "accuracy", 0.5, step=0)
        client.log_metric(bad.info.run_id, "accuracy", 0.6, step=1)
    code = cli.main(["diagnose", "--mlflow", uri, "--json"])
    assert code == 1
    doc = json.loads(capsys.readouterr().out)  # one run diagnosed, the other named as skipped
    assert doc["symptoms"][0]["id"] == "plateau_then_drop"
    assert any("skipped" in w and bad.info.run_id in w and "no training loss" in w for w in doc["warnings"])
