"""From the arms' outcomes to the causes' verdicts, by what each cause predicts of each arm
(the relations of :mod:`.arms`):

* a cause is **ruled out** by an arm that should have fixed it and did not (``FIX``, outcome
  ``no_change`` or ``worse``, or one that only hid a blow-up another change removed), unless
  another of its decisive arms removed the symptom (decay off fixed, dropout off did not: the
  regularization was the decay), or by an arm that fixed the symptom although it could not
  have if this were the cause (no relation);
* a cause is **supported** by an arm that fixed the symptom and could do so if this were the
  cause (``FIX`` or ``MAY``);
* a supported cause that is not ruled out is **confirmed**, provided one of the changes that
  removed the symptom tests it or is decisive for it (``FIX``: a cause supported only by changes
  that test other causes and "may" bear on it is not confirmed by elimination), when it is the
  only one left; when
  its arm is a no-op unless the cause is present (``zero_grad``); when its own decisive test
  removed the symptom and the others left only fit a change that tests something else; or when
  the log's evidence puts it ahead of every other one left by :data:`TIE_MARGIN` (two changes
  can both remove a symptom; the internals then say which factor it was). Otherwise no cause is
  confirmed and the survivors keep their log verdicts, each with its arms' effects.

``improved`` neither supports nor rules out (a smaller effect than the symptom going away);
``failed`` arms say nothing. Causes no arm bore on keep their log-based verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core import Cause
from .arms import BY_NAME, FIX, MAY

#: The log's score must put the confirmed cause this far ahead of any other survivor.
TIE_MARGIN = 0.15
#: The outcome :func:`infer` reads for an arm that only hid a blow-up or a swing another arm
#: removed (reported as ``improved``; see :func:`lossdoctor.verify.compare.rank_fixes`).
HID = "hid"
#: Log verdicts a cause may have and still be confirmed by the arms alone.
CONFIRMABLE = ("likely", "possible", "unlikely")


@dataclass
class Finding:
    cause: str
    verdict: str | None = None  # "confirmed", "ruled_out", or None (keep the log's)
    support: list[str] = field(default_factory=list)
    against: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    #: ruled out by its own kind of test (an arm that should have fixed it did not), not only by
    #: a rival's change that removed the symptom
    own_failed: bool = False


def _line(arm: str, outcome: str, effect: str, why: str) -> str:
    a = BY_NAME[arm]
    outcome = "improved" if outcome == HID else outcome
    return f"rerun {arm} ({a.title}): {outcome.replace('_', ' ')}, {effect}" + (f": {why}" if why else "")


def infer(causes: list[Cause], results: list[tuple[str, str, str]]) -> dict[str, Finding]:
    """``results``: (arm name, outcome, effect) of every arm run. Returns a finding per cause in
    ``causes`` (the candidates)."""
    out: dict[str, Finding] = {}
    for c in causes:
        f = Finding(c.id)
        for name, outcome, effect in results:
            arm = BY_NAME.get(name)
            if arm is None or outcome == "failed":
                continue
            rel = arm.relation(c.id)
            if rel in (FIX, MAY) and outcome == "fixed":
                f.support.append(name)
                f.lines.append(_line(name, outcome, effect, f"fits, {arm.why(c.id)}"))
            elif rel == FIX and outcome in ("no_change", "worse", HID):
                f.against.append(name)
                f.own_failed = True
                f.lines.insert(len(f.against) - 1, _line(name, outcome, effect,
                                                         f"had this been the cause it would have helped ({arm.why(c.id)})"))
            elif rel not in (FIX, MAY) and outcome == "fixed":
                f.against.append(name)
                f.lines.insert(len(f.against) - 1, _line(name, outcome, effect,
                                                         "this change does not cure that cause, yet it removed the symptom"))
            elif c.id in arm.tests:
                f.lines.append(_line(name, "improved" if outcome == HID else outcome, effect, ""))
        # a cause with several decisive tests (decay off, dropout off) is not ruled out by one
        # that did not help when another removed the symptom: that one was the form it took
        decisive = [a for a in f.support if BY_NAME[a].relation(c.id) == FIX]
        if f.against and not (decisive and all(BY_NAME[a].relation(c.id) == FIX for a in f.against)):
            f.verdict = "ruled_out"
        out[c.id] = f
    score = {c.id: c.score for c in causes}
    verdict = {c.id: c.verdict for c in causes}
    alive = [cid for cid, f in out.items() if f.support and f.verdict is None and verdict[cid] in CONFIRMABLE]
    # a change that is a no-op unless its cause is present, and removed the symptom, settles it
    certain = [cid for cid in alive if any(BY_NAME[a].exact and cid in BY_NAME[a].tests
                                           for a in out[cid].support)]
    if len(certain) == 1 and len(alive) > 1:
        out[certain[0]].lines.append(f"the reruns also fit {', '.join(x for x in alive if x != certain[0])}, "
                                     f"but this change does nothing unless this is the cause")
        alive = certain
    # a cause whose own decisive test removed the symptom outranks one that only fits a change
    # that tests something else (unless the log clearly prefers that one)
    own = [cid for cid in alive if any(cid in BY_NAME[a].tests and BY_NAME[a].relation(cid) == FIX
                                       for a in out[cid].support)]
    if own and len(own) < len(alive):
        top = max(score[cid] for cid in own)
        dropped = [cid for cid in alive if cid not in own and score[cid] < top + TIE_MARGIN - 1e-9]
        for cid in own:
            if dropped:
                out[cid].lines.append(f"the reruns also fit {', '.join(dropped)}, but its own decisive test "
                                      f"is the change that removed the symptom")
        alive = [cid for cid in alive if cid not in dropped]
    if len(alive) == 1:
        _confirm(out[alive[0]])
    elif len(alive) > 1:
        alive.sort(key=lambda cid: -score[cid])
        if score[alive[0]] - score[alive[1]] >= TIE_MARGIN - 1e-9 and _confirm(out[alive[0]]):
            out[alive[0]].lines.append(
                f"the reruns also fit {', '.join(alive[1:])}; the log's evidence puts this cause first")
        else:
            for cid in alive:
                others = [x for x in alive if x != cid]
                out[cid].lines.append(f"not confirmed: the reruns fit {', '.join(others)} as well")
    return out


def _direct(cause: str, arm: str) -> bool:
    """The arm tests this cause, or would remove the symptom whenever it is the cause (FIX)."""
    a = BY_NAME[arm]
    return cause in a.tests or a.relation(cause) == FIX


def _confirm(f: Finding) -> bool:
    """Confirm ``f`` unless every change that removed the symptom tests another cause and only
    may bear on this one (MAY): a cause left over once the others are ruled out, with no test of
    its own that worked, is not confirmed by elimination (an lr x 10 that let a net memorise
    shuffled labels sooner "fixed" a stall; lr / 10 and a ReLU swap that calmed a healthy run
    both "may" help unscaled inputs)."""
    if any(_direct(f.cause, a) for a in f.support):
        f.verdict = "confirmed"
        return True
    f.lines.append(f"not confirmed: the changes that removed the symptom ({', '.join(f.support)}) test other "
                   f"causes and only may bear on this one")
    return False


def decided(causes: list[Cause], found: dict[str, Finding], tested: set[str] | None = None) -> bool:
    """The verdict is settled: a cause is confirmed, and every rival the log still finds likely
    or possible is ruled out by its own kind of test, or has had its own arms run (``tested``:
    causes whose own arms all ran). A rival ruled out only because another change removed the
    symptom still gets its own arm: two changes can both cure one curve, and which arm happens to
    finish first must not decide the verdict. Rivals the log already finds unlikely need not be
    tested once a cause is confirmed."""
    if not any(f.verdict == "confirmed" for f in found.values()):
        return False
    tested = tested or set()
    for c in causes:
        f = found.get(c.id)
        if f is not None and (f.verdict == "confirmed" or (f.verdict == "ruled_out" and f.own_failed)):
            continue
        if c.verdict in ("likely", "possible") and c.id not in tested:
            return False
    return True


__all__ = ["infer", "decided", "Finding", "TIE_MARGIN", "HID"]
