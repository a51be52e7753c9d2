"""``vanishing_gradients``: gradients shrink layer by layer towards the input."""

from __future__ import annotations

from ._util import g

ID = "vanishing_gradients"
TITLE = "vanishing gradients"
PRODUCES = {
    "stagnation": "the early layers get almost no gradient, so most of the network does not learn",
    "slow_convergence": "only the last layers learn at a useful pace",
    "plateau_then_drop": "the early layers wake up only once the signal has grown through the depth",
}
FIX = "use ReLU-family activations, residual connections or normalization layers, and Kaiming init"
#: First-layer gradient norm over last-layer: 1e-2 and below is vanishing (one order per few sigmoid layers).
VANISHED = 1e-2
SMALL = 0.1
HEALTHY = 0.3
#: "Layer by layer" needs a few layers: with two, a tiny first-layer gradient is the input saturating.
MIN_DEPTH = 3


def assess(ev, f) -> None:
    r = ev.layer_grad_ratio
    if r is None:
        if any(s in ev.ids for s in PRODUCES):
            f.need("per-layer gradient norms: a first/last-layer ratio << 1 shows vanishing gradients")
        return
    ratio, first, last = r
    if ev.n_weight_layers < MIN_DEPTH:
        f.note(f"the first layer ({first}) gets {g(ratio)}x the gradient of the last, but with {ev.n_weight_layers} "
               f"weight layers that is saturation at the input, not gradients vanishing layer by layer")
        return
    collapse = ev.weight_collapse
    if collapse is not None and collapse <= 0.1 and ratio <= SMALL:
        f.against("weights_collapsed", 0.3, f"the weights collapsed to {collapse:.0%} of their start: tiny early-layer gradients follow "
                       f"from near-zero weights, not from depth")
        return
    if ev.lr_high and ratio <= SMALL:
        f.against("lr_far_above", 0.2, f"the lr {ev.lr_text} is far above the usual range: oversized steps saturate units, which then "
                       f"pass little gradient; that is the lr's doing, not the depth's")
    if ratio <= VANISHED:
        f.support("first_layer_vanished", 0.45, f"the first layer ({first}) gets {g(ratio)}x the gradient of the last ({last})")
    elif ratio <= SMALL:
        f.support("first_layer_small", 0.2, f"the first layer ({first}) gets only {g(ratio)}x the gradient of the last ({last})")
    elif ratio >= HEALTHY:
        f.against("first_layer_healthy", 0.3, f"the first layer's gradient is {g(ratio)}x the last's: gradients reach the input")
    sat = ev.saturation
    if sat is not None and sat >= 0.5 and ratio <= SMALL:
        f.support("saturated", 0.1, f"{sat:.0%} of tanh/sigmoid units are saturated, passing almost no gradient")
