"""The report's plots as PNG files (``lossdoctor report PATH --png DIR``), for an issue tracker
or a paper: per run one figure of the same panels as the HTML report (the loss with its symptom
spans and marked points, then the internals under the same step axis, the per-layer heat map),
and for several runs one overlay of their curves.

Drawn with matplotlib (the ``png`` extra), imported only here, through its object API (no
pyplot state, no display needed). Each ``plot_*`` function takes an optional ``ax`` and returns
it, so a figure of your own can hold any of the panels.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from ..core import Diagnosis
from . import plots

INSTALL_HINT = "pip install 'lossdoctor[png]'"
DPI = 110
WIDTH_IN = 11.0
SPAN_COLOURS = ("#d62728", "#ff7f0e", "#9467bd", "#2ca02c", "#17becf", "#8c564b")
LINE_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b",
                "#e377c2", "#7f7f7f", "#bcbd22")


def missing_requirements() -> str | None:
    from importlib.util import find_spec

    return None if find_spec("matplotlib") else f"writing PNG plots needs matplotlib: {INSTALL_HINT}"


def write_pngs(diagnoses: Diagnosis | Sequence[Diagnosis], folder: str | os.PathLike) -> list[Path]:
    """One PNG per run (``<run>.png``) and, for several runs, ``overview.png``; returns the paths."""
    dxs = [diagnoses] if isinstance(diagnoses, Diagnosis) else list(diagnoses)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written, used = [], set()
    if len(dxs) > 1:
        fig = _new_figure(4.0)
        plot_lines(plots.overlay(dxs), fig.add_subplot(1, 1, 1))
        written.append(_save(fig, out / "overview.png"))
    for dx in dxs:
        if dx.run is None or dx.run.loss is None:
            continue
        written.append(_save(run_figure(dx), out / f"{_slug(dx.run.name, used)}.png"))
    return written


def run_figure(dx: Diagnosis):
    """A matplotlib Figure of one run: the loss panel over the internals panels."""
    spec = plots.figure(dx)
    heights = [3.0] + [max(1.4, 0.22 * len(p.layers) + 0.6) if isinstance(p, plots.Heat) else 1.4
                       for p in spec.panels]
    fig = _new_figure(sum(heights) + 0.6)
    axes = fig.subplots(len(heights), 1, sharex=True, gridspec_kw={"height_ratios": heights},
                        squeeze=False)[:, 0]
    plot_loss(spec, axes[0])
    axes[0].set_title(spec.name, loc="left", fontsize=11, fontweight="bold")
    for p, ax in zip(spec.panels, axes[1:]):
        plot_heat(p, ax) if isinstance(p, plots.Heat) else plot_lines(p, ax)
    axes[-1].set_xlabel(f"{spec.unit}s")
    axes[0].set_xlim(spec.lo, spec.hi)
    return fig


def plot_loss(spec: plots.RunFigure, ax=None):
    """The loss and validation loss, the symptom spans shaded and labelled, the marked points."""
    ax = ax or _new_figure(3.0).add_subplot(1, 1, 1)
    for k, s in enumerate(spec.spans):
        a, b = sorted((s.start, s.end))
        colour = SPAN_COLOURS[k % len(SPAN_COLOURS)]
        if b > a:
            ax.axvspan(a, b, color=colour, alpha=0.13, lw=0)
        else:
            ax.axvline(a, color=colour, alpha=0.6, lw=2)
        ax.text(a, 1 - 0.07 * (k + 1), f" {s.title}", transform=ax.get_xaxis_transform(),
                color=colour, fontsize=8, fontweight="bold", va="bottom")
    plot_lines(spec.loss, ax, title=False)
    for m in spec.marks:
        if np.isfinite(m.value):
            ax.plot([m.step], [m.value], "o", ms=7, mfc="gold", mec="black", mew=1.2, zorder=5)
            ax.annotate(m.label, (m.step, m.value), xytext=(6, -12), textcoords="offset points",
                        fontsize=7.5)
    if spec.nonfinite.size:
        ax.plot(spec.nonfinite, np.zeros(spec.nonfinite.size), "|", color="#d62728", ms=10,
                transform=ax.get_xaxis_transform(), label="NaN/inf")
    ax.legend(loc="upper right", fontsize=7.5, frameon=False)
    return ax


def plot_lines(panel: plots.Panel, ax=None, title: bool = True):
    """One panel of lines (log axis where the panel says), with its band."""
    ax = ax or _new_figure(1.6).add_subplot(1, 1, 1)
    for i, ln in enumerate(panel.lines):
        colour = ("#1f77b4" if ln.role == "loss" and len(panel.lines) < 4 else
                  "#d62728" if ln.role == "val" else LINE_COLOURS[i % len(LINE_COLOURS)])
        ax.plot(ln.steps, ln.values, lw=1.0, color=colour, ls="--" if ln.dashed else "-",
                label=ln.label, marker="o" if ln.role == "val" and ln.steps.size < 200 else None,
                ms=2.5)
    if panel.log:
        ax.set_yscale("log")
    if panel.band:
        ax.axhspan(*panel.band, color="#2ca02c", alpha=0.12, lw=0)
        ax.text(0.005, panel.band[1], f" {panel.band_label}", transform=ax.get_yaxis_transform(),
                fontsize=7, color="#1e701e", va="top")
    if panel.share:
        top = max((float(np.nanmax(ln.values)) for ln in panel.lines if ln.values.size), default=0.0)
        ax.set_ylim(0, max(1.15 * top, 0.01))
    if title:
        ax.set_title(panel.title, loc="left", fontsize=9)
        if len(panel.lines) > 1:
            ax.legend(loc="upper right", fontsize=7, frameon=False, ncol=min(4, len(panel.lines)))
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=7.5)
    return ax


def plot_heat(heat: plots.Heat, ax=None):
    """The per-layer gradient norms, input side at the top, one log colour scale."""
    ax = ax or _new_figure(2.0).add_subplot(1, 1, 1)
    z = np.ma.masked_invalid(heat.z)
    ax.pcolormesh(heat.edges, np.arange(len(heat.layers) + 1), z, cmap="viridis", shading="flat")
    ax.set_ylim(len(heat.layers), 0)  # the first (input-side) layer on top
    ax.set_yticks(np.arange(len(heat.layers)) + 0.5)
    ax.set_yticklabels([n if len(n) <= 18 else "…" + n[-17:] for n in heat.layers], fontsize=6.5)
    ax.set_title(f"{heat.title} ({heat.note})", loc="left", fontsize=9)
    ax.tick_params(labelsize=7.5)
    return ax


def _new_figure(height_in: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(WIDTH_IN, height_in), dpi=DPI, layout="constrained")


def _save(fig, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    fig.savefig(path)
    return path


def _slug(name: str, used: set) -> str:
    """A file name from a run name (which may hold anything): letters, digits, ``._-``."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "run"
    base = base[-80:]
    slug, i = base, 1
    while slug in used:
        i += 1
        slug = f"{base}_{i}"
    used.add(slug)
    return slug


__all__ = ["write_pngs", "run_figure", "plot_loss", "plot_lines", "plot_heat", "missing_requirements"]
