"""``lossdoctor demo``: Jena's case replayed live.

Jena's quiz shows one loss curve (a long plateau, then a sudden drop) and asks which causes
could explain it. The demo trains the four runs behind the quiz's options under the live
monitor, showing each curve as it forms and the alerts as they fire, then sets the diagnosis of
each run's log beside the quiz's answer: the curve alone fits three causes and rules out a too
high learning rate; the logged internals single out the true cause of each run.

torch and scikit-learn are imported only when the runs are trained.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .titles import symptom_title, verdict_title

#: The four runs, one per quiz option, in the quiz's order.
RUNS = ("jena_regularization", "jena_lr_low", "jena_local_minimum", "jena_lr_high")
#: What each run changes in Jena's network: the column headers of the summary table.
RUN_LABELS = {"jena_regularization": "wd 0.13", "jena_lr_low": "lr 1.6e-4",
              "jena_local_minimum": "init x0.62", "jena_lr_high": "lr 0.7"}
#: The quiz's options and its answer: does the cause fit the plateau-then-drop curve?
QUIZ = (("regularization_too_strong", True), ("lr_too_low", True), ("stuck_plateau", True),
        ("lr_too_high", False))
#: The quiz's curve: the runs that show it stand for "the curve alone".
QUIZ_SYMPTOM = "plateau_then_drop"
LIKELY = ("confirmed", "likely")
#: Steps between refreshes of the live display: smooth enough, and cheap next to a step.
LIVE_EVERY = 25
#: Steps between plain progress lines: a handful per run, not a wall of text.
PLAIN_EVERY = 300
#: Width of the loss sparkline, in characters.
SPARK_WIDTH = 48
#: Evidence lines shown per run for its true cause (after the line saying the shape fits).
EVIDENCE_LINES = 2
SPARKS = "▁▂▃▄▅▆▇█"
#: From this terminal width on, the quiz table gets two spaces between columns.
WIDE = 100
INSTALL_HINT = "pip install 'lossdoctor[all]'"


@dataclass
class DemoRun:
    name: str
    cause: str
    path: Path
    steps: int = 0
    done: int = 0
    losses: list[float] = field(default_factory=list)
    alerts: list[Any] = field(default_factory=list)
    seconds: float = 0.0
    diagnosis: Any = None
    curve_only: Any = None  # the diagnosis of the loss and val_loss series alone
    verified: Any = None  # the diagnosis after `lossdoctor verify`'s reruns (plateau runs)


def missing_requirements() -> str | None:
    """Why the demo cannot train here (a message naming the install command), or ``None``."""
    from importlib.util import find_spec

    # looked up, not imported: importing torch costs a second and is left to the training
    missing = [package for module, package in (("torch", "torch"), ("sklearn", "scikit-learn"))
               if find_spec(module) is None]
    if not missing:
        return None
    return (f"training needs {' and '.join(missing)}: "
            f"{INSTALL_HINT}")


def sparkline(values: list[float], width: int = SPARK_WIDTH) -> str:
    """The values as one line of block characters, each the mean of its share of the run."""
    finite = [v for v in values if v == v and abs(v) != float("inf")]
    if not finite:
        return ""
    n = len(finite)
    cols = min(width, n)
    means = []
    for i in range(cols):
        chunk = finite[i * n // cols:(i + 1) * n // cols] or [finite[min(i * n // cols, n - 1)]]
        means.append(sum(chunk) / len(chunk))
    lo, hi = min(means), max(means)
    span = hi - lo or 1.0
    top = len(SPARKS) - 1
    return "".join(SPARKS[round((m - lo) / span * top)] for m in means)


# -- training ----------------------------------------------------------------------------------
def train_all(out: Path, console, live: bool, seed: int = 0) -> list[DemoRun]:
    """Train the four runs into ``out`` (one JSONL log each), showing their progress."""
    from ..scenarios import SCENARIOS, build
    from ..scenarios.monitored import train_monitored

    out.mkdir(parents=True, exist_ok=True)
    runs = [DemoRun(n, SCENARIOS[n].cause, out / f"{n}.jsonl", steps=build(n, seed).steps)
            for n in RUNS]
    show = _LiveView(console, runs) if live else _PlainView(console)
    with _quiet_alerts(), show:
        for r in runs:
            show.start(r)
            t0 = time.perf_counter()

            def on_step(step: int, loss: float, r: DemoRun = r) -> None:
                r.losses.append(loss)
                r.done = step + 1
                show.step(r)

            def on_alert(alert, r: DemoRun = r) -> None:
                r.alerts.append(alert)
                show.alert(r, alert)

            train_monitored(r.name, r.path, seed=seed, on_step=on_step, on_alert=on_alert)
            r.seconds = time.perf_counter() - t0
            show.finish(r)
    return runs


class _quiet_alerts:
    """The monitor also warns and logs every alert; the demo shows them itself."""

    def __enter__(self):
        from ..collect import LossdoctorAlert

        self._warn = warnings.catch_warnings()
        self._warn.__enter__()
        warnings.simplefilter("ignore", LossdoctorAlert)
        # torch >= 2.13 warns when the trainer turns the loss (with its graph) into a float
        warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad",
                                category=UserWarning)
        self._log = logging.getLogger("lossdoctor")
        self._handler = logging.NullHandler()
        self._propagate = self._log.propagate
        self._log.addHandler(self._handler)  # keeps logging's last-resort stderr handler away
        self._log.propagate = False
        return self

    def __exit__(self, *exc):
        self._log.removeHandler(self._handler)
        self._log.propagate = self._propagate
        self._warn.__exit__(*exc)
        return False


def _alert_line(alert) -> str:
    cause = alert.likely_cause or "no cause stands out yet"
    return f"step {alert.step:>5,}  {alert.symptom} -> likely cause: {cause}"


class _PlainView:
    """Progress as plain lines: for pipes, logs and ``--no-live``."""

    def __init__(self, console):
        self.console = console

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def start(self, r: DemoRun) -> None:
        self.console.print(f"training {r.name} ({RUN_LABELS[r.name]}, {r.steps:,} steps)",
                           markup=False)

    def step(self, r: DemoRun) -> None:
        if r.done % PLAIN_EVERY == 0:
            self.console.print(f"  step {r.done:>5,}/{r.steps:,}  loss {r.losses[-1]:.3f}",
                               markup=False)

    def alert(self, r: DemoRun, alert) -> None:
        self.console.print(f"  alert: {_alert_line(alert)}", markup=False)

    def finish(self, r: DemoRun) -> None:
        self.console.print(f"  done in {r.seconds:.1f} s  {sparkline(r.losses)}", markup=False)


class _LiveView:
    """A rich live display: per run a bar of steps, the loss sparkline and its alerts."""

    def __init__(self, console, runs: list[DemoRun]):
        from rich.live import Live

        self.console = console
        self.runs = runs
        self.live = Live(self._render(), console=console, auto_refresh=False, transient=False)

    def __enter__(self):
        self.live.__enter__()
        return self

    def __exit__(self, *exc):
        self.live.update(self._render(), refresh=True)
        return self.live.__exit__(*exc)

    def start(self, r: DemoRun) -> None:
        self.live.update(self._render(), refresh=True)

    def step(self, r: DemoRun) -> None:
        if r.done % LIVE_EVERY == 0 or r.done == r.steps:
            self.live.update(self._render(), refresh=True)

    def alert(self, r: DemoRun, alert) -> None:
        self.live.update(self._render(), refresh=True)

    def finish(self, r: DemoRun) -> None:
        self.live.update(self._render(), refresh=True)

    def _render(self):
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        parts = []
        for r in self.runs:
            if not r.done and not r.seconds:
                parts.append(Text(f"  {r.name}  waiting", style="dim"))
                continue
            grid = Table.grid(padding=(0, 1))
            grid.add_column(width=20, no_wrap=True)
            grid.add_column(width=22)
            grid.add_column(width=13, no_wrap=True)
            grid.add_column(no_wrap=True)
            state = f"{r.seconds:.1f} s" if r.seconds else f"{r.done:,}/{r.steps:,}"
            grid.add_row(Text(r.name, style="bold"), ProgressBar(total=r.steps, completed=r.done,
                                                                 width=22),
                         Text(state), Text(sparkline(r.losses, 40), style="cyan"))
            parts.append(grid)
            for a in r.alerts:
                parts.append(Text(f"    ! {_alert_line(a)}", style="yellow"))
        return Group(*parts)


# -- diagnosis ---------------------------------------------------------------------------------
def diagnose_all(runs: list[DemoRun]) -> None:
    """Diagnose each run's log in full, and its loss curve alone (what the quiz shows)."""
    import lossdoctor

    for r in runs:
        r.diagnosis = lossdoctor.diagnose(str(r.path))
        r.curve_only = lossdoctor.diagnose(curve_only(lossdoctor.read(str(r.path))))


