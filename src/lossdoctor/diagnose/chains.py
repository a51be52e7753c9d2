"""Root causes before their mechanisms. A too-high lr makes gradients explode and ReLUs die;
an oversized init explodes or saturates; inputs on a huge scale make huge gradients. When the
evidence shows both the root and its mechanism, the root is named first and both say the chain:
the fix is the root's (lower the lr), the mechanism is how it showed.

One line per chain in :data:`CHAINS`: ``(root, mechanism, rules of the root that make it the
root, how the root drives the mechanism)``. The root's rules are the ones that see the root
itself (the lr against its range, the first loss against ln(C)); a root with none of them fired
is no root here.
"""

from __future__ import annotations

CHAINS = (
    ("lr_too_high", "exploding_gradients", ("lr_far_above", "lr_above"),
     "oversized steps throw the weights far off, and the gradients grow with them"),
    ("lr_too_high", "dead_relu", ("lr_far_above", "lr_above"),
     "oversized steps push ReLU units into the region where they output 0 for every input"),
    ("lr_too_high", "vanishing_gradients", ("lr_far_above", "lr_above"),
     "oversized steps saturate units, which then pass almost no gradient"),
    ("bad_initialization", "exploding_gradients", ("loss0_far_above", "init_large"),
     "oversized initial weights amplify the signal, and its gradient, layer by layer"),
    ("bad_initialization", "vanishing_gradients", ("loss0_far_above", "init_large"),
     "the initial scale saturates units, which pass almost no gradient"),
    ("bad_initialization", "dead_relu", ("loss0_far_above", "init_large"),
     "the initial weights send most ReLU units below zero"),
    ("stuck_plateau", "vanishing_gradients", ("small_init_deep",),
     "small initial weights shrink the signal and its gradient through every layer"),
    ("data_problem", "exploding_gradients", ("huge_first_loss", "first_layer_grad_huge", "big_steps_small_lr",
                                             "inputs_unscaled"),
     "inputs on a huge scale make huge gradients"),
    ("data_problem", "lr_too_high", ("huge_first_loss", "first_layer_grad_huge", "big_steps_small_lr",
                                     "inputs_unscaled"),
     "inputs on a huge scale make even a normal lr overshoot"),
    ("data_problem", "bad_initialization", ("inputs_unscaled",),
     "inputs on a huge scale give a huge first loss and saturated units, as an oversized init would"),
    ("missing_zero_grad", "exploding_gradients", ("piled_up", "grad_grows_with_steps", "grads_not_cleared"),
     "gradients that are never cleared add up, and the sum grows without bound"),
    ("missing_zero_grad", "lr_too_high", ("piled_up", "grad_grows_with_steps", "grads_not_cleared"),
     "the summed gradients make every step too large, whatever the lr"),
    ("regularization_too_strong", "vanishing_gradients", ("wd_share_strong", "weights_collapsed"),
     "weights pulled to ~0 pass almost no gradient to the layers before them"),
)
#: Verdicts that count as a finding for either end of a chain.
SHOWN = ("likely", "possible")


def apply(causes: list, findings: dict) -> list:
    """Reorder ``causes`` (a list of :class:`~lossdoctor.core.Cause`) so that a root with its own
    evidence comes before its mechanism, and say the chain in both."""
    import dataclasses

    by = {c.id: c for c in causes}
    for root, mech, keys, how in CHAINS:
        r, m = by.get(root), by.get(mech)
        if r is None or m is None or r.verdict not in SHOWN or m.verdict not in SHOWN + ("confirmed",):
            continue
        f = findings.get(root)
        if f is None or not any(f.keys.get(k, 0) > 0 for k in keys):
            continue
        score = max(r.score, m.score)
        verdict = "likely" if "likely" in (r.verdict, m.verdict) else r.verdict
        by[root] = dataclasses.replace(
            r, score=score, verdict=verdict,
            evidence=r.evidence + (f"the root of {mech.replace('_', ' ')} seen here: {how}",))
        by[mech] = dataclasses.replace(
            m, score=min(m.score, max(score - 1e-3, 0.0)),
            evidence=m.evidence + (f"a mechanism, not the root: {how} ({root})",),
            fix=f"fix the root first ({root}): {by[root].fix}" if by[root].fix else m.fix)
    return list(by.values())
