"""``lr_schedule``: the schedule (long warm-up, late step, decay to ~0) sets the pace."""

from __future__ import annotations

from ._util import g, pct

ID = "lr_schedule"
TITLE = "learning-rate schedule sets the pace"
PRODUCES = {
    "plateau_then_drop": "a long warm-up keeps the lr tiny at first; the loss falls once the lr has grown",
    "slow_convergence": "an lr decayed too early or too far slows the loss down",
    "stagnation": "an lr decayed to ~0 stops the loss where it is",
}
FIX = "shorten the warm-up to a few % of training; decay later or to a higher floor"
#: lr at the start of a warm-up below this share of its peak: the warm-up really held the lr down.
WARM_START = 0.3
#: A warm-up whose peak comes within this margin of the plateau's end set the pace.
ALIGN = 0.15
#: lr under 1% of its peak before this point of the run: decayed too early.
EARLY_DECAY = 0.6
#: On a run whose curve shows nothing: an lr under 1% of its peak before this point is a fault
#: in itself (most of the run had no lr to learn with).
QUIET_DECAY = 0.3
#: The lr peaks this late in the (so far) logged run: it is still warming up.
STILL_WARMING = 0.9


def assess(ev, f) -> None:
    if not ev.symptoms:
        lr = ev.lr_shape
        if lr is not None and not lr["constant"] and lr["low_pos"] <= QUIET_DECAY:
            # whatever the curve: the lr was ~0 for most of the run, which the run could not use
            f.support("decayed_early", 0.4, f"the lr fell under 1% of its peak at {pct(lr['low_pos'])} of the run: "
                                            f"the rest of the run barely moved the weights")
            f.fix = "decay the lr later or to a higher floor (e.g. 10% of the peak)"
        return
    if not any(s in ev.ids for s in PRODUCES):
        return
    lr = ev.lr_shape
    if lr is None:
        f.need("the learning rate per step: a long warm-up or an early decay makes these curves")
        return
    if lr["constant"]:
        f.rule_out(f"the lr was constant at {g(lr['peak'])}: there is no schedule to blame")
        return
    ptd = ev.sym("plateau_then_drop")
    c = ev.cx.loss
    if ptd is not None:
        p_break = (ptd.end - c.first_step) / max(c.last_step - c.first_step, 1e-12)
        if lr["start"] <= WARM_START and lr["peak_pos"] >= p_break - ALIGN and lr["peak_pos"] > 0.1:
            f.support("warmup_through_plateau", 0.45, f"the lr rose from {pct(lr['start'])} of its peak to {g(lr['peak'])} over the first "
                            f"{pct(lr['peak_pos'])} of the run, through the plateau: the drop came as the warm-up ended")
            f.fix = f"shorten the warm-up (now {pct(lr['peak_pos'])} of the run) to a few %"
        else:
            f.against("lr_full_at_plateau", 0.2, f"the lr was already at {pct(min(1.0, lr['start']))} of its peak when the plateau began "
                           f"and peaked at {pct(lr['peak_pos'])} of the run: the schedule does not explain the plateau")
    if "stagnation" in ev.ids and lr["start"] <= WARM_START and lr["peak_pos"] >= STILL_WARMING:
        # a run in progress (or one that ended) whose lr is still climbing: the wait is the warm-up's
        f.support("still_warming", 0.45, f"the lr has been rising all along, from {pct(lr['start'])} of its current {g(lr['peak'])}: "
                        f"the loss waits for the warm-up")
        f.fix = "shorten the warm-up to a few % of training"
    if ("stagnation" in ev.ids or "slow_convergence" in ev.ids) and lr["low_pos"] <= EARLY_DECAY:
        f.support("decayed_early", 0.4, f"the lr fell under 1% of its peak at {pct(lr['low_pos'])} of the run: "
                       f"the rest of the run barely moved the weights")
        f.fix = "decay the lr later or to a higher floor (e.g. 10% of the peak)"
