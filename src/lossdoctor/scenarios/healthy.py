"""Healthy controls: common, sound setups whose loss falls and settles (checked for seeds 0-4:
none shows a symptom, overfitting included)."""

from __future__ import annotations

from ._build import classifier
from .base import Scenario


def _adam(seed: int):
    return classifier(seed, data="digits", hidden=(128, 64), act="relu", opt="adam", lr=1e-3,
                      steps=1000, batch_size=64)


def _warmup_cosine(seed: int):
    return classifier(seed, data="digits", hidden=(128, 64), act="relu", opt="adamw",
                      lr=3e-3, weight_decay=0.1, schedule="warmup_cosine", warmup_steps=100,
                      steps=1200, batch_size=64)


def _step_decay(seed: int):
    return classifier(seed, data="classification", hidden=(64, 64), act="relu", opt="sgd",
                      lr=0.05, momentum=0.9, weight_decay=2e-3, schedule="step",
                      step_size=500, gamma=0.1, steps=800, batch_size=32)


def _cosine(seed: int):
    return classifier(seed, data="digits", hidden=(64,), act="tanh", opt="sgd", lr=0.05,
                      momentum=0.9, weight_decay=5e-4, schedule="cosine", steps=800,
                      batch_size=64)


SCENARIOS = (
    Scenario("healthy_adam", None, None,
             "A ReLU MLP on digits with Adam at lr 1e-3: the textbook curve, a fast fall that\n"
             "flattens out.", _adam),
    Scenario("healthy_warmup_cosine", None, None,
             "AdamW (weight decay 0.1) with a 100-step linear warm-up and a cosine decay to 0:\n"
             "the loss falls and settles as the lr anneals.", _warmup_cosine),
    Scenario("healthy_step_decay", None, None,
             "SGD with momentum on a 4-class task, lr x0.1 at step 500: a normal fall, then a\n"
             "small late drop from the schedule, then flat.", _step_decay),
    Scenario("healthy_cosine", None, None,
             "SGD with momentum, light weight decay and a cosine schedule on digits: a fast\n"
             "fall that settles as the lr anneals to 0.",
             _cosine),
)
