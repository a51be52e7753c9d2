"""``lr_too_low``: steps so small that the weights barely move."""

from __future__ import annotations

from ._util import g
from .lr_schedule import STILL_WARMING, WARM_START  # a warm-up still climbing at the log's end

ID = "lr_too_low"
TITLE = "learning rate too low"
PRODUCES = {
    "plateau_then_drop": "tiny steps take a long time to leave the flat region around the starting point",
    "slow_convergence": "tiny steps make the loss fall steadily but slowly",
    "stagnation": "steps too small to move the loss within the run",
}
FIX = "raise the learning rate about 10x; an LR range test finds the largest stable rate"
#: Update/weight ratio ~1e-3 is healthy (cs231n rule of thumb); 1e-4 and below means the
#: weights barely move.
TINY_UPDATE = 1e-4
SMALL_UPDATE = 3e-4
NORMAL_UPDATE = 5e-4
#: A gradient norm that grows this much after the plateau means the plateau's steps were small
#: because the gradient was, not the lr (a saddle).
SADDLE_GROWTH = 3.0
#: An lr this far below its optimizer's common default (DEFAULT_LR) is at the slow end of its range.
LOWISH = 0.1


def assess(ev, f) -> None:
    if not any(s in ev.ids for s in PRODUCES):
        if "oscillation" in ev.ids or "divergence" in ev.ids:
            f.rule_out("a low learning rate cannot make the loss swing or blow up")
        return
    f.need("or run: a short rerun with the lr 10x higher; if the plateau shortens, the lr was too low")
    ur, low = ev.update_ratio, ev.lr_low
    if ev.lr_high:
        # an lr above its usual range is no low lr, whatever the curve: never propose raising it
        f.rule_out(f"lr {ev.lr_text} is above the usual range for {ev.optimizer or 'any optimizer'} "
                   f"(up to {g(ev.lr_bounds[1])}): it is not too low")
        return
    if ev.lr is not None:
        f.fix = f"raise the learning rate about 10x (from {g(ev.lr)} to {g(ev.lr * 10)}); an LR range test finds the largest stable rate"
    shape = ev.lr_shape
    warming = shape is not None and shape["start"] <= WARM_START and shape["peak_pos"] >= STILL_WARMING
    if warming:
        # the lr is still climbing: its value so far is the warm-up's, not the setting, and so
        # are the small steps it makes; what the lr will be at its peak the log cannot say yet
        f.against("still_warming", 0.35, "the lr is low because it is still warming up: that is the schedule's doing")
        low = None if low else low
    if low:
        f.support("lr_below", 0.2, f"lr {ev.lr_text} is below the usual range for {ev.optimizer or 'any optimizer'} "
                       f"(from {g(ev.lr_bounds[0])})")
    elif low is False and (ev.lr_vs_default or 1) <= LOWISH and not warming:
        f.support("lr_lowish", 0.1, f"lr {ev.lr_text} is {1 / ev.lr_vs_default:.0f}x below the common default for "
                                    f"{ev.optimizer} ({g(ev.lr_default)}): in its usual range, but at the slow end")
    elif low is False and ev.optimizer is not None:
        f.against("lr_in_range", 0.1, f"lr {ev.lr_text} is in the usual range for {ev.optimizer}")
    elif ev.lr is None:
        f.need("learning rate (lr series or hparams): a low lr makes this same curve")
    if ur is None:
        f.need("update/weight ratio (||Δw||/||w|| per step): ~1e-3 is healthy; far below means the steps are too small")
        return
    growth = ev.grad_growth
    saddle = growth is not None and growth >= SADDLE_GROWTH
    if ur < TINY_UPDATE:
        if warming:
            f.note(f"update/weight ratio {g(ur)} is tiny, as the warm-up's small lr makes it")
        elif saddle and low is False:
            f.note(f"update/weight ratio {g(ur)} is tiny, but the gradient grew {growth:.0f}x after the plateau: "
                   f"the small steps came from a small gradient, not from the lr")
        else:
            f.support("ur_tiny", 0.3 if low is not False else 0.15,
                      f"median update/weight ratio {g(ur)}, far below ~1e-3: the weights barely move")
    elif ur < SMALL_UPDATE and not warming:
        f.support("ur_small", 0.1, f"median update/weight ratio {g(ur)}, below the healthy ~1e-3")
    elif ur >= NORMAL_UPDATE:
        f.against("ur_healthy", 0.3, f"median update/weight ratio {g(ur)} is healthy (~1e-3): the steps are not too small")
    ws = ev.wd_share
    if ws is not None and ws >= 0.5:
        f.against("wd_dominates", 0.2, f"weight decay makes up {ws:.0%} of each update: the steps are spent on the penalty")
