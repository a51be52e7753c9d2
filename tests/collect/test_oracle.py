"""Every recorded statistic against a direct torch computation on the same model and step."""

from __future__ import annotations

import math

import pytest

from collect_helpers import data, mlp, num, read_log

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from lossdoctor.collect import watch  # noqa: E402

REL = 1e-5  # float32 norms summed in another order differ in the last bits


def _train_with_reference(model, opt, log_path, steps=4, **kw):
    """Train while computing the reference statistics by hand around each optimizer step."""
    x, y = data()
    refs = []
    with watch(model, opt, log_path, detail="full", alerts=False, **kw) as mon:
        for _ in range(steps):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            named = [(n, p) for n, p in model.named_parameters()]
            ref = {"loss": loss.item(),
                   "g": {n: p.grad.norm().item() for n, p in named},
                   "grad": {n: p.grad.detach().clone() for n, p in named},
                   "w": {n: p.detach().clone() for n, p in named},
                   "lr": [g["lr"] for g in opt.param_groups]}
            opt.step()
            ref["dw"] = {n: (p.detach() - ref["w"][n]).norm().item() for n, p in named}
            refs.append(ref)
            mon.step(loss)
    return refs, read_log(log_path)[1]


def _hyp(*xs) -> float:
    return math.sqrt(sum(x * x for x in xs))


def test_norms_and_update_ratio_match_torch(log_path):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    refs, recs = _train_with_reference(model, opt, log_path)
    assert [r["step"] for r in recs] == [0, 1, 2, 3]
    for ref, rec in zip(refs, recs):
        assert rec["loss"] == ref["loss"]
        assert rec["grad_norm"] == pytest.approx(_hyp(*ref["g"].values()), rel=REL)
        wn = {n: w.norm().item() for n, w in ref["w"].items()}
        assert rec["weight_norm"] == pytest.approx(_hyp(*wn.values()), rel=REL)
        assert rec["update_ratio"] == pytest.approx(_hyp(*ref["dw"].values()) / _hyp(*wn.values()), rel=REL)
        for n in ref["g"]:
            assert rec[f"grad_norm/{n}"] == pytest.approx(ref["g"][n], rel=REL)
            assert rec[f"weight_norm/{n}"] == pytest.approx(wn[n], rel=REL)
            assert rec[f"update_ratio/{n}"] == pytest.approx(ref["dw"][n] / wn[n], rel=REL)
        assert rec["wd_share"] == 0.0  # no weight decay
        dot = sum(float((ref["grad"][n] * ref["w"][n]).sum()) for n in ref["grad"])
        assert rec["grad_w_cos"] == pytest.approx(dot / (_hyp(*ref["g"].values()) * _hyp(*wn.values())),
                                                  rel=1e-4, abs=1e-6)


def test_grad_w_cos_shows_an_l2_penalty_inside_the_loss(log_path, tmp_path):
    # an L2 term added to the loss is invisible to the optimizer's weight decay (wd_share 0): its
    # gradient lambda * w points along the weights, pulling them in, where a net learning from
    # its data alone is pushed out (a negative cosine)
    x, y = data()
    med = {}
    for lam, path in ((0.0, log_path), (0.5, tmp_path / "l2.jsonl")):
        torch.manual_seed(0)
        model = mlp()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        with watch(model, opt, path, detail="full", alerts=False) as mon:
            for _ in range(60):
                loss = F.cross_entropy(model(x), y)
                if lam:
                    loss = loss + lam / 2 * sum((p ** 2).sum() for p in model.parameters())
                opt.zero_grad()
                loss.backward()
                opt.step()
                mon.step(loss)
        recs = read_log(path)[1]
        cos = sorted(r["grad_w_cos"] for r in recs if "grad_w_cos" in r)
        assert all(r["wd_share"] == 0.0 for r in recs if "wd_share" in r)
        med[lam] = cos[len(cos) // 2]
    assert med[0.0] < 0 < med[0.5]


def test_per_layer_keys_are_in_named_parameters_order(log_path):
    import lossdoctor

    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    _train_with_reference(model, opt, log_path, steps=2)
    run = lossdoctor.read(log_path)
    assert list(run.layers("grad_norm")) == [n for n, _ in model.named_parameters()]


def _global_wd_terms(ref, wd):
    w = ref["w"]
    num_c = _hyp(*(wd * t.norm().item() for t in w.values()))
    den_c = _hyp(*((ref["grad"][n] + wd * w[n]).norm().item() for n in w))
    return num_c, den_c


def test_wd_share_plain_sgd_is_decay_step_over_update(log_path):
    """Plain SGD with L2: ||lr * wd * w|| / ||dw||, the issue's definition, exactly."""
    lr, wd = 0.1, 0.05
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=lr, weight_decay=wd)
    refs, recs = _train_with_reference(model, opt, log_path)
    for ref, rec in zip(refs, recs):
        decay = _hyp(*(lr * wd * t.norm().item() for t in ref["w"].values()))
        expected = min(1.0, decay / _hyp(*ref["dw"].values()))
        assert 0 < expected < 1
        assert rec["wd_share"] == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("opt_cls", [torch.optim.SGD, torch.optim.Adam])
