"""MLflow runs, read through MLflow's own client (``MlflowClient``), whatever the store:

- a tracking URI: ``sqlite:///mlflow.db``, ``file:./mlruns``, ``http://127.0.0.1:5000``
  (:func:`read_uri`, ``lossdoctor diagnose --mlflow URI [--experiment NAME] [--run ID]``);
- an ``mlflow.db`` file (MLflow 3's default store) or an ``mlruns/`` folder given as a path.

Every run is one :class:`~lossdoctor.core.Run` named ``<experiment>/<run name>``: each metric
with its full history (``get_metric_history``: every logged step, no sampling), its steps kept;
the run's params become hyper-parameters (numbers parsed back from MLflow's strings).

MLflow 3 keeps its old file store (``mlruns/``) behind an opt-out, ``MLFLOW_ALLOW_FILE_STORE``;
reading a folder someone already has is what that store still exists for, so the opt-out is set
while one is read. A sqlite URI must name an existing file: the client would otherwise create
an empty store where the user mistyped a path.

``mlflow`` is an optional extra (``pip install 'lossdoctor[mlflow]'``), imported only when a
run is read; sniffing a file needs only the standard library.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import warnings as _warnings
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..core import LogError, Run
from ._common import series_to_run
from .hparams import canonicalize

FORMAT = "mlflow"
INSTALL_HINT = "pip install 'lossdoctor[mlflow]'"
#: The tables that make a sqlite file an MLflow tracking store.
_TABLES = {"experiments", "runs", "metrics", "params"}
_SQLITE_MAGIC = b"SQLite format 3\x00"
#: Runs per page when listing an experiment.
PAGE = 1000


# -- the reader protocol ------------------------------------------------------------------------
def sniff(path: Path, head: bytes) -> float:
    """A sqlite file holding MLflow's tables."""
    if not head.startswith(_SQLITE_MAGIC):
        return 0.0
    try:
        con = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)
        try:
            names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            con.close()
    except sqlite3.Error:
        return 0.0
    return 0.95 if _TABLES <= names else 0.0


def claims_folder(folder: Path) -> bool:
    """An ``mlruns/`` file store: experiment folders, each with a ``meta.yaml`` naming it (a
    run's ``meta.yaml`` names its run, one level further down)."""
    folder = Path(folder)
    try:
        for exp in folder.iterdir():
            meta = exp / "meta.yaml"
            if not (exp.is_dir() and meta.is_file()):
                continue
            text = meta.read_text(errors="replace")
            if "experiment_id" in text and "lifecycle_stage" in text and "run_uuid" not in text:
                return True
    except OSError:
        return False
    return False


def read(path: Path) -> Run:
    """The one run of a store (several runs: use :func:`read_many`)."""
    runs = read_many(path)
    if len(runs) > 1:
        raise LogError(f"{path}: holds {len(runs)} MLflow runs; read them all with read_all()")
    return runs[0]


def read_many(path: Path) -> list[Run]:
    """Every run of an ``mlflow.db`` file or an ``mlruns/`` folder."""
    path = Path(path).resolve()
    uri = f"file://{path}" if path.is_dir() else f"sqlite:///{path}"
    return read_uri(uri, source=str(path))


