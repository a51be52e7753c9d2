"""``missing_zero_grad``: gradients accumulate across steps because they are never cleared."""

from __future__ import annotations

from ._util import g

ID = "missing_zero_grad"
TITLE = "gradients never zeroed (optimizer.zero_grad missing)"
PRODUCES = {
    "oscillation": "accumulated gradients keep pointing where the loss was, so steps overshoot more and more",
    "divergence": "the summed gradient grows every step, and so do the steps",
    "spikes": "the growing accumulated step overshoots now and then",
    "nan_inf": "the accumulated gradient can overflow",
    "slow_convergence": "stale accumulated gradients point away from the current descent direction",
}
FIX = "call optimizer.zero_grad() once per step (with gradient accumulation: after each optimizer.step())"
#: Gradient norm growing like steps^k with k in this range, tightly (r >= MIN_R): a running sum.
EXPONENT = (0.6, 1.6)
MIN_R = 0.9
MIN_GROWTH = 10.0
#: A fresh mini-batch gradient's norm varies ~10-50% from step to step; a running sum of hundreds
#: of them changes by a few percent.
SMOOTH = 0.06


#: The monitor looked at least this many times whether the gradients were cleared between steps.
MIN_CHECKS = 2
#: Stale at this share of the checks: the gradients are never (or only now and then) cleared.
STALE = 0.5


def assess(ev, f) -> None:
    st = ev.grad_stale
    if st is not None and st[1] >= MIN_CHECKS:
        if st[0] >= STALE:
            f.support("grads_not_cleared", 0.6, f"at {st[0]:.0%} of {st[1]} checks the gradients still held the previous "
                                                f"step's values when the next backward pass began: they are added "
                                                f"to, never cleared")
        elif st[0] == 0:
            f.rule_out(f"optimizer.zero_grad() runs: at all {st[1]} checks the gradients were cleared before the next "
                       f"backward pass")
            return
    gs = ev.grad_stats
    if gs is None:
        if any(s in ev.ids for s in PRODUCES):
            f.need("gradient norm per step: without zero_grad it grows in step with the step count")
        return
    acc = ev.grad_accumulation
    if piled_up(ev):
        f.support("piled_up", 0.5, f"the gradient norm climbed to {acc[0]:.0f}x its first step's and then changed by only "
                       f"{acc[1]:.0%} a step: each step's gradient is added to the ones before")
    elif EXPONENT[0] <= gs["exponent"] <= EXPONENT[1] and gs["r"] >= MIN_R and gs["growth"] >= MIN_GROWTH:
        f.support("grad_grows_with_steps", 0.5, f"the gradient norm grew steadily {g(gs['growth'])}x, in step with the step count "
                       f"(~steps^{gs['exponent']:.1f}): gradients are being summed, not replaced")
    elif gs["growth"] < 3 and (acc is None or acc[0] < 3):
        f.against("grad_flat", 0.3, f"the gradient norm did not grow over the run ({gs['growth']:.1f}x)")


def piled_up(ev) -> bool:
    """The gradient norm climbed far above the first step's and then barely changed from step to
    step: a running sum of gradients, not fresh ones."""
    acc = ev.grad_accumulation
    return acc is not None and acc[0] >= MIN_GROWTH and acc[1] <= SMOOTH
