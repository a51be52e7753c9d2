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
#: A loss on softmax outputs cannot go below its floor (see :func:`floors`): within this share
#: of it is that floor.
FLOOR_TOL = 0.04
#: ...and the loss must sit on it for the last quarter of the run, not just pass it.
SETTLED = 0.25


def floors(loss_kind: str | None, C: int) -> list[tuple[float, str]]:
    """The lowest loss reachable when probabilities (a softmax's outputs, in [0, 1]) are fed to
    a loss that expects logits, with what it is. ``loss_kind``: "ce", "bce" or ``None`` (unknown:
    both). CrossEntropyLoss applies log_softmax again: at best p = one-hot, -log(e / (e + C-1)).
    BCEWithLogitsLoss on one-hot targets applies a sigmoid: at best the target's output is 1
    (log(1 + 1/e)) and the others 0 (log 2), averaged over the C outputs."""
    out = []
    if loss_kind in ("ce", None):
        out.append((math.log(1 + (C - 1) / math.e),
                    f"log(1 + (C-1)/e) for C={C}: the floor of cross-entropy applied to probabilities "
                    f"instead of logits"))
    if loss_kind in ("bce", None):
        out.append(((math.log(1 + 1 / math.e) + (C - 1) * math.log(2)) / C,
                    f"(log(1 + 1/e) + (C-1) log 2) / C for C={C}: the floor of BCEWithLogitsLoss applied "
                    f"to probabilities instead of logits"))
    return out


def _loss_kind(name: str) -> str | None:
    n = name.replace("_", "").replace(" ", "").replace("-", "")
    if "bce" in n or "binarycrossentropy" in n:
        return "bce"
    if "crossentropy" in n or n in ("ce", "nll", "nllloss"):
        return "ce"
    return None


#: The model's outputs were probabilities (or within [0, 1]) in at least this share of samples.
MOSTLY = 0.8


def assess(ev, f) -> None:
    hp = {k: str(v).lower() for k, v in ev.hp.items() if isinstance(v, str)}
    out_act = hp.get("output_activation", "") or (ev.last_module or "").lower()
    kind = _loss_kind(hp.get("loss", ""))
    out = ev.outputs
    n_out = ev.n_outputs
    if out is not None and out["probs"] >= MOSTLY and (n_out or 0) >= 2:
        f.support("outputs_are_probs", 0.5, f"the model's outputs are already probabilities (non-negative, every row "
                                            f"sums to 1, in {out['probs']:.0%} of {out['n']:.0f} samples): a softmax "
                                            f"inside the model, before a loss that expects logits?")
    elif "softmax" in out_act and kind is not None:
        again = "applies log_softmax again" if kind == "ce" else "applies a sigmoid to probabilities"
        f.support("softmax_head", 0.45, f"the model ends in {out_act} and the loss is {ev.hp.get('loss')}, which {again}")
    elif out is not None and out["unit"] >= MOSTLY and n_out == 1 and ev.n_classes is None:
        f.support("output_bounded", 0.25, f"the model's single output stays within [0, 1] ({out['unit']:.0%} of "
                                          f"{out['n']:.0f} samples): a sigmoid at the end bounds a regression "
                                          f"output, and targets outside [0, 1] cannot be reached")
    elif out is not None and out["probs"] == 0 and out["unit"] == 0:
        f.against("outputs_are_logits", 0.3, "the model's outputs are raw scores (negative values, rows that do not "
                                             "sum to 1): the loss gets logits")
    elif (out is None and ev.last_module and ev.last_module.lower() in ("linear", "conv1d", "conv2d")
          and "softmax" not in out_act):
        f.against("linear_head", 0.3, f"the model ends in a {ev.last_module} layer: the loss gets raw logits")
    C = ev.n_classes
    c = ev.cx.loss
    if C and c is not None:
        best = c.best
        cands = floors(kind, C)
        for floor, what in cands:
            settled = float(np.mean(np.abs(c.ys[c.pos >= 1 - SETTLED] - floor) <= FLOOR_TOL * floor))
            if abs(best - floor) <= FLOOR_TOL * floor and settled >= 0.8:
                f.support("at_floor", 0.4, f"the loss levels off at {g(best)} = {what}")
                break
        else:
            lowest = min(fl for fl, _ in cands)
            if best < lowest * (1 - FLOOR_TOL):
                f.against("below_floor", 0.3, f"the loss went below {g(lowest)}, the lowest floor of a loss fed probabilities")
    elif C is None and any(s in ev.ids for s in PRODUCES):
        f.need("the number of classes: softmax-before-CrossEntropy leaves a floor at log(1+(C-1)/e)")
