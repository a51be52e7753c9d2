"""``loss_misuse``: wrong loss wiring, e.g. softmax before a loss that expects logits."""

from __future__ import annotations

import math

import numpy as np

from ._util import g

ID = "loss_misuse"
TITLE = "loss function misused (e.g. softmax before CrossEntropyLoss)"
PRODUCES = {
    "stagnation": "probabilities fed as logits squash the gradient, and the loss has a floor it cannot pass",
    "slow_convergence": "double softmax flattens the gradient, so learning crawls towards a floor",
    "plateau_then_drop": "a squashed gradient can hold the loss near chance long before it moves",
}
FIX = "pass raw logits to nn.CrossEntropyLoss (remove the softmax), or use NLLLoss on log_softmax outputs"
#: CrossEntropy on softmax outputs cannot go below log(1 + (C-1)/e): within this share of it is that floor.
FLOOR_TOL = 0.04
#: ...and the loss must sit on it for the last quarter of the run, not just pass it.
SETTLED = 0.25


def assess(ev, f) -> None:
    hp = {k: str(v).lower() for k, v in ev.hp.items() if isinstance(v, str)}
    out_act = hp.get("output_activation", "") or (ev.last_module or "").lower()
    loss_name = hp.get("loss", "")
    ce = "crossentropy" in loss_name.replace("_", "").replace(" ", "")
    if "softmax" in out_act and ce:
        f.support(0.45, f"the model ends in {out_act} and the loss is {ev.hp.get('loss')}, which applies "
                        f"log_softmax again")
    elif ev.last_module and ev.last_module.lower() in ("linear", "conv1d", "conv2d") and "softmax" not in out_act:
        f.against(0.3, f"the model ends in a {ev.last_module} layer: the loss gets raw logits")
    C = ev.n_classes
    c = ev.cx.loss
    if C and c is not None:
        floor = math.log(1 + (C - 1) / math.e)
        best = c.best
        settled = float(np.mean(np.abs(c.ys[c.pos >= 1 - SETTLED] - floor) <= FLOOR_TOL * floor))
        if abs(best - floor) <= FLOOR_TOL * floor and settled >= 0.8:
            f.support(0.4, f"the loss levels off at {g(best)} = log(1 + (C-1)/e) for C={C}: the floor of "
                           f"cross-entropy applied to probabilities instead of logits")
        elif best < floor * (1 - FLOOR_TOL):
            f.against(0.3, f"the loss went below {g(floor)}, the floor of cross-entropy on probabilities")
    elif C is None and any(s in ev.ids for s in PRODUCES):
        f.need("the number of classes: softmax-before-CrossEntropy leaves a floor at log(1+(C-1)/e)")
