"""The generic part of the diagnosis: symptoms from the detectors, then every cause of the
rules table judged against them and the run's internals."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core import Cause, Diagnosis, LogError, Run, Symptom
from ..detect import Context, detect
from . import chains, model, shape
from .evidence import Evidence
from .finding import BASE_FITS, BASE_HEALTHY, BASE_OTHER, GENERIC_MISFIT, LIKELY, Finding
from .rules import RULES

#: Highest score for a cause whose typical curves this run does not show.
CAP_UNFIT = 0.5
#: Runs shorter than this cannot show a shape; they get a warning instead of a verdict.
MIN_POINTS = 4
#: Shapes judged against the length and course of the whole run: a log with fewer points than
#: SHAPE_POINTS, or one that stops before EARLY_SHARE of the run's own planned length (its
#: max_steps or epochs), cannot show them. NaN, divergence, oscillation on many points, spikes and
#: overfitting can be seen in any stretch of a run.
RUN_SHAPES = ("stagnation", "plateau_then_drop", "slow_convergence", "generalization_delay")
SHORT_SHAPES = RUN_SHAPES + ("oscillation", "spikes")
SHAPE_POINTS = 8
EARLY_SHARE = 0.3
#: An lr this many times the top of its optimizer's usual range is a red flag even when the
#: curve shows nothing: the run is never called healthy.
RED_FLAG_LR = 30.0


@dataclass
class Assessment:
    """Everything the rules found, before the verdicts: the symptoms, each cause's finding, and
    what kept the curve from being judged."""

    run: Run
    cx: Context
    ev: Evidence
    symptoms: list[Symptom]
    findings: dict[str, Finding]
    warnings: list[str]
    inconclusive: str | None
    shapes: dict[str, str] = field(default_factory=dict)  # shape facts that hold -> their lines
    #: Shapes the detectors saw on a curve too short (or too early) to judge them: not reported as
    #: symptoms, but the causes are judged as far as they go, no further than ``possible``.
    held: list[Symptom] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.symptoms


def assess(run: Run) -> Assessment:
    """Symptoms, then every cause of the rules table judged against them and the run's internals."""
    # values near the float limit (1e308) overflow in the detectors' sums and products: the
    # results are inf/NaN, which the findings handle, and numpy must not warn on every one
    # (a flood on stderr, an exception under -W error)
    with np.errstate(all="ignore"):
        return _assess(run)


def _assess(run: Run) -> Assessment:
    if run.loss is None:
        names = ", ".join(sorted(run.series)[:12]) or "none"
        raise LogError(f"{run.source}: no training loss found (series: {names})")
    cx = Context(run)
    symptoms = detect(run, cx)
    warnings = list(run.warnings)
    n = cx.loss.n if cx.loss else 0
    why, dropped = [], []
    if n < SHAPE_POINTS:
        dropped = [s.id for s in symptoms if s.id in SHORT_SHAPES]
        why.append(f"only {n} finite loss point{'s' if n != 1 else ''}")
    progress = _progress(run, cx)
    if progress is not None:
        done, last, planned, unit = progress
        dropped += [s.id for s in symptoms if s.id in RUN_SHAPES and s.id not in dropped]
        why.append(f"the log ends at {unit} {last:,.0f} of the run's planned {planned:,.0f} ({done:.0%} done)")
    held = [s for s in symptoms if s.id in dropped]
    symptoms = [s for s in symptoms if s.id not in dropped]
    inconclusive = None
    if why:
        inconclusive = (" and ".join(why) + (": too early to judge the curve's shape" if progress else
                                             ": too few to judge the curve's shape")
                        + (f" ({', '.join(dropped)} not judged)" if dropped else ""))
    ev = Evidence(run, cx, symptoms + held)
    findings = {}
    # a run that blew up within its first steps has too short a curve for any shape, but what
    # the monitor recorded before it (the first update's size, the gradient's jump, the init
    # scale, the data's scale) is all there is to tell its causes apart
    judge = cx.usable or (cx.loss is not None and cx.loss.n >= 1 and "nan_inf" in ev.ids)
    for mod in RULES:
        f = _base(mod, ev)
        if judge:
            mod.assess(ev, f)
        findings[mod.ID] = f
    return Assessment(run, cx, ev, symptoms, findings, warnings, inconclusive, shape.facts(ev), held)


def run_diagnosis(run: Run) -> Diagnosis:
    with np.errstate(all="ignore"):
        return _run_diagnosis(assess(run))