def read_uri(uri: str, *, experiment: str | None = None, run: str | None = None,
             source: str | None = None) -> list[Run]:
    """Every run at a tracking URI, or those of one experiment (name or id), or one run (id
    or name)."""
    uri = _checked(uri)
    mlflow = _import_mlflow(uri)
    with _quiet(uri.startswith("file:")):
        client = mlflow.MlflowClient(tracking_uri=uri)
        try:
            found = list(_runs(mlflow, client, experiment, run))
        except LogError:
            raise
        except Exception as exc:
            raise LogError(f"{uri}: MLflow could not list the runs ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
        if not found:
            what = (f"run {run!r}" if run else f"experiment {experiment!r}" if experiment else "runs")
            raise LogError(f"{uri}: no MLflow {what} found")
        runs, errors = [], []
        for exp_name, r in found:
            try:
                runs.append(_to_run(client, uri, source or uri, exp_name, r))
            except LogError as exc:
                errors.append(str(exc))
    if not runs:
        raise LogError("; ".join(errors))
    if errors:
        import dataclasses

        runs[0] = dataclasses.replace(runs[0], warnings=runs[0].warnings + tuple(
            f"skipped: {e}" for e in errors))
    return runs


# -- internals ----------------------------------------------------------------------------------
def _checked(uri: str) -> str:
    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///"):])
        if not db.is_file():
            raise LogError(f"{uri}: no such sqlite file ({db})")
    elif uri.startswith("file:"):
        folder = Path(uri[len("file://"):] if uri.startswith("file://") else uri[len("file:"):])
        if not folder.is_dir():
            raise LogError(f"{uri}: no such folder ({folder})")
    return uri


def _import_mlflow(where: str):
    try:
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore")
            import mlflow
    except ImportError:
        raise LogError(f"{where}: reading MLflow runs needs the mlflow package; "
                       f"{INSTALL_HINT}") from None
    return mlflow


@contextlib.contextmanager
def _quiet(file_store: bool) -> Iterator[None]:
    """MLflow's own deprecation warnings and INFO lines are not the user's business here;
    the file store's opt-out holds only while we read."""
    log = logging.getLogger("mlflow")
    level = log.level
    old = os.environ.get("MLFLOW_ALLOW_FILE_STORE")
    if file_store:
        os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    log.setLevel(logging.WARNING)
    try:
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore")
            yield
    finally:
        log.setLevel(level)
        if file_store:
            if old is None:
                os.environ.pop("MLFLOW_ALLOW_FILE_STORE", None)
            else:
                os.environ["MLFLOW_ALLOW_FILE_STORE"] = old


def _runs(mlflow, client, experiment: str | None, run: str | None):
    if run:
        try:
            r = client.get_run(run)
        except Exception:
            r = None
        if r is not None:
            exp = client.get_experiment(r.info.experiment_id)
            yield (exp.name if exp else r.info.experiment_id), r
            return
    exps = client.search_experiments()
    if experiment:
        exps = [e for e in exps if experiment in (e.name, e.experiment_id)]
        if not exps:
            raise LogError(f"no MLflow experiment named {experiment!r} (there are: "
                           f"{', '.join(e.name for e in client.search_experiments()) or 'none'})")
    for exp in sorted(exps, key=lambda e: e.name):
        token = None
        while True:
            page = client.search_runs([exp.experiment_id], max_results=PAGE, page_token=token,
                                      order_by=["attributes.start_time ASC"])
            for r in page:
                if run and run not in (r.info.run_id, r.info.run_name):
                    continue
                yield exp.name, r
            token = page.token
            if not token:
                break


def _to_run(client, uri: str, source: str, exp_name: str, r) -> Run:
    info = r.info
    raw: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for key in sorted(r.data.metrics):
        hist = client.get_metric_history(info.run_id, key)
        if not hist:
            continue
        hist = sorted(hist, key=lambda m: (m.step, m.timestamp))
        raw[key] = (np.array([m.step for m in hist], float), np.array([m.value for m in hist], float))
    name = f"{exp_name}/{info.run_name or info.run_id}"
    if not raw:
        raise LogError(f"{uri}: MLflow run {name} ({info.run_id}) logged no metrics")
    hparams = canonicalize(_params(r.data.params))
    meta: dict[str, Any] = {"name": name, "mlflow_run_id": info.run_id,
                            "mlflow_experiment": exp_name, "tracking_uri": uri,
                            "status": getattr(info, "status", None)}
    return series_to_run(f"{source}#{info.run_id}", raw, FORMAT, hparams=hparams, meta=meta)


def _params(params: dict[str, str]) -> dict[str, Any]:
    """MLflow stores every param as a string: numbers and booleans read back as such."""
    out: dict[str, Any] = {}
    for k, v in params.items():
        s = str(v).strip()
        if s.lower() in ("true", "false"):
            out[k] = s.lower() == "true"
            continue
        try:
            out[k] = int(s)
        except ValueError:
            try:
                out[k] = float(s)
            except ValueError:
                out[k] = v
    return out


__all__ = ["read", "read_many", "read_uri", "sniff", "claims_folder", "FORMAT"]
