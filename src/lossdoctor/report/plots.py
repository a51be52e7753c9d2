"""What the visual reports draw, as data: one :class:`RunFigure` per diagnosis (the loss panel
with its symptom spans and the points the detectors used, the internals panels under the same
step axis, the per-layer gradient heat map) and one overlay of several runs' curves.

The HTML report (:mod:`.html`) and the PNG figures (:mod:`.png`) both draw these, so they show
the same thing. Series are thinned here with :func:`.decimate.minmax`, for drawing only.
Nothing here imports a plotting library.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .. import signals as S
from ..core import Diagnosis, Run, Series
from ..diagnose.causes import lr_too_high, lr_too_low
from . import decimate
from .titles import symptom_title

#: A positive series spanning more than this ratio gets a log axis (a loss that falls by
#: decades looks flat after its first drop on a linear one).
LOG_RATIO = 10.0
#: Rows of the per-layer heat map's time axis (bins of equal steps).
HEAT_BINS = 300
#: Per-layer lines drawn in one panel (dead units per module); more would be a tangle.
MAX_LAYER_LINES = 8
#: The update/weight ratio band drawn as healthy: ~1e-3 is the rule of thumb (cs231n); the
#: diagnosis reads at most TINY_UPDATE as "the weights barely move" and at least
#: HIGH_UPDATE_RATIO as "every step overshoots".
UPDATE_BAND = (lr_too_low.TINY_UPDATE, lr_too_high.HIGH_UPDATE_RATIO)
#: Spike points marked at most (the largest jumps above the running level).
MAX_SPIKE_MARKS = 12


@dataclass(frozen=True)
class Line:
    label: str
    steps: np.ndarray
    values: np.ndarray
    role: str = "line"  # "loss", "val", "arm", "line"
    dashed: bool = False


@dataclass(frozen=True)
class Panel:
    id: str
    title: str
    lines: tuple[Line, ...]
    log: bool
    band: tuple[float, float] | None = None
    band_label: str = ""
    note: str = ""
    share: bool = False  # a share in [0, 1]: drawn from 0


@dataclass(frozen=True)
class Span:
    symptom: str  # the taxonomy id
    title: str
    start: float
    end: float
    summary: str
    confidence: float


@dataclass(frozen=True)
class Mark:
    step: float
    value: float
    label: str
    series: str  # the line it sits on: "loss" or "val_loss"


@dataclass(frozen=True)
class Heat:
    id: str
    title: str
    layers: tuple[str, ...]  # input side first
    edges: np.ndarray  # len(bins) + 1 step edges
    z: np.ndarray  # (layers, bins) log10 of the bin means, NaN where nothing was logged
    note: str = ""


@dataclass(frozen=True)
class Absent:
    title: str
    what_to_log: str


@dataclass(frozen=True)
class RunFigure:
    name: str
    unit: str
    lo: float
    hi: float
    loss: Panel
    spans: tuple[Span, ...]
    marks: tuple[Mark, ...]
    nonfinite: np.ndarray  # steps of NaN/inf losses (thinned)
    panels: tuple[Panel | Heat, ...]  # in drawing order
    absent: tuple[Absent, ...] = ()
    arms: tuple[dict, ...] = ()  # verification arms: arm, tests, outcome, effect
    extra: dict = field(default_factory=dict)


# -- the internals panels: one row per panel, what it shows and what to log for it -------------
@dataclass(frozen=True)
class _PanelDef:
    id: str
    title: str
    signals: tuple[str, ...]  # global series, in drawing order
    per_layer: str | None  # draw <signal>/<layer> lines too
    log: bool | None  # None: by the values' span
    what_to_log: str
    band: tuple[float, float] | None = None
    band_label: str = ""
    heat: bool = False
    share: bool = False


PANELS: tuple[_PanelDef, ...] = (
    _PanelDef("lr", "Learning rate (the schedule)", (S.LR,), "lr", None,
              "the learning rate of every step (lr); lossdoctor.watch records it"),
    _PanelDef("grad_norm", "Gradient norm", (S.GRAD_NORM, "grad_norm_preclip"), None, None,
              "the global gradient norm (grad_norm: what clip_grad_norm_ returns)"),
    _PanelDef("weight_norm", "Weight norm", (S.WEIGHT_NORM,), None, None,
              "the global weight norm (weight_norm)"),
    _PanelDef("update_ratio", "Update/weight ratio", (S.UPDATE_RATIO,), None, True,
              "||w_after - w_before|| / ||w_before|| per step (update_ratio)",
              band=UPDATE_BAND, band_label="healthy ~1e-3"),
    _PanelDef("wd_share", "Weight-decay share of the update", (S.WD_SHARE,), None, False,
              "the share of each update that weight decay contributes (wd_share)", share=True),
    _PanelDef("grad_layers", "Gradient norm per layer (input side at the top)", (), S.GRAD_NORM,
              True, "per-layer gradient norms (grad_norm/<layer>)", heat=True),
    _PanelDef("dead_frac", "Dead ReLU units (share)", (S.DEAD_FRAC,), S.DEAD_FRAC, False,
              "the share of ReLU units that are zero for a whole batch (dead_frac)", share=True),
    _PanelDef("saturation", "Saturated tanh/sigmoid units (share)", (S.SATURATION,), S.SATURATION,
              False, "the share of tanh/sigmoid units in their flat tails (saturation)", share=True),
)


def figure(dx: Diagnosis, arms: Sequence[dict] = ()) -> RunFigure:
    """What to draw for one diagnosis (which must carry its run)."""
    run = dx.run
    if run is None or run.loss is None:
        raise ValueError(f"{dx.source}: the diagnosis carries no run with a loss to draw")
    unit = str(run.meta.get("step_unit") or "step")
    loss = run.loss
    val = run.get(S.VAL_LOSS)
    lo, hi = _range([loss] + ([val] if val is not None else []))

    lines = [_line("loss", loss, "loss")]
    if val is not None:
        lines.append(_line("val_loss", val, "val"))
    arm_info = []
    for arm in arms:
        s = arm.get("series")
        if isinstance(s, Series) and len(s):
            label = f"rerun {arm.get('arm', '?')} ({arm.get('outcome', '?')})"
            lines.append(_line(label, s, "arm", dashed=True))
        arm_info.append({k: arm.get(k) for k in ("arm", "tests", "outcome", "effect", "change")})
    loss_panel = Panel("loss", "Loss", tuple(lines), _is_log([loss] + ([val] if val is not None else [])))

    spans = tuple(Span(s.id, symptom_title(s.id), float(s.start), float(s.end), s.summary,
                       float(s.confidence)) for s in dx.symptoms)
    marks = tuple(_marks(dx, run))
    nonfinite = decimate.nonfinite_steps(loss.steps, loss.values)

    panels: list[Panel | Heat] = []
    absent: list[Absent] = []
    for pd in PANELS:
        drawn = _heat(run, pd) if pd.heat else _panel(run, pd)
        if drawn is None:
            absent.append(Absent(pd.title, pd.what_to_log))
        else:
            panels.append(drawn)
    return RunFigure(run.name, unit, lo, hi, loss_panel, spans, marks, nonfinite, tuple(panels),
                     tuple(absent), tuple(arm_info))


def overlay(dxs: Sequence[Diagnosis]) -> Panel:
    """Every run's training loss on one chart (log scale when they span decades)."""
    lines, series = [], []
    for dx in dxs:
        if dx.run is not None and dx.run.loss is not None:
            lines.append(_line(dx.run.name, dx.run.loss, "loss"))
            series.append(dx.run.loss)
    return Panel("overlay", "Training loss of every run", tuple(lines), _is_log(series))


