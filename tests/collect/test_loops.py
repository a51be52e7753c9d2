"""Training loops other than the plain one: gradient accumulation, GradScaler (with skipped
steps), closure optimizers, no optimizer at all."""

from __future__ import annotations

import math

import pytest
from collect_helpers import data, mlp, read_log

torch = pytest.importorskip("torch")
from torch.nn import functional as F  # noqa: E402

from lossdoctor.collect import watch  # noqa: E402


def test_gradient_accumulation_records_at_optimizer_steps(log_path):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y = data(n=48)
    accum, steps = 3, 4
    ref = []
    with watch(model, opt, log_path, detail="full", alerts=False) as mon:
        for s in range(steps):
            micro = []
            for k in range(accum):
                sl = slice(16 * k, 16 * (k + 1))
                loss = F.cross_entropy(model(x[sl]), y[sl])
                (loss / accum).backward()
                micro.append(loss.item())
                if k == accum - 1:
                    ref.append({"loss": sum(micro) / accum,
                                "g": math.sqrt(sum(p.grad.norm().item() ** 2 for p in model.parameters()))})
                    opt.step()
                    opt.zero_grad()
                mon.step(loss)  # every micro-batch, the undivided loss
    recs = read_log(log_path)[1]
    assert [r["step"] for r in recs] == list(range(steps))
    for r, rec in zip(ref, recs):
        assert rec["loss"] == pytest.approx(r["loss"], rel=1e-6)
        assert rec["grad_norm"] == pytest.approx(r["g"], rel=1e-5)
        assert "update_ratio" in rec


@pytest.mark.parametrize("update_first", [True, False], ids=["update-then-step", "step-then-update"])
def test_grad_scaler_skipped_step_and_unscaled_gradients(log_path, update_first):
    """torch.amp.GradScaler works on the CPU; an inf put into one gradient makes it skip."""
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 12, growth_interval=2)
    x, y = data()
    poison = {2, 5}
    ref = {}
    with watch(model, opt, log_path, scaler=scaler, detail="full", alerts=False) as mon:
        for s in range(7):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            scaler.scale(loss).backward()
            scale = scaler.get_scale()
            ref[s] = math.sqrt(sum((p.grad / scale).norm().item() ** 2 for p in model.parameters()))
            if s in poison:
                model[0].weight.grad[0, 0] = math.inf
            scaler.step(opt)
            if update_first:
                scaler.update()
                mon.step(loss)
            else:
                mon.step(loss)
                scaler.update()
    recs = read_log(log_path)[1]
    assert [r["step"] for r in recs] == list(range(7))
    for r in recs:
        if r["step"] in poison:
            assert r.get("skipped") == 1 and "update_ratio" not in r and "grad_norm" not in r
        else:
            assert "skipped" not in r
            assert r["grad_norm"] == pytest.approx(ref[r["step"]], rel=1e-5)  # unscaled


def test_grad_scaler_with_accumulation(log_path):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 10)
    x, y = data()
    with watch(model, opt, log_path, scaler=scaler, alerts=False) as mon:
        for s in range(4):
            for k in range(2):
                loss = F.cross_entropy(model(x), y)
                scaler.scale(loss / 2).backward()
                if k == 1:
                    if s == 1:
                        model[0].weight.grad[0, 0] = math.nan
                    scaler.step(opt)
                    scaler.update()
                    opt.zero_grad()
                mon.step(loss)
    recs = read_log(log_path)[1]
    assert [r["step"] for r in recs] == [0, 1, 2, 3]
    assert [r.get("skipped", 0) for r in recs] == [0, 1, 0, 0]
    events = read_log(log_path)[2]
    assert events == []  # a skipped AMP step is not a NaN in training


