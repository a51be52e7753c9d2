"""Failures inside the monitor are contained; NaN/inf is located; live alerts fire once per
(symptom, cause); ``stop_on`` stops training with a clear exception."""

from __future__ import annotations

import logging
import math
import warnings

import numpy as np
import pytest
from collect_helpers import data, mlp, read_log

torch = pytest.importorskip("torch")
from torch.nn import functional as F  # noqa: E402

from lossdoctor.collect import Alert, LossdoctorAlert, MonitorWarning, TrainingStopped, watch  # noqa: E402
from lossdoctor.collect import activations, monitor, stats  # noqa: E402
from lossdoctor.collect.live import MAX_POINTS, Decimated, LiveDiagnosis  # noqa: E402


def _train(path, steps=8, before_step=None, x=None, **kw):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    if x is None:
        x, y = data()
    else:
        y = data()[1]
    losses = []
    mon = watch(model, opt, path, **kw) if path is not None else None
    try:
        for s in range(steps):
            if before_step is not None:
                before_step(s, model)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            if mon is not None:
                mon.step(loss)
    finally:
        if mon is not None:
            mon.close()
    return losses, mon


def _boom(*a, **k):
    raise RuntimeError("boom")


def test_exception_in_optimizer_hook_is_contained(log_path, monkeypatch):
    plain, _ = _train(None)
    monkeypatch.setattr(stats, "grad_norms", _boom)
    with pytest.warns(MonitorWarning, match="optimizer hooks failed .*boom") as rec:
        watched, _ = _train(log_path, detail="full", alerts=False)
    assert len([w for w in rec if issubclass(w.category, MonitorWarning)]) == 1
    assert watched == plain
    recs = read_log(log_path)[1]
    assert [r["loss"] for r in recs] == plain and not any("grad_norm" in r for r in recs)


def test_exception_in_forward_hook_is_contained(log_path, monkeypatch):
    plain, _ = _train(None)
    monkeypatch.setattr(activations.ActivationProbe, "_record", _boom)
    with pytest.warns(MonitorWarning, match="activations failed"):
        watched, mon = _train(log_path, act_every=1, alerts=False)
    assert watched == plain
    recs = read_log(log_path)[1]
    assert all("grad_norm" in r and "dead_frac" not in r for r in recs)
    assert all(not m._forward_hooks for m in mon.model.modules())


def test_failure_of_the_core_switches_the_monitor_off(log_path, monkeypatch):
    plain, _ = _train(None)
    monkeypatch.setattr(monitor.Monitor, "_emit", _boom)
    with pytest.warns(MonitorWarning, match="monitoring stopped"):
        watched, mon = _train(log_path, sync_every=1, alerts=False)
    assert watched == plain
    assert not mon.optimizer._optimizer_step_pre_hooks and not mon.optimizer._optimizer_step_post_hooks


def test_failures_never_raise_even_with_warnings_as_errors(log_path, monkeypatch, caplog):
    plain, _ = _train(None)
    monkeypatch.setattr(stats, "grad_norms", _boom)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with caplog.at_level(logging.WARNING, logger="lossdoctor"):
            watched, _ = _train(log_path, alerts=False)
    assert watched == plain
    assert any("boom" in r.message for r in caplog.records)


def _nan_grad_at(step, name_index=2):
    def hook(s, model):
        if s == step:
            model[name_index].weight.register_hook(lambda g: g * math.nan)
    return hook


def test_nan_gradient_is_located_at_its_layer(log_path):
    seen = []
    with pytest.warns(LossdoctorAlert, match="nan_inf"):
        _train(log_path, steps=6, before_step=_nan_grad_at(3), on_alert=seen.append)
    events = read_log(log_path)[2]
    assert events == [{"type": "event", "event": "nan", "step": 3, "where": "2.weight (grad)"}]
    assert [a.symptom for a in seen] == ["nan_inf"] and seen[0].step == 3


def test_nan_weight_is_located_on_sampled_steps(log_path):
    def poison(s, model):
        if s == 2:
            with torch.no_grad():
                model[2].weight[0, 0] = math.nan

    _train(log_path, steps=4, before_step=poison, detail="full", alerts=False)
    assert read_log(log_path)[2][0]["where"] == "2.weight (weight)"


def test_activation_overflow_is_located(log_path):
    x, _ = data()
    x = x.clone()
    x[0, 0] = math.inf  # a broken input: the first ReLU's output is the first non-finite activation

    _train(log_path, steps=1, x=x, act_every=1, alerts=False)
    ev = read_log(log_path)[2][0]
    assert ev["step"] == 0 and ev["where"] == "1 (activation)"


