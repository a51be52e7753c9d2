"""The generic part of the diagnosis: symptoms from the detectors, then every cause of the
rules table judged against them and the run's internals."""

from __future__ import annotations

import numpy as np

from ..core import Cause, Diagnosis, LogError, Run
from ..detect import Context, detect
from .evidence import Evidence
from .finding import BASE_FITS, BASE_HEALTHY, BASE_OTHER, GENERIC_MISFIT, Finding
from .rules import RULES

#: Highest score for a cause whose typical curves this run does not show.
CAP_UNFIT = 0.5
#: Runs shorter than this cannot show a shape; they get a warning instead of a verdict.
MIN_POINTS = 4


def run_diagnosis(run: Run) -> Diagnosis:
    # values near the float limit (1e308) overflow in the detectors' sums and products: the
    # results are inf/NaN, which the findings handle, and numpy must not warn on every one
    # (a flood on stderr, an exception under -W error)
    with np.errstate(all="ignore"):
        return _run_diagnosis(run)


def _run_diagnosis(run: Run) -> Diagnosis:
    if run.loss is None:
        names = ", ".join(sorted(run.series)[:12]) or "none"
        raise LogError(f"{run.source}: no training loss found (series: {names})")
    cx = Context(run)
    symptoms = detect(run, cx)
    warnings = list(run.warnings)
    if not cx.usable:
        warnings.append(f"only {cx.loss.n if cx.loss else 0} finite loss point(s): too short to judge the "
                        f"curve's shape")
    healthy = not symptoms
    ev = Evidence(run, cx, symptoms)
    causes, needs = [], []
    for mod in RULES:
        f = _base(mod, ev)
        if cx.usable:
            mod.assess(ev, f)
            if ev.symptoms and not any(s.id in mod.PRODUCES for s in ev.symptoms) and f.score > CAP_UNFIT:
                # internals alone cannot make a cause likely that does not make this curve
                f.score = CAP_UNFIT
                f.note("but this cause does not make the curve this run shows")
        verdict = f.verdict(healthy)
        causes.append(Cause(mod.ID, verdict, f.final_score(healthy), tuple(f.evidence),
                            (f.fix or mod.FIX) if verdict in ("likely", "possible", "confirmed") else "",
                            mod.TITLE))
        if verdict == "possible" and not healthy:
            needs.extend(n for n in f.needs if n not in needs)
    needs.sort(key=lambda n: n.startswith("or run"))  # what to log first, then what to rerun
    order = {"confirmed": 0, "likely": 1, "possible": 2, "unlikely": 3, "ruled_out": 4}
    causes.sort(key=lambda c: (-c.score, order[c.verdict], c.id))
    return Diagnosis(run.source, healthy, tuple(symptoms), tuple(causes), tuple(needs),
                     tuple(warnings), run)


def _base(mod, ev: Evidence) -> Finding:
    """What the curve alone says: a cause is possible when the run shows a shape it produces."""
    if not ev.symptoms:
        return Finding(BASE_HEALTHY, ["no symptom: the loss curve looks healthy"])
    fits = [s.id for s in ev.symptoms if s.id in mod.PRODUCES]
    if fits:
        return Finding(BASE_FITS, [f"{fits[0]} fits: {mod.PRODUCES[fits[0]]}"])
    shown = ", ".join(s.id for s in ev.symptoms)
    return Finding(BASE_OTHER, [f"{GENERIC_MISFIT} what this run shows ({shown})"])