# -- helpers -----------------------------------------------------------------------------------
def _line(label: str, s: Series, role: str, dashed: bool = False) -> Line:
    steps, values = decimate.minmax(s.steps, s.values)
    return Line(label, steps, values, role, dashed)


def _range(series: Sequence[Series]) -> tuple[float, float]:
    lo = min(float(s.steps[0]) for s in series)
    hi = max(float(s.steps[-1]) for s in series)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return 0.0, 1.0
    return lo, hi if hi > lo else lo + 1.0


def _is_log(series: Sequence[Series]) -> bool:
    vals = [s.values[np.isfinite(s.values)] for s in series]
    vals = [v for v in vals if v.size]
    if not vals:
        return False
    vmin = min(float(v.min()) for v in vals)
    vmax = max(float(v.max()) for v in vals)
    return vmin > 0 and vmax / vmin > LOG_RATIO


def _panel(run: Run, pd: _PanelDef) -> Panel | None:
    found: list[tuple[str, Series]] = [(name, run.get(name)) for name in pd.signals]
    found = [(n, s) for n, s in found if s is not None and np.isfinite(s.values).any()]
    if pd.per_layer:
        layers = [(f"{pd.per_layer}/{k}", s) for k, s in run.layers(pd.per_layer).items()
                  if np.isfinite(s.values).any()]
        note = ""
        if len(layers) > MAX_LAYER_LINES:
            note = f"{MAX_LAYER_LINES} of {len(layers)} layers drawn"
            layers = layers[:MAX_LAYER_LINES]
        found += layers
    else:
        note = ""
    if not found:
        return None
    log = pd.log if pd.log is not None else _is_log([s for _, s in found])
    if log:  # a log axis cannot show zero or negative values: they are left out
        found = [(n, Series(n, s.steps[s.values > 0], s.values[s.values > 0])) for n, s in found]
        found = [(n, s) for n, s in found if len(s)]
        if not found:
            return None
    return Panel(pd.id, pd.title, tuple(_line(n, s, "line") for n, s in found), log, pd.band,
                 pd.band_label, note, pd.share and not log)