def test_stop_on_nan_raises_training_stopped(log_path):
    with pytest.raises(TrainingStopped, match="nan_inf") as exc:
        with pytest.warns(LossdoctorAlert):
            _train(log_path, steps=20, before_step=_nan_grad_at(4), stop_on=("nan_inf", "divergence"))
    assert exc.value.alert.step == 4
    steps = [r["step"] for r in read_log(log_path)[1]]
    assert steps[-1] <= 4 + monitor.SYNC_EVERY_CPU


def test_stop_on_divergence_from_the_live_diagnosis(log_path):
    """Linear regression with a step size past the stability limit: the loss grows
    geometrically; the live diagnosis sees a divergence and stops the run."""
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=1.2)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    alerts = []
    with pytest.raises(TrainingStopped, match="divergence"):
        with pytest.warns(LossdoctorAlert):
            with watch(model, opt, log_path, check_every=10, stop_on="divergence", sync_every=1,
                       on_alert=alerts.append) as mon:
                for _ in range(400):
                    loss = F.mse_loss(model(x), y)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    mon.step(loss)
    assert any(a.symptom == "divergence" for a in alerts)
    assert math.isfinite(read_log(log_path)[1][-1]["loss"])  # stopped before the overflow


def test_failing_on_alert_callback_is_contained(log_path):
    with pytest.warns(MonitorWarning, match="on_alert"):
        with pytest.warns(LossdoctorAlert):
            _train(log_path, steps=6, before_step=_nan_grad_at(2), on_alert=_boom)


def test_on_alert_may_stop_the_run(log_path):
    def stop(alert):
        raise TrainingStopped(alert)

    with pytest.raises(TrainingStopped):
        with pytest.warns(LossdoctorAlert):
            _train(log_path, steps=10, before_step=_nan_grad_at(2), on_alert=stop, sync_every=1)


def _live(check_every=1):
    return LiveDiagnosis(source="live", hparams={"optimizer": "SGD", "lr": 0.1}, meta={},
                         check_every=check_every, emit=False)


def test_alerts_fire_once_per_symptom_and_cause():
    live = _live()
    for s in range(300):
        live.add({"step": s, "loss": float(np.exp(s / 40.0)), "lr": 0.1})
    first = live.check()
    assert any(a.symptom == "divergence" for a in first)
    assert live.check() == []
    assert all(isinstance(a, Alert) and a.step == 299 for a in first)


def test_early_checks_alert_only_on_what_cannot_wait():
    """Before SHAPE_MIN_STEPS: a blow-up above the start alerts, a fall followed by noisy
    batches at a low level does not, nor do swings of the first few dozen mini-batches."""
    rng = np.random.default_rng(0)
    up = _live()
    for s in range(64):
        up.add({"step": s, "loss": float(np.exp(s / 10.0)), "lr": 0.1})
    assert any(a.symptom == "divergence" for a in up.check())
    low = _live()
    for s in range(64):
        level = 2.3 * np.exp(-s / 8) + 0.06 * (1 + s / 64)
        low.add({"step": s, "loss": float(level * np.exp(0.5 * rng.standard_normal())), "lr": 0.1})
    assert low.check() == []


def test_step_level_scatter_alone_is_no_alert():
    """Mini-batch losses near a low mean scatter by tens of percent in a healthy run: scatter
    that neither grows nor sits on a stalled level is no oscillation at all, and raises no alert."""
    rng = np.random.default_rng(1)
    live = _live()
    live.hparams = {}  # no lr to blame
    for s in range(400):
        level = 1.4 * np.exp(-s / 20) + 0.075
        live.add({"step": s, "loss": float(level * np.exp(0.6 * rng.standard_normal()))})
    from lossdoctor.diagnose import diagnose

    assert diagnose(live.run()).symptom("oscillation") is None  # mini-batch noise, not a swing
    assert live.check() == []


def test_live_series_stay_bounded_and_span_the_run():
    d = Decimated()
    for s in range(10 * MAX_POINTS + 7):
        d.add(s, math.nan if s == 12345 else float(s))
    assert len(d) <= MAX_POINTS
    assert d.steps[0] == 0 and d.steps[-1] > 9 * MAX_POINTS
    strides = np.diff([s for s in d.steps if s != 12345])
    assert len(set(strides.tolist())) == 1
    assert 12345 in d.steps  # the first non-finite value is kept


def test_live_checks_are_spaced_by_a_time_budget():
    live = _live(check_every=1)
    for s in range(200):
        live.add({"step": s, "loss": 1.0 / (1 + s)})
    assert live.due()
    live.check()
    live._last_cost = 10.0  # a check that took 10 s may come again only after 1000 s of training
    live.add({"step": 200, "loss": 0.004})
    assert not live.due()