def _run_diagnosis(a: Assessment) -> Diagnosis:
    run = a.run
    healthy, ev, symptoms, warnings, inconclusive = a.healthy, a.ev, a.symptoms, a.warnings, a.inconclusive
    # the causes are judged on every shape seen, the held ones too (ev has them); a shape that
    # cannot be judged makes no cause more than possible
    judged_healthy = not ev.symptoms
    scores = model.scores(a)  # None: no fitted weights, the rules' own weights decide
    causes, needs = [], []
    for mod in RULES:
        f = a.findings[mod.ID]
        fits = not ev.symptoms or any(s.id in mod.PRODUCES for s in ev.symptoms)
        if scores is not None and not judged_healthy:
            model.explain_shapes(a, mod.ID, f)
            score, verdict = model.verdict(scores[mod.ID], f, fits, run=run)
        else:
            if a.cx.usable and not fits and f.score > CAP_UNFIT:
                # internals alone cannot make a cause likely that does not make this curve
                f.score = CAP_UNFIT
                f.note("but this cause does not make the curve this run shows")
            verdict, score = f.verdict(judged_healthy), f.final_score(judged_healthy)
        if healthy and a.held and verdict in ("likely", "confirmed", "ruled_out"):
            # a shape too short to judge neither commits to a cause nor rules one out
            held = ", ".join(s.id for s in a.held)
            if verdict == "ruled_out":
                verdict, score = "unlikely", 0.0
                f.note(f"unlikely, not ruled out: {held} not judged on this short a curve")
            else:
                verdict, score = "possible", min(score, LIKELY - 0.01)
                f.note(f"possible at most: {held} not judged on this short a curve")
        causes.append(Cause(mod.ID, verdict, score, tuple(f.evidence),
                            (f.fix or mod.FIX) if verdict in ("likely", "possible", "confirmed") else "",
                            mod.TITLE))
        if verdict == "possible" and not judged_healthy:
            needs.extend(n for n in f.needs if n not in needs)
    needs.sort(key=lambda n: n.startswith("or run"))  # what to log first, then what to rerun
    if not judged_healthy:
        causes = chains.apply(causes, a.findings)
    order = {"confirmed": 0, "likely": 1, "possible": 2, "unlikely": 3, "ruled_out": 4}
    causes.sort(key=lambda c: (-c.score, order[c.verdict], c.id))
    if healthy and inconclusive is None:
        inconclusive = _red_flag(ev)
    if healthy and inconclusive is None:
        causes, inconclusive = _fault_seen(causes, a.findings)
    if healthy and inconclusive is not None:
        return Diagnosis(run.source, None, tuple(symptoms), tuple(causes), tuple(needs), tuple(warnings), run,
                         inconclusive=inconclusive)
    if inconclusive is not None:  # symptoms were seen all the same: say what could not be judged
        warnings.append(inconclusive)
    return Diagnosis(run.source, healthy, tuple(symptoms), tuple(causes), tuple(needs),
                     tuple(warnings), run)


#: Evidence that is a fault in itself, whatever the curve shows (rule key -> its cause): a run
#: whose internals show one is never called healthy. The cause is named ``likely`` and the run
#: is inconclusive: the curve has not (yet) shown what the fault costs.
FAULT_RULES = {
    "outputs_are_probs": "loss_misuse",  # a softmax inside the model before a loss on logits
    "grads_not_cleared": "missing_zero_grad",  # gradients summed over steps
    "decayed_early": "lr_schedule",  # the lr at ~0 for most of the run
}


def _fault_seen(causes: list[Cause], findings: dict[str, Finding]) -> tuple[list[Cause], str | None]:
    """A symptom-free run whose internals show a fault of :data:`FAULT_RULES`: that cause made
    likely, and why the run is not called healthy."""
    import dataclasses

    why = []
    out = []
    for c in causes:
        f = findings.get(c.id)
        keys = [k for k, cause in FAULT_RULES.items() if cause == c.id and f is not None and f.keys.get(k, 0) > 0]
        if keys and not f.ruled_out:
            line = next((e for e in f.evidence if not e.startswith("no symptom")), c.id)
            why.append(line)
            mod = next(m for m in RULES if m.ID == c.id)
            c = dataclasses.replace(c, verdict="likely", score=max(c.score, 0.7), fix=f.fix or mod.FIX,
                                    evidence=tuple(e for e in c.evidence if not e.startswith("no symptom")))
        out.append(c)
    if not why:
        return causes, None
    out.sort(key=lambda c: (c.verdict != "likely", -c.score, c.id))
    return out, "no symptom in the curve, but " + "; ".join(why)


def _progress(run: Run, cx: Context) -> tuple[float, float, float, str] | None:
    """(share done, last logged step, planned steps, unit) when the log stops before
    :data:`EARLY_SHARE` of the length its own hyper-parameters plan (``max_steps``, or ``epochs``
    for a log counted in epochs); ``None`` otherwise, and always for a live run (a monitor in
    progress judges the run so far)."""
    if run.meta.get("format") == "live" or cx.loss is None or not cx.loss.n:
        return None
    unit = run.meta.get("step_unit", "step")
    key = "epochs" if unit == "epoch" else "max_steps"
    planned = run.meta.get("max_steps") if unit != "epoch" else None
    planned = planned if isinstance(planned, (int, float)) and not isinstance(planned, bool) else run.hparams.get(key)
    if isinstance(planned, bool) or not isinstance(planned, (int, float)) or planned <= 0:
        return None
    last = float(cx.loss.last_step)
    done = (last + (1 if unit != "epoch" else 0)) / float(planned)  # steps count from 0
    return (done, last, float(planned), unit) if done < EARLY_SHARE else None


def _red_flag(ev: Evidence) -> str | None:
    """Why a run whose curve shows nothing is still not healthy, if it is not."""
    if ev.lr_eff is None or not ev.lr_high:
        return None
    top = ev.lr_bounds[1]
    if ev.lr_eff >= RED_FLAG_LR * top:
        return (f"no symptom in the curve, but the lr {ev.lr_text} is {ev.lr_eff / top:.0f}x the top of the usual "
                f"range for {ev.optimizer or 'any optimizer'} ({top:g}): check it before trusting this run")
    return None


def _base(mod, ev: Evidence) -> Finding:
    """What the curve alone says: a cause is possible when the run shows a shape it produces."""
    if not ev.symptoms:
        return Finding(BASE_HEALTHY, ["no symptom: the loss curve looks healthy"])
    fits = [s.id for s in ev.symptoms if s.id in mod.PRODUCES]
    if fits:
        return Finding(BASE_FITS, [f"{fits[0]} fits: {mod.PRODUCES[fits[0]]}"])
    shown = ", ".join(s.id for s in ev.symptoms)
    return Finding(BASE_OTHER, [f"{GENERIC_MISFIT} what this run shows ({shown})"])
