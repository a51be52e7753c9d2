"""Live alerts: the diagnosis run incrementally while training goes, at a bounded cost.

The monitor feeds every logged record to :class:`LiveDiagnosis`, which keeps each signal the
diagnosis uses as a decimated series of at most :data:`MAX_POINTS` points (when full, every
other point is dropped and the stride doubles, so the series always spans the whole run with
even spacing). Every so often it builds a :class:`~lossdoctor.core.Run` from them and calls
:func:`lossdoctor.diagnose`. A check costs a few milliseconds (about 6 ms for 4000 points), so
checks are spaced by steps (at least ``check_every``) *and* by time: the next check waits until
the training time since the last one is at least 1/:data:`TIME_BUDGET` times what that check
cost, which keeps the alerts under 0.2% of the run's wall time whatever the model size.

Each alert fires once per (symptom, cause).
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from .. import signals as S
from .writer import light_dict

log = logging.getLogger("lossdoctor")

#: Minimum logged steps between two live checks (a time budget spaces them further).
CHECK_EVERY = 200
#: Points kept per series: enough for every detector (they thin long series to ~2000 anyway).
MAX_POINTS = 4000
#: Share of the run's wall time the live checks may take (a check of 4000-point series costs
#: ~5-15 ms, so checks still come every ~3-7 s of training).
TIME_BUDGET = 0.002
#: The clock of the time budget (wall time).
_clock = time.perf_counter
#: Fewer logged steps than this: too early to judge a curve's shape (NaN is reported at once).
MIN_STEPS = 50
#: Shapes that are judged against the run so far (swings, spikes, a plateau's share, a gap to
#: validation) alert only from this many logged steps on: the first few dozen mini-batch losses
#: of a healthy run can swing by half their level, and a 40-step warm-up is "most of the run" at
#: step 60. NaN, divergence and stagnation (which waits for a likely cause) alert from MIN_STEPS;
#: before SHAPE_MIN_STEPS divergence only once the loss is above where it started (a fall from
#: 2.3 to 0.06 followed by noisy batches at 0.13 is not a blow-up).
SHAPE_MIN_STEPS = 200
EARLY = ("nan_inf", "divergence", "stagnation")
#: Symptoms that alert by default. ``slow_convergence`` judges a run by where it *ends*, which a
#: run in progress has not reached, so it would fire on every healthy run mid-way.
ALERT_ON = ("nan_inf", "divergence", "oscillation", "spikes", "stagnation", "plateau_then_drop",
            "overfitting", "generalization_delay")
#: Slow shapes that alert only once a cause is likely: a run in progress that has sat at its
#: starting level for a while may simply not have got going yet (a short wait at a saddle is
#: normal), so an alert without a reason would be a false alarm.
NEEDS_A_CAUSE = ("stagnation", "plateau_then_drop")
#: Global series the diagnosis reads, and the per-layer signals it reads (first and last layer
#: gradient norms, dead units per layer). Other per-layer series stay in the log only.
GLOBAL_SIGNALS = (S.LOSS, S.VAL_LOSS, S.LR, S.GRAD_NORM, S.WEIGHT_NORM, S.UPDATE_RATIO,
                  S.WD_SHARE, S.REG_LOSS, S.DEAD_FRAC, S.SATURATION, S.ACC, S.VAL_ACC)
LAYER_PREFIXES = (S.GRAD_NORM + "/", S.DEAD_FRAC + "/")


@dataclass(frozen=True)
class Alert:
    """One live finding: the symptom seen, the cause the evidence points to (``None`` when no
    cause stands out yet), its fix and a one-line summary."""

    step: int
    symptom: str
    likely_cause: str | None
    fix: str
    summary: str

    def __str__(self) -> str:
        cause = f"; likely cause: {self.likely_cause}" if self.likely_cause else ""
        fix = f"; fix: {self.fix}" if self.fix else ""
        return f"step {self.step}: {self.symptom}: {self.summary}{cause}{fix}"


class LossdoctorAlert(UserWarning):
    """The warning category of live alerts; ``.alert`` holds the :class:`Alert`."""

    def __init__(self, alert: Alert):
        super().__init__(str(alert))
        self.alert = alert


class TrainingStopped(RuntimeError):
    """Raised from ``mon.step()`` when a symptom named in ``stop_on`` appears."""

    def __init__(self, alert: Alert):
        super().__init__(f"lossdoctor stopped training at {alert}")
        self.alert = alert


class Decimated:
    """A series of at most ``cap`` evenly strided points covering everything appended so far:
    the points whose arrival index is a multiple of the stride. The first non-finite value is
    kept as well (it is the evidence of a NaN)."""

    __slots__ = ("cap", "stride", "n", "idx", "steps", "values", "_bad")

    def __init__(self, cap: int = MAX_POINTS):
        self.cap = cap
        self.stride = 1
        self.n = 0
        self.idx: list[int] = []
        self.steps: list[float] = []
        self.values: list[float] = []
        self._bad = -1  # arrival index of the first non-finite value

    def add(self, step: float, value: float) -> None:
        i = self.n
        self.n += 1
        bad = value != value or value in (math.inf, -math.inf)
        if bad and self._bad < 0:
            self._bad = i
        elif i % self.stride:
            return
        self.idx.append(i)
        self.steps.append(step)
        self.values.append(value)
        if len(self.idx) > self.cap:
            self.stride *= 2
            keep = [j for j, k in enumerate(self.idx) if k % self.stride == 0 or k == self._bad]
            self.idx = [self.idx[j] for j in keep]
            self.steps = [self.steps[j] for j in keep]
            self.values = [self.values[j] for j in keep]

    def __len__(self) -> int:
        return len(self.idx)


def best_cause(dx, symptom: str) -> tuple[str | None, str]:
    """The highest-scoring cause judged ``likely`` (or ``confirmed``) among those that produce
    ``symptom``, with its fix; ``(None, "")`` when the evidence points to none yet."""
    from ..diagnose.rules import RULES

    produces = {m.ID: m.PRODUCES for m in RULES}
    for c in dx.causes:  # sorted by score
        if c.verdict in ("confirmed", "likely") and symptom in produces.get(c.id, {}):
            return c.id, c.fix
    return None, ""


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def user_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning point at the first caller outside lossdoctor
    (the user's ``mon.step(loss)``, or the framework's loop), not at lossdoctor's own line."""
    f = sys._getframe(1)  # the function that is about to call warnings.warn
    level = 1
    while f is not None and f.f_code.co_filename.startswith(_PACKAGE):
        f = f.f_back
        level += 1
    return level


