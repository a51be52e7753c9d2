"""Data problems: labels that carry no information, inputs on wild scales, batches that are
not shuffled."""

from __future__ import annotations

from . import expect as E
from ._build import classifier
from .base import Scenario

RAW_GRAD = 50.0  # gradient norm with raw features: ~50x+ the standardised run's
SATURATED = 0.9  # share of tanh outputs in their flat tails


def _shuffled(seed: int):
    return classifier(seed, data="digits", labels="shuffled", hidden=(16,), act="relu",
                      opt="adam", lr=3e-4, steps=1000, batch_size=64)


def _unnormalised_linear(seed: int):
    return classifier(seed, data="breast_cancer", standardize=False, hidden=(), opt="sgd",
                      lr=1e-4, momentum=0.0, steps=800, batch_size=16)


def _unnormalised_tanh(seed: int):
    return classifier(seed, data="breast_cancer", standardize=False, hidden=(32,), act="tanh",
                      opt="sgd", lr=1e-3, momentum=0.9, steps=800, batch_size=32)


def _unshuffled(seed: int):
    return classifier(seed, data="moons", sort_batches=True, hidden=(32,), act="relu",
                      opt="sgd", lr=0.01, momentum=0.9, steps=1500, batch_size=8)


SCENARIOS = (
    Scenario("data_shuffled_labels", "data_problem", "stagnation",
             "Digits with the training labels shuffled: nothing in the input predicts the\n"
             "label, so the training loss stays at chance (and validation loss rises).",
             _shuffled),
    Scenario("data_unnormalized", "data_problem", "oscillation",
             "Logistic regression on breast_cancer's raw features (areas in the thousands\n"
             "next to ratios below 1): gradients in the hundreds, every step overshoots.",
             _unnormalised_linear, expect=(E.median_between("grad_norm", lo=RAW_GRAD),)),
    Scenario("data_unnormalized_tanh", "data_problem", "stagnation",
             "A tanh MLP on breast_cancer's raw features: the large inputs drive every hidden\n"
             "unit into saturation, no gradient gets through, the loss sits at chance.",
             _unnormalised_tanh, expect=(E.median_between("saturation", lo=SATURATED),)),
    Scenario("data_unshuffled", "data_problem", "oscillation",
             "Two-moons fed in label-sorted order, never reshuffled: the net chases the class\n"
             "of the current batches and the loss swings with every epoch.",
             _unshuffled),
)
