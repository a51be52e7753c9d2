"""``nan_inf``: a NaN or infinite loss (or gradient norm) appears.

Looks at the training loss, the gradient norm and any other series whose name ends in
``loss`` (a validation NaN is reported with lower confidence: it may be a metric bug).
"""

from __future__ import annotations

import numpy as np

from .. import signals as S
from ..core import Symptom
from .curve import fmt_step

ID = "nan_inf"
#: Confidence when only a secondary series (validation loss, a loss component) is non-finite.
SECONDARY_CONFIDENCE = 0.6


def _first_bad(values: np.ndarray, steps: np.ndarray):
    bad = ~np.isfinite(values)
    if not bad.any():
        return None
    i = int(np.argmax(bad))
    kind = "NaN" if np.isnan(values[i]) else ("+inf" if values[i] > 0 else "-inf")
    return i, kind, int(bad.sum())


def detect(cx) -> Symptom | None:
    run = cx.run
    primary = [S.LOSS, S.GRAD_NORM]
    others = sorted(k for k in run.series if k not in primary and k.endswith("loss"))
    for conf, names in ((1.0, primary), (SECONDARY_CONFIDENCE, others)):
        for name in names:
            s = run.get(name)
            if s is None:
                continue
            hit = _first_bad(s.values, s.steps)
            if hit is None:
                continue
            i, kind, n_bad = hit
            what = {"loss": "loss", "grad_norm": "gradient norm"}.get(name, name)
            summary = (f"{what} became {kind} at step {fmt_step(s.steps[i])} after {i} finite "
                       f"point(s); {n_bad} of {len(s)} values are non-finite")
            last_bad = float(s.steps[np.flatnonzero(~np.isfinite(s.values))[-1]])
            return Symptom(ID, float(s.steps[i]), last_bad, conf, summary,
                           {"series": name, "first_index": i, "n_bad": n_bad})
    return None
