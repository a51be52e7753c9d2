"""The log: strict JSON lines that lossdoctor's own reader and CLI read back, a header with the
hyper-parameters, and records that survive a crash."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from collect_helpers import data, mlp, read_log

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

import lossdoctor  # noqa: E402
from lossdoctor.collect import watch  # noqa: E402
from lossdoctor.collect.writer import JsonlWriter, encode  # noqa: E402


def _loop(model, opt, mon, steps, x, y, **extra):
    for s in range(steps):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        mon.step(loss, **{k: (v(s) if callable(v) else v) for k, v in extra.items()})


def test_non_finite_values_round_trip_through_the_reader(tmp_path):
    path = tmp_path / "nan.jsonl"
    w = JsonlWriter(path)
    w.write({"type": "header", "schema": "lossdoctor.log/1", "hparams": {}})
    values = [2.0, 1.5, math.nan, math.inf, -math.inf, 1.0]
    for i, v in enumerate(values):
        w.write({"step": i, "loss": v, "grad_norm": {"a": v}.get("a")})
    w.close()
    assert "NaN" not in path.read_text().replace('"NaN"', "")  # no bare NaN token
    read_log(path)  # strict parse
    run = lossdoctor.read(path)
    got = run.series["loss"].values
    assert got[:2].tolist() == [2.0, 1.5] and math.isnan(got[2])
    assert got[3] == math.inf and got[4] == -math.inf
    assert lossdoctor.diagnose(run).symptom("nan_inf") is not None
    assert encode({"x": [math.nan, {"y": math.inf}]}) == '{"x":["NaN",{"y":"Infinity"}]}'


def test_header_holds_what_the_objects_tell(log_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 12), nn.Tanh(), nn.Dropout(0.25), nn.Linear(12, 12), nn.ReLU(),
                          nn.Dropout(0.5), nn.Linear(12, 5))
    opt = torch.optim.Adam(model.parameters(), lr=3e-4, betas=(0.8, 0.95), weight_decay=1e-4)
    stds = {n: p.detach().std().item() for n, p in model.named_parameters()}
    with watch(model, opt, log_path, hparams={"batch_size": 32, "loss": "CrossEntropyLoss"}):
        pass
    header = read_log(log_path)[0]
    hp = header["hparams"]
    assert header["schema"] == "lossdoctor.log/1"
    assert hp["optimizer"] == "Adam" and hp["lr"] == 3e-4 and hp["betas"] == [0.8, 0.95]
    assert hp["weight_decay"] == 1e-4 and hp["weight_decay_decoupled"] is False
    assert hp["dropout"] == 0.5 and hp["dropout_rates"] == {"2": 0.25, "5": 0.5}
    assert hp["activation"] == "ReLU,Tanh"
    assert hp["num_classes"] == 5 and hp["batch_size"] == 32 and hp["loss"] == "CrossEntropyLoss"
    n_params = sum(p.numel() for p in model.parameters())
    assert hp["n_params"] == n_params == header["model"]["n_params"]
    layers = header["model"]["layers"]
    assert [r["name"] for r in layers] == list(stds)
    for r in layers:
        assert r["init_std"] == pytest.approx(stds[r["name"]], rel=1e-5)
    dense = [stds[n] for n in ("0.weight", "3.weight", "6.weight")]
    assert hp["init_std"] == pytest.approx(float(np.median(dense)), rel=1e-5)


def test_user_hparams_win(log_path):
    model = mlp(n_out=4)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, opt, log_path, hparams={"num_classes": 10, "lr": 0.5}):
        pass
    hp = read_log(log_path)[0]["hparams"]
    assert hp["num_classes"] == 10 and hp["lr"] == 0.5


def test_reader_and_diagnosis_use_every_signal(log_path):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, weight_decay=1e-3)
    x, y = data()
    with watch(model, opt, log_path, detail="full", alerts=False) as mon:
        _loop(model, opt, mon, 30, x, y, val_loss=lambda s: 1.5 - 0.01 * s, reg_loss=0.01)
    run = lossdoctor.read(log_path)
    for sig in ("loss", "val_loss", "lr", "grad_norm", "weight_norm", "update_ratio", "wd_share", "reg_loss",
                "dead_frac"):
        assert sig in run.series and len(run.series[sig]) == 30, sig
    assert set(run.layers("grad_norm")) == {n for n, _ in model.named_parameters()}
    assert run.layers("dead_frac") and run.layers("act_std")
    assert run.hparams["optimizer"] == "SGD" and run.hparams["num_classes"] == 4
    assert run.meta["model"]["n_outputs"] == 4
    dx = lossdoctor.diagnose(run)
    assert dx.source == str(log_path)


def test_big_log_fast_path_reads_the_monitors_log_as_the_line_reader_does(log_path, monkeypatch):
    from lossdoctor.readers import jsonl

    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y = data()
    with watch(model, opt, log_path, detail="full", alerts=False) as mon:
        _loop(model, opt, mon, 30, x, y, val_loss=lambda s: 1.5 - 0.01 * s)
    monkeypatch.setattr(jsonl, "ARROW_MIN_BYTES", 0)
    fast = jsonl._read_arrow(log_path)
    assert fast is not None
    monkeypatch.setattr(jsonl, "_read_arrow", lambda p: None)
    slow = lossdoctor.read(log_path)
    assert sorted(fast.series) == sorted(slow.series)
    for k, s in slow.series.items():
        assert np.array_equal(fast.series[k].steps, s.steps)
        assert np.array_equal(fast.series[k].values, s.values, equal_nan=True), k
    assert fast.hparams == slow.hparams and fast.meta == slow.meta


def test_cli_diagnoses_the_log(log_path):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y = data()
    with watch(model, opt, log_path, alerts=False) as mon:
        _loop(model, opt, mon, 20, x, y)
    out = subprocess.run([sys.executable, "-m", "lossdoctor", "diagnose", str(log_path), "--json"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode in (0, 1), out.stderr
    assert json.loads(out.stdout)["schema"] == "lossdoctor.diagnosis/1"


def test_exception_in_the_loop_keeps_every_record(log_path):
    """A crash inside ``with``: records waiting for their device values and the write buffer
    are written by ``__exit__``."""
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y = data()
    with pytest.raises(RuntimeError, match="boom"):
        with watch(model, opt, log_path, flush_every=1000, flush_secs=1e9, sync_every=8, alerts=False) as mon:
            for s in range(10):
                if s == 7:
                    raise RuntimeError("boom")
                _loop(model, opt, mon, 1, x, y)
    assert [r["step"] for r in read_log(log_path)[1]] == list(range(7))


def test_hard_kill_loses_at_most_the_last_record(tmp_path):
    """SIGKILL (no __exit__, no atexit): with flush_every=1 and sync_every=1 everything up to the
    kill is on disk but the record being written."""
    path = tmp_path / "killed.jsonl"
    script = textwrap.dedent(f"""
        import os, signal, torch
        from torch.nn import functional as F
        from lossdoctor.collect import watch
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
        mon = watch(model, opt, {str(path)!r}, flush_every=1, sync_every=1, alerts=False)
        for s in range(12):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(); loss.backward(); opt.step()
            mon.step(loss)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -9, proc.stderr
    steps = [r["step"] for r in read_log(path)[1]]
    assert steps == list(range(12))
    run = lossdoctor.read(path)
    assert len(run.loss) == 12


