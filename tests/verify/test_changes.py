"""Each arm's change, applied to real torch objects and checked against a direct computation."""

import math

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from lossdoctor.verify import changes as CH  # noqa: E402


def _mlp(act=nn.ReLU, dropout=0.0, out=None):
    torch.manual_seed(0)
    layers = [nn.Linear(8, 16), act()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(16, 3))
    if out is not None:
        layers.append(out)
    return nn.Sequential(*layers)


def _step(model, opt, x=None, y=None):
    x = torch.randn(32, 8) if x is None else x
    y = torch.randint(0, 3, (32,)) if y is None else y
    opt.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()


def test_lr_scale_scales_groups_and_the_schedulers_base_lr():
    model = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 0.5 ** i)
    CH.apply({"lr_scale": 10.0}, model, opt, sched)
    assert opt.param_groups[0]["lr"] == pytest.approx(1.0)
    _step(model, opt)
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5)  # 10x the script's 0.1 * 0.5


def test_lr_scale_finds_a_scheduler_the_script_did_not_pass():
    model = _mlp()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-2, total_steps=10)
    CH.apply({"lr_scale": 0.1}, model, opt, None)
    for _ in range(3):
        _step(model, opt)
        sched.step()
    ref_opt = torch.optim.Adam(_mlp().parameters(), lr=1e-3)
    ref = torch.optim.lr_scheduler.OneCycleLR(ref_opt, max_lr=1e-3, total_steps=10)
    for _ in range(3):
        ref_opt.step()
        ref.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(ref_opt.param_groups[0]["lr"])


def test_weight_decay_off_and_not_applicable_without_decay():
    model = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=0.3)
    _, done = CH.apply({"weight_decay_scale": 0.0}, model, opt)
    assert opt.param_groups[0]["weight_decay"] == 0.0 and "0.3" in done[0]
    with pytest.raises(CH.NotApplicable, match="no weight decay"):
        CH.apply({"weight_decay_scale": 0.0}, model, torch.optim.SGD(model.parameters(), lr=0.1))


def test_dropout_off_sets_every_dropout_module():
    model = _mlp(dropout=0.9)
    CH.apply({"dropout": 0.0}, model, torch.optim.SGD(model.parameters(), lr=0.1))
    assert all(m.p == 0.0 for m in model.modules() if isinstance(m, nn.Dropout))
    with pytest.raises(CH.NotApplicable, match="no Dropout"):
        CH.apply({"dropout": 0.0}, _mlp(), None)


def test_reinit_default_restores_pytorchs_scale():
    model = _mlp()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(10.0)
    CH.apply({"reinit": "default"}, model, torch.optim.SGD(model.parameters(), lr=0.1))
    w = model[0].weight
    bound = 1 / math.sqrt(8)  # kaiming_uniform(a=sqrt(5)) on fan_in 8
    assert float(w.detach().abs().max()) <= bound + 1e-6


def test_reinit_gain_gives_a_deep_relu_net_kaimings_scale():
    model = _mlp()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(0.01)  # a tiny init: the saddle the arm is the test of
    CH.apply({"reinit": "gain"}, model, torch.optim.SGD(model.parameters(), lr=0.1))
    w = model[0].weight.detach()
    fan_in = w.shape[1]
    # Kaiming normal for ReLU: std sqrt(2 / fan_in), well above PyTorch's default (1/sqrt(3 fan_in))
    assert float(w.std()) == pytest.approx(math.sqrt(2 / fan_in), rel=0.5)
    assert float(model[0].bias.detach().abs().max()) == 0.0


def test_clip_bounds_the_gradient_the_optimizer_sees():
    model = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    CH.apply({"clip": 0.01}, model, opt)
    before = [p.detach().clone() for p in model.parameters()]
    _step(model, opt)
    moved = torch.sqrt(sum(((p.detach() - b) ** 2).sum() for p, b in zip(model.parameters(), before)))
    assert float(moved) == pytest.approx(0.01, rel=1e-4)  # lr 1: the step is the clipped gradient


def test_zero_grad_clears_after_the_step_for_a_loop_that_never_does():
    model = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    t, _ = CH.apply({"zero_grad": True}, model, opt)
    x, y = torch.randn(4, 8), torch.randint(0, 3, (4,))
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
    for fn in t.after_step:
        fn()
    assert all(p.grad is None for p in model.parameters())


def test_momentum_only_for_plain_sgd():
    model = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    CH.apply({"momentum": 0.9}, model, opt)
    assert opt.param_groups[0]["momentum"] == 0.9
    with pytest.raises(CH.NotApplicable):
        CH.apply({"momentum": 0.9}, model, torch.optim.Adam(model.parameters()))


