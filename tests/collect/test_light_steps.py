"""The monitor's short paths for a fast training loop (issue 11, overhead): a budgeted run's
steps without statistics are written as "light" records, which must be exactly what the general
path writes; the budget spaces the gradient norm, the per-layer samples and the activation
samples by what each costs; the zero_grad check's tensor hook exists only while it looks."""

from __future__ import annotations

import json
import math
import random

import pytest
from collect_helpers import data, mlp, num, read_log

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from lossdoctor.collect import monitor as M  # noqa: E402
from lossdoctor.collect import watch  # noqa: E402
from lossdoctor.collect.live import LiveDiagnosis  # noqa: E402
from lossdoctor.collect.writer import encode, encode_light, light_dict  # noqa: E402


def _force_budget(monkeypatch, grad_every=4, sample_every=20, act_every=0):
    """Every model budgeted, with fixed decisions (from step Budget.WARMUP on)."""
    monkeypatch.setattr(M.Budget, "MIN_PARAMS", 0)

    def decide(self):
        self.grad_every, self.sample_every = grad_every, sample_every
        if act_every:
            self.act_every = act_every

    monkeypatch.setattr(M.Budget, "_decide", decide)


def test_light_records_hold_what_the_general_path_writes(log_path, monkeypatch):
    _force_budget(monkeypatch)
    model, (x, y) = mlp(), data()
    opt = torch.optim.SGD([{"params": model[0].parameters()},
                           {"params": [p for m in list(model)[1:] for p in m.parameters()], "lr": 0.05}],
                          lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.5)
    losses, lrs = [], []
    with watch(model, opt, path=log_path) as mon:
        for i in range(90):
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            lrs.append([g["lr"] for g in opt.param_groups])
            opt.step()
            sched.step()
            losses.append(loss.item())
            mon.step(loss)
        assert mon._next_heavy > 0  # the budget spaced the work: light steps happened
    _, recs, _ = read_log(log_path)
    assert [r["step"] for r in recs] == list(range(90))
    assert [r["loss"] for r in recs] == losses
    assert [r["lr"] for r in recs] == [lr[0] for lr in lrs]
    assert [r["lr/pg1"] for r in recs] == [lr[1] for lr in lrs]
    with_grad = [r["step"] for r in recs if "grad_norm" in r]
    # every step until the budget decides, then every 4th (and the samples, every 20th)
    assert with_grad == [s for s in range(90) if s < M.Budget.WARMUP or s % 4 == 0 or s % 20 == 0]
    light = [r for r in recs if r["step"] >= M.Budget.WARMUP and r["step"] % 4]
    assert light and all(set(r) == {"step", "loss", "lr", "lr/pg1"} for r in light)


def test_a_nan_on_a_light_step_is_recorded_and_reported(log_path, monkeypatch):
    _force_budget(monkeypatch, grad_every=10, sample_every=50)
    model, (x, y) = mlp(), data()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.warns(Warning), watch(model, opt, path=log_path) as mon:
        for i in range(40):
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            mon.step(loss * float("nan") if i == 33 else loss)  # step 33: light (not a 10th)
    _, recs, events = read_log(log_path)
    assert len(recs) == 40 and math.isnan(num(recs[33]["loss"])) and "grad_norm" not in recs[33]
    assert [e["step"] for e in events if e.get("event") == "nan"] == [33]
    assert any(a.symptom == "nan_inf" and a.step == 33 for a in mon.alerts)


def test_encode_light_writes_the_line_encode_writes():
    random.seed(0)
    odd = [math.nan, math.inf, -math.inf, 0.0, -0.0, 5e-324, 1.7976931348623157e308]
    for _ in range(3000):
        loss = random.choice(odd + [random.random() * 10 ** random.randint(-30, 30)])
        lrs = [random.choice(odd[3:] + [random.random()]) for _ in range(random.choice((0, 1, 1, 3)))]
        rec = (random.randint(0, 10 ** 9), loss, lrs)
        line = encode_light(rec)
        assert line == encode(light_dict(rec))
        json.loads(line, parse_constant=lambda t: (_ for _ in ()).throw(ValueError(t)))


