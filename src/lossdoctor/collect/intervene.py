"""Reruns of ``lossdoctor verify``: the monitor applies the arm's one change when it starts.

``lossdoctor verify`` runs the user's own script once per arm with :data:`ENV` set to a JSON
plan ``{"arm", "change", "dir", "steps", "stop_below"}``. When ``watch()`` (or the Lightning /
Hugging Face callback) starts a monitor in that process, :func:`start` reads the plan, applies
the change to the model, optimizer and scheduler it was handed
(:mod:`lossdoctor.verify.changes`), and points the log at ``<dir>/run.jsonl`` whatever
``path=`` the script gave (no HTML report is written for an arm). :func:`attach` then ends the
run cleanly after ``steps`` optimizer steps (or once the loss is below ``stop_below``): the log
is closed and :class:`ArmStop`, a ``SystemExit(0)``, unwinds the script. ``<dir>/arm.json``
says what was applied, or why the change does not apply to this script (the arm then stops
before its first step).

Without :data:`ENV` this module does nothing and costs one environment lookup.
"""

from __future__ import annotations

import json
import math
import os
from collections import deque
from typing import Any

ENV = "LOSSDOCTOR_VERIFY"
STATUS = "arm.json"
LOG = "run.jsonl"


class ArmStop(SystemExit):
    """The arm ran its steps: leave the script with exit status 0 (its log is closed)."""

    def __init__(self, why: str):
        super().__init__(0)
        self.why = why


class _Arm:
    def __init__(self, plan: dict[str, Any]):
        self.plan = plan
        self.dir = plan["dir"]
        self.steps = int(plan.get("steps") or 0)
        below = plan.get("stop_below")
        self.below = (float(below[0]), int(below[1]), int(below[2])) if below else None
        self.count = 0
        self.losses: deque = deque(maxlen=self.below[1] if self.below else 1)
        self.target = None
        self.status: dict[str, Any] = {"arm": plan.get("arm"), "change": plan.get("change", {})}
        self.n_watch = 0

    def write_status(self, **kw: Any) -> None:
        self.status.update(kw)
        tmp = os.path.join(self.dir, STATUS + ".tmp")
        with open(tmp, "w") as f:
            json.dump(self.status, f)
        os.replace(tmp, os.path.join(self.dir, STATUS))


_ARM: _Arm | None = None


def active() -> _Arm | None:
    global _ARM
    if _ARM is None:
        raw = os.environ.get(ENV)
        if not raw:
            return None
        _ARM = _Arm(json.loads(raw))
        os.makedirs(_ARM.dir, exist_ok=True)
    return _ARM


def start(model, optimizer, path, report, scheduler=None):
    """Apply the arm's change (when a plan is set); returns ``(path, report)`` to use."""
    arm = active()
    if arm is None:
        return path, report
    from ..verify.changes import NotApplicable, apply

    arm.n_watch += 1
    log = os.path.join(arm.dir, LOG if arm.n_watch == 1 else f"run-{arm.n_watch}.jsonl")
    try:
        arm.target, done = apply(arm.plan.get("change", {}), model, optimizer, scheduler)
    except NotApplicable as exc:
        arm.write_status(applied=[], not_applicable=str(exc), stopped="not applicable")
        raise ArmStop("not applicable") from None
    arm.write_status(applied=done, original_path=os.fspath(path) if path is not None else None,
                     log=os.path.basename(log))
    return log, None


def attach(mon):
    """Count the monitored run's optimizer steps and end it when the arm's budget is spent."""
    arm = _ARM
    if arm is None or arm.target is None:
        return mon
    opt = getattr(mon, "optimizer", None)
    counted = opt is not None and hasattr(opt, "register_step_post_hook")

    def post(o, args, kwargs):
        arm.count += 1

    if counted:
        arm.target.handles.append(opt.register_step_post_hook(post))
    inner = mon.step

    def step(loss=None, **scalars):
        inner(loss, **scalars)
        for fn in arm.target.after_step:
            fn()
        if not counted:
            arm.count += 1
        why = None
        if arm.below is not None and loss is not None:
            try:
                arm.losses.append(float(loss.detach() if hasattr(loss, "detach") else loss))
            except (TypeError, ValueError, RuntimeError):
                pass
            level, window, after = arm.below
            if arm.count >= after and len(arm.losses) == window and math.isfinite(sum(arm.losses)) \
                    and sum(arm.losses) / window < level:
                why = "target"
        if arm.steps and arm.count >= arm.steps:
            why = why or "steps"
        if why:
            mon.close()
            arm.write_status(steps=arm.count, stopped=why)
            raise ArmStop(why)

    mon.step = step
    return mon


__all__ = ["ENV", "ArmStop", "active", "start", "attach"]
