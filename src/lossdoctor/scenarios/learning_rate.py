"""The learning rate and its schedule: too low, too high, a warm-up or a decay that sets the
pace."""

from __future__ import annotations

from . import expect as E
from ._build import classifier
from .base import Scenario

LOW_RATIO = 3e-4  # update/weight ratio well below the ~1e-3 rule of thumb
WARMUP_RISE = 20.0  # the lr rises at least 20x over the run (from ~0 at step 0)
DECAYED = 1e-6  # "decayed to ~0": the last lr is below this


def _low_shallow(seed: int):
    return classifier(seed, data="wine", hidden=(16,), act="tanh", opt="sgd", lr=6e-4,
                      momentum=0.0, steps=1500, batch_size=16)


def _high_adam(seed: int):
    return classifier(seed, data="digits", hidden=(128, 128), act="relu", opt="adam", lr=0.05,
                      steps=1000, batch_size=64)


def _high_diverge(seed: int):
    # Full batch: the largest Hessian eigenvalue of this least-squares problem is ~7.95, so
    # plain gradient descent is stable below lr ~0.25; at 0.26 each step overshoots ~7% more.
    return classifier(seed, data="diabetes", regression=True, hidden=(), opt="sgd", lr=0.26,
                      momentum=0.0, steps=500, batch_size=None, val_every=10)


def _deep(seed: int, **kw):
    base = dict(data="digits", hidden=(64,) * 4, act="tanh", opt="sgd", momentum=0.9,
                steps=1500, batch_size=64)
    return classifier(seed, **{**base, **kw})


def _warmup(seed: int):
    return _deep(seed, lr=8e-4, schedule="warmup_linear", warmup_steps=1350)


def _early_decay(seed: int):
    return _deep(seed, lr=0.01, schedule="exp", gamma=0.97)


SCENARIOS = (
    Scenario("lr_low_shallow", "lr_too_low", "slow_convergence",
             "A one-hidden-layer MLP on wine with plain SGD at lr 6e-4: the loss falls\n"
             "steadily but is far from converged when the run ends.",
             _low_shallow, expect=(E.median_between("update_ratio", hi=LOW_RATIO),)),
    Scenario("lr_high_adam", "lr_too_high", "oscillation",
             "A ReLU MLP on digits with Adam at lr 0.05 (50x the usual 1e-3): the loss swings\n"
             "up and down by large amounts instead of settling.",
             _high_adam),
    Scenario("lr_high_divergence", "lr_too_high", "divergence",
             "Linear regression on diabetes by full-batch gradient descent at lr 0.26, just\n"
             "above the stable 0.25: each step overshoots further; the loss grows without bound.",
             _high_diverge),
    Scenario("schedule_long_warmup", "lr_schedule", "plateau_then_drop",
             "A deep tanh MLP on digits whose linear warm-up (to lr 8e-4) lasts 90% of the\n"
             "run: the lr is tiny for most of it; the loss waits, then drops as the lr rises.",
             _warmup, expect=(E.grows("lr", WARMUP_RISE),)),
    Scenario("schedule_early_decay", "lr_schedule", "stagnation",
             "The same deep tanh MLP with the lr decayed x0.97 per step: it is ~0 after a few\n"
             "hundred steps, before the net has learnt anything; the loss stays put.",
             _early_decay, expect=(E.end_between("lr", 0.0, DECAYED),)),
)
