"""``data_problem``: unnormalised inputs, noisy or shuffled labels, unshuffled batches, leaks."""

from __future__ import annotations

from ._util import g
from .missing_zero_grad import piled_up
from .stuck_plateau import started_small

ID = "data_problem"
TITLE = "data problem (labels, normalisation, shuffling, leaks)"
PRODUCES = {
    "stagnation": "labels that carry no signal (shuffled, misaligned) leave nothing to learn",
    "overfitting": "noisy labels or a train/val mismatch make the validation loss part ways",
    "oscillation": "unshuffled batches or unnormalised inputs make consecutive steps pull different ways",
    "spikes": "a few corrupt batches throw the loss up",
    "generalization_delay": "a shift between training and validation data delays generalization",
    "slow_convergence": "unnormalised inputs make the loss surface badly conditioned",
    "divergence": "inputs on a raw, huge scale make huge gradients: steps at a usual lr overshoot, ever further",
    "nan_inf": "inputs on a huge scale overflow the activations or the gradients",
}
FIX = ("check the pipeline: overfit one small batch first, verify inputs and labels line up, normalise inputs "
       "and shuffle the training set")
#: Within this share of ln(C) is chance level.
CHANCE_TOL = 0.05
#: Update/weight ratio at or above this: the weights move normally.
MOVING = 5e-4
#: First-layer over last-layer gradient this large: the inputs are on a huge scale.
INPUT_SCALE = 100.0
#: A first loss this many times ln(C) from default-scale weights: the inputs are huge.
HUGE_FIRST = 3.0
#: The loss's wiggles correlate this much with themselves one epoch later: a fixed batch order.
PERIODIC = 0.65
#: Plain SGD at an lr below its usual range still moving the weights this fast (update/weight,
#: vs the ~1e-3 rule of thumb): the gradients themselves are huge.
BIG_STEPS_AT_LOW_LR = 3e-3
#: The layer right after the input saturated this much, from a default init: the inputs are huge.
SATURATED_INPUT = 0.9
#: Root mean square of the data at the first layer (the monitor's ``input_rms``): standardised
#: features give ~1 and pixels in [0, 1] ~0.5; LARGE_INPUT and above is data left on its raw scale.
LARGE_INPUT = 10.0
SCALED_INPUT = (0.05, 3.0)