def test_closure_optimizer_lbfgs(log_path):
    model = mlp()
    opt = torch.optim.LBFGS(model.parameters(), lr=0.5, max_iter=3)
    x, y = data()
    ref = []

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        return loss

    with watch(model, opt, log_path, detail="full", alerts=False) as mon:
        for _ in range(3):
            before = [p.detach().clone() for p in model.parameters()]
            loss = opt.step(closure)
            dw = math.sqrt(sum((p.detach() - b).norm().item() ** 2
                               for p, b in zip(model.parameters(), before)))
            w = math.sqrt(sum(b.norm().item() ** 2 for b in before))
            g = math.sqrt(sum(p.grad.norm().item() ** 2 for p in model.parameters()))
            ref.append((loss.item(), g, dw / w))
            mon.step(loss)
    header, recs, _ = read_log(log_path)
    assert header["hparams"]["optimizer"] == "LBFGS"
    for (loss, g, ratio), rec in zip(ref, recs):
        assert rec["loss"] == pytest.approx(loss)
        assert rec["grad_norm"] == pytest.approx(g, rel=1e-5)
        assert rec["update_ratio"] == pytest.approx(ratio, rel=1e-4)


def test_without_optimizer_every_call_is_a_step(log_path):
    model = mlp()
    x, y = data()
    with watch(model, None, log_path, every_n=2, alerts=False) as mon:
        for _ in range(4):
            model.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            mon.step(loss)
    recs = read_log(log_path)[1]
    assert [r["step"] for r in recs] == [0, 1, 2, 3]
    assert all("grad_norm" in r and "lr" not in r for r in recs)
    assert ["weight_norm" in r for r in recs] == [True, False, True, False]


def test_optimizer_whose_step_bypasses_the_hooks(log_path):
    """A wrapper that never calls the watched optimizer's step: after a while every call is
    recorded, with one warning."""
    from lossdoctor.collect import MonitorWarning
    from lossdoctor.collect.monitor import NO_OPT_STEP_CALLS

    model = mlp()
    watched = torch.optim.SGD(model.parameters(), lr=0.05)
    real = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y = data()
    with pytest.warns(MonitorWarning, match="no optimizer.step"):
        with watch(model, watched, log_path, alerts=False) as mon:
            for _ in range(NO_OPT_STEP_CALLS + 3):
                real.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                real.step()
                mon.step(loss)
    recs = read_log(log_path)[1]
    assert len(recs) >= 3 and all("loss" in r for r in recs)


def test_deferred_pulls_write_the_same_records(tmp_path):
    """On a GPU each pull's values are read one pull later (no stall); forcing that mode on the
    CPU must give the same log, in the same order, once closed."""
    def run(path, deferred):
        model = mlp()
        opt = torch.optim.SGD(model.parameters(), lr=0.05, weight_decay=1e-3)
        x, y = data()
        mon = watch(model, opt, path, sync_every=4, alerts=False, every_n=3, act_every=5)
        mon._async = deferred
        seen = []
        for s in range(11):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            mon.step(loss)
            if s == 4:
                mon.log(val_loss=0.5)
            seen.append(mon.steps)
        mon.close()
        return read_log(path)[1], seen

    direct, seen_direct = run(tmp_path / "direct.jsonl", False)
    deferred, seen_deferred = run(tmp_path / "deferred.jsonl", True)
    assert deferred == direct and len(direct) == 12
    # records come 4 calls later when deferred, never out of order
    assert seen_direct[7] == 7 and seen_deferred[7] == 4


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True")
def test_gradients_with_a_graph_create_graph(log_path):
    """backward(create_graph=True) (a gradient penalty) leaves gradients that require grad: the
    monitor reads them detached and builds no graph of its own."""
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y = data()
    with watch(model, opt, log_path, detail="full", alerts=False) as mon:
        for _ in range(3):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward(create_graph=True)
            opt.step()
            mon.step(loss)
            assert all(isinstance(t, torch.Tensor) and not t.requires_grad
                       for e in mon._pending for t in (e.data.gvec or []))
    recs = read_log(log_path)[1]
    assert len(recs) == 3 and all(r["grad_norm"] > 0 for r in recs)
