"""The HTML report: one self-contained file per call, for one run or several.

    from lossdoctor.report.html import write_html
    write_html(lossdoctor.diagnose_all("runs/"), "report.html")

Everything is inline (the charting library, its styles, the data), so the file opens offline,
from a mail attachment or an issue tracker, with no server. The tables (symptoms, the causes
with their verdicts, evidence and fixes, the missing evidence) are plain HTML and read without
JavaScript; the plots are drawn by `uPlot <https://github.com/leeoniya/uPlot>`_ (MIT, 51 KB
minified, canvas-based: a million points draw in tens of milliseconds), vendored under
``assets/``.

Every string that comes from a log (run names, paths, metric and layer names, hyper-parameters,
evidence lines) is escaped for HTML here, and reaches the page's script only inside a JSON
block whose ``<``, ``>`` and ``&`` are escaped too; the script puts text into the page with
``textContent`` and onto canvases, never as markup. A Content-Security-Policy admits only the
report's own scripts (by hash), so even markup that slipped through could not run code.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import os
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ..core import Diagnosis
from . import plots
from .titles import cause_title, symptom_title, verdict_title

#: Significant digits of the numbers embedded for drawing: more than a chart can show.
DIGITS = 6
#: Hyper-parameters shown in a run's header before the rest fold away.
HPARAMS_SHOWN = 12
#: Hyper-parameter values longer than this are cut (a config dump is not a header).
MAX_VALUE_CHARS = 80
_ASSETS = ("uPlot.iife.min.js", "uPlot.min.css", "report.js", "report.css")


def write_html(diagnoses: Diagnosis | Sequence[Diagnosis], path: str | os.PathLike,
               *, title: str | None = None, verification: Mapping[str, Sequence[Mapping]] | None = None
               ) -> Path:
    """Write the report of one diagnosis or several to ``path`` (folders are created); returns
    the path. ``verification`` maps a diagnosis's ``source`` to its rerun arms (the taxonomy's
    ``verification`` entries; an arm's ``series`` may hold its loss as a Series to overlay)."""
    out = Path(path)
    if out.parent and not out.parent.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
    text = render_html(diagnoses, title=title, verification=verification)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out)  # a report being rewritten is never seen half-written
    return out


def render_html(diagnoses: Diagnosis | Sequence[Diagnosis], *, title: str | None = None,
                verification: Mapping[str, Sequence[Mapping]] | None = None) -> str:
    """The report as one HTML document (a string)."""
    dxs = [diagnoses] if isinstance(diagnoses, Diagnosis) else list(diagnoses)
    if not dxs:
        raise ValueError("no diagnoses to report")
    verification = verification or {}
    figs, payload_runs, sections = [], [], []
    for i, dx in enumerate(dxs):
        arms = [_with_series(a) for a in
                (list(verification.get(dx.source, ())) or list(getattr(dx, "verification", None) or ()))]
        fig = plots.figure(dx, arms) if dx.run is not None and dx.run.loss is not None else None
        figs.append(fig)
        rid = f"run-{i + 1}"
        payload_runs.append(_run_payload(rid, fig) if fig is not None else {"id": rid})
        sections.append(_run_section(rid, dx, fig, arms))
    overlay = plots.overlay(dxs) if len(dxs) > 1 else None
    units = {str(dx.run.meta.get("step_unit") or "step") for dx in dxs if dx.run is not None}
    payload = {"runs": payload_runs, "overlay": _lines_payload(overlay) if overlay else None,
               "overlay_unit": units.pop() if len(units) == 1 else "step"}

    title = title or (f"lossdoctor: {_name(dxs[0])}" if len(dxs) == 1
                      else f"lossdoctor: {len(dxs)} runs")
    css = _asset("uPlot.min.css") + "\n" + _asset("report.css")
    scripts = [_asset("uPlot.iife.min.js"), _asset("report.js")]
    csp = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; "
           "form-action 'none'; script-src " + " ".join(f"'sha256-{_sha256(s)}'" for s in scripts))
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    from .. import __version__

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_esc(csp)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(title)}</title>",
        f"<style>{css}</style>",
        "</head><body>",
        '<header class="ld-top"><h1>lossdoctor report</h1>',
        f'<p class="ld-dim">{len(dxs)} run{"s" if len(dxs) > 1 else ""} · made {now} by lossdoctor '
        f'{_esc(__version__)} · drag across a chart to zoom (every chart of a run follows), '
        f"double-click to zoom out</p>",
        "<noscript><p class=\"ld-warn\">The plots need JavaScript; the tables below are complete "
        "without it.</p></noscript></header>",
    ]
    if len(dxs) > 1:
        parts.append(_overview(dxs))
    parts.extend(sections)
    parts.append(f'<script type="application/json" id="ld-data">{_json_for_html(payload)}</script>')
    parts.extend(f"<script>{s}</script>" for s in scripts)
    parts.append("</body></html>")
    return "\n".join(parts)