def curve_only(run):
    """The run with only its loss curves: no internals, no hyper-parameters."""
    from ..core import Run

    keep = {k: s for k, s in run.series.items() if k in ("loss", "val_loss")}
    return Run(source=run.source, series=keep, meta=dict(run.meta))


def _verdict(dx, cause_id: str) -> str:
    c = dx.cause(cause_id) if dx is not None else None
    return c.verdict if c is not None else "not judged"


def curve_alone_verdict(runs: list[DemoRun], cause_id: str) -> str:
    """The verdict of ``cause_id`` on the quiz's curve alone, over the runs that show it;
    several verdicts when those runs disagree."""
    seen: list[str] = []
    for r in runs:
        if r.curve_only is not None and r.curve_only.symptom(QUIZ_SYMPTOM) is not None:
            v = _verdict(r.curve_only, cause_id)
            if v not in seen:
                seen.append(v)
    return " / ".join(verdict_title(v) for v in seen) if seen else "not judged"


# -- the report --------------------------------------------------------------------------------
def render(runs: list[DemoRun], console, out: Path) -> None:
    from rich.table import Table
    from rich.text import Text

    from rich.padding import Padding

    console.print()
    console.print(Text("Jena's quiz, answered by the logs", style="bold"))
    # no box, verdicts of at most 9 characters, the true cause marked by a trailing "*": the
    # seven columns fit 80 characters with one space between them (two from 100 up)
    table = Table(box=None, padding=(0, 2 if console.width >= WIDE else 1, 0, 0), pad_edge=False,
                  header_style="bold underline")
    table.add_column("quiz option", no_wrap=True)
    table.add_column("fit", no_wrap=True)
    table.add_column("curve alone", min_width=len(verdict_title("ruled_out")))
    for r in runs:
        table.add_column(RUN_LABELS[r.name], no_wrap=True)
    for cause_id, fits in QUIZ:
        row = [cause_id, "yes" if fits else "no", curve_alone_verdict(runs, cause_id)]
        for r in runs:
            v = _verdict(r.diagnosis, cause_id)
            text = verdict_title(v) + ("*" if r.cause == cause_id else "")
            style = "bold green" if v in LIKELY else ("dim" if v == "ruled_out" else "")
            row.append(Text(text, style=style))
        table.add_row(*row)
    console.print(table)
    legend = ", ".join(f"{RUN_LABELS[r.name]} = {r.name}" for r in runs)
    console.print(Padding(Text("fit: the quiz's answer, does the cause fit the curve; curve alone: "
                               "the diagnosis of the plateau runs' loss curves with nothing else; "
                               f"the other columns: each run's full log ({legend}); * marks the "
                               "run's true cause.", style="dim"), (0, 0, 0, 0)))
    console.print()
    for line in conclusions(runs):
        console.print(line, markup=False)
    console.print()
    console.print(Text("What gives each run away", style="bold"))
    for r in runs:
        console.print(Text.assemble((f"{r.name}", "bold"), f"  true cause: {r.cause}"))
        for line in giveaway(r):
            # a hanging indent keeps a wrapped evidence line under its own bullet
            grid = Table.grid(padding=(0, 1))
            grid.add_column(width=3, justify="right")
            grid.add_column()
            grid.add_row("-", Text(line))
            console.print(grid)
    console.print()
    console.print(f"Logs written to {out}/ (one JSONL file per run); try: lossdoctor diagnose {out}",
                  markup=False)


