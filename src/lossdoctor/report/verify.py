"""The terminal side of ``lossdoctor verify``: live progress while the arms run, then the arms
table (arm, change, outcome, effect, a sparkline of each arm against the baseline) and the
causes the reruns decided."""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np
from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ..core import ArmResult, Diagnosis
from .terminal import VERDICT_STYLE, _glyphs, bin_means, sparkline, verdict_line
from .titles import cause_title

OUTCOME_STYLE = {"fixed": "bold green", "improved": "green", "no_change": "yellow", "worse": "red",
                 "failed": "bold red"}
#: Characters of each arm's sparkline.
SPARK = 12
#: Rerun lines shown per cause (the decisive one comes first).
LINES = 2
#: Live refreshes per second.
REFRESH = 4


def _spark(arm: ArmResult, base, g) -> Text:
    """Two lines on one scale: the arm's loss and the baseline's over the arm's steps."""
    t = Text()
    if arm.curve is None or not len(arm.curve) or base is None:
        return t
    hi = float(arm.curve.steps[-1])
    lo = 0.0
    if hi <= lo:
        return t
    bs = base.loss
    rows = [bin_means(np.asarray(arm.curve.steps, float), np.asarray(arm.curve.values, float), lo, hi, SPARK)]
    if bs is not None:
        rows.append(bin_means(np.asarray(bs.steps, float), np.asarray(bs.values, float), lo, hi, SPARK))
    lines, _ = sparkline(rows, g)
    t.append(lines[0], style="cyan")
    if len(lines) > 1:
        t.append("\n")
        t.append(lines[1], style="dim")
    return t


def arms_table(dx: Diagnosis, g=None) -> Table:
    from ..verify.arms import BY_NAME

    g = g or _glyphs(Console())
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    table.add_column("arm", no_wrap=True)
    table.add_column("change", overflow="fold", max_width=22)
    table.add_column("outcome", no_wrap=True)
    table.add_column("effect", overflow="fold", ratio=1)
    table.add_column("arm/base", no_wrap=True)
    for a in dx.verification:
        title = a.title or (BY_NAME[a.arm].title if a.arm in BY_NAME else "")
        mark = g.ok if a.outcome == "fixed" else g.fail if a.outcome == "failed" else ""
        outcome = Text(f"{mark} {a.outcome.replace('_', ' ')}".strip(), style=OUTCOME_STYLE.get(a.outcome, ""))
        cell = Text(title)
        if a.tests:
            cell.append(f"\n{', '.join(a.tests)}", style="dim")
        table.add_row(a.arm, cell, outcome, Text(a.effect), _spark(a, dx.run, g))
    return table


def _causes(dx: Diagnosis, g) -> Table:
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    tested = {t for a in dx.verification for t in a.tests}
    for c in dx.causes:
        if c.verdict not in ("confirmed", "ruled_out") and c.id not in tested:
            continue
        if c.verdict == "ruled_out" and c.id not in tested and not any(e.startswith("rerun ") for e in c.evidence):
            continue  # ruled out by the log alone: the diagnosis says so, not the reruns
        body = Text()
        body.append(cause_title(c), style="bold")
        body.append(f"  {c.id}", style="dim")
        lines = [e for e in c.evidence if e.startswith(("rerun ", "the reruns", "not confirmed"))]
        for e in lines[:LINES]:
            body.append(f"\n{g.bullet} {e}")
        if c.verdict == "confirmed" and c.fix:
            body.append(f"\nfix: {c.fix}", style="green")
        table.add_row(Text(c.verdict.replace("_", " "), style=VERDICT_STYLE.get(c.verdict, "")), body)
    return table


def render(dx: Diagnosis, console: Console | None = None) -> None:
    console = console or Console()
    g = _glyphs(console)
    sym = next(iter(dx.symptoms), None)
    head = Text()
    head.append("Verification", style="bold")
    head.append(f"  {dx.source}", style="dim")
    console.print(head)
    if not dx.verification:
        for w in dx.warnings:
            if w.startswith("verify:"):
                console.print(Text("  " + w[len("verify: "):], style="dim"))
        console.print(verdict_line(dx, console))
        return
    console.print(arms_table(dx, g))
    for w in dx.warnings:
        if w.startswith("verify: "):
            console.print(Text("  " + w[len("verify: "):], style="dim"))
    console.print()
    console.print(Text("Causes after the reruns", style="bold"))
    console.print(_causes(dx, g))
    console.print()
    console.print(verdict_line(dx, console))
    del sym


