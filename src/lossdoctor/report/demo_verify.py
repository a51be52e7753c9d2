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
ROW = {"decay_off": "decay off", "lr_x10": "lr x10", "reinit": "default init"}
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
                console.print(f"  {name}: {res.arm} {res.outcome.replace('_', ' ')} "
                              f"({res.effect.split(';')[0].split(' (')[0]})", markup=False, highlight=False)

        dx = lossdoctor.verify(cmd, log=r.path, out=folder, arms=QUIZ_ARMS, all_arms=True, jobs=2,
                               on_event=event)
        r.verified = dx
        done.append(dx)
    console.print()
    console.print(table([r for r in runs if r.name in PLATEAU_RUNS]))
    return done


def table(runs) -> Table:
    """One column per run: what each rerun did, then each quiz answer's verdict."""
    from ..verify.arms import BY_NAME

    t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    t.add_column("", no_wrap=True)
    for r in runs:
        t.add_column(r.name, no_wrap=True)
    for arm in QUIZ_ARMS:
        cells = []
        for r in runs:
            o = {a.arm: a.outcome for a in r.verified.verification}.get(arm)
            cells.append(Text(o.replace("_", " "), style=OUTCOME_STYLE.get(o, "")) if o
                         else Text("n/a: no decay" if arm == "decay_off" else "n/a", style="dim"))
        t.add_row(Text(f"rerun {ROW.get(arm, BY_NAME[arm].title)}"), *cells)
    t.add_section()
    for c in QUIZ_CAUSES:
        cells = []
        for r in runs:
            cause = r.verified.cause(c)
            v = cause.verdict if cause is not None else "-"
            label = v.replace("_", " ")
            if v == "ruled_out" and not any(e.startswith("rerun ") for e in cause.evidence):
                label += " (curve)"
            cells.append(Text(label, style=VERDICT_STYLE.get(v, "")))
        t.add_row(c, *cells)
    return t


__all__ = ["verify_runs", "table", "PLATEAU_RUNS", "QUIZ_ARMS"]
