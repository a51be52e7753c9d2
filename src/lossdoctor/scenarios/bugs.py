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


def _no_zero_grad(seed: int):
    return classifier(seed, data="moons", hidden=(32,), act="tanh", opt="sgd", lr=1e-3,
                      momentum=0.0, steps=800, batch_size=64, zero_grad=False)


def _softmax_ce(seed: int):
    return classifier(seed, data="digits", hidden=(32,), act="relu", out_act="softmax",
                      opt="sgd", lr=0.05, momentum=0.0, steps=1000, batch_size=64)


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
)