def _heat(run: Run, pd: _PanelDef) -> Heat | None:
    layers = {k: s for k, s in run.layers(pd.per_layer).items() if np.isfinite(s.values).any()}
    if not layers:
        return None
    lo = min(float(s.steps[0]) for s in layers.values())
    hi = max(float(s.steps[-1]) for s in layers.values())
    n_steps = max(len(s) for s in layers.values())
    edges = decimate.bin_edges(lo, hi, max(1, min(HEAT_BINS, n_steps)))
    z = np.empty((len(layers), edges.size - 1))
    for i, s in enumerate(layers.values()):
        v = np.where(s.values > 0, s.values, np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            z[i] = np.log10(decimate.bin_means(s.steps, v, edges))
    note = "colour: log10 of the gradient norm, one scale for all layers"
    return Heat(pd.id, pd.title, tuple(layers), edges, z, note)


def _marks(dx: Diagnosis, run: Run) -> list[Mark]:
    """The points the detectors used, read from the symptoms (start, end, details) and, for
    spikes, found again in the series: the largest jumps above the running level in the span."""
    loss, val = run.loss, run.get(S.VAL_LOSS)
    out: list[Mark] = []
    for s in dx.symptoms:
        d = s.details or {}
        if s.id == "plateau_then_drop":
            out.append(Mark(s.end, loss.at(s.end), "plateau ends", S.LOSS))
        elif s.id == "overfitting" and val is not None:
            at = float(d.get("val_min_step", s.start))
            out.append(Mark(at, val.at(at), "validation minimum", S.VAL_LOSS))
        elif s.id == "divergence":
            out.append(Mark(s.start, loss.at(s.start), "lowest point before the rise", S.LOSS))
        elif s.id == "nan_inf":
            fin = loss.finite()
            before = fin.at(s.start) if len(fin) else float("nan")
            out.append(Mark(s.start, before, "first NaN/inf", S.LOSS))
        elif s.id == "generalization_delay" and val is not None:
            out.append(Mark(s.end, val.at(s.end), "validation loss falls", S.VAL_LOSS))
        elif s.id == "spikes":
            n = int(d.get("events", 1) or 1)
            for step in _spike_steps(loss, s.start, s.end, min(n, MAX_SPIKE_MARKS)):
                out.append(Mark(step, loss.at(step), "spike", S.LOSS))
    return [m for m in out if math.isfinite(m.step)]


def _spike_steps(loss: Series, start: float, end: float, k: int) -> list[float]:
    """The ``k`` points in ``[start, end]`` that stand furthest above the loss's running level
    (a median over ~1% of the run), at least a few points apart."""
    st, v = loss.steps, loss.values
    fin = np.isfinite(v)
    st, v = st[fin], v[fin]
    if st.size < 3:
        return []
    inside = np.flatnonzero((st >= start) & (st <= end))
    if inside.size == 0:
        return []
    w = max(3, st.size // 100)
    # the running level: medians of blocks of w points, interpolated back to every point
    nb = st.size // w
    blocks = np.median(v[: nb * w].reshape(nb, w), axis=1) if nb else np.array([np.median(v)])
    centres = st[: nb * w].reshape(nb, w).mean(axis=1) if nb else np.array([st.mean()])
    level = np.interp(st, centres, blocks)
    scale = np.median(np.abs(v - level)) or 1e-12
    score = (v[inside] - level[inside]) / scale
    picked: list[int] = []
    gap = max(2, w // 2)
    for j in np.argsort(-score):
        if score[j] <= 0 or len(picked) >= k:
            break
        i = int(inside[j])
        if all(abs(i - p) > gap for p in picked):
            picked.append(i)
    return sorted(float(st[i]) for i in picked)


__all__ = ["figure", "overlay", "RunFigure", "Panel", "Line", "Span", "Mark", "Heat", "Absent",
           "PANELS", "LOG_RATIO", "HEAT_BINS", "UPDATE_BAND"]
