"""Finer facts about the curve's shape than the symptoms give, readable from the loss (and
validation loss) alone: did it jump at once, never move, fall fast and then stall, creep up at
the end? Every cause sees them; the fitted model learns which causes each one points to (a loss
that jumps in the first steps and then sits still is a too-high lr's, not a low one's), and a
cause shows the line of each one that moved its case.

One line per fact in :data:`SHAPES`: ``name: (test(ev) -> bool, line(ev) -> str)``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .causes._util import g

#: The loss jumped this many times its first value within the first 10% of the run.
JUMP = 1.3
#: "Never moved": within this share of the first loss over the first half of the run.
STILL = 0.03
#: A fast first fall: this share of the whole drop done in the first 5% of the run.
FAST = 0.6
#: The first loss this many times the level of everything after the first 5%.
FAR_FIRST = 2.0
#: A late rise: the last fifth of the run this much above the run's lowest level.
LATE_RISE = 0.1
#: Validation ending this many times the training loss.
GAP = 1.5
#: Point-to-point scatter in the second half, as a share of its level.
SCATTER = 0.3


def _jump(ev) -> bool:
    return ev.early_jump >= JUMP


def _still(ev) -> bool:
    c = ev.cx.loss
    first = ev.loss0
    if first is None or not first or c.ys.size < 6:
        return False
    half = c.ys[c.pos <= 0.5]
    return bool(np.all(np.abs(half - first) <= STILL * abs(first)))


def _fast(ev) -> bool:
    c = ev.cx.loss
    drop = c.start - c.end
    if drop <= 0 or c.ys.size < 10:
        return False
    at = float(c.ys[c.index_of_pos(0.05)])
    return (c.start - at) >= FAST * drop


def _far_first(ev) -> bool:
    c = ev.cx.loss
    first = ev.loss0
    rest = c.ys[c.pos > 0.05]
    return first is not None and rest.size > 0 and first > 0 and first >= FAR_FIRST * float(np.median(rest))


def _late_rise(ev) -> bool:
    c = ev.cx.loss
    late = c.ys[c.pos >= 0.8]
    return late.size > 0 and c.low > 0 and float(np.median(late)) >= (1 + LATE_RISE) * c.low


def _gap(ev) -> bool:
    v, t = ev.cx.val, ev.cx.loss
    return v is not None and t.end > 0 and v.end >= GAP * t.end


def _scatter(ev) -> bool:
    c = ev.cx.loss
    late = c.values[c.steps >= c.step_at(0.5)]
    if late.size < 10:
        return False
    lvl = abs(float(np.median(late)))
    mad = float(np.median(np.abs(np.diff(late)))) / np.sqrt(2)
    return lvl > 0 and mad >= SCATTER * lvl


SHAPES: dict[str, tuple[Callable, Callable]] = {
    "early_jump": (_jump, lambda ev: f"the loss jumped to {ev.early_jump:.1f}x its first value within the "
                                     f"first 10% of the run"),
    "never_moved": (_still, lambda ev: f"the loss stayed within {STILL:.0%} of its first value {g(ev.loss0)} "
                                       f"for the first half of the run"),
    "fast_first_fall": (_fast, lambda ev: f"most of the loss's fall came in the first 5% of the run"),
    "first_loss_far": (_far_first, lambda ev: f"the first loss {g(ev.loss0)} is {FAR_FIRST:g}x+ the level of "
                                              f"everything after it"),
    "late_rise": (_late_rise, lambda ev: f"the loss ends {LATE_RISE:.0%}+ above its lowest level"),
    "val_gap": (_gap, lambda ev: f"the validation loss ends {GAP:g}x+ the training loss"),
    "scatter": (_scatter, lambda ev: f"step to step the loss scatters by {SCATTER:.0%}+ of its level in the "
                                     f"second half"),
}


def facts(ev) -> dict[str, str]:
    """The shape facts that hold for this run, each with its line."""
    if ev.cx.loss is None or not ev.cx.usable:
        return {}
    out = {}
    for name, (test, line) in SHAPES.items():
        try:
            if test(ev):
                out[name] = line(ev)
        except (ValueError, IndexError, ZeroDivisionError):
            continue
    return out
