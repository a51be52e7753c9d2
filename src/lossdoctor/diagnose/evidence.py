"""Evidence: the facts about a run that the rules reason with, each computed once and each
``None`` when the run did not log what it needs (the rule then says what to log).

Internals are summarised over the *window of interest*: the plateau for a plateau-then-drop,
the whole run otherwise, so that a late recovery does not hide what held the loss back.
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import Any

import numpy as np

from .. import signals as S
from ..core import Run, Series, Symptom
from ..detect import Context

#: Learning rates below ``low`` are small for the optimizer, above ``high`` large (rules of thumb:
#: SGD 0.01-0.1 for small nets; Adam's default 1e-3, fine-tuning 1e-5..1e-4).
TYPICAL_LR = {
    "sgd": (5e-3, 2.0),  # effective lr, lr / (1 - momentum): 0.1 with momentum 0.9 is 1.0
    "adam": (1e-5, 1e-2),
    "adamw": (1e-5, 1e-2),
    "rmsprop": (1e-5, 1e-2),
    "adagrad": (1e-4, 1.0),
}
#: Without a known optimizer, these bounds flag only what is extreme for any of them.
TYPICAL_LR_UNKNOWN = (1e-5, 1.0)
#: The rates people start from (PyTorch's and the frameworks' defaults; SGD's as an effective rate:
#: 0.01 with momentum 0.9, or 0.1 plain): inside the wide usual range, a rate 10x below (or 5x
#: above) its default is worth a line.
DEFAULT_LR = {"sgd": 0.1, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3, "adagrad": 1e-2}


#: "Nothing learnt carries over": the training loss fell by this share of its start while the
#: validation loss never improved by more than VAL_GAIN on its start (or on chance).
TRAIN_FELL = 0.3
VAL_GAIN = 0.03
#: A classifier whose validation loss turned up while its training loss was still this share of
#: chance or more had not fit its training set before it began to memorise (see
#: ``Evidence.turned_before_fit``).
FIT_SHARE = 0.75
FIT_CEILING = 1.5
#: Output rows within this distance of summing to 1 (float32 softmax rounding is ~1e-6) are
#: probabilities.
PROB_ROWSUM_TOL = 1e-3
#: Long internal series are reduced to this many bin medians before fitting trends.
THIN_TO = 2000


def thin(s: Series, n: int = THIN_TO) -> Series:
    """Bin medians of a long series (a trend fit on 1M points costs more than it tells)."""
    m = len(s) // n
    if m <= 1:
        return s
    k = (len(s) // m) * m
    return Series(s.name, s.steps[:k].reshape(-1, m)[:, m // 2],
                  np.median(s.values[:k].reshape(-1, m), axis=1))


#: Searching a per-step loss for a repeating pattern (FFT autocorrelation) up to this length.
PERIOD_MAX_POINTS = 200_000
#: Without a known epoch length (see ``Evidence._sharp_period``): the shortest period looked
#: for, the correlation the wiggles must reach at it (and nearly again at twice it), and how far
#: above its neighbouring lags.
SHARP_MIN_PERIOD = 4
PERIODIC_SHARP = 0.5
SHARP_MARGIN = 0.25


class Evidence:
    def __init__(self, run: Run, cx: Context, symptoms: list[Symptom]):
        self.run = run
        self.cx = cx
        self.symptoms = symptoms
        self.ids = {s.id for s in symptoms}
        self.hp: dict[str, Any] = dict(run.hparams)

    # -- symptoms and the window of interest -----------------------------------------------
    def sym(self, sid: str) -> Symptom | None:
        return next((s for s in self.symptoms if s.id == sid), None)

    @cached_property
    def window(self) -> tuple[float, float]:
        """Steps where the loss was held back: the plateau, or the whole run."""
        c = self.cx.loss
        if c is None:
            return (0.0, 0.0)
        ptd = self.sym("plateau_then_drop")
        if ptd is not None:
            return (c.first_step, float(ptd.end))
        return (c.first_step, c.last_step)

    @property
    def after_window(self) -> tuple[float, float] | None:
        ptd = self.sym("plateau_then_drop")
        c = self.cx.loss
        return (float(ptd.end), c.last_step) if ptd is not None and c is not None else None

    # -- series access ---------------------------------------------------------------------
    def series(self, name: str) -> Series | None:
        s = self.run.get(name)
        if s is None:
            return None
        s = s.finite()
        return s if len(s) else None

    def has(self, name: str) -> bool:
        return self.series(name) is not None

    def median(self, name: str, window: tuple[float, float] | None = None) -> float | None:
        s = self.series(name)
        if s is None:
            return None
        lo, hi = window or self.window
        m = (s.steps >= lo) & (s.steps <= hi)
        v = s.values[m] if m.any() else s.values
        return float(np.median(v))

    # -- hyper-parameters ------------------------------------------------------------------
    @cached_property
    def optimizer(self) -> str | None:
        """The optimizer's family, from the hyper-parameters, else the framework's default that the
        reader knows (the Hugging Face Trainer's AdamW)."""
        opt = self.hp.get("optimizer")
        if not isinstance(opt, str):
            opt = self.run.meta.get("default_optimizer")
        if not isinstance(opt, str):
            return None
        o = opt.lower()
        for k in ("adamw", "adam", "sgd", "rmsprop", "adagrad"):
            if k in o:
                return k
        return o

    @cached_property
    def lr(self) -> float | None:
        """The base learning rate: the lr series' maximum (what the schedule peaks at), else the
        hyper-parameter."""
        s = self.series(S.LR)
        if s is not None:
            return float(np.max(s.values))
        v = self.hp.get("lr")
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    @cached_property
    def lr_bounds(self) -> tuple[float, float]:
        return TYPICAL_LR.get(self.optimizer or "", TYPICAL_LR_UNKNOWN)

    @cached_property
    def lr_eff(self) -> float | None:
        """The step size SGD really takes: momentum m multiplies it by 1/(1-m)."""
        if self.lr is None:
            return None
        m = self.hp_float("momentum") if self.optimizer == "sgd" else None
        return self.lr / (1 - m) if m is not None and 0 <= m < 1 else self.lr

    @property
    def lr_text(self) -> str:
        if self.lr is None:
            return "?"
        from .causes._util import g

        return g(self.lr) + (f" (effective {g(self.lr_eff)} with momentum)" if self.lr_eff != self.lr else "")

    @property
    def lr_default(self) -> float | None:
        return DEFAULT_LR.get(self.optimizer or "")

    @property
    def lr_vs_default(self) -> float | None:
        """The (effective) lr over its optimizer's common default, when both are known."""
        d = self.lr_default
        return None if d is None or self.lr_eff is None else self.lr_eff / d

    @property
    def lr_low(self) -> bool | None:
        return None if self.lr_eff is None else self.lr_eff < self.lr_bounds[0]

    @property
    def lr_high(self) -> bool | None:
        return None if self.lr_eff is None else self.lr_eff > self.lr_bounds[1]

    def hp_float(self, key: str) -> float | None:
        v = self.hp.get(key)
        if isinstance(v, bool):
            return None
        if isinstance(v, (int, float)):
            return float(v)
        if isinstance(v, (list, tuple)) and v and all(isinstance(x, (int, float)) for x in v):
            return float(max(v))
        return None

    # -- the loss --------------------------------------------------------------------------
    @property
    def n_classes(self) -> int | None:
        return self.cx.n_classes

    @property
    def chance(self) -> float | None:
        """Cross-entropy of a uniform guess, ln(C): where a fresh classifier starts."""
        return self.cx.chance

    @cached_property
    def loss0(self) -> float | None:
        """The first finite loss the log holds, as written (a later jump must not pass for the
        starting loss)."""
        s = self.series(S.LOSS)
        return float(s.values[0]) if s is not None else None

    @cached_property
    def early_jump(self) -> float:
        """The highest raw loss in the first 10% of the run over the first loss (1.0 when it never
        rose above it): a step that overshoots from the start throws the loss up at once, before
        any smoothing could see it (2.3 -> 12.4 at step 1, then flat)."""
        s = self.series(S.LOSS)
        if s is None or len(s) < 2 or not s.values[0] > 0:
            return 1.0
        span = s.steps[-1] - s.steps[0]
        early = s.values[s.steps <= s.steps[0] + 0.1 * span]
        return float(max(early.max(), s.values[0]) / s.values[0])

    @cached_property
    def plateau_level(self) -> float | None:
        ptd = self.sym("plateau_then_drop")
        if ptd is not None:
            return float(ptd.details.get("plateau_level", self.cx.loss.start))
        return self.cx.loss.start if self.cx.loss is not None and self.cx.loss.n else None

    def max_window_rise(self, upto: float = 1.0) -> float:
        """Largest rise of the smoothed loss between consecutive windows of 5% of the run,
        relative to its level (what a too-high lr would make large), over the run up to
        position ``upto``."""
        c = self.cx.loss
        ys = c.ys[c.pos <= upto + 1e-9]
        k = max(1, c.ys.size // 20)
        w = ys[: (ys.size // k) * k].reshape(-1, k).mean(axis=1)
        if w.size < 2:
            return 0.0
        rises = (w[1:] - w[:-1]) / np.maximum(np.abs(w[:-1]), 1e-12)
        return float(max(rises.max(), 0.0))

    # -- internals -------------------------------------------------------------------------
    @cached_property
    def update_ratio(self) -> float | None:
        return self.median(S.UPDATE_RATIO)

    @cached_property
    def wd_share(self) -> float | None:
        return self.median(S.WD_SHARE)

    @cached_property
    def grad_growth(self) -> float | None:
        """How much the gradient norm grew from the plateau to after it (the escape from a
        saddle goes with a burst of gradient)."""
        s = self.series(S.GRAD_NORM)
        aw = self.after_window
        if s is None or aw is None:
            return None
        before = self.median(S.GRAD_NORM)
        after_mask = (s.steps >= aw[0]) & (s.steps <= aw[1])
        if not after_mask.any() or not before:
            return None
        after = s.values[after_mask]
        k = max(1, after.size // 10)
        peak = float(np.max(np.convolve(after, np.ones(k) / k, mode="valid")))
        return peak / before

    @cached_property
    def weight_change(self) -> float | None:
        """Weight norm at the end of the window over its start."""
        s = self.series(S.WEIGHT_NORM)
        if s is None:
            return None
        lo, hi = self.window
        m = (s.steps >= lo) & (s.steps <= hi)
        v = s.values[m] if m.sum() >= 2 else s.values
        k = max(1, v.size // 10)
        a, b = float(np.median(v[:k])), float(np.median(v[-k:]))
        return b / a if a > 0 else None

    @cached_property
    def weight_collapse(self) -> float | None:
        """Weight norm at the end of the run over its start (1.0: unchanged; 0.02: collapsed)."""
        s = self.series(S.WEIGHT_NORM)
        if s is None or len(s) < 4:
            return None
        k = max(1, len(s) // 20)
        a, b = float(np.median(s.values[:2])), float(np.median(s.values[-k:]))
        return b / a if a > 0 else None

    @cached_property
    def decay_pull(self) -> float | None:
        """The share by which weight decay alone could have shrunk the weights over the whole run,
        ``1 - exp(-wd * sum of the effective lr over the steps)``: SGD's coupled decay moves each
        weight by ``lr * wd * w`` a step (``/(1 - momentum)`` with momentum), AdamW's decoupled
        decay by ``lr * wd * w``. ``None`` where it cannot be told (Adam, RMSprop and Adagrad scale
        a coupled decay by the gradient's history; no lr, no decay or no step count)."""
        wd = self.hp_float("weight_decay")
        opt = self.optimizer
        if not wd or wd <= 0 or opt not in ("sgd", "adamw"):
            return None
        c = self.cx.loss
        if c is None or not c.n:
            return None
        if self.run.meta.get("step_unit", "step") != "step":
            return None
        s = self.series(S.LR)
        n_steps = float(c.last_step - c.first_step + 1)
        if s is not None and len(s) >= 2:
            v, st = s.values, s.steps
            total = float(np.sum((v[1:] + v[:-1]) * 0.5 * np.diff(st))) + float(v[0])
            total *= n_steps / max(float(s.steps[-1] - s.steps[0] + 1), 1.0)
        elif self.lr is not None:
            total = self.lr * n_steps
        else:
            return None
        if opt == "sgd" and self.lr_eff and self.lr:
            total *= self.lr_eff / self.lr
        return float(1 - math.exp(-wd * total))

    @cached_property
    def wd_share_peak(self) -> float | None:
        """Highest weight-decay share over any tenth of the run (decay can win early, then the
        collapsed weights leave it nothing to do)."""
        s = self.series(S.WD_SHARE)
        if s is None:
            return None
        v = thin(s).values
        k = max(1, v.size // 10)
        return float(np.max(np.convolve(v, np.ones(k) / k, mode="valid")))

    @cached_property
    def grad_accumulation(self) -> tuple[float, float] | None:
        """(gradient norm late / at the first step, median step-to-step change of its log) from
        per-step gradient norms. Gradients that are never cleared are a running sum: the norm
        climbs far above a single batch's and then changes only a little each step."""
        s = self.series(S.GRAD_NORM)
        if s is None or len(s) < 20 or s.values[0] <= 0:
            return None
        # between logged points (every step or every k: fresh batches differ as much either way,
        # while a running sum over hundreds of steps moves little even k steps apart)
        lv = np.log(np.maximum(s.values, 1e-30))
        change = float(np.median(np.abs(np.diff(lv))))
        late = float(np.median(s.values[len(s) // 2:]))
        return late / float(s.values[0]), change

    @cached_property
    def epoch_periodicity(self) -> tuple[float, int] | None:
        """Correlation of the loss's step-to-step wiggles with themselves one epoch later: batches
        that come in the same order every epoch (unshuffled data) repeat the same pattern."""
        s = self.series(S.LOSS)
        if s is None or len(s) < 40 or len(s) > PERIOD_MAX_POINTS or not np.all(np.diff(s.steps) == 1):
            return None
        x = s.values
        period = self.steps_per_epoch
        if period is None:
            return self._sharp_period(x)
        if period < 4 or len(s) < 3 * period:
            return None
        k = max(3, period // 4) | 1
        from ..detect.curve import running_median

        resid = x - running_median(x, k) if x.size > k else x - x.mean()
        a, b = resid[:-period], resid[period:]
        if a.std() == 0 or b.std() == 0:
            return None
        return float(np.corrcoef(a, b)[0, 1]), period

    @staticmethod
    def _sharp_period(x: np.ndarray) -> tuple[float, int] | None:
        """Without a known epoch length: the lag at which the loss's step-to-step wiggles repeat
        exactly, and only there. A fixed batch order repeats every batch's loss one epoch later
        (a correlation at lag P far above the one at P-1 and P+1, and again at 2P); a healthy
        run's slow wiggles correlate at every nearby lag alike, and two early spikes at no
        second multiple. ``(correlation at P, P)`` or ``None``."""
        n = x.size
        if n < 4 * SHARP_MIN_PERIOD:
            return None
        resid = np.diff(x)  # wiggles: the trend and slow drifts gone
        resid = resid - resid.mean()
        m = resid.size
        f = np.fft.rfft(resid, 2 * m)
        ac = np.fft.irfft(f * np.conj(f))[:m]
        if not ac[0] > 0:
            return None
        ac = ac / (ac[0] * (m - np.arange(m)) / m)  # unbiased: each lag by its overlap
        top = m // 4
        if top <= SHARP_MIN_PERIOD + 1:
            return None
        lags = np.arange(SHARP_MIN_PERIOD, top)
        best = float(np.max(ac[lags]))
        # the shortest lag that repeats as well as the best one (its multiples repeat too)
        for p in lags[ac[lags] >= max(PERIODIC_SHARP, best - SHARP_MARGIN)]:
            p = int(p)
            r = float(ac[p])
            beside = max(float(ac[p - 1]), float(ac[p + 1]))
            again = float(ac[2 * p]) if 2 * p < m else 0.0
            if r - beside >= SHARP_MARGIN and again >= PERIODIC_SHARP - SHARP_MARGIN:
                return min(r, 1.0), p
        return None

    @cached_property
    def steps_per_epoch(self) -> int | None:
        v = self.run.meta.get("steps_per_epoch") or self.hp.get("steps_per_epoch")
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 1:
            return int(v)
        ep = self.series(S.EPOCH)
        if ep is not None and len(ep) > 10:
            changes = np.flatnonzero(np.diff(np.floor(ep.values)) > 0)
            if changes.size >= 2:
                return int(np.median(np.diff(ep.steps[changes])))
        return None

    @cached_property
    def n_weight_layers(self) -> int:
        return sum(1 for k in self.run.layers(S.GRAD_NORM) if "bias" not in k)

    @cached_property
    def first_saturation(self) -> tuple[float, str] | None:
        """Median saturation of the first tanh/sigmoid layer (the one nearest the input) over the
        first 5% of the run: huge inputs saturate it from the first step on (a too-high lr only
        later)."""
        layers = self.run.layers(S.SATURATION)
        if not layers:
            return None
        name, s = next(iter(layers.items()))
        s = s.finite()
        if not len(s):
            return None
        early = s.values[s.steps <= s.steps[0] + 0.05 * (s.steps[-1] - s.steps[0])]
        return float(np.median(early if early.size else s.values[:1])), name

    @cached_property
    def init_scale_measured(self) -> tuple[float, int] | None:
        """(median over weight layers of the initial weight std / PyTorch's default one, number of
        layers) from the log's model description. PyTorch's default for Linear and Conv layers,
        ``kaiming_uniform_(a=sqrt(5))``, draws U(+-1/sqrt(fan_in)): std 1/sqrt(3 fan_in). Standard
        schemes sit near it or above (Kaiming normal ~2.4x, Xavier ~1-2x for square layers). The
        initial std comes from the monitor's ``init_std``, or from the first logged per-layer
        weight norm over sqrt(number of weights)."""
        model = self.run.meta.get("model")
        layers = model.get("layers") if isinstance(model, dict) else None
        if not isinstance(layers, list):
            return None
        norms = self.run.layers(S.WEIGHT_NORM)
        ratios = []
        for layer in layers:
            if not isinstance(layer, dict):
                continue
            name, shape, kind = str(layer.get("name", "")), layer.get("shape"), str(layer.get("type", ""))
            if kind and not kind.startswith(("Linear", "Conv")):
                continue
            if not kind and not name.endswith("weight"):
                continue
            if not isinstance(shape, list) or len(shape) < 2 or not all(isinstance(d, int) and d > 0 for d in shape):
                continue
            n = math.prod(shape)
            fan_in = n // shape[0]
            std = layer.get("init_std")
            if not isinstance(std, (int, float)):
                s = norms.get(name if name.endswith("weight") else f"{name}.weight")
                std = float(s.values[0]) / math.sqrt(n) if s is not None and len(s) else None
            if std is not None and math.isfinite(std) and std > 0:
                ratios.append(std * math.sqrt(3 * fan_in))
        return (float(np.median(ratios)), len(ratios)) if ratios else None

    @cached_property
    def init_is_default(self) -> bool | None:
        """Whether the weights started at the framework's default scale (from hparams)."""
        scale = self.hp_float("init_scale")
        if scale is not None:
            return abs(scale - 1.0) < 1e-9
        init = self.hp.get("init")
        if isinstance(init, str):
            s = init.lower()
            return any(k in s for k in ("default", "kaiming", "xavier", "glorot", "he_")) and " x" not in s
        return None

    @cached_property
    def n_outputs(self) -> int | None:
        """The model's output size, from the monitor's model summary."""
        model = self.run.meta.get("model")
        v = model.get("n_outputs") if isinstance(model, dict) else None
        return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 1 else None

    @cached_property
    def last_module(self) -> str | None:
        model = self.run.meta.get("model")
        layers = model.get("layers") if isinstance(model, dict) else None
        if isinstance(layers, list) and layers and isinstance(layers[-1], dict):
            return str(layers[-1].get("type") or "") or None
        return None

    @cached_property
    def grad_stats(self) -> dict[str, float] | None:
        """Gradient-norm growth: end/start, max/median, and the power-law exponent of its growth
        (about 1 when gradients pile up step after step, as without zero_grad)."""
        s = self.series(S.GRAD_NORM)
        if s is None or len(s) < 8:
            return None
        s = thin(s)
        v = np.maximum(s.values, 1e-30)
        k = max(2, v.size // 10)
        first, last = float(np.median(v[:k])), float(np.median(v[-k:]))
        med = float(np.median(v))
        t = s.steps - s.steps[0] + 1.0
        sel = t >= max(2.0, float(t[-1]) * 0.05)
        exponent, r = float("nan"), 0.0
        if sel.sum() >= 5:
            lx, ly = np.log(t[sel]), np.log(v[sel])
            if np.std(lx) > 0 and np.std(ly) > 0:
                exponent = float(np.polyfit(lx, ly, 1)[0])
                r = float(np.corrcoef(lx, ly)[0, 1])
        # peaks are judged against the typical gradient early on as well: late in a run that fits
        # its data the median gradient is tiny, and any batch looks like a burst next to it
        early = float(np.median(v[: max(2, v.size // 5)]))
        ref = max(med, early)
        return {"first": first, "last": last, "growth": last / first if first > 0 else math.inf,
                "peak": float(v.max()) / ref if ref > 0 else math.inf, "exponent": exponent, "r": r}

    @cached_property
    def layer_grad_ratio(self) -> tuple[float, str, str] | None:
        """Median gradient norm of the first weight layer over that of the last (input side over
        output side), from per-layer gradient norms in logged order."""
        layers = {k: v for k, v in self.run.layers(S.GRAD_NORM).items() if "bias" not in k}
        if len(layers) < 2:
            return None
        names = list(layers)
        lo, hi = self.window
        def med(s: Series) -> float:
            m = (s.steps >= lo) & (s.steps <= hi)
            v = s.values[m] if m.any() else s.values
            v = v[np.isfinite(v)]
            return float(np.median(v)) if v.size else float("nan")
        first, last = med(layers[names[0]]), med(layers[names[-1]])
        if not (first >= 0 and last > 0):
            return None
        return first / last, names[0], names[-1]

    @cached_property
    def dead_frac(self) -> tuple[float, str] | None:
        """Largest dead-unit share over the second half of the run, globally or in one layer."""
        cands = {}
        g = self.series(S.DEAD_FRAC)
        if g is not None:
            cands["all ReLU layers"] = g
        for k, s in self.run.layers(S.DEAD_FRAC).items():
            s = s.finite()
            if len(s):
                cands[k] = s
        if not cands:
            return None
        best = max(((float(np.median(s.values[len(s) // 2:])), k) for k, s in cands.items()))
        return best

    @cached_property
    def saturation(self) -> float | None:
        return self.median(S.SATURATION)

    @cached_property
    def input_rms(self) -> float | None:
        """Root mean square of the data reaching the first layer, median over the run (the
        monitor's ``input_rms``): ~1 for standardised inputs, tens to thousands for raw ones."""
        s = self.series(S.INPUT_RMS)
        return float(np.median(s.values)) if s is not None else None

    @cached_property
    def val_never_learned(self) -> tuple[float, float, float] | None:
        """(validation loss at its start, its best sustained level, the training loss's fall as a
        share of its start) when nothing learnt from the training labels carries over to held-out
        data, as with shuffled or misaligned labels: for a classifier, the validation loss never
        went more than :data:`VAL_GAIN` below chance (ln C) while the training loss did; else,
        the training loss fell by at least :data:`TRAIN_FELL` while the validation loss never went
        more than :data:`VAL_GAIN` below where it started. ``None`` otherwise."""
        c, v = self.cx.loss, self.cx.val
        if c is None or v is None or v.n < 4 or not c.start > 0:
            return None
        fell = 1 - c.end / c.start
        v0 = float(np.median(v.values[:2]))
        ch = self.chance
        if ch:  # a classifier: the validation loss never got below a uniform guess, while the
            # training loss did (something was learnt, and it does not carry over)
            if v.best >= (1 - VAL_GAIN) * ch and c.end < (1 - VAL_GAIN) * min(v.best, ch) and fell > 0:
                return v0, float(v.best), float(fell)
            return None
        if fell >= TRAIN_FELL and v0 > 0 and v.best >= (1 - VAL_GAIN) * v0:
            return v0, float(v.best), float(fell)
        return None

    @cached_property
    def turned_before_fit(self) -> tuple[float, float, float] | None:
        """(the step the validation loss turned up, the training loss there, that loss over
        chance ln C) when a classifier's validation loss turned up (``overfitting``) while its
        training loss was still at :data:`FIT_SHARE` of chance or more (and at most
        :data:`FIT_CEILING` of it). A net that memorises
        clean labels fits what generalises first, and its training loss is far below chance by
        the time the validation loss turns; one that starts memorising before it has fit the
        training set meets training labels it cannot predict from the inputs (noisy labels).
        ``None`` otherwise."""
        o, ch = self.sym("overfitting"), self.chance
        s = self.series(S.LOSS)
        if o is None or not ch or s is None or len(s) < 10:
            return None
        at = float(o.start)
        k = int(np.searchsorted(s.steps, at, side="right"))
        w = s.values[max(0, k - max(5, len(s) // 20)):k]
        w = w[np.isfinite(w)]
        if w.size < 3:
            return None
        level = float(np.median(w))
        # far above chance is a net predicting confidently wrong (a bad init, a blow-up), not one
        # that meets labels it cannot fit
        return (at, level, level / ch) if FIT_SHARE * ch <= level <= FIT_CEILING * ch else None

    @cached_property
    def outputs(self) -> dict[str, float] | None:
        """What the model returned, from the monitor's output samples: ``probs`` the share of
        samples whose outputs were probabilities (non-negative rows summing to 1: a softmax
        applied inside the model), ``unit`` the share that lay within [0, 1], ``n`` samples."""
        lo, hi, dev = (self.series(k) for k in (S.OUT_MIN, S.OUT_MAX, S.OUT_ROWSUM_DEV))
        if lo is None or hi is None or dev is None or len(lo) != len(hi) or len(lo) != len(dev):
            return None
        probs = (lo.values >= 0) & (dev.values <= PROB_ROWSUM_TOL)
        unit = (lo.values >= 0) & (hi.values <= 1)
        return {"probs": float(np.mean(probs)), "unit": float(np.mean(unit)), "n": float(len(lo))}

    @cached_property
    def grad_stale(self) -> tuple[float, int] | None:
        """(share of checks, number of checks) where the gradients still held the previous
        step's values when the next backward pass began (``optimizer.zero_grad()`` not called in
        between), from the monitor's ``grad_stale``."""
        s = self.series(S.GRAD_STALE)
        if s is None:
            return None
        return float(np.mean(s.values >= 0.5)), len(s)

    @cached_property
    def lr_shape(self) -> dict[str, float] | None:
        """The lr schedule in a few numbers: start, peak and end relative to the peak, where the
        peak is reached and when the lr first falls under 1% of it."""
        s = self.series(S.LR)
        if s is None or len(s) < 3:
            return None
        v, st = s.values, s.steps
        peak = float(v.max())
        if peak <= 0:
            return None
        span = max(float(st[-1] - st[0]), 1e-12)
        i_peak = int(np.argmax(v >= 0.95 * peak))
        low = np.flatnonzero((v < 0.01 * peak) & (np.arange(v.size) > i_peak))
        return {
            "start": float(v[0]) / peak, "end": float(v[-1]) / peak, "peak": peak,
            "peak_pos": float(st[i_peak] - st[0]) / span,
            "low_pos": float(st[low[0]] - st[0]) / span if low.size else 1.0,
            "constant": float(v.min()) >= 0.9 * peak,
        }