def _with_series(arm: Mapping) -> dict:
    """A rerun arm with its loss to overlay: given as ``series``, or read from its ``log``."""
    arm = dict(arm)
    if arm.get("series") is None and arm.get("log"):
        try:
            from ..readers import read

            arm["series"] = read(arm["log"]).loss
        except Exception:  # an arm whose log is gone still has its outcome in the table
            arm["series"] = None
    return arm


# -- static HTML -------------------------------------------------------------------------------
def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _name(dx: Diagnosis) -> str:
    return dx.run.name if dx.run is not None else dx.source


def _state(dx: Diagnosis) -> str:
    if dx.healthy is None:
        return "inconclusive"
    return "healthy" if dx.healthy else "symptoms"


def _top_cause(dx: Diagnosis) -> str:
    likely = [c for c in dx.causes if c.verdict in ("confirmed", "likely")]
    if likely:
        return ", ".join(f"{verdict_title(c.verdict)}: {cause_title(c)} ({c.id})" for c in likely)
    if dx.healthy:
        return "-"
    n = sum(1 for c in dx.causes if c.verdict == "possible")
    return f"undecided ({n} possible)" if n else "no known cause fits"


def _overview(dxs: Sequence[Diagnosis]) -> str:
    rows = []
    for i, dx in enumerate(dxs):
        shown = ", ".join(s.id for s in dx.symptoms) or _state(dx)
        rows.append(f'<tr class="ld-{_state(dx)}"><td><a href="#run-{i + 1}">{_esc(_name(dx))}</a></td>'
                    f"<td>{_esc(shown)}</td><td>{_esc(_top_cause(dx))}</td></tr>")
    return ('<section id="overview" class="ld-section"><h2>Overview</h2>'
            '<table class="ld-table ld-overview"><thead><tr><th>run</th><th>result</th>'
            "<th>top cause</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
            '<figure class="ld-panel"><figcaption>Training loss of every run</figcaption>'
            '<div class="ld-chart ld-overlay" data-chart="overlay"></div></figure></section>')


def _run_section(rid: str, dx: Diagnosis, fig, arms) -> str:
    out = [f'<section id="{rid}" class="ld-section ld-run" data-run="{rid}">',
           f"<h2>{_esc(_name(dx))}</h2>", _header(dx), _verdict(dx)]
    if fig is not None:
        out.append('<h3>The curve</h3><figure class="ld-panel ld-loss">'
                   f'<div class="ld-chart" data-chart="loss" data-run="{rid}"></div>'
                   '<p class="ld-readout" aria-live="polite"></p></figure>')
    out.append(_symptoms(dx, fig))
    if fig is not None:
        out.append(_internals(rid, fig))
    out.append(_causes(dx, arms))
    if dx.missing:
        out.append("<h3>Missing evidence</h3><p class=\"ld-dim\">log these to decide between the "
                   "possible causes</p><ul>" + "".join(f"<li>{_esc(m)}</li>" for m in dx.missing)
                   + "</ul>")
    warnings = list(dict.fromkeys(str(w) for w in tuple(dx.warnings) + (
        tuple(dx.run.warnings) if dx.run is not None else ())))
    if warnings:
        out.append("<h3>Warnings</h3><ul class=\"ld-warnings\">"
                   + "".join(f"<li>{_esc(w)}</li>" for w in warnings) + "</ul>")
    out.append("</section>")
    return "\n".join(out)


def _header(dx: Diagnosis) -> str:
    rows = [("source", _esc(dx.source))]
    run = dx.run
    if run is not None:
        loss = run.loss
        unit = str(run.meta.get("step_unit") or "step")
        points = f"{len(loss):,} loss points" if loss is not None else "no loss series"
        rows.append(("format", _esc(f"{run.meta.get('format') or 'unknown'} · {points} · "
                                    f"logged per {unit}")))
        names = [k for k, v in run.series.items() if len(v)]
        rows.append(("series", _folded(names, 16)))
        hp = [f"{k}={_short(v)}" for k, v in run.hparams.items()]
        rows.append(("hparams", _folded(hp, HPARAMS_SHOWN) if hp else '<span class="ld-dim">none logged</span>'))
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="ld-meta">{body}</table>'


