"""``regularization_too_strong``: weight decay / L2 / dropout so strong it holds the weights back."""

from __future__ import annotations

from ._util import g

ID = "regularization_too_strong"
TITLE = "regularization too strong"
PRODUCES = {
    "plateau_then_drop": "the penalty pulls the weights back to zero as fast as the data pushes them out, until the data wins",
    "stagnation": "the penalty keeps the weights near zero, where the network outputs a guess",
    "slow_convergence": "the penalty cancels much of each step, so the loss falls slowly",
}
FIX = "lower the weight decay / L2 about 10x (and dropout below ~0.5)"
#: Share of the update that comes from weight decay: above half, the penalty drives the weights.
STRONG_SHARE = 0.5
WEAK_SHARE = 0.1
#: Weight norm shrinking to this share of its start during the plateau: decay is winning.
SHRINK = 0.8
#: Weight norm under this share of its start: the penalty has driven the weights to ~0.
COLLAPSED = 0.1
#: Coupled L2 (SGD/Adam weight_decay) at or above this is strong for small nets.
STRONG_WD = 1e-2
STRONG_DROPOUT = 0.6
#: Weight decay that could shrink the weights by less than this share over the whole run (at
#: the run's lr and length) cannot hold them back, whatever its share of a step.
WEAK_PULL = 0.05


def assess(ev, f) -> None:
    if not any(s in ev.ids for s in PRODUCES):
        return
    f.need("or run: a short rerun with weight decay / dropout 10x lower; if the loss leaves the plateau sooner, "
           "regularization held it")
    wd = ev.hp_float("weight_decay")
    if wd:
        f.fix = f"lower the weight decay about 10x (from {g(wd)} to {g(wd / 10)})"
    elif wd == 0:
        # no decay to lower: the penalty, if any, is an L2 term in the loss or the dropout
        f.fix = ("the optimizer's weight decay is 0: lower an L2 term added to the loss about 10x, "
                 "and dropout below ~0.5")
    ws, peak = ev.wd_share, ev.wd_share_peak
    pull = ev.decay_pull
    if pull is not None and pull < WEAK_PULL:
        # a large share of a tiny update: the data's gradient is what is small, not the decay strong
        f.against("decay_too_weak", 0.4, f"weight decay {g(wd)} could shrink the weights by only {pull:.1%} over the whole "
                                          f"run at this lr: too weak to hold them back"
                                          + (f" (its {ws:.0%} share of each update says the data's gradient is tiny)"
                                             if ws is not None and ws >= STRONG_SHARE else ""))
    weak = pull is not None and pull < WEAK_PULL
    if ws is not None and not weak:
        if ws >= STRONG_SHARE:
            f.support("wd_share_strong", 0.4, f"weight decay makes up {ws:.0%} of each update: the penalty, not the data, moves the weights")
        elif peak is not None and peak >= STRONG_SHARE:
            f.support("wd_share_early", 0.3, f"weight decay made up {peak:.0%} of each update early on, until it had pulled the "
                           f"weights in (now {ws:.0%})")
        elif ws <= WEAK_SHARE:
            f.against("wd_share_weak", 0.3, f"weight decay makes up only {ws:.0%} of each update")
    elif ws is None:
        f.need("weight-decay share of the update (or the regularization term): above ~50% the penalty holds the weights")
    wc, collapse = ev.weight_change, ev.weight_collapse
    decaying = (ws is None or ws >= WEAK_SHARE or (peak or 0) >= STRONG_SHARE) and not weak
    if collapse is not None and collapse <= COLLAPSED and decaying:
        f.support("weights_collapsed", 0.25, f"the weights collapsed to {collapse:.0%} of their initial norm: the decay won over the data")
    elif wc is not None and wc <= SHRINK and decaying:
        f.support("weights_shrank", 0.15, f"the weight norm shrank to {wc:.0%} of its start while the loss sat")
    reg = ev.median("reg_loss")
    loss = ev.median("loss")
    if reg is not None and loss:
        share = reg / loss
        if share >= 0.3:
            f.support("reg_term_large", 0.25, f"the regularization term is {share:.0%} of the loss")
    dropout = ev.hp_float("dropout")
    opt = ev.optimizer
    if wd is not None and wd >= STRONG_WD and opt != "adamw" and ws is None:
        f.support("wd_hparam_strong", 0.15, f"weight_decay {g(wd)} is strong for {opt or 'a coupled L2 penalty'}")
    if dropout is not None and dropout >= STRONG_DROPOUT:
        f.support("dropout_strong", 0.15, f"dropout {g(dropout)} drops most units")
    if wd == 0 and (dropout in (None, 0.0)) and ws is None and reg is None:
        if dropout == 0.0:
            f.rule_out("weight decay 0 and dropout 0: nothing regularizes this run")
        else:
            f.against("wd_zero", 0.3, "weight decay is 0")
