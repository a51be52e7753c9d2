"""``stuck_plateau``: optimisation stuck at a saddle, plateau or local minimum."""

from __future__ import annotations

from ._util import g
from .dead_relu import SOME as DEAD_SOME  # dead units, not a saddle, explain a tiny gradient
from .lr_schedule import WARM_START  # an lr starting below this share of its peak: a warm-up

ID = "stuck_plateau"
TITLE = "stuck at a saddle point / plateau / local minimum"
PRODUCES = {
    "plateau_then_drop": "near a saddle the gradient is tiny, so the loss sits until the weights drift off it, then falls fast",
    "stagnation": "a saddle or local minimum can hold the loss for the whole run",
}
FIX = ("re-initialise with a scaled scheme (Kaiming/Xavier) instead of tiny weights; use momentum or Adam, "
       "or raise the lr briefly, to leave the saddle sooner")
#: The gradient grows this much when the weights leave a saddle (it is ~0 on it).
SADDLE_GROWTH = 3.0
#: Plateau within this share of ln(C): the network outputs a uniform guess, the saddle at the origin.
CHANCE_TOL = 0.1
NORMAL_UPDATE = 5e-4
#: Initial weights below this share of PyTorch's default scale (every standard scheme is near or
#: above it), in at least DEEP weight layers, start the net on the saddle at the origin.
SMALL_INIT = 0.5
DEEP = 3
#: Update/weight ratio below this (cs231n's ~1e-3 rule of thumb, 10x under): the weights barely move.
TINY_UPDATE = 1e-4


def assess(ev, f) -> None:
    if not any(s in ev.ids for s in PRODUCES):
        if "slow_convergence" in ev.ids:
            f.against("fell_steadily", 0.1, "a saddle holds the loss flat and then releases it; this loss fell steadily")
        return
    f.need("or run: short reruns from other seeds or a larger init scale; a plateau that moves or vanishes "
           "is a saddle of the starting point")
    ur, ws = ev.update_ratio, ev.wd_share
    lr = ev.lr_shape
    warming = lr is not None and not lr["constant"] and lr["start"] <= WARM_START  # the lr was not yet normal
    dead = ev.dead_frac
    if (ur is not None and ur < TINY_UPDATE and ev.lr_low is False and (ws is None or ws < 0.3)
            and not warming and not (dead is not None and dead[0] >= DEAD_SOME)):
        # step = lr x gradient: with a normal lr, tiny steps mean a tiny gradient. This holds
        # while the run still sits on the plateau, before any escape shows. Not during a
        # warm-up (the lr was small then) nor with dead units (their gradient is zero).
        f.support("tiny_steps_normal_lr", 0.3, f"the weights barely move (update/weight {g(ur)}) although the lr {ev.lr_text} is normal: "
                       f"the gradient itself is tiny, as on a saddle")
    growth = ev.grad_growth
    if growth is not None:
        if growth >= SADDLE_GROWTH and ev.lr_low is not True and not (ev.wd_share or 0) >= 0.5:
            f.support("grad_escape", 0.35, f"gradient norm was tiny on the plateau and grew {growth:.0f}x as the loss fell, "
                            f"with a normal lr{'' if ev.lr is None else ' (' + g(ev.lr) + ')'}: the signature of a saddle")
        elif growth < 2:
            f.against("no_grad_escape", 0.15, f"gradient norm did not grow as the loss fell ({growth:.1f}x): no saddle escape")
    elif ev.sym("plateau_then_drop") is not None:
        f.need("gradient norm: on a saddle it is tiny, and grows as the loss drops")
    if ev.lr_low:
        f.against("lr_small", 0.25, f"the lr {ev.lr_text} is small for {ev.optimizer or 'any optimizer'}: it explains small steps")
    ws = ev.wd_share
    if ws is not None and ws >= 0.5:
        f.against("wd_dominates", 0.2, f"weight decay makes up {ws:.0%} of each update: the penalty, not a saddle, holds the weights")
    ch, lvl = ev.chance, ev.plateau_level
    if ch and lvl is not None and abs(lvl - ch) <= CHANCE_TOL * ch:
        f.note(f"the plateau sits at chance level ({g(lvl)} ≈ ln({ev.n_classes}) = {g(ch)}): a uniform guess")
    ur = ev.update_ratio
    measured = ev.init_scale_measured
    if ur is not None and ur >= NORMAL_UPDATE and growth is None and not started_small(ev):
        f.against("ur_normal", 0.1, f"update/weight ratio {g(ur)} is normal: the weights move")
    scale = measured[0] if measured else ev.hp_float("init_scale")  # relative to PyTorch's default init
    deep = measured is not None and measured[1] >= DEEP
    if scale is not None and 0 < scale < SMALL_INIT and deep:
        # each layer passes on ~scale of its input's size, and each weight's gradient is the
        # product of all other layers': the origin is a saddle the net starts on
        f.support("small_init_deep", 0.3, f"the weights start at {g(scale)}x PyTorch's default init scale (median over "
                       f"{measured[1]} weight layers): through that many small layers the signal and its "
                       f"gradient shrink to almost nothing, a saddle at the origin")
    elif scale is not None and 0 < scale < SMALL_INIT:
        # a few small layers: a note, not evidence (on the corpus a start under the default
        # scale in a shallow net went with every cause about equally)
        f.note(f"the weights start at {g(scale)}x the default scale: closer to the saddle at the origin")


def started_small(ev) -> bool:
    """The weights started far below the default scale: a normal update/weight ratio is then tiny
    steps, not weights that move."""
    m = ev.init_scale_measured
    return m is not None and m[0] < SMALL_INIT
