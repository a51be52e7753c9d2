"""Wiring bugs in the training loop: gradients never cleared, a softmax before a loss that
expects logits."""

from __future__ import annotations

import math

from . import expect as E
from ._build import classifier
from .base import Scenario

# With softmax outputs p, CrossEntropyLoss computes -log softmax(p): the best it can reach is
# p = one-hot, which gives log(1 + (C-1)/e) (1.46 for C=10), never 0.
SOFTMAX_CE_FLOOR_10 = math.log(1 + 9 / math.e)
GRAD_GROWTH = 10.0  # accumulated gradients: the norm ends 10x+ above the first step's
GOOD_ACC = 0.7  # the net classifies well even though the loss stays high
# A running sum of hundreds of batch gradients changes by ~1% a step; a fresh batch
# gradient of the same net changes by ~6%.
ACCUM_STEP_CHANGE = 0.03
# BCEWithLogitsLoss on softmax outputs p (one-hot targets, C=10) is at best p = one-hot:
# -log sigmoid(1) for the true class and log 2 for each of the 9 others, 0.655 in all; a
# uniform p = 0.1 gives 0.734. The loss can only move between the two.
SOFTMAX_BCE_FLOOR_10 = (math.log(1 + 1 / math.e) + 9 * math.log(2)) / 10
FLOOR_BAND = 1.05  # ends within 5% of that floor


def _no_zero_grad(seed: int):
    return classifier(seed, data="moons", hidden=(32,), act="tanh", opt="sgd", lr=1.5e-3,
                      momentum=0.0, steps=800, batch_size=64, zero_grad=False)


def _softmax_ce(seed: int):
    return classifier(seed, data="digits", hidden=(32,), act="tanh", out_act="softmax",
                      opt="sgd", lr=0.04, momentum=0.0, steps=1000, batch_size=64)


def _no_zero_grad_momentum(seed: int):
    return classifier(seed, data="digits", hidden=(64,), act="relu", opt="sgd", lr=1e-3,
                      momentum=0.9, steps=600, batch_size=64, zero_grad=False)


def _softmax_bce(seed: int):
    return classifier(seed, data="digits", hidden=(64,), act="relu", out_act="softmax",
                      loss="bce_one_hot", opt="adam", lr=1e-3, steps=1000, batch_size=64)


SCENARIOS = (
    Scenario("missing_zero_grad", "missing_zero_grad", "oscillation",
             "A tanh MLP on two-moons whose loop never calls optimizer.zero_grad(): every step\n"
             "adds all past gradients, a momentum without friction; the loss swings.",
             _no_zero_grad, expect=(E.grows("grad_norm", GRAD_GROWTH),)),
    Scenario("softmax_before_ce", "loss_misuse", "slow_convergence",
             "A digits MLP that applies softmax before nn.CrossEntropyLoss: the gradients are\n"
             "squashed, it learns slowly and can never go below log(1+9/e) = 1.46.",
             _softmax_ce, expect=(E.end_between("loss", SOFTMAX_CE_FLOOR_10, 2.0),
                                  E.end_between("val_acc", GOOD_ACC, 1.0))),
    Scenario("missing_zero_grad_momentum", "missing_zero_grad", "divergence",
             "A digits MLP on SGD + momentum whose loop never calls zero_grad(): momentum adds\n"
             "up a gradient sum that only grows; the loss first falls, then climbs past 1e4.",
             _no_zero_grad_momentum,
             expect=(E.grows("grad_norm", GRAD_GROWTH),
                     E.step_change_below("grad_norm", ACCUM_STEP_CHANGE))),
    Scenario("softmax_before_bce", "loss_misuse", "stagnation",
             "A digits MLP with a softmax head and BCEWithLogitsLoss on one-hot targets: the\n"
             "loss squashes probabilities again and only moves 0.73 -> 0.66; accuracy gets 98%.",
             _softmax_bce,
             expect=(E.end_between("loss", SOFTMAX_BCE_FLOOR_10,
                                   FLOOR_BAND * SOFTMAX_BCE_FLOOR_10),
                     E.end_between("val_acc", GOOD_ACC, 1.0))),
)
