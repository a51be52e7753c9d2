"""Which arms to run, in which order, for how many steps: from the baseline's diagnosis.

* The symptom: the baseline's most serious one (:data:`PRIORITY`); every arm is judged on it.
  A baseline with no symptom whose log still makes a cause ``likely`` (the internals show it; the
  curve does not) has that cause's arms judged on the loss level, as for a stalled run
  (:data:`LEVEL_ONLY`): a fix reaches a lower loss beyond the noise, and sooner. With no symptom
  there is no onset to stop just past: those arms run as long as the baseline (a fault that grows,
  gradients piling up, shows late), stopping early once under the fixed level.
* The candidates: every cause the diagnosis has not ruled out whose typical curves include one
  of the symptoms shown (its module's ``PRODUCES``), by score.
* The arms: each candidate's own tests (:mod:`.arms`), the best-scored candidate's first, a
  decisive (``FIX``) arm before a ``MAY`` one, cheaper before dearer; an arm whose change the
  script cannot take (by the baseline's log) is left out with its reason.
* The budget: ``steps`` (``--steps``) or :func:`default_steps`, just past where the baseline's
  symptom showed itself; an arm of a *too slow* symptom also stops as soon as its loss is under
  the level that counts as fixed (:func:`lossdoctor.verify.compare.target`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from ..core import Cause, Diagnosis, Run, Symptom
from . import compare as C
from .arms import ARMS, BY_NAME, FIX, Arm, evidence

#: The most serious symptom first (the one the verification is about).
PRIORITY = ("nan_inf", "divergence", "oscillation", "spikes", "stagnation", "plateau_then_drop",
            "slow_convergence", "overfitting", "generalization_delay")
#: An lr this many times below (above) its optimizer's common default is tested at 100x (1/100)
#: straight away, not at 10x first.
LR_JUMP = 100.0
#: The symptom a baseline with no symptom but a likely cause is judged on (its loss level).
LEVEL_ONLY = "stagnation"
#: An lr this many times off (but less than LR_JUMP) still sits 3-10x off after a tenfold step:
#: that step showing no change does not clear the lr, and the next decade is run as well.
LR_FAR = 30.0
#: Fewest steps an arm runs (a shorter one shows nothing but noise).
MIN_STEPS = 30
#: Share of the run an arm takes for shapes visible from early on (a stalled or swinging loss).
EARLY_SHARE = {"stagnation": 0.25, "oscillation": 0.25, "spikes": 0.3, "slow_convergence": 0.3}
#: A plateau has shown itself when it has lasted this share of its length: a fixed run has left
#: it long before (the seed's runs: a fixed arm drops within 10-20% of the baseline's plateau).
PLATEAU_SHARE = 0.35
#: A blow-up is judged over this many times the baseline's blow-up step (plus a margin).
BLOWUP_SPAN = 2.0
BLOWUP_MARGIN = 20
#: Overfitting: the arm runs past the baseline's validation minimum by this share of what is left.
OVERFIT_PAST = 0.5
#: Levels stop an arm early only after this share of its steps (a first stretch of noise), and
#: over a window of STOP_WINDOW of them.
STOP_AFTER = 0.15
STOP_WINDOW = 0.1


@dataclass(frozen=True)
class Planned:
    arm: Arm
    tests: tuple[str, ...]
    steps: int
    stop_below: tuple[float, int, int] | None = None


@dataclass
class Plan:
    symptom: Symptom | None
    candidates: list[Cause]
    symptoms: list[Symptom] = field(default_factory=list)  # every symptom shown, most serious first
    arms: list[Planned] = field(default_factory=list)
    left_out: list[tuple[str, tuple[str, ...], str]] = field(default_factory=list)  # (arm, tests, why)
    followups: dict[str, Planned] = field(default_factory=dict)  # arm -> the arm to run if it improved
    #: arm -> the outcomes of it that run its follow-up (``improved``, and ``no_change`` for a tenfold lr
    #: step when the lr is LR_FAR off: :func:`_tenfold_arm`)
    follow_on: dict[str, tuple[str, ...]] = field(default_factory=dict)
    steps: int = 0
    baseline_steps: int = 0
    why_none: str = ""
    #: no symptom in the curve: the arms test the likely causes, judged on the loss level
    level_only: bool = False


def produces() -> dict[str, tuple[str, ...]]:
    from ..diagnose.rules import RULES

    return {m.ID: tuple(getattr(m, "PRODUCES", {}) or ()) for m in RULES}


def main_symptom(dx: Diagnosis) -> Symptom | None:
    shown = {s.id: s for s in dx.symptoms}
    return next((shown[s] for s in PRIORITY if s in shown), None)


def candidates(dx: Diagnosis, symptoms) -> list[Cause]:
    """The causes not ruled out that make one of ``symptoms`` (ids), best-scored first."""
    makes = produces()
    shown = {symptoms} if isinstance(symptoms, str) else set(symptoms)
    out = [c for c in dx.causes if c.verdict != "ruled_out" and shown & set(makes.get(c.id, ()))]
    return sorted(out, key=lambda c: -c.score)


def run_steps(run: Run) -> int:
    loss = run.loss
    return int(loss.steps[-1]) + 1 if loss is not None and len(loss) else 0


def default_steps(run: Run, symptom: Symptom) -> int:
    """Just past where the baseline's symptom showed itself (see the module docstring)."""
    total = max(run_steps(run), 1)
    sid = symptom.id
    if sid in C.BLOWUP:
        c = C.Curve.of(run)
        at = C.blowup_step(c, C.window(c, c.last)) if c is not None else None
        at = at if at is not None else float(symptom.start)
        n = BLOWUP_SPAN * at + BLOWUP_MARGIN
    elif sid == "plateau_then_drop":
        n = PLATEAU_SHARE * max(float(symptom.end), 1.0)
    elif sid == "overfitting":
        lo = float(symptom.start)
        n = lo + OVERFIT_PAST * max(total - lo, 0)
    elif sid in C.UNSTEADY:
        # the arm's swings are compared with the baseline's over the arm's steps: they must reach
        # into the stretch where the baseline swung (a loop without zero_grad that began to swing
        # at step 238 of 800 had its arms stop at 200, and judged them on a later symptom)
        lo = min(max(float(symptom.start), 0.0), float(total))
        n = lo + EARLY_SHARE.get(sid, 0.3) * (total - lo)
    else:
        n = EARLY_SHARE.get(sid, 0.3) * total
    return int(max(MIN_STEPS, math.ceil(n)))


