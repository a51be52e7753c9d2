"""``dead_relu``: a large share of ReLU units output zero for every input."""

from __future__ import annotations

ID = "dead_relu"
TITLE = "dead ReLU units"
PRODUCES = {
    "stagnation": "dead units pass no gradient, so the network stops learning",
    "slow_convergence": "with many units dead, the remaining capacity learns slowly",
}
FIX = "lower the lr, use LeakyReLU/GELU, and check the bias init (not negative) and Kaiming init"
#: Share of units that are zero for the whole batch: half dead cripples a layer.
DEAD = 0.5
SOME = 0.3
FEW = 0.1


def assess(ev, f) -> None:
    d = ev.dead_frac
    act = str(ev.hp.get("activation", "")).lower()
    if d is None:
        if act and "relu" not in act and "relu" not in str(ev.run.meta.get("model", "")).lower():
            f.rule_out(f"the network has no ReLU units (activation: {act})")
        elif any(s in ev.ids for s in PRODUCES):
            f.need("dead-unit share per ReLU layer: above ~50% the layer has died")
        return
    share, where = d
    if share >= DEAD:
        f.support("dead_most", 0.45, f"{share:.0%} of ReLU units are dead in {where}")
    elif share >= SOME:
        f.support("dead_some", 0.2, f"{share:.0%} of ReLU units are dead in {where}")
    elif share <= FEW:
        f.against("dead_few", 0.3, f"only {share:.0%} of ReLU units are dead (worst: {where})")
