"""Regularization: too strong (weight decay holds the weights at the origin) and too weak (a
big network memorises a small training set)."""

from __future__ import annotations

from . import expect as E
from ._build import classifier
from .base import Scenario

WD_SHARE_LARGE = 0.3  # the decay is at least this share of each step while the weights fall
NORM_COLLAPSE = 0.2  # the weight norm ends below this share of its start


def _wd_sgd(seed: int):
    return classifier(seed, data="digits", hidden=(64, 64), act="tanh", opt="sgd", lr=0.01,
                      momentum=0.9, weight_decay=0.3, steps=1000, batch_size=64)


def _l2_adam(seed: int):
    return classifier(seed, data="breast_cancer", hidden=(32, 32), act="relu", opt="adam",
                      lr=1e-3, weight_decay=1.0, steps=1000, batch_size=32)


def _overfit_classification(seed: int):
    return classifier(seed, data="classification", n_train=80, hidden=(256, 256), act="relu",
                      opt="adam", lr=1e-3, steps=1500, batch_size=16, val_every=25)


def _overfit_moons(seed: int):
    return classifier(seed, data="moons", n_train=60, hidden=(128, 128, 128), act="relu",
                      opt="adam", lr=3e-3, steps=1500, batch_size=20, val_every=25)


SCENARIOS = (
    Scenario("regularization_sgd_wd", "regularization_too_strong", "stagnation",
             "A tanh MLP on digits with SGD weight decay 0.3: the decay pulls every weight to\n"
             "zero faster than the data can grow them; the loss never leaves chance.",
             _wd_sgd, expect=(E.median_between("wd_share", lo=WD_SHARE_LARGE, part=(0.0, 0.1)),
                              E.shrinks("weight_norm", NORM_COLLAPSE, 1.0))),
    Scenario("regularization_adam_l2", "regularization_too_strong", "stagnation",
             "A ReLU MLP on breast_cancer with Adam and coupled L2 of 1.0: the penalty's\n"
             "gradient outweighs the data's; the loss is held near chance.",
             _l2_adam, expect=(E.median_between("wd_share", lo=WD_SHARE_LARGE),)),
    Scenario("overfit_small_classification", "insufficient_regularization", "overfitting",
             "A 256x256 ReLU MLP trained on 80 points of a 4-class task with Adam and no\n"
             "regularization: it memorises them; training loss -> 0, validation loss climbs.",
             _overfit_classification, expect=(E.median_between("wd_share", hi=0.0),)),  # no decay
    Scenario("overfit_moons", "insufficient_regularization", "overfitting",
             "A 3-layer ReLU MLP on 60 noisy two-moons points, no regularization: it fits\n"
             "the noise; validation loss turns up while training loss keeps falling.",
             _overfit_moons),
)
