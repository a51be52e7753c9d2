"""Gradient flow: vanishing through deep sigmoid stacks, exploding through large weights or
a deep linear stack, and ReLU units that die."""

from __future__ import annotations

from . import expect as E
from ._build import classifier
from .base import Scenario

VANISH_RATIO = 1e-2  # first-layer gradient below 1% of the last layer's
EXPLODE_GRAD = 100.0  # gradient norm at the first steps: ~100x what these nets start with
DEAD_SHARE = 0.9  # share of ReLU units (overall, or in one layer) zero for every input
# Weight gradients on the plateau at 15%+ of their later peak: the last layers do get a
# gradient (on a saddle every layer's is tiny), only the early ones do not.
NOT_SADDLE_SHARE = 0.15
EXPLODE_GROWTH = 100.0  # gradient norm climbs to 100x+ its first value before the NaN
# The first steps' gradient norm stays below this (5-11 here; exploding_deep_init starts at
# 100+): it blows up during training, not at step 0.
CALM_START_GRAD = 20.0


def _sigmoid_deep(seed: int):
    return classifier(seed, data="digits", hidden=(64,) * 10, act="sigmoid", opt="sgd",
                      lr=0.05, momentum=0.9, steps=1000, batch_size=64)


def _explode_deep(seed: int):
    return classifier(seed, data="digits", hidden=(128,) * 8, act="relu", init_scale=5.0,
                      opt="sgd", lr=3e-3, momentum=0.9, steps=300, batch_size=64)


def _dead_bias(seed: int):
    return classifier(seed, data="digits", hidden=(64, 64), act="relu", bias_init=-3.0,
                      opt="sgd", lr=0.01, momentum=0.9, steps=1000, batch_size=64)


def _dead_lr(seed: int):
    return classifier(seed, data="digits", hidden=(64, 64), act="relu", opt="sgd", lr=1.0,
                      momentum=0.9, steps=1000, batch_size=64)


def _dead_bias_adam(seed: int):
    return classifier(seed, data="classification", hidden=(64, 64, 64), act="relu", bias_init=-2.5,
                      opt="adam", lr=1e-3, steps=800, batch_size=64)


def _explode_deep_relu(seed: int):
    # Xavier with the ReLU gain is He/Kaiming scale: a standard init; momentum 0.9 at lr 0.08 is
    # an effective 0.8, inside SGD's usual range. Only the depth, with nothing to tame it
    # (no normalisation, no skips, no clipping), blows the gradient up.
    return classifier(seed, data="diabetes", regression=True, hidden=(64,) * 12, act="relu", init="xavier",
                      opt="sgd", lr=0.08, momentum=0.9, steps=400, batch_size=64)


def _sigmoid_deep_adam(seed: int):
    return classifier(seed, data="moons", hidden=(32,) * 7, act="sigmoid", opt="adam", lr=1e-3,
                      steps=400, batch_size=64)


def _explode_deep_linear(seed: int):
    return classifier(seed, data="classification", hidden=(32,) * 12, act="linear",
                      init="xavier", opt="sgd", lr=0.05, momentum=0.9, steps=400, batch_size=64)


SCENARIOS = (
    Scenario("vanishing_sigmoid", "vanishing_gradients", "stagnation",
             "An 11-layer sigmoid MLP on digits: each sigmoid passes back at most 1/4 of the\n"
             "gradient, so the first layers get almost none and the loss barely moves.",
             _sigmoid_deep, expect=(E.layer_ratio_below("grad_norm", VANISH_RATIO),)),
    Scenario("exploding_deep_init", "bad_initialization", "nan_inf",
             "A 9-layer ReLU MLP with weights x5 (the root): activations grow ~2x per layer, the\n"
             "gradient starts in the thousands (the mechanism); a few steps throw the loss to NaN.",
             _explode_deep,
             expect=(E.median_between("grad_norm", lo=EXPLODE_GRAD, part=(0.0, 0.01)),)),
    Scenario("dead_relu_bias", "dead_relu", "stagnation",
             "A ReLU MLP on digits with hidden biases set to -3: nearly every unit outputs 0\n"
             "for every input, no gradient flows through them, the loss sits at chance.",
             _dead_bias, expect=(E.median_between("dead_frac", lo=DEAD_SHARE),)),
    Scenario("dead_relu_high_lr", "lr_too_high", "stagnation",
             "A ReLU MLP on digits with SGD at lr 1.0 (the root): the first large steps push a\n"
             "whole layer into its zero side for good (the mechanism); the loss sits at chance.",
             _dead_lr, expect=(E.layer_median_above("dead_frac", DEAD_SHARE, part=(0.5, 1.0)),)),
    Scenario("vanishing_sigmoid_adam", "vanishing_gradients", "plateau_then_drop",
             "An 8-layer sigmoid MLP on two-moons, Adam: the gradient shrinks ~6x a layer, the\n"
             "first gets ~5e-6 of the last's; the loss sits at chance until the weights grow.",
             _sigmoid_deep_adam,
             expect=(E.layer_ratio_below("grad_norm", VANISH_RATIO),
                     E.weight_grad_share_at_plateau(lo=NOT_SADDLE_SHARE))),
    Scenario("dead_relu_bias_adam", "dead_relu", "stagnation",
             "A 4-layer ReLU MLP on make_classification with hidden biases at -2.5, Adam: the\n"
             "units are dead from the first batch, Adam has no gradient to rescale; chance level.",
             _dead_bias_adam, expect=(E.median_between("dead_frac", lo=DEAD_SHARE),)),
    Scenario("exploding_deep_relu", "exploding_gradients", "nan_inf",
             "A 13-layer plain ReLU MLP on diabetes (regression), He-scale init, SGD + momentum at\n"
             "an effective lr 0.8: nothing but the depth amplifies the gradient; NaN in a dozen steps.",
             _explode_deep_relu, expect=(E.peaks("grad_norm", 10.0),)),
    Scenario("exploding_deep_linear", "exploding_gradients", "nan_inf",
             "A 13-layer linear stack on make_classification, SGD + momentum: each layer's\n"
             "gradient is a product of the 12 others; as they grow it grows 100x+, then NaN.",
             _explode_deep_linear,
             expect=(E.median_between("grad_norm", hi=CALM_START_GRAD, part=(0.0, 0.05)),
                     E.grows("grad_norm", EXPLODE_GROWTH))),
)
