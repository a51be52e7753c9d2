"""``lr_too_high``: updates overshoot, so the loss jumps around or blows up."""

from __future__ import annotations

from ._util import g, pct

ID = "lr_too_high"
TITLE = "learning rate too high"
PRODUCES = {
    "oscillation": "updates that overshoot the minimum make the loss swing up and down",
    "divergence": "each overshoot lands higher up the walls of the valley, so the loss grows",
    "spikes": "an occasional oversized step throws the loss up before it recovers",
    "nan_inf": "overshooting steps can grow the weights until the loss overflows",
    "stagnation": "a blow-up in the first steps can leave the net dead or saturated, stuck where it landed",
}
FIX = "lower the learning rate 3-10x; add a warm-up and gradient clipping"
#: Median update/weight ratio above this is far beyond the ~1e-3 rule of thumb (Karpathy, cs231n).
HIGH_UPDATE_RATIO = 1e-2
RAISED_UPDATE_RATIO = 3e-3
#: An lr this many times the top of its optimizer's usual range is far out, not borderline.
FAR_ABOVE = 3.0
#: Inside the usual range, an lr this many times its optimizer's common default is at the top of it.
HIGHISH = 5.0
#: A loss that never rose by more than this between 5%-windows moved too calmly for a too-high lr.
CALM_RISE = 0.05
#: A loss that climbs this far above its start within the first EARLY share of the run overshoots
#: from the first steps (Karpathy's recipe: a loss that goes up early means the lr is too high).
EARLY = 0.1
EARLY_RISE = 1.3
#: ...plus this share of the run after a plateau's drop has done 80% of its fall.
AFTER_DROP = 0.1
QUIET = ("plateau_then_drop", "slow_convergence", "stagnation")
LOUD = ("oscillation", "divergence", "spikes", "nan_inf")


def assess(ev, f) -> None:
    ptd = ev.sym("plateau_then_drop")
    # a plateau-then-drop is judged over its plateau and its drop: what the loss does once it has
    # settled (a late bump at a low level) says nothing about what held it (large swings there
    # are oscillation, which is LOUD)
    upto = 1.0 if ptd is None else min(1.0, ptd.details.get("plateau_frac", 1.0)
                                       + ptd.details.get("drop_span", 0.0) + AFTER_DROP)
    calm = ev.max_window_rise(upto)
    jumped = ev.early_jump
    far = bool(ev.lr_high) and ev.lr_eff >= FAR_ABOVE * ev.lr_bounds[1]
    if (any(s in ev.ids for s in QUIET) and not any(s in ev.ids for s in LOUD) and calm <= CALM_RISE
            and jumped < EARLY_RISE):
        rose = "never rose" if calm < 5e-4 else f"never rose by more than {pct(calm) if calm >= 0.01 else f'{100 * calm:.1f}%'}"
        line = (f"a too-high learning rate makes large, erratic changes; here the loss {rose} "
                f"between windows of 5% of the run" + (" up to the end of its drop" if upto < 1.0 else "") + ": it "
                + ("held still, then fell" if "plateau_then_drop" in ev.ids else "moved too calmly"))
        if not far:
            f.rule_out(line)
            return
        # an lr far above its optimizer's range can wreck the net in the first steps, before the
        # log's first windows: the calm that follows is where it landed, not proof of a sane lr
        f.against("calm", 0.15, line)
    ur = ev.update_ratio
    if ur is not None:
        if ur >= HIGH_UPDATE_RATIO:
            f.support("ur_high", 0.35, f"median update/weight ratio {g(ur)}, {ur / 1e-3:.0f}x the ~1e-3 rule of thumb: "
                            f"each step changes the weights too much")
        elif ur >= RAISED_UPDATE_RATIO:
            f.support("ur_raised", 0.15, f"median update/weight ratio {g(ur)}, {ur / 1e-3:.0f}x the ~1e-3 rule of thumb")
        elif ur < 3e-4:
            f.against("ur_small", 0.3, f"median update/weight ratio {g(ur)} is small: steps are not overshooting")
    else:
        f.need("update/weight ratio (||Δw||/||w|| per step): too-high steps show as ratios >> 1e-3")
    if far:
        f.support("lr_far_above", 0.35, f"lr {ev.lr_text} is {ev.lr_eff / ev.lr_bounds[1]:.0f}x the top of the usual range for "
                        f"{ev.optimizer or 'any optimizer'} ({g(ev.lr_bounds[1])})")
    elif ev.lr_high:
        f.support("lr_above", 0.25, f"lr {ev.lr_text} is above the usual range for {ev.optimizer or 'any optimizer'} "
                        f"(up to {g(ev.lr_bounds[1])})")
    elif ev.lr_low:
        f.against("lr_small", 0.3, f"lr {ev.lr_text} is small for {ev.optimizer or 'any optimizer'}")
    elif (ev.lr_vs_default or 0) >= HIGHISH:
        f.support("lr_highish", 0.1, f"lr {ev.lr_text} is {ev.lr_vs_default:.0f}x the common default for "
                                     f"{ev.optimizer} ({g(ev.lr_default)}): inside its usual range, at the top")
    if jumped >= EARLY_RISE:
        f.support("early_jump", 0.2, f"the loss jumped to {jumped:.1f}x its first value within the first {pct(EARLY)} of the "
                       f"run: steps overshoot from the start")
    gs = ev.grad_stats
    if gs is not None and gs["peak"] >= 1e3:
        f.note(f"gradient norm peaked at {gs['peak']:.0f}x its median: exploding gradients may be the driver")
    lr = ev.lr_shape
    osc = ev.sym("oscillation") or ev.sym("divergence")
    if lr is not None and osc is not None and not lr["constant"] and ev.cx.loss is not None:
        c = ev.cx.loss
        pos = (osc.start - c.first_step) / max(c.last_step - c.first_step, 1e-12)
        if abs(pos - lr["peak_pos"]) <= 0.1 and lr["peak_pos"] > 0.02:
            f.support("unstable_at_lr_peak", 0.15, f"the instability began when the lr reached its peak {g(lr['peak'])}")