def _emit(alert: Alert) -> None:
    """Warn and log one alert (the logger prints only where logging is configured: see the
    NullHandler in :mod:`lossdoctor`); a warnings filter set to 'error' must not break
    training."""
    log.warning("lossdoctor alert: %s", alert)
    try:
        warnings.warn(LossdoctorAlert(alert), stacklevel=user_stacklevel())
    except Exception:  # -W error turns warnings into exceptions; the log line above stands
        pass


class LiveDiagnosis:
    def __init__(self, *, source: str, hparams: Mapping[str, Any], meta: Mapping[str, Any],
                 check_every: int, alert_on=ALERT_ON, emit: bool = True):
        from ..readers.hparams import canonicalize

        self.source = source
        self.hparams = canonicalize(dict(hparams))
        self.meta = {"format": "live", "step_unit": "step", **meta}
        self.check_every = max(1, int(check_every))
        self.alert_on = frozenset(alert_on)
        self.emit = emit
        self.series: dict[str, Decimated] = {}
        self._keep: dict[str, Decimated | None] = {}  # per key: its series, or None (not kept)
        self.fired: set[tuple[str, str | None]] = set()
        self.last_step = -1
        self._last_check_step = -1
        self._last_check_t = _clock()
        self._last_cost = 0.0
        self.checks = 0
        self.check_time = 0.0

    def add(self, rec: Mapping[str, Any]) -> None:
        self.add_many((rec,))

    def add_many(self, recs) -> None:
        """Take records in order, dicts or the monitor's light tuples (the series each key
        feeds is looked up once per key)."""
        keep, series = self._keep, self.series
        last = self.last_step
        for rec in recs:
            if type(rec) is tuple:  # a light record: (step, loss, learning rates)
                step, loss, lrs = rec
                if len(lrs) == 1 and S.LOSS in series and S.LR in series:
                    series[S.LOSS].add(step, loss)
                    series[S.LR].add(step, lrs[0])
                    if step > last:
                        last = step
                    continue
                rec = light_dict(rec)
            step = rec["step"]
            for k, v in rec.items():
                d = keep.get(k, keep)
                if d is keep:  # a key seen for the first time: kept, or never looked at again
                    d = keep[k] = (Decimated() if k != "step" and (k in GLOBAL_SIGNALS or
                                                                  k.startswith(LAYER_PREFIXES)) else None)
                    if d is not None:
                        series[k] = d
                if d is not None and (type(v) is float or (isinstance(v, (int, float))
                                                           and not isinstance(v, bool))):
                    d.add(step, float(v))
            if step > last:
                last = step
        self.last_step = last

    def due(self) -> bool:
        # early in a run checks come sooner (every quarter of the steps so far), then every
        # check_every: a plateau is named long before it ends, at O(log n) extra checks
        interval = min(self.check_every, max(MIN_STEPS // 2, self.last_step // 4))
        if self.last_step + 1 < MIN_STEPS or self.last_step - self._last_check_step < interval:
            return False
        return _clock() - self._last_check_t >= self._last_cost / TIME_BUDGET

    def run(self):
        from ..core import Run, Series

        series = {k: Series(k, np.asarray(d.steps, dtype=np.float64), np.asarray(d.values, dtype=np.float64))
                  for k, d in self.series.items() if len(d)}
        return Run(source=self.source, series=series, hparams=dict(self.hparams), meta=dict(self.meta))

    def check(self) -> list[Alert]:
        """Diagnose what has been seen so far; return (and emit) the alerts not fired before."""
        from ..diagnose import diagnose

        t0 = _clock()
        self._last_check_step = self.last_step
        try:
            run = self.run()
            if run.loss is None:
                return []
            dx = diagnose(run)
        finally:
            t1 = _clock()
            self._last_cost = t1 - t0
            self._last_check_t = t1
            self.checks += 1
            self.check_time += t1 - t0
        return self.alerts_from(dx)

    def alerts_from(self, dx) -> list[Alert]:
        out = []
        for sym in dx.symptoms:
            if sym.id not in self.alert_on:
                continue
            if self.last_step + 1 < SHAPE_MIN_STEPS and (
                    sym.id not in EARLY or (sym.id == "divergence" and not self._above_start())):
                continue
            cause, fix = best_cause(dx, sym.id)
            if cause is None and sym.id in NEEDS_A_CAUSE:
                continue  # a healthy run may wait a while at its start: say so once we know why
            if cause is None and sym.id == "oscillation" and "scatter" in sym.details:
                # step-level scatter alone: mini-batch losses near a low mean scatter by tens of
                # percent in healthy runs; swings with a reason (an lr, a batch order) still alert
                continue
            out.extend(self.fire(Alert(int(self.last_step), sym.id, cause, fix, sym.summary)))
        return out

    def _above_start(self, k: int = 5) -> bool:
        d = self.series.get(S.LOSS)
        if d is None or len(d.values) < 2 * k:
            return True
        first, last = np.median(d.values[:k]), np.median(d.values[-k:])
        return not last <= first  # NaN/inf count as above

    def fire(self, alert: Alert) -> list[Alert]:
        key = (alert.symptom, alert.likely_cause)
        if key in self.fired:
            return []
        self.fired.add(key)
        if self.emit:
            _emit(alert)
        return [alert]
