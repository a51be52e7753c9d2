"""``exploding_gradients``: gradient norms blow up."""

from __future__ import annotations

import numpy as np

from ._util import g

ID = "exploding_gradients"
TITLE = "exploding gradients"
PRODUCES = {
    "spikes": "a gradient burst throws the weights, and the loss, far off",
    "divergence": "growing gradients make ever larger steps",
    "nan_inf": "gradients overflow",
    "oscillation": "bursts of gradient knock the loss back up again and again",
}
FIX = "clip gradients (torch.nn.utils.clip_grad_norm_(params, 1.0)); lower the lr; add normalization"
#: Gradient norm peaking at this many times its median, or growing this much over the run: exploding.
PEAK = 100.0
GROWTH = 100.0
STABLE = 10.0
#: Growth with a power-law exponent near 1 is accumulation (missing zero_grad), not explosion.
ACCUMULATION = (0.6, 1.6)


def assess(ev, f) -> None:
    gs = ev.grad_stats
    raw = ev.run.get("grad_norm")
    if raw is not None and not np.isfinite(raw.values).all():
        f.support("grad_nonfinite", 0.5, "the gradient norm became NaN/inf")
    if gs is None:
        if any(s in ev.ids for s in PRODUCES):
            f.need("gradient norm per step: exploding gradients show as norms that grow by orders of magnitude")
        return
    accum = ACCUMULATION[0] <= gs["exponent"] <= ACCUMULATION[1] and gs["r"] >= 0.9
    if gs["peak"] >= PEAK:
        f.support("grad_peak", 0.4, f"the gradient norm peaked at {gs['peak']:.0f}x its typical size")
    elif gs["growth"] >= GROWTH and not accum:
        f.support("grad_growth", 0.4, f"the gradient norm grew {g(gs['growth'])}x over the run")
    elif gs["peak"] < STABLE and gs["growth"] < STABLE:
        f.against("grad_stable", 0.3, f"the gradient norm stayed within {max(gs['peak'], gs['growth']):.1f}x of its median")
    if ev.lr_high and f.decisive:
        f.against("lr_high_drives", 0.15, f"the lr {ev.lr_text} is above the usual range: the bursts may be its doing")