def test_atexit_writes_what_an_unclosed_monitor_holds(tmp_path):
    path = tmp_path / "unclosed.jsonl"
    script = textwrap.dedent(f"""
        import torch
        from torch.nn import functional as F
        from lossdoctor.collect import watch
        model = torch.nn.Sequential(torch.nn.Linear(4, 3))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
        mon = watch(model, opt, {str(path)!r}, flush_every=1000, flush_secs=1e9, alerts=False)
        for s in range(5):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(); loss.backward(); opt.step()
            mon.step(loss)
        raise SystemExit(3)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3, proc.stderr
    assert [r["step"] for r in read_log(path)[1]] == list(range(5))


def test_append_mode_and_log_without_optimizer_step(log_path):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y = data()
    with watch(model, opt, log_path, alerts=False) as mon:
        _loop(model, opt, mon, 3, x, y)
        mon.log(val_loss=0.75)
    with watch(model, opt, log_path, alerts=False, mode="a") as mon:
        pass
    header_lines = [ln for ln in log_path.read_text().splitlines() if '"type":"header"' in ln]
    assert len(header_lines) == 2
    recs = read_log(log_path)[1]
    assert {"step": 2, "val_loss": 0.75} in recs


def test_import_lossdoctor_does_not_import_torch():
    code = ("import sys, lossdoctor; assert 'torch' not in sys.modules, 'torch imported'; "
            "assert callable(lossdoctor.watch)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONWARNINGS": "error"})
    assert proc.returncode == 0, proc.stderr


def test_a_scalar_passed_to_step_replaces_the_computed_one(log_path):
    """clip_grad_norm_ returns the norm before clipping: passed as grad_norm= it is what is
    logged, not the clipped norm the optimizer sees."""
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y = data()
    with watch(model, opt, log_path, alerts=False) as mon:
        for _ in range(3):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            total = torch.nn.utils.clip_grad_norm_(model.parameters(), 1e-3)
            opt.step()
            mon.step(loss, grad_norm=total, acc=0.5)
            assert total > 1e-3
    recs = read_log(log_path)[1]
    assert all(r["grad_norm"] > 1e-3 and r["acc"] == 0.5 for r in recs)
