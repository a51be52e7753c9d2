"""Initialisation: a weight scale that is wrong at step 0 (too large: saturated units and a
loss far above chance; tiny: a saddle the optimizer sits on)."""

from __future__ import annotations

from . import expect as E
from ._build import classifier
from .base import Scenario

FAR_ABOVE_CHANCE = 5.0  # loss at step 0 above 5 x ln(C): the logits are far too large
STUCK_GRAD_SHARE = 0.15  # weight gradients at the plateau under 15% of their later peak
SATURATED = 0.5  # median share of tanh outputs in their flat tails: most units pass no gradient


def _large_relu(seed: int):
    return classifier(seed, data="digits", hidden=(64, 64), act="relu", init_scale=10.0,
                      opt="adam", lr=1e-4, steps=700, batch_size=64)


def _deep_linear(seed: int):
    return classifier(seed, data="classification", hidden=(32,) * 4, act="linear",
                      init_scale=0.25, opt="sgd", lr=0.02, momentum=0.9, steps=1200,
                      batch_size=64)


def _large_tanh(seed: int):
    return classifier(seed, data="classification", hidden=(64, 64), act="tanh", init="xavier",
                      init_scale=10.0, opt="adam", lr=3e-4, steps=800, batch_size=256)


SCENARIOS = (
    Scenario("bad_init_large", "bad_initialization", "slow_convergence",
             "A ReLU MLP on digits with every weight x10: the logits are ~1000x too large, the\n"
             "loss at step 0 is ~50x chance and Adam (lr 1e-4) only slowly shrinks them back.",
             _large_relu, expect=(E.first_loss_above(FAR_ABOVE_CHANCE),)),
    Scenario("stuck_deep_linear", "stuck_plateau", "plateau_then_drop",
             "A 5-layer linear net with small init on a 4-class task: the product of small\n"
             "weights makes the origin a saddle; the loss sits at chance, then drops.",
             _deep_linear, expect=(E.weight_grad_share_at_plateau(hi=STUCK_GRAD_SHARE),)),
    Scenario("bad_init_large_tanh", "bad_initialization", "slow_convergence",
             "A tanh MLP on make_classification with Xavier weights x10: 80% of the units are\n"
             "saturated, the first loss is ~20x chance and Adam (lr 3e-4) only slowly undoes it.",
             _large_tanh, expect=(E.first_loss_above(FAR_ABOVE_CHANCE),
                                  E.median_between("saturation", lo=SATURATED))),
)