def plan(dx: Diagnosis, steps: int | None = None, only: tuple[str, ...] | None = None) -> Plan:
    """The arms for one baseline diagnosis. ``only`` restricts them to these arm names."""
    run = dx.run
    sym = main_symptom(dx)
    if run is None:
        return Plan(sym, [], why_none="the baseline diagnosis has no run")
    likely = sorted((c for c in dx.causes if c.verdict in ("likely", "confirmed")), key=lambda c: -c.score)
    if sym is None and not likely:
        return Plan(sym, [], why_none="the baseline shows no symptom: nothing to verify")
    if sym is None:
        # the curve looks fine but the internals make a cause likely (probabilities fed to the
        # loss, a decay that holds the weights): its arms are judged on the loss level, as for a
        # stalled run: a fix reaches a lower loss, sooner
        ids = ", ".join(c.id for c in likely)
        sym = Symptom(LEVEL_ONLY, float(run.loss.steps[0]) if run.loss is not None and len(run.loss) else 0.0,
                      float(run_steps(run)), 0.0,
                      f"the curve shows no symptom, but the log makes {ids} likely: the arms are judged on "
                      f"the loss level, as for a stalled run")
        shown, cands = [sym], likely
    else:
        cands = candidates(dx, [s.id for s in dx.symptoms])
        shown = sorted(dx.symptoms, key=lambda s: PRIORITY.index(s.id) if s.id in PRIORITY else len(PRIORITY))
    if steps:
        n = int(steps)
    elif not dx.symptoms:  # no onset to stop just past: the level is judged where the baseline ended
        n = max(MIN_STEPS, run_steps(run))
    else:
        n = default_steps(run, sym)
    p = Plan(sym, cands, symptoms=shown, steps=n, baseline_steps=run_steps(run), level_only=not dx.symptoms)
    if not cands:
        p.why_none = f"no cause that makes {sym.id} is left to test"
        return p
    tgt = C.target(run, sym.id, n)
    seen: set[str] = set()
    names = {c.id for c in cands}
    ratio = _lr_ratio(run)
    off = _tenfold_arm(ratio, LR_JUMP)
    jump = {off: next(a.name for a in ARMS if a.follows == off)} if off else {}
    far = _tenfold_arm(ratio, LR_FAR)
    for cause in cands:
        mine = [a for a in ARMS if cause.id in a.tests]
        mine.sort(key=lambda a: (a.relation(cause.id) != FIX, a.cost))
        for arm in mine:
            if arm.name in jump:  # the lr is so far off that a tenth's step cannot show it
                arm = BY_NAME[jump[arm.name]]
                arm = dataclasses.replace(arm, follows="")
            if arm.name in seen or (only is not None and arm.name not in only and not arm.follows):
                continue
            seen.add(arm.name)
            tests = tuple(t for t in arm.tests if t in names)
            why = arm.left_out(run)
            if why:
                p.left_out.append((arm.name, tests, why))
                continue
            # an arm may need longer than the symptom's onset (it still stops under the same level)
            k = arm.budget(run, sym, n) if not steps and arm.budget is not None else n
            change = arm.tune(run, k) if arm.tune is not None else None
            if change:
                arm = dataclasses.replace(arm, change=change)
            below = None
            if tgt is not None and math.isfinite(tgt):
                below = (float(tgt), max(C.MIN_WINDOW, int(round(STOP_WINDOW * n))), max(1, int(STOP_AFTER * n)))
            if arm.follows:
                p.followups[arm.follows] = Planned(arm, tests, k, below)
                p.follow_on[arm.follows] = ("improved",) + (("no_change",) if arm.follows == far else ())
            else:
                p.arms.append(Planned(arm, tests, k, below))
    if not p.arms and not p.why_none:
        p.why_none = "no arm applies to this script"
    return p


def _lr_ratio(run: Run) -> float | None:
    """The lr over its optimizer's common default (read once per plan), or None when the log
    cannot tell (an unknown optimizer keeps the usual arms)."""
    ratio = evidence(run, "lr_vs_default")
    return ratio if ratio is not None and ratio > 0 and math.isfinite(ratio) else None


def _tenfold_arm(ratio: float | None, factor: float) -> str | None:
    """``lr_x10`` when the lr is ``factor`` times below its optimizer's common default or more,
    ``lr_div10`` when it is that far above, else None. At :data:`LR_JUMP` the tenfold arm is
    replaced by its follow-up (an lr 300x too low still moves too little at 10x to show in an
    arm's short run); at :data:`LR_FAR` its "no change" still leaves the lr off, so its follow-up
    runs after that too."""
    if ratio is None:
        return None
    if ratio <= 1 / factor:
        return "lr_x10"
    if ratio >= factor:
        return "lr_div10"
    return None


__all__ = ["Plan", "Planned", "plan", "main_symptom", "candidates", "default_steps", "PRIORITY"]