def test_wd_share_coupled_with_momentum_is_share_of_effective_gradient(log_path, opt_cls):
    """SGD with momentum and Adam's coupled L2: ||wd * w|| / ||g + wd * w||."""
    wd = 0.05
    model = mlp()
    kw = {"momentum": 0.9} if opt_cls is torch.optim.SGD else {}
    opt = opt_cls(model.parameters(), lr=0.01, weight_decay=wd, **kw)
    refs, recs = _train_with_reference(model, opt, log_path)
    for ref, rec in zip(refs, recs):
        n, d = _global_wd_terms(ref, wd)
        assert rec["wd_share"] == pytest.approx(min(1.0, n / d), rel=1e-4)


def test_wd_share_adamw_is_decoupled_decay_over_update(log_path):
    lr, wd = 0.01, 0.1
    model = mlp()
    decay = [p for n, p in model.named_parameters() if n.endswith("weight")]
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias")]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": wd},
                             {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    refs, recs = _train_with_reference(model, opt, log_path)
    for ref, rec in zip(refs, recs):
        decayed = _hyp(*(lr * wd * t.norm().item() for n, t in ref["w"].items() if n.endswith("weight")))
        assert rec["wd_share"] == pytest.approx(min(1.0, decayed / _hyp(*ref["dw"].values())), rel=1e-4)


def test_lr_per_param_group_follows_the_scheduler(log_path):
    model = mlp()
    weights = [p for n, p in model.named_parameters() if n.endswith("weight")]
    biases = [p for n, p in model.named_parameters() if n.endswith("bias")]
    opt = torch.optim.SGD([{"params": weights, "lr": 0.1}, {"params": biases, "lr": 0.01}])
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    x, y = data()
    used = []
    with watch(model, opt, log_path, scheduler=sched, alerts=False) as mon:
        for _ in range(6):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            used.append([g["lr"] for g in opt.param_groups])
            opt.step()
            sched.step()
            mon.step(loss)
    header, recs, _ = read_log(log_path)
    assert [(r["lr"], r["lr/pg1"]) for r in recs] == [tuple(u) for u in used]
    assert used[0] != used[-1]
    assert header["hparams"]["scheduler"] == "StepLR"


def _act_model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 32), nn.Tanh(),
                          nn.Linear(32, 16), nn.Sigmoid(), nn.Linear(16, 4))
    with torch.no_grad():
        model[0].bias[:12] = -50.0  # 12 of 32 ReLU units dead for any input
        model[2].weight.mul_(8.0)  # tanh saturates
        model[4].weight.mul_(8.0)  # sigmoid saturates
    return model