def _folded(items: Sequence[str], shown: int) -> str:
    head = ", ".join(_esc(x) for x in items[:shown])
    if len(items) <= shown:
        return head
    rest = ", ".join(_esc(x) for x in items[shown:])
    return (f"{head} <details class=\"ld-more\"><summary>+ {len(items) - shown} more</summary>"
            f"{rest}</details>")


def _short(value: Any) -> str:
    if isinstance(value, float):
        s = f"{value:.4g}"
    else:
        s = json.dumps(value, default=str) if isinstance(value, (list, dict)) else str(value)
    return s if len(s) <= MAX_VALUE_CHARS else s[: MAX_VALUE_CHARS - 1] + "…"


def _verdict(dx: Diagnosis) -> str:
    state = _state(dx)
    if state == "healthy":
        text = "✔ healthy: no symptoms found"
    elif state == "inconclusive":
        text = f"? inconclusive: {getattr(dx, 'inconclusive', '') or 'too little to judge'}"
    else:
        text = f"✘ {', '.join(s.id for s in dx.symptoms)} → {_top_cause(dx)}"
    return f'<p class="ld-verdict ld-{state}">{_esc(text)}</p>'


def _symptoms(dx: Diagnosis, fig) -> str:
    if not dx.symptoms:
        return '<h3>Symptoms</h3><p class="ld-healthy">none: the loss curve looks healthy</p>'
    unit = fig.unit if fig is not None else "step"
    items = []
    for k, s in enumerate(dx.symptoms):
        where = (f"{unit} {_step(s.start)}" if float(s.start) == float(s.end)
                 else f"{unit}s {_step(s.start)}–{_step(s.end)}")
        items.append(f'<li class="ld-symptom" data-symptom="{_esc(s.id)}">'
                     f'<span class="ld-swatch ld-c{k % 6}"></span>'
                     f"<b>{_esc(symptom_title(s.id))}</b> <code>{_esc(s.id)}</code> "
                     f'<span class="ld-dim">{_esc(where)} · confidence {float(s.confidence):.2f}</span>'
                     f"<br>{_esc(s.summary)}</li>")
    return (f'<h3>Symptoms <span class="ld-dim">({len(dx.symptoms)} found, shaded on the curve)</span>'
            f'</h3><ul class="ld-symptoms">{"".join(items)}</ul>')


def _internals(rid: str, fig) -> str:
    out = ["<h3>Internals <span class=\"ld-dim\">(what the causes read, on the same "
           f"{_esc(fig.unit)} axis)</span></h3>"]
    for p in fig.panels:
        kind = "heat" if isinstance(p, plots.Heat) else "lines"
        note = f' <span class="ld-dim">{_esc(p.note)}</span>' if p.note else ""
        out.append(f'<figure class="ld-panel ld-{kind}"><figcaption>{_esc(p.title)}{note}</figcaption>'
                   f'<div class="ld-chart" data-chart="{_esc(p.id)}" data-run="{rid}"></div>'
                   + ('<p class="ld-readout" aria-live="polite"></p>' if kind == "heat" else "")
                   + "</figure>")
    if not fig.panels:
        out.append('<p class="ld-dim">This log holds none of the internals.</p>')
    if fig.absent:
        out.append('<div class="ld-absent"><p>Not in this log, so not drawn; to tell the causes apart, '
                   "log:</p><ul>" + "".join(
                       f"<li><b>{_esc(a.title)}</b>: {_esc(a.what_to_log)}</li>" for a in fig.absent)
                   + "</ul></div>")
    return "\n".join(out)


