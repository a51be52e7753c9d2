"""Two internals that name a cause outright: whether ``optimizer.zero_grad()`` runs between steps
(``grad_stale``), and the scale of the data reaching the first layer (``input_rms``)."""

from __future__ import annotations

import pytest

from collect_helpers import data, mlp, read_log

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from lossdoctor.collect import watch  # noqa: E402


def _train(log_path, *, clear: str | None, steps: int = 12, accumulate: int = 1, scale: float = 1.0,
           every_n: int = 1, **kw):
    """``clear``: None (never cleared), "none" (zero_grad() with set_to_none), "zeros"
    (set_to_none=False), "before_backward" (cleared after the forward pass)."""
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = data()
    x = x * scale
    with watch(model, opt, log_path, every_n=every_n, alerts=False, **kw) as mon:
        for _ in range(steps):
            for _ in range(accumulate):
                out = model(x)
                loss = F.cross_entropy(out, y)
                if clear == "before_backward":
                    opt.zero_grad()
                loss.backward()
            opt.step()
            if clear == "none":
                opt.zero_grad(set_to_none=True)
            elif clear == "zeros":
                opt.zero_grad(set_to_none=False)
            mon.step(loss)
    return read_log(log_path)[1]


@pytest.mark.parametrize("clear", ["none", "zeros", "before_backward"])
def test_cleared_gradients_are_not_stale(log_path, clear):
    recs = _train(log_path, clear=clear)
    stale = [r["grad_stale"] for r in recs if "grad_stale" in r]
    assert len(stale) >= 10 and set(stale) == {0.0}


def test_gradients_never_cleared_are_stale(log_path):
    recs = _train(log_path, clear=None)
    stale = [r["grad_stale"] for r in recs if "grad_stale" in r]
    assert len(stale) >= 10 and set(stale) == {1.0}
    assert "grad_stale" not in recs[0]  # the first step has no step before it


def test_gradient_accumulation_is_not_mistaken_for_a_missing_zero_grad(log_path):
    # four backward passes per optimizer step, cleared after each step: only the first backward
    # after a step is looked at, and it finds the gradients cleared
    recs = _train(log_path, clear="none", accumulate=4)
    stale = [r["grad_stale"] for r in recs if "grad_stale" in r]
    assert stale and set(stale) == {0.0}


def test_checked_at_the_second_step_and_on_sampled_steps_only(log_path):
    recs = _train(log_path, clear=None, steps=40, every_n=10)
    assert [r["step"] for r in recs if "grad_stale" in r] == [1, 10, 20, 30]


def test_input_scale_is_the_data_at_the_first_layer(log_path):
    x, _ = data()
    recs = _train(log_path, clear="none", scale=50.0, act_every=4)
    got = [r["input_rms"] for r in recs if "input_rms" in r]
    want = float((x * 50.0).pow(2).mean().sqrt())
    assert [r["step"] for r in recs if "input_rms" in r] == [0, 4, 8]
    assert got[0] == pytest.approx(want, rel=1e-5)


def test_integer_inputs_have_no_scale(log_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(20, 8), nn.Flatten(), nn.Linear(8 * 5, 3))
    opt = torch.optim.Adam(model.parameters())
    x = torch.randint(0, 20, (16, 5))
    y = torch.randint(0, 3, (16,))
    with watch(model, opt, log_path, alerts=False) as mon:
        for _ in range(3):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            mon.step(loss)
    recs = read_log(log_path)[1]
    # token ids have no scale, and the first Linear gets what the embedding made of them
    assert recs and not any("input_rms" in r for r in recs)


def test_a_model_that_normalises_first_gets_no_input_scale(log_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.BatchNorm1d(10), nn.Linear(10, 4))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = data()
    with watch(model, opt, log_path, alerts=False) as mon:
        for _ in range(3):
            opt.zero_grad()
            loss = F.cross_entropy(model(x * 100), y)
            loss.backward()
            opt.step()
            mon.step(loss)
    assert not any("input_rms" in r for r in read_log(log_path)[1])


def test_a_failing_zero_grad_check_leaves_the_training_alone(log_path, monkeypatch):
    from lossdoctor.collect import monitor as M

    def broken(grad):
        raise RuntimeError("boom")

    monkeypatch.setattr(M, "_holds_values", broken)
    with pytest.warns(M.MonitorWarning):
        recs = _train(log_path, clear=None)
    assert len(recs) == 12 and all("loss" in r for r in recs)
    assert not any("grad_stale" in r for r in recs)
