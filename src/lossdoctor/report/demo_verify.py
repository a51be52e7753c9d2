"""The end of ``lossdoctor demo``: each of Jena's three plateau runs verified by experiment.

``lossdoctor verify`` reruns the run's own script (``python -m lossdoctor.scenarios.train
NAME``) once per quiz answer, each rerun changing one factor: the lr x10, weight decay off,
PyTorch's default init. The change that removes the plateau confirms its cause; the ones that
should have helped and did not rule theirs out; a too-high lr was ruled out by the curve alone.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rich import box
from rich.table import Table
from rich.text import Text

from .terminal import VERDICT_STYLE

#: The runs verified, the arm of each plateau cause of the quiz, and the quiz's causes.
PLATEAU_RUNS = ("jena_regularization", "jena_lr_low", "jena_local_minimum")
QUIZ_ARMS = ("decay_off", "lr_x10", "reinit")
QUIZ_CAUSES = ("regularization_too_strong", "lr_too_low", "stuck_plateau", "lr_too_high")
SHORT = {"regularization_too_strong": "regularization", "lr_too_low": "lr too low",
         "stuck_plateau": "stuck", "lr_too_high": "lr too high"}
OUTCOME_STYLE = {"fixed": "bold green", "improved": "green", "no_change": "yellow", "worse": "red",
                 "failed": "bold red"}


def verify_runs(runs, out: Path, console, seed: int = 0) -> list:
    """Verify each plateau run (a DemoRun with ``name`` and ``path``); returns the diagnoses."""
    import lossdoctor

    console.print()
    console.print(Text("Confirming each cause by experiment", style="bold"))
    console.print("lossdoctor verify reruns each run's own script once per quiz answer, changing one "
                  "factor: lr x10, weight decay off, PyTorch's default init (two reruns at a time).",
                  markup=False)
    done = []
    for r in runs:
        if r.name not in PLATEAU_RUNS:
            continue
        folder = out / "verify" / r.name
        cmd = [sys.executable, "-m", "lossdoctor.scenarios.train", r.name, "--out", str(folder / "script"),
               "--seed", str(seed)]

        def event(ev, name=r.name):
            if ev.kind == "done":
                res = ev.result
                console.print(f"  {name}: {res.arm} {res.outcome.replace('_', ' ')} ({res.effect})",
                              markup=False, highlight=False)

        dx = lossdoctor.verify(cmd, log=r.path, out=folder, arms=QUIZ_ARMS, all_arms=True, jobs=2,
                               on_event=event)
        r.verified = dx
        done.append(dx)
    console.print()
    console.print(table([r for r in runs if r.name in PLATEAU_RUNS]))
    return done


def table(runs) -> Table:
    t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    t.add_column("run", no_wrap=True)
    for arm in QUIZ_ARMS:
        t.add_column(arm, no_wrap=True)
    for c in QUIZ_CAUSES:
        t.add_column(SHORT[c], no_wrap=True)
    for r in runs:
        dx = r.verified
        outcomes = {a.arm: a.outcome for a in dx.verification}
        row: list = [r.name]
        for arm in QUIZ_ARMS:
            o = outcomes.get(arm)
            row.append(Text(o.replace("_", " "), style=OUTCOME_STYLE.get(o, "")) if o else Text("n/a", style="dim"))
        for c in QUIZ_CAUSES:
            cause = dx.cause(c)
            v = cause.verdict if cause is not None else "-"
            label = v.replace("_", " ")
            if c == "lr_too_high" and v == "ruled_out" and not any(e.startswith("rerun ") for e in cause.evidence):
                label += " (curve)"
            row.append(Text(label, style=VERDICT_STYLE.get(v, "")))
        t.add_row(*row)
    return t


__all__ = ["verify_runs", "table", "PLATEAU_RUNS", "QUIZ_ARMS"]