def test_activation_statistics_match_torch(log_path):
    model = _act_model()
    outs = {}
    for i in (1, 3, 5):
        model[i].register_forward_hook(lambda m, a, o, i=i: outs.__setitem__(i, o.detach().clone()))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = data(n_out=4)
    ref = []
    with watch(model, opt, log_path, act_every=1, alerts=False) as mon:
        for _ in range(3):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            mon.step(loss)
            relu, tanh, sig = outs[1], outs[3], outs[5]
            dead = (~(relu > 0).any(0)).float()
            sat_t = (tanh.abs() > 0.99).float()
            sat_s = ((sig < 0.01) | (sig > 0.99)).float()
            ref.append({"dead_frac/1": dead.mean().item(), "dead_frac": dead.mean().item(),
                        "saturation/3": sat_t.mean().item(), "saturation/5": sat_s.mean().item(),
                        "saturation": (sat_t.sum() + sat_s.sum()).item() / (sat_t.numel() + sat_s.numel()),
                        "act_std/1": relu.std().item(), "act_std/3": tanh.std().item(),
                        "act_std/5": sig.std().item()})
    recs = read_log(log_path)[1]
    assert ref[0]["dead_frac"] >= 12 / 32 and ref[0]["saturation/3"] > 0.1
    for r, rec in zip(ref, recs):
        for k, v in r.items():
            # act_std is computed from a sum and a norm in float32: ~1e-4 relative
            assert rec[k] == pytest.approx(v, rel=1e-3 if k.startswith("act_std") else REL, abs=1e-9), k


def test_dead_units_of_a_convolution_are_channels(log_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 3))
    with torch.no_grad():
        model[0].bias[:3] = -100.0  # 3 of 8 channels dead everywhere
    out = {}
    model[1].register_forward_hook(lambda m, a, o: out.__setitem__("y", o.detach().clone()))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(5, 3, 6, 6, generator=g), torch.randint(0, 3, (5,), generator=g)
    with watch(model, opt, log_path, act_every=1, alerts=False) as mon:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        mon.step(loss)
    rec = read_log(log_path)[1][0]
    alive = (out["y"] > 0).any(3).any(2).any(0)
    assert rec["dead_frac/1"] == pytest.approx(1 - alive.float().mean().item())
    assert rec["dead_frac/1"] >= 3 / 8


def test_activations_are_sampled_on_schedule_only(log_path):
    model = _act_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = data(n_out=4)
    with watch(model, opt, log_path, act_every=3, every_n=2, alerts=False) as mon:
        for _ in range(7):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            mon.step(loss)
            # between samples no forward hook of the monitor stays registered
            assert all(not m._forward_hooks for m in model) or mon._probe.armed
    recs = read_log(log_path)[1]
    assert [r["step"] for r in recs if "dead_frac" in r] == [0, 3, 6]
    assert [r["step"] for r in recs if "update_ratio" in r] == [0, 2, 4, 6]
    assert all("grad_norm" in r for r in recs)


def test_loss_at_step_zero_and_number_of_classes(log_path):
    import lossdoctor

    model = mlp(n_out=7)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = data(n_out=7)
    with watch(model, opt, log_path, alerts=False) as mon:
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        mon.step(loss)
    header, recs, _ = read_log(log_path)
    assert header["hparams"]["num_classes"] == 7 and header["model"]["n_outputs"] == 7
    assert num(recs[0]["loss"]) == pytest.approx(loss.item())
    from lossdoctor.diagnose.evidence import Evidence
    from lossdoctor.detect import Context

    run = lossdoctor.read(log_path)
    ev = Evidence(run, Context(run), [])
    assert ev.chance == pytest.approx(math.log(7))


def test_zero_switches_a_schedule_off(log_path):
    model = _act_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = data(n_out=4)
    with watch(model, opt, log_path, every_n=0, act_every=0, alerts=False) as mon:
        for _ in range(3):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            mon.step(loss)
    recs = read_log(log_path)[1]
    assert all(set(r) == {"step", "loss", "lr", "grad_norm"} for r in recs)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_grad_weight_dots_in_low_precision_stay_close_without_a_float32_copy(dtype):
    from lossdoctor.collect import stats

    torch.manual_seed(0)
    dt = getattr(torch, dtype)
    w = nn.Parameter(torch.randn(100_000).to(dt))
    w.grad = (torch.randn(100_000) * 0.01 + 0.003 * w.detach().float()).to(dt)
    got = stats.grad_weight_dots([w], [w])[0]
    ref = float((w.grad.double() * w.detach().double()).sum())
    assert got.dtype == torch.float32 and float(got) == pytest.approx(ref, rel=0.01)
    no_grad = nn.Parameter(torch.ones(3))
    assert float(stats.grad_weight_dots([no_grad], [no_grad])[0]) == 0.0