def conclusions(runs: list[DemoRun]) -> list[str]:
    """What the table says, in words, from the verdicts themselves."""
    lines = []
    fit = [c for c, f in QUIZ if f]
    curve = {c: curve_alone_verdict(runs, c) for c, _ in QUIZ}
    same = {curve[c] for c in fit}
    if len(same) == 1:
        lines.append(f"From the curve alone, {', '.join(fit)} are all "
                     f"{same.pop()}: the shape fits each of them, as the quiz says.")
    else:
        lines.append("From the curve alone: "
                     + ", ".join(f"{c} {curve[c]}" for c in fit) + ".")
    for c, f in QUIZ:
        if not f:
            lines.append(f"From the curve alone, {c} is {curve[c]}: "
                         f"a too high learning rate makes the loss oscillate, as its own run shows.")
    found = [r for r in runs if _verdict(r.diagnosis, r.cause) in LIKELY]
    lines.append(f"With the logged internals, {len(found)} of {len(runs)} runs have their true "
                 f"cause come out likely.")
    return lines


def giveaway(r: DemoRun) -> list[str]:
    """The evidence lines of the run's true cause that tell it apart from the others."""
    c = r.diagnosis.cause(r.cause) if r.diagnosis is not None else None
    if c is None:
        return [f"the diagnosis did not judge {r.cause}"]
    # the first line says the curve's shape fits, which is true of every option: skip it
    lines = [e for e in c.evidence if " fits: " not in e][:EVIDENCE_LINES]
    if c.verdict not in LIKELY:
        lines.insert(0, f"the diagnosis did not single it out (verdict: {verdict_title(c.verdict)})")
    return lines or [f"{symptom_title(s.id)}" for s in r.diagnosis.symptoms][:EVIDENCE_LINES]


def run_demo(out: Path, console, live: bool, seed: int = 0) -> list[DemoRun]:
    console.print("Jena's case: one network, four runs, one per quiz option, each trained under "
                  "the live monitor (lossdoctor.watch).", markup=False)
    console.print()
    runs = train_all(out, console, live, seed)
    diagnose_all(runs)
    render(runs, console, out)
    from .demo_verify import verify_runs

    verify_runs(runs, out, console, seed)
    from .html import write_html

    from .verify import html_arms

    arms = {}
    for r in runs:
        if r.verified is not None:
            arms.update({r.diagnosis.source: html_arms(r.verified)[r.verified.source]})
    report = write_html([r.diagnosis for r in runs], out / "report.html",
                        title="lossdoctor: Jena's case, four runs", verification=arms)
    console.print(f"HTML report of the four runs: {report}", markup=False)
    return runs


__all__: list[str] = ["run_demo", "missing_requirements", "sparkline", "curve_only", "RUNS",
                      "QUIZ"]
