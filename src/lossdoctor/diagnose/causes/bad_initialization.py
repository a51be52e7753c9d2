"""``bad_initialization``: weight scale wrong at init."""

from __future__ import annotations

from ._util import g
from .data_problem import LARGE_INPUT

ID = "bad_initialization"
TITLE = "bad weight initialization"
PRODUCES = {
    "stagnation": "saturated or collapsed activations pass almost no gradient",
    "slow_convergence": "a badly scaled start spends steps undoing the init",
    "divergence": "oversized initial weights can amplify activations layer by layer",
    "nan_inf": "oversized initial weights can overflow activations",
    "spikes": "an oversized start gives a huge first loss",
}
FIX = ("use the default Kaiming/Xavier init; scale the last layer down so the first loss is about ln(C)")
#: A fresh classifier's loss is ~ln(C); this many times more (or 1/this) is a wrong scale (Karpathy:
#: "verify loss @ init").
FAR = 2.0
#: Within this share of ln(C): the init is fine.
NEAR = 0.15
SATURATED = 0.5
#: Initial weight std over PyTorch's default (1/sqrt(3 fan_in)), median over the weight layers:
#: every standard scheme lies within NORMAL_INIT (Kaiming normal ~2.4x, Xavier ~1-2x for square
#: layers); LARGE_INIT and above amplifies the signal several-fold per layer.
NORMAL_INIT = (0.5, 3.0)
LARGE_INIT = 4.0


def assess(ev, f) -> None:
    ch, l0 = ev.chance, ev.loss0
    if ch is None:
        f.need("the number of classes (num_classes in hparams): the first loss should be ln(C)")
    elif l0 is not None:
        big_inputs = ev.input_rms is not None and ev.input_rms >= LARGE_INPUT
        if l0 >= FAR * ch and big_inputs:
            f.note(f"loss at step 0 is {g(l0)}, {l0 / ch:.1f}x ln({ev.n_classes}) = {g(ch)}, but the data reaches the first "
                   f"layer on a raw scale (root mean square {g(ev.input_rms)}): the inputs, not the weights, are "
                   f"the likelier culprit")
        elif l0 >= FAR * ch and ev.init_is_default:
            f.note(f"loss at step 0 is {g(l0)}, {l0 / ch:.1f}x ln({ev.n_classes}) = {g(ch)}, but the weights started at "
                   f"the default scale: the inputs or the loss wiring are the more likely culprits")
        elif l0 >= FAR * ch:
            f.support("loss0_far_above", 0.45, f"loss at step 0 is {g(l0)}, {l0 / ch:.1f}x the ln({ev.n_classes}) = {g(ch)} "
                            f"of a freshly initialised classifier: the initial weights are too large")
        elif abs(l0 - ch) <= NEAR * ch:
            f.against("loss0_at_chance", 0.3, f"loss at step 0 is {g(l0)}, the expected ln({ev.n_classes}) = {g(ch)}")
    sat = ev.saturation
    if sat is not None and sat >= SATURATED:
        f.support("saturated", 0.2, f"{sat:.0%} of tanh/sigmoid units are saturated")
    measured = ev.init_scale_measured
    if measured is not None and measured[0] >= LARGE_INIT:
        f.support("init_large", 0.35, f"the weights start at {g(measured[0])}x PyTorch's default init scale (median "
                                      f"over {measured[1]} weight layers): the signal grows layer by layer")
    elif measured is not None and measured[0] <= NORMAL_INIT[1] and measured[0] >= NORMAL_INIT[0]:
        f.against("init_normal", 0.2, f"the weights start at {g(measured[0])}x PyTorch's default init scale: "
                                      f"a standard scale")
    init = ev.hp_float("init")
    if init is not None and init >= 1.0:
        f.support("init_hparam_large", 0.15, f"initial weight scale {g(init)} is large")
