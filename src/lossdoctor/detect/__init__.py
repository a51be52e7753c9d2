"""Symptom detectors: one module per symptom, each a pure function of the run's curves.

Every module has ``ID`` (a symptom id of the taxonomy) and ``detect(cx) -> Symptom | None``.
A new symptom is one new module plus one line in :data:`DETECTORS`.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from functools import cached_property

from .. import signals as S
from ..core import Run, Symptom
from . import (divergence, generalization_delay, nan_inf, oscillation, overfitting,
               plateau_then_drop, slow_convergence, spikes, stagnation)
from .curve import Curve

DETECTORS = (
    nan_inf,
    divergence,
    oscillation,
    spikes,
    stagnation,
    plateau_then_drop,
    slow_convergence,
    overfitting,
    generalization_delay,
)

#: Shapes that exclude each other: the first one found wins (a run that never left its start
#: did not plateau-then-drop, and a plateau-then-drop is not a slow, steady decline).
EXCLUSIVE = (("stagnation", "plateau_then_drop", "slow_convergence"),)

#: Fewer finite loss points than this: too short to judge any shape but NaN.
MIN_POINTS = 4


@dataclass(frozen=True, eq=False)
class Context:
    """What detectors look at: the run and its loss curves, prepared once."""

    run: Run

    @cached_property
    def loss(self) -> Curve | None:
        s = self.run.loss
        return Curve.of(s) if s is not None else None

    @cached_property
    def val(self) -> Curve | None:
        s = self.run.get(S.VAL_LOSS)
        if s is None:
            return None
        c = Curve.of(s)
        return c if c.n >= MIN_POINTS else None

    @cached_property
    def n_classes(self) -> int | None:
        """C, from the hyper-parameters or the monitor's model summary (its output size)."""
        v = self.run.hparams.get("num_classes")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 2:
            model = self.run.meta.get("model")
            v = model.get("n_outputs") if isinstance(model, dict) else None
        return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 2 else None

    @property
    def chance(self) -> float | None:
        """ln(C), the loss of a uniform guess, when the number of classes is known."""
        import math

        return math.log(self.n_classes) if self.n_classes else None

    @property
    def usable(self) -> bool:
        return self.loss is not None and self.loss.n >= MIN_POINTS


def detect(run: Run, cx: Context | None = None) -> list[Symptom]:
    """All symptoms of ``run``, most confident first within the table's order."""
    cx = cx or Context(run)
    found: list[Symptom] = []
    for mod in DETECTORS:
        if mod.ID != "nan_inf" and not cx.usable:
            continue
        sym = mod.detect(cx)
        if sym is None:
            continue
        if any(sym.id in group and any(f.id in group for f in found) for group in EXCLUSIVE):
            continue
        found.append(sym)
    unit = run.meta.get("step_unit", "step")
    if unit in ("epoch", "row"):  # summaries are written in steps; say what the log counts in
        found = [dataclasses.replace(f, summary=_STEP_WORD.sub(lambda m: unit + m.group(1), f.summary))
                 for f in found]
    return found


_STEP_WORD = re.compile(r"\bstep(s?)\b")


__all__ = ["DETECTORS", "Context", "detect", "Curve"]