def _causes(dx: Diagnosis, arms) -> str:
    by_cause: dict[str, list[Mapping]] = {}
    for arm in arms:
        for cid in arm.get("tests", ()) or ():
            by_cause.setdefault(str(cid), []).append(arm)
    rerun_col = bool(by_cause)
    head = "<th>verdict</th><th>score</th><th>cause</th><th>evidence</th><th>fix</th>"
    if rerun_col:
        head += "<th>rerun</th>"
    rows = []
    for c in dx.causes:
        ev = "".join(f"<li>{_esc(e)}</li>" for e in c.evidence)
        fix = _esc(c.fix) if c.fix and c.verdict not in ("unlikely", "ruled_out") else ""
        row = (f'<tr class="ld-v-{_esc(c.verdict)}" data-cause="{_esc(c.id)}">'
               f'<td class="ld-verdict-cell">{_esc(verdict_title(c.verdict))}</td>'
               f"<td>{float(c.score):.2f}</td>"
               f"<td><b>{_esc(cause_title(c))}</b><br><code>{_esc(c.id)}</code></td>"
               f"<td><ul>{ev}</ul></td><td>{fix}</td>")
        if rerun_col:
            cell = "".join(f'<div class="ld-arm ld-o-{_esc(a.get("outcome", ""))}"><b>{_esc(a.get("arm", ""))}'
                           f'</b>: {_esc(a.get("outcome", ""))}<br><span class="ld-dim">'
                           f'{_esc(a.get("effect", ""))}</span></div>' for a in by_cause.get(c.id, ()))
            row += f"<td>{cell}</td>"
        rows.append(row + "</tr>")
    return ('<h3>The quiz: every cause <span class="ld-dim">(most likely first; the ruled out say '
            'why)</span></h3><table class="ld-table ld-causes"><thead><tr>' + head
            + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def _step(x: float) -> str:
    x = float(x)
    if not math.isfinite(x):
        return str(x)
    return f"{int(x):,}" if x.is_integer() else f"{x:.4g}"


# -- the data the page's script draws ----------------------------------------------------------
def _run_payload(rid: str, fig: plots.RunFigure) -> dict:
    return {
        "id": rid,
        "name": fig.name,
        "unit": fig.unit,
        "lo": _num(fig.lo),
        "hi": _num(fig.hi),
        "loss": _lines_payload(fig.loss),
        "spans": [{"id": s.symptom, "title": s.title, "start": _num(s.start), "end": _num(s.end),
                   "summary": s.summary} for s in fig.spans],
        "marks": [{"step": _num(m.step), "y": _num(m.value), "label": m.label, "series": m.series}
                  for m in fig.marks],
        "nonfinite": _nums(fig.nonfinite),
        "panels": [_heat_payload(p) if isinstance(p, plots.Heat) else _lines_payload(p)
                   for p in fig.panels],
    }


def _lines_payload(p: plots.Panel) -> dict:
    """One chart's lines on one x array (uPlot's data layout): the union of their steps, each
    line null where it has no point."""
    xs = np.unique(np.concatenate([ln.steps for ln in p.lines])) if p.lines else np.zeros(0)
    series = []
    for ln in p.lines:
        y = np.full(xs.size, np.nan)
        y[np.searchsorted(xs, ln.steps)] = ln.values
        series.append({"label": ln.label, "role": ln.role, "dashed": ln.dashed, "y": _nums(y)})
    return {"kind": "lines", "id": p.id, "title": p.title, "log": p.log,
            "band": [_num(b) for b in p.band] if p.band else None, "band_label": p.band_label,
            "share": p.share, "x": _nums(xs), "series": series}


def _heat_payload(h: plots.Heat) -> dict:
    fin = h.z[np.isfinite(h.z)]
    return {"kind": "heat", "id": h.id, "title": h.title, "layers": list(h.layers),
            "edges": _nums(h.edges), "z": [_nums(row) for row in h.z],
            "zmin": _num(fin.min()) if fin.size else None, "zmax": _num(fin.max()) if fin.size else None,
            "note": h.note}


def _num(x: float) -> float | int | None:
    x = float(x)
    if not math.isfinite(x):
        return None
    if x.is_integer() and abs(x) < 2**53:
        return int(x)
    return float(f"{x:.{DIGITS}g}")


def _nums(a: Iterable[float]) -> list:
    a = np.asarray(a, dtype=np.float64)
    out: list = [None] * a.size
    fin = np.isfinite(a)
    vals = a[fin]
    if vals.size:
        integral = np.all(vals == np.round(vals)) and np.all(np.abs(vals) < 2**53)
        conv = vals.astype(np.int64).tolist() if integral else [float(f"{v:.{DIGITS}g}") for v in vals.tolist()]
        for i, v in zip(np.flatnonzero(fin).tolist(), conv):
            out[i] = v
    return out


def _json_for_html(payload: Any) -> str:
    """JSON that cannot end its ``<script>`` block or open markup: ``<``, ``>`` and ``&`` are
    written as ``\\u003c`` and so on, which JSON.parse reads back unchanged."""
    text = json.dumps(payload, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath("assets", name).read_text(encoding="utf-8")


def _sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


__all__ = ["write_html", "render_html"]
