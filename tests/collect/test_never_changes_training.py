"""The monitor never changes training: same losses bit for bit, same weights, same random
numbers; it draws none itself and writes to no parameter or gradient."""

from __future__ import annotations

import pytest
from collect_helpers import data, mlp, read_log

torch = pytest.importorskip("torch")
from torch.nn import functional as F  # noqa: E402

from lossdoctor.collect import watch  # noqa: E402

STEPS = 25


def _train(path=None, opt_name="adamw", **kw):
    model = mlp(seed=0, dropout=0.3)  # dropout draws random numbers every step
    if opt_name == "adamw":
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=STEPS)
    x, y = data()
    torch.manual_seed(123)
    losses = []
    mon = watch(model, opt, path, scheduler=sched, **kw) if path else None
    for _ in range(STEPS):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.detach().clone())
        if mon is not None:
            mon.step(loss)
    if mon is not None:
        mon.close()
    return torch.stack(losses), [p.detach().clone() for p in model.parameters()], torch.get_rng_state()


@pytest.mark.parametrize("opt_name", ["adamw", "sgd"])
@pytest.mark.parametrize("detail", ["default", "full"])
def test_monitored_run_is_bit_identical(tmp_path, opt_name, detail):
    plain_losses, plain_w, plain_rng = _train(opt_name=opt_name)
    mon_losses, mon_w, mon_rng = _train(tmp_path / "run.jsonl", opt_name=opt_name, detail=detail,
                                        alerts=False)
    assert torch.equal(plain_losses, mon_losses)
    assert all(torch.equal(a, b) for a, b in zip(plain_w, mon_w))
    assert torch.equal(plain_rng, mon_rng)
    recs = read_log(tmp_path / "run.jsonl")[1]
    assert [r["loss"] for r in recs] == plain_losses.tolist()


def test_monitor_draws_no_random_numbers(log_path):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=1e-3)
    x, y = data()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    before = torch.get_rng_state()
    with watch(model, opt, log_path, detail="full") as mon:
        opt.step()
        mon.step(loss, val_loss=1.0)
    assert torch.equal(before, torch.get_rng_state())


def test_monitor_writes_to_no_parameter_or_gradient(log_path):
    """Version counters rise on every in-place write: the monitor's work must not move them."""
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=1e-3, momentum=0.9)
    x, y = data()
    with watch(model, opt, log_path, detail="full") as mon:
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        grads = {n: (p.grad._version, p.grad.clone()) for n, p in model.named_parameters()}
        mon._pre_hook(opt, (opt,), {})  # what the step hooks run, without the step itself
        mon._post_hook(opt, (opt,), {})
        mon.step(loss)
        for n, p in model.named_parameters():
            assert p.grad._version == grads[n][0] and torch.equal(p.grad, grads[n][1])
