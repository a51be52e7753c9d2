"""``plateau_then_drop``: the loss stays near its starting level for a long stretch, then falls
sharply (the seed's "strange loss").

With ``p20``/``p80`` the positions where the loss has done 20% / 80% of its total drop:
a plateau of at least :data:`MIN_PLATEAU` of the run before ``p20``, a drop of at least
:data:`MIN_DROP` of the starting level, and a fall that takes at most :data:`SHARPNESS` times
as long as the plateau. A loss that first falls and later plateaus is not this shape.
Known false positives: a long warm-up makes the same curve (the diagnosis then blames the
schedule, from the lr series).
"""

from __future__ import annotations

import numpy as np

from ..core import Symptom
from .curve import fmt, fmt_step

ID = "plateau_then_drop"
#: A third of the run: a fresh net that waits at chance for a quarter of its run before falling
#: is common and healthy (symmetry breaking, a first epoch); the corpus's plateau faults sit at
#: 0.43 and beyond, its healthy runs that wait at 0.27 at most.
MIN_PLATEAU = 0.33
MIN_DROP = 0.2
#: The fall from 20% to 80% of the drop may take at most this times the plateau: it is at
#: least 2.5x faster than the plateau's drift (0.6 of the drop vs 0.2).
SHARPNESS = 1.2
#: The drop must stand clear of noise by this many noise units.
NOISE_K = 6.0


def progress_positions(c, fracs=(0.2, 0.8)) -> list[float]:
    """Positions where the (smoothed) curve first completes each fraction of its drop."""
    drop = c.start - c.end
    out = []
    for f in fracs:
        below = np.flatnonzero(c.ys <= c.start - f * drop)
        out.append(float(c.pos[below[0]]) if below.size else 1.0)
    return out


def detect(cx) -> Symptom | None:
    c = cx.loss
    drop = c.start - c.end
    if drop <= 0 or drop < MIN_DROP * abs(c.start) or drop < NOISE_K * c.level_noise:
        return None
    p20, p80 = progress_positions(c)
    if p20 < MIN_PLATEAU or p80 - p20 > SHARPNESS * p20:
        return None
    conf = float(np.clip(0.6 + 0.6 * (p20 - MIN_PLATEAU) + 0.2 * (1 - (p80 - p20) / (SHARPNESS * p20)), 0.6, 0.98))
    s_break = c.step_at(p20)
    plateau_level = float(np.median(c.ys[c.pos < p20])) if (c.pos < p20).any() else c.start
    return Symptom(ID, c.first_step, s_break, conf,
                   f"loss held at {fmt(plateau_level)} for {100 * p20:.0f}% of the run "
                   f"(to step {fmt_step(s_break)}), then fell to {fmt(c.end)}",
                   {"plateau_frac": p20, "drop_span": p80 - p20, "plateau_level": plateau_level})