def test_constant_lr_holds_the_peak_through_a_warmup():
    model = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.2)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: min(1.0, (i + 1) / 100))
    seen = []
    opt.register_step_post_hook(lambda o, a, k: seen.append(o.param_groups[0]["lr"]))
    CH.apply({"constant_lr": True}, model, opt, sched)
    for _ in range(3):
        _step(model, opt)
        sched.step()
    assert seen == [pytest.approx(0.2)] * 3


def test_activation_swap():
    model = _mlp(act=nn.Sigmoid)
    CH.apply({"activation": "relu"}, model, None)
    assert isinstance(model[1], nn.ReLU)
    # a ReLU stack at the ReLU gain: Kaiming's std sqrt(2 / fan_in), biases 0 (at PyTorch's default
    # or a sigmoid's Xavier scale a deep ReLU net starves as the sigmoid one did)
    w = model[0].weight.detach()
    assert float(w.std()) == pytest.approx(math.sqrt(2 / 8), rel=0.2)
    assert float(model[0].bias.detach().abs().max()) == 0.0
    with pytest.raises(CH.NotApplicable):
        CH.apply({"activation": "relu"}, _mlp(act=nn.ReLU), None)


def test_bias_zero_keeps_the_weights():
    model = _mlp()
    w = model[0].weight.detach().clone()
    with torch.no_grad():
        model[0].bias.fill_(-3.0)
    CH.apply({"reinit": "bias"}, model, None)
    assert torch.equal(model[0].weight.detach(), w) and float(model[0].bias.detach().abs().max()) == 0.0


def test_layer_grads_equalize_lifts_every_layer_to_the_largest_norm():
    model = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    CH.apply({"layer_grads": "equalize"}, model, opt)
    norms = []  # seen after the change's hook, as the optimizer sees them
    opt.register_step_pre_hook(lambda o, a, k: norms.append(
        [float(torch.linalg.vector_norm(p.grad)) for p in model.parameters() if p.dim() >= 2]))
    with torch.no_grad():
        model[2].weight.mul_(1e-3)  # a tiny last layer starves the first one's gradient
    _step(model, opt)
    first, last = norms[-1]
    assert first == pytest.approx(last, rel=1e-5)


def test_standardize_puts_the_input_on_one_scale():
    model = _mlp()
    seen = []
    model[0].register_forward_pre_hook(lambda m, a: seen.append(a[0].detach().clone()))
    CH.apply({"standardize": True}, model, None)
    x = torch.randn(64, 8) * 1000 + 50
    model(x)
    z = seen[-1]
    assert float(z.mean(0).abs().max()) < 1e-3 and float((z.std(0) - 1).abs().max()) < 1e-3


def test_logits_undoes_an_output_softmax():
    model = _mlp(out=nn.Softmax(dim=-1))
    x = torch.randn(16, 8)
    with torch.no_grad():
        z = model[:-1](x)
    CH.apply({"logits": True}, model, None)
    out = model(x)
    assert torch.allclose(out, torch.log_softmax(z, -1), atol=1e-5)
    plain = _mlp()
    CH.apply({"logits": True}, plain, None)
    with torch.no_grad():
        assert torch.equal(plain(x), plain[:](x))  # raw logits pass untouched


def test_an_unknown_change_is_not_applicable():
    with pytest.raises(CH.NotApplicable, match="unknown"):
        CH.apply({"teleport": 1}, _mlp(), None)


def test_shuffle_draws_a_random_order_for_a_loader_that_reads_in_index_order():
    from torch.utils.data import DataLoader, SequentialSampler, TensorDataset

    data = TensorDataset(torch.arange(40))
    fixed = DataLoader(data, batch_size=8)  # shuffle=False: 0..7, 8..15, ... every pass
    order = lambda dl: torch.cat([b[0] for b in dl]).tolist()  # noqa: E731
    assert order(fixed) == list(range(40))
    t, done = CH.apply({"shuffle": True}, _mlp(), None)
    try:
        assert "random order" in done[0] and "1 of 1" in done[0]
        first, second = order(fixed), order(fixed)
        # every sample once per pass, in a new order each pass, batches of the same size
        assert sorted(first) == list(range(40)) and sorted(second) == list(range(40))
        assert first != list(range(40)) and first != second
        assert [len(b[0]) for b in fixed] == [8] * 5
        later = DataLoader(data, batch_size=8)  # made after the change: shuffled too
        assert order(later) != list(range(40))
    finally:
        for h in t.handles:
            h.remove()
    again = DataLoader(data, batch_size=8)
    assert order(again) == list(range(40)) and isinstance(again.sampler, SequentialSampler)


def test_shuffle_is_not_applicable_when_every_loader_already_shuffles():
    from torch.utils.data import DataLoader, TensorDataset

    loader = DataLoader(TensorDataset(torch.arange(16)), batch_size=4, shuffle=True)  # noqa: F841
    with pytest.raises(CH.NotApplicable, match="already draws a random order"):
        CH.apply({"shuffle": True}, _mlp(), None)