def test_the_live_checks_see_light_records_as_the_dicts_they_stand_for():
    def live():
        return LiveDiagnosis(source="x", hparams={}, meta={}, check_every=200)

    a, b = live(), live()
    recs = [{"step": 0, "loss": 2.0, "lr": 0.1, "grad_norm": 1.0}]
    recs += [(s, 2.0 / (1 + s), [0.1 if s < 50 else 0.01]) for s in range(1, 100)]
    recs += [(100, 0.3, [0.01, 0.02]), {"step": 101, "loss": 0.2, "lr": 0.01, "grad_norm": 0.5}]
    a.add_many(recs)
    for r in recs:
        b.add(light_dict(r) if isinstance(r, tuple) else r)
    assert set(a.series) == set(b.series) == {"loss", "lr", "grad_norm"}
    for k in a.series:
        assert a.series[k].steps == b.series[k].steps and a.series[k].values == b.series[k].values
    assert a.last_step == b.last_step == 101


def test_the_budget_spaces_each_kind_of_work_by_its_cost(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(M, "_clock", lambda: now[0])
    b = M.Budget(every_n=10, act_every=100)
    step = 2.4e-3  # a fast CPU step: 2.4 ms
    for n in range(M.Budget.WARMUP + 1):
        t0 = b.tick(n)
        now[0] += 90e-6  # a pass over the gradients: 90 us
        b.spent(False, t0)
        if n % 10 == 0:
            t0 = M._clock()
            now[0] += 450e-6  # a per-layer sample: 450 us
            b.spent(True, t0)
            b.act_spent(700e-6)  # an activation sample: 700 us
        now[0] += step
    # allowed per step: max(0.2% of ~2.5 ms, 5 us) = 5 us
    assert b.grad_every == M.Budget.MAX_GRAD_EVERY  # 90 / 5 = 18, capped at 10
    assert b.sample_every == 90  # 450 / 5 = 90, a multiple of every_n
    assert b.act_every == 200  # 700 / 5 = 140, rounded up to a multiple of act_every
    assert b.next_due(M.Budget.WARMUP + 1) == 30  # the next gradient norm
    assert b.next_due(81) == 90
    # a short step keeps everything
    small = M.Budget(every_n=10, act_every=100)
    for n in range(M.Budget.WARMUP + 1):
        small.tick(n)
        now[0] += 0.2e-3
    assert (small.grad_every, small.sample_every, small.act_every) == (1, 10, 100)


def test_the_zero_grad_checks_hook_exists_only_while_it_looks(log_path):
    model, (x, y) = mlp(), data()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    present = []
    with watch(model, opt, path=log_path, every_n=10) as mon:
        for i in range(35):
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            mon.step(loss)
            present.append(mon._stale_handle is not None)
    _, recs, _ = read_log(log_path)
    # looked at on the second step and on every sampled step (10, 20, 30)...
    assert [r["step"] for r in recs if "grad_stale" in r] == [1, 10, 20, 30]
    assert all(r["grad_stale"] == 0.0 for r in recs if "grad_stale" in r)
    # ...and the hook is there only from the step before each to the step itself
    assert [i for i, p in enumerate(present) if p] == [0, 9, 19, 29]


def test_overhead_bench_toggle_runs(tmp_path):
    """bench/overhead's toggle method reaches into the monitor (its hooks, its budget clock):
    a tiny run must still work with the monitor as it is, and leave the clocks as it found
    them."""
    import importlib.util
    import time
    from pathlib import Path

    from lossdoctor.collect import live as L

    path = Path(__file__).resolve().parents[2] / "bench" / "overhead" / "run.py"
    spec = importlib.util.spec_from_file_location("overhead_run", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    r = bench.bench_toggle("mlp", {"detail": "default"}, reps=2, block=4, warmup=2, tmp=tmp_path)
    assert r["ratio"] > 0 and r["step_ms"] > 0 and r["self_us"] > 0
    assert M._clock is time.perf_counter and L._clock is time.perf_counter
    assert json.loads((tmp_path / "mlp.jsonl").read_text().splitlines()[-1])["step"] > 0