def render_quiet(dx: Diagnosis, console: Console | None = None) -> None:
    console = console or Console()
    t = Text(f"{dx.source}: ")
    t.append_text(verdict_line(dx, console))
    n = len(dx.verification)
    if n:
        fixed = [a.arm for a in dx.verification if a.outcome == "fixed"]
        t.append(f"  ({n} arm{'s' if n != 1 else ''}; fixed by {', '.join(fixed) or 'none'})", style="dim")
    console.print(t)


class Progress:
    """Live progress of a verification: pass :meth:`event` as ``on_event``. With ``live`` a
    table redrawn in place; otherwise one plain line per arm as it starts and ends."""

    def __init__(self, console: Console, live: bool):
        self.console = console
        self.live = live and console.is_terminal
        self.rows: dict[str, dict] = {}
        self._live: Live | None = None
        self.t0 = time.monotonic()
        self.g = _glyphs(console)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def _table(self):
        from ..verify.arms import BY_NAME

        table = Table(box=None, show_header=False, pad_edge=False)
        for _ in range(4):
            table.add_column(no_wrap=True)
        for name, r in self.rows.items():
            title = BY_NAME[name].title if name in BY_NAME else name
            state = r["state"]
            if state == "running":
                n, planned = r.get("steps", 0), max(r.get("planned", 1), 1)
                w = 20
                k = min(w, int(w * n / planned))
                bar = Text(self.g.spark[-1] * k + self.g.spark[0] * (w - k), style="cyan")
                bar.append(f" {n:,}/{planned:,} steps", style="dim")
                status = bar
            elif state == "done":
                res = r["result"]
                status = Text(res.outcome.replace("_", " "), style=OUTCOME_STYLE.get(res.outcome, ""))
                status.append(f"  {res.effect}", style="dim")
            else:
                status = Text(state, style="dim")
            table.add_row(name, Text(title, style="dim"), status, "")
        el = time.monotonic() - self.t0
        return Group(Text(f"verifying: {el:,.0f} s", style="bold"), table)

    def _plain(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)

    def event(self, ev) -> None:
        k = ev.kind
        if k == "baseline":
            self._plain("baseline: running the command once under the monitor...")
            return
        if k == "baseline_done":
            self._plain(f"baseline: {ev.steps:,} steps logged")
            return
        if k == "plan":
            p = ev.info
            if p.symptom is not None and p.arms:
                what = "no symptom, the loss level" if p.level_only else f"symptom {p.symptom.id}"
                self._plain(f"{what}: {len(p.arms)} arm{'s' if len(p.arms) != 1 else ''} "
                            f"of up to {p.steps:,} steps for {', '.join(c.id for c in p.candidates)}")
            for pa in p.arms:
                self.rows[pa.arm.name] = {"state": "queued", "planned": pa.steps}
            if self.live and p.arms:
                self._live = Live(self._table(), console=self.console, refresh_per_second=REFRESH,
                                  transient=True)
                self._live.start()
            return
        row = self.rows.setdefault(ev.arm, {"state": "queued"})
        if k == "start":
            row.update(state="running", steps=0, planned=ev.planned)
            if not self.live:
                self._plain(f"  {ev.arm}: started ({ev.planned:,} steps at most)")
        elif k == "progress":
            row.update(steps=ev.steps, planned=ev.planned)
        elif k == "done":
            row.update(state="done", result=ev.result)
            if not self.live:
                self._plain(f"  {ev.arm}: {ev.result.outcome.replace('_', ' ')}: {ev.result.effect}")
        elif k == "left_out":
            row.update(state=f"left out: {ev.info}")
            if not self.live:
                self._plain(f"  {ev.arm}: left out: {ev.info}")
        elif k == "skipped":
            row.update(state="not needed: the verdict is settled")
            if not self.live:
                self._plain(f"  {ev.arm}: not run, the verdict is settled")
        if self._live is not None:
            self._live.update(self._table())


def html_arms(dx: Diagnosis) -> dict:
    """The ``verification=`` argument of :func:`lossdoctor.report.html.write_html`: the arms as
    the taxonomy's entries, each with its loss to overlay."""
    return {dx.source: [{**a.to_dict(), "series": a.curve} for a in dx.verification]}


def render_many(dxs: Sequence[Diagnosis], console: Console | None = None) -> None:
    for i, dx in enumerate(dxs):
        if i:
            (console or Console()).print()
        render(dx, console)


__all__ = ["render", "render_quiet", "arms_table", "Progress", "html_arms"]