def assess(ev, f) -> None:
    ch = ev.chance
    c = ev.cx.loss
    if ch and "stagnation" in ev.ids and c is not None and abs(c.end - ch) <= CHANCE_TOL * ch:
        ur = ev.update_ratio
        decayed = (ev.wd_share_peak or 0) >= 0.5 or (ev.weight_collapse or 1) <= 0.1
        dead = ev.dead_frac
        if decayed:
            f.against("decayed_to_zero", 0.2, "the weights were pulled to ~0 by weight decay: that, not the labels, holds the loss at chance")
        elif dead is not None and dead[0] >= 0.5:
            f.against("units_dead", 0.2, f"{dead[0]:.0%} of the ReLU units are dead ({dead[1]}): that, not the labels, "
                                         f"holds the loss at chance")
        elif ev.lr_high:
            f.against("lr_high_blowup", 0.2, f"the lr {ev.lr_text} is above the usual range: a net knocked out by "
                                             f"oversized steps sits at chance too")
        elif ur is not None and ur >= MOVING and not started_small(ev):
            f.support("moving_at_chance", 0.35, f"the weights move at a normal rate (update/weight {g(ur)}) yet the loss stays at chance "
                            f"level ln({ev.n_classes}) = {g(ch)}: the labels carry no learnable signal?")
        gs = ev.grad_stats
        if ev.cx.val is not None and ev.cx.val.end > ev.cx.val.start * 1.02:
            f.support("val_rises_at_chance", 0.15, "the validation loss rises while training sits at chance: memorising noise")
        if gs is not None and ur is None:
            f.need("update/weight ratio: weights that move while the loss stays at chance point to the labels")
    nl = ev.val_never_learned
    if nl is not None:
        ref = (f"chance, ln({ev.n_classes}) = {g(ev.chance)}" if ev.chance else f"where it started, {g(nl[0])}")
        f.support("val_never_learned", 0.35, f"the training loss fell {nl[2]:.0%}, yet the validation loss never went "
                                             f"below {ref} ({g(nl[1])} at best): nothing learnt from the training "
                                             f"labels carries over (shuffled, noisy or misaligned labels?)")
    tb = ev.turned_before_fit
    if tb is not None and nl is None:
        f.support("turned_before_fit", 0.35, f"the validation loss turned up at step {tb[0]:,.0f} while the training loss was "
                                             f"still {g(tb[1])} ({tb[2]:.2f}x chance, ln({ev.n_classes})): the net began "
                                             f"to memorise before it had fit the training set, whose labels it cannot "
                                             f"predict from the inputs (noisy labels?)")
    rms = ev.input_rms
    if rms is not None and rms >= LARGE_INPUT:
        f.support("inputs_unscaled", 0.45, f"the data reaches the first layer with a root mean square of {g(rms)} "
                                           f"(standardised inputs: ~1): the inputs are not normalised")
    elif rms is not None and SCALED_INPUT[0] <= rms <= SCALED_INPUT[1]:
        f.against("inputs_scaled", 0.1, f"the data reaches the first layer on a normal scale (root mean square "
                                        f"{g(rms)}): not an input-scaling problem")
    if ch and ev.loss0 is not None and ev.loss0 >= HUGE_FIRST * ch and ev.init_is_default:
        f.support("huge_first_loss", 0.35, f"the first loss is {g(ev.loss0)}, {ev.loss0 / ch:.0f}x ln({ev.n_classes}), with weights at the "
                        f"default initial scale: the inputs must be on a huge scale (not normalised?)")
    sat = ev.first_saturation
    if sat is not None and sat[0] >= SATURATED_INPUT and ev.init_is_default:
        f.support("first_layer_saturated", 0.35, f"{sat[0]:.0%} of the first activation layer ({sat[1]}) is saturated with default-scale "
                        f"weights: the inputs are too large (not normalised?)")
    ur = ev.update_ratio
    # (gradients piling up, never zeroed, make big steps too)
    if (ur is not None and ur >= BIG_STEPS_AT_LOW_LR and ev.optimizer == "sgd" and ev.lr_low and not piled_up(ev)
            and any(s in ev.ids for s in ("oscillation", "spikes", "divergence"))):
        f.support("big_steps_small_lr", 0.3, f"plain SGD at a small lr ({ev.lr_text}) still changes the weights by {g(ur)} of their "
                       f"norm per step (rule of thumb ~1e-3): the gradients are huge, as with inputs on a huge "
                       f"scale (not normalised?)")
    per = ev.epoch_periodicity
    if per is not None and per[0] >= PERIODIC:
        if ev.steps_per_epoch is not None:
            f.support("epoch_periodic", 0.4, f"the loss repeats the same pattern every epoch ({per[1]} steps; correlation "
                                             f"{per[0]:.2f}): the batches come in the same order each time (not shuffled?)")
        else:
            f.support("epoch_periodic", 0.4, f"the loss's step-to-step wiggles repeat exactly every {per[1]} steps "
                                             f"(correlation {per[0]:.2f}, at no nearby lag, and again at {2 * per[1]}): "
                                             f"the same batches come in the same order every pass (not shuffled?)")
    r = ev.layer_grad_ratio
    if r is not None and r[0] >= INPUT_SCALE and ("oscillation" in ev.ids or "slow_convergence" in ev.ids):
        f.support("first_layer_grad_huge", 0.3, f"the first layer gets {g(r[0])}x the gradient of the last: the inputs look unnormalised")
    if ev.cx.val is not None and c is not None and ev.cx.val.end < 0.5 * c.end and ev.cx.val.n >= 4:
        f.note(f"validation loss ({g(ev.cx.val.end)}) far below training loss ({g(c.end)}): dropout at train time, "
               f"or validation data leaking from training?")

