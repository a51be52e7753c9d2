"""The arms: one-factor reruns and what each one's outcome says about each cause. One table.

Each :class:`Arm` changes one thing (its ``change`` is applied in the child process by the
monitor, :mod:`lossdoctor.verify.changes`) and says, for every cause it bears on, how the
cause would answer it:

``FIX``
    if this is the cause, the change removes the symptom: the arm fixing it supports the cause,
    and the arm *not* fixing it rules the cause out ("an arm that should have helped and did
    not").
``MAY``
    if this is the cause, the change may remove the symptom (or may not): a fix supports the
    cause, no fix says nothing.
anything else (``NONE``)
    if this were the cause, this change would not remove the symptom: the arm fixing it rules
    the cause out.

Each relation carries its reason; :mod:`lossdoctor.verify.infer` turns the outcomes into
verdicts. ``cost`` orders arms that bear on the same cause (cheapest decisive first); ``needs``
is a check on the baseline's log: an arm whose change the script cannot take (no weight decay to
cut, no Dropout module) is left out before anything runs, with the reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from ..core import Run, Symptom

FIX = "fix"
MAY = "may"
NONE = "none"


def _hp(run: Run, key: str) -> Any:
    return run.hparams.get(key)


def _num(x: Any) -> float | None:
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def _has_decay(run: Run) -> str | None:
    wd = _num(_hp(run, "weight_decay"))
    return "the optimizer has no weight decay" if wd is not None and wd <= 0 else None


def _has_dropout(run: Run) -> str | None:
    p = _num(_hp(run, "dropout"))
    return "the model has no dropout" if p is not None and p <= 0 else None


def _lr_varies(run: Run) -> str | None:
    lr = run.get("lr")
    sched = str(_hp(run, "scheduler") or "").lower()
    if lr is not None and len(lr) >= 2:
        v = lr.finite().values
        if v.size >= 2 and float(v.max()) > 0 and float(v.min()) >= 0.999 * float(v.max()):
            return "the lr was constant: there is no schedule to switch off"
        return None
    if sched in ("", "none", "constant"):
        return "no LR schedule was logged"
    return None


def _plain_sgd(run: Run) -> str | None:
    opt = str(_hp(run, "optimizer") or "").lower()
    mom = _num(_hp(run, "momentum"))
    if opt and opt != "sgd":
        return f"the optimizer is {_hp(run, 'optimizer')}, not plain SGD"
    if mom is not None and mom > 0:
        return "SGD already uses momentum"
    return None


def _activations(run: Run) -> set[str]:
    model = run.meta.get("model") if isinstance(run.meta.get("model"), Mapping) else {}
    names = {str(a.get("type", "")).lower() for a in model.get("activations", []) or [] if isinstance(a, Mapping)}
    act = _hp(run, "activation")
    if isinstance(act, str):
        names |= {a.strip().lower() for a in act.split(",")}
    return names


def _has_saturating(run: Run) -> str | None:
    acts = _activations(run)
    if acts and not any(a in ("tanh", "sigmoid", "hardtanh", "softsign", "hardsigmoid") for a in acts):
        return f"the network has no tanh or sigmoid units ({', '.join(sorted(acts))})"
    return None


def _no_decay_yet(run: Run) -> str | None:
    wd = _num(_hp(run, "weight_decay"))
    return "the optimizer already has weight decay" if wd is not None and wd >= 1e-3 else None


#: The decay the ``decay_on`` arm adds: an L2 coefficient for the coupled optimizers (SGD, Adam,
#: RMSprop), where the penalty's gradient joins the data's.
DECAY_ON = 0.01
#: A decoupled decay (AdamW) shrinks the weights by lr x wd per step whatever the gradient: at an
#: Adam-sized lr, 0.01 is no decay at all (eight of eight AdamW nets memorising a small training
#: set were unmoved by it). It is set so that it could shrink the weights by this share within the
#: arm's steps on its own: 1 - exp(-wd x the sum of the lr).
DECAY_PULL = 0.8


def _decay_strength(run: Run, steps: int) -> Mapping[str, Any] | None:
    """``decay_on``'s change for a decoupled optimizer (see :data:`DECAY_PULL`); None for the
    others (coupled decay at :data:`DECAY_ON`) and when the log gives no lr."""
    if evidence(run, "optimizer") != "adamw":
        return None
    lr = run.get("lr")
    if lr is not None and len(lr):
        v = lr.finite().values
        total = float(np.mean(v)) * max(1, steps) if v.size else 0.0
    else:
        base = evidence(run, "lr")
        total = float(base) * max(1, steps) if base else 0.0
    if not total > 0 or not math.isfinite(total):
        return None
    wd = -math.log(1 - DECAY_PULL) / total
    return {"weight_decay": float(max(DECAY_ON, wd))}


def evidence(run: Run, name: str) -> Any:
    """One fact of the diagnosis's :class:`~lossdoctor.diagnose.evidence.Evidence` about the
    baseline's log (``input_rms``, ``init_scale_measured``, ``lr_vs_default``...), for the checks
    that read what the log says about the script; ``None`` when the log cannot tell."""
    from ..detect import Context
    from ..diagnose.evidence import Evidence

    try:
        return getattr(Evidence(run, Context(run), []), name)
    except Exception:
        return None


def _inputs_not_scaled_yet(run: Run) -> str | None:
    """Standardising data that the monitor saw reach the first layer on a normal scale changes
    little, and a rerun's luck would be read as a data problem."""
    from ..diagnose.causes.data_problem import SCALED_INPUT

    rms = evidence(run, "input_rms")
    if rms is None:
        return None
    lo, hi = SCALED_INPUT
    return (f"the inputs already reach the first layer on a normal scale (root mean square {rms:.2g})"
            if lo <= rms <= hi else None)


#: The shuffle arm runs when the per-step loss's wiggles correlate at least this much with
#: themselves one epoch later: a random order gives about 0. Lower than the diagnosis's own bar
#: (``data_problem.PERIODIC``): the arm is cheap, a no-op on loaders that already shuffle, and
#: decisive (an unshuffled run whose pattern came back at 0.59 went untested at 0.65).
ORDER_SHOWS = 0.3


def _order_shows(run: Run) -> str | None:
    """Batches in the same order every epoch repeat the same loss pattern one epoch later; a
    per-step loss that does not repeat (:attr:`Evidence.epoch_periodicity` under
    :data:`ORDER_SHOWS`) came in a random order, and shuffling it again would only redraw it. A
    log that cannot tell (not per step, too short) keeps the arm."""
    from ..diagnose.evidence import SHARP_MIN_PERIOD

    per = evidence(run, "epoch_periodicity")
    if per is not None and per[0] >= ORDER_SHOWS:
        return None
    loss = run.loss
    if loss is None or len(loss) < 4 * SHARP_MIN_PERIOD or len(loss) != int(loss.steps[-1] - loss.steps[0]) + 1:
        return None
    return ("the per-step loss does not repeat from one epoch to the next" +
            (f" (correlation {per[0]:.2f} one epoch later)" if per is not None else "") +
            ": the batches do not come in the same order every pass")


def _started_small(run: Run) -> str | None:
    """A re-init at the activation's gain tests the saddle of a tiny init; on a net that started
    at a normal scale it only makes the weights larger, which speeds up a run whose lr is too low
    as well (and would read as a saddle)."""
    from ..diagnose.causes.stuck_plateau import SMALL_INIT

    m = evidence(run, "init_scale_measured")
    if m is None:
        return "the log does not show the initial weight scale"
    return None if 0 < m[0] < SMALL_INIT else f"the weights did not start small ({m[0]:.2g}x PyTorch's default)"


#: A layer "started at PyTorch's default scale" when its initial weight std is within this factor
#: of the default's 1/sqrt(3 fan_in) (a redraw of the same scheme lands well inside it).
DEFAULT_INIT_FACTOR = 1.33


def _redraw_only(run: Run) -> str | None:
    """A re-init with PyTorch's default scheme on a net that already started at that scale draws
    new random weights and changes nothing else. That the plateau survives a fresh draw still
    says something (no init-made saddle), but a fix is a seed's luck: a run whose level depends on
    where its first steps took it (an lr decayed early) would read that luck as a fix. Says so
    when every weight matrix started within :data:`DEFAULT_INIT_FACTOR` of the default std and no
    bias larger than the default's (from the monitor's layer table and first weight norms);
    ``None`` whenever the log cannot tell."""
    from .. import signals as S

    model = run.meta.get("model") if isinstance(run.meta.get("model"), Mapping) else {}
    layers = model.get("layers") if isinstance(model, Mapping) else None
    if not isinstance(layers, list) or not layers:
        return None
    norms = run.layers(S.WEIGHT_NORM)
    default: dict[str, float] = {}  # prefix -> PyTorch's default std for that layer
    n_weights = 0
    for layer in layers:
        if not isinstance(layer, Mapping):
            return None
        name, shape = str(layer.get("name", "")), layer.get("shape")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d > 0 for d in shape):
            return None
        if len(shape) < 2:
            continue
        std = layer.get("init_std")
        if not isinstance(std, (int, float)) or not math.isfinite(std):
            return None
        fan_in = math.prod(shape) // shape[0]
        ref = 1.0 / math.sqrt(3 * fan_in)
        if not 1 / DEFAULT_INIT_FACTOR <= std / ref <= DEFAULT_INIT_FACTOR:
            return None
        default[name.rsplit(".", 1)[0]] = ref
        n_weights += 1
    if not n_weights:
        return None
    for layer in layers:
        name, shape = str(layer.get("name", "")), layer.get("shape")
        if len(shape) != 1 or not name.endswith("bias"):
            continue
        ref = default.get(name.rsplit(".", 1)[0])
        s = norms.get(name)
        if ref is None or s is None or not len(s):
            return None  # a constant bias (a std of 0) can be anything: only its norm tells
        rms = float(s.values[0]) / math.sqrt(max(shape[0], 1))
        if not math.isfinite(rms) or rms > DEFAULT_INIT_FACTOR * ref:
            return None
    return ("every layer started at PyTorch's default scale: a re-init only drew new random weights, "
            "and a fresh draw's luck is no fix")


#: An lr that falls below this share of its peak ...
LR_DEAD = 0.1
#: ... within this share of the run has died early.
LR_DEAD_BY = 0.5


def _lr_died_early(run: Run) -> str | None:
    """A schedule that takes the lr to a tenth of its peak in the first half of the run leaves
    the net wherever its first steps took it: a different start ends elsewhere for no other
    reason, and a re-init's lower end is that luck (an early-decaying schedule was "fixed" by a
    redraw of a transformer's weights: 2.06 against the baseline's 2.2, where the dead lr had
    frozen it). Says so from the logged lr; ``None`` when it was not logged or did not die early."""
    lr = run.get("lr")
    if lr is None or len(lr) < 4:
        return None
    s = lr.finite()
    v, st = s.values, s.steps
    if v.size < 4 or not float(v.max()) > 0:
        return None
    top = int(np.argmax(v))
    peak = float(v[top])
    low = np.flatnonzero(v[top:] < LR_DEAD * peak)
    if not low.size:
        return None
    at, first, last = float(st[top + low[0]]), float(st[0]), float(st[-1])
    if last <= first or (at - first) / (last - first) > LR_DEAD_BY:
        return None
    return (f"the lr fell to a tenth of its peak by step {int(at)} of {int(last) + 1}: the run then stays where "
            f"its first steps took it, and a fresh draw's different end is luck, not a fix")


def _redraw_luck(run: Run) -> str | None:
    return _redraw_only(run) or _lr_died_early(run)


#: A schedule warms up when its lr starts below this share of its peak.
WARM_START = 0.5
#: The constant-lr arm of a warm-up runs this many times the steps that, at the peak lr, add up
#: to the lr the baseline had taken by the end of its symptom.
WARM_MARGIN = 1.5


def _past_warmup(run: Run, symptom: Symptom | None, n: int) -> int:
    """Steps for the constant-lr arm of a baseline whose lr warms up. A net at the peak lr from
    step 0 leaves a warm-up's plateau once it has taken about the same sum of lr as the baseline
    had when it left it (a linear warm-up over W steps that the loss leaves at step T has summed
    T^2 / 2W steps' worth of the peak): ``n`` steps can end before that, and its "no change" then
    rules the schedule out wrongly (a warm-up over 77% of the run, left at step 245: the arm
    stopped at 93, where the sum says it would leave; lr x 10 fixed it, and ``lr_too_low``, which
    the log found unlikely, was confirmed). The arm runs :data:`WARM_MARGIN` times that, within
    the baseline's length; ``n`` when the lr does not warm up, is not logged, or the symptom is
    not a plateau that ended (a stall or a slow fall that lasts to the end gives no step at which the
    baseline's lr sum did its work)."""
    if symptom is None or symptom.id != "plateau_then_drop":
        return n
    lr = run.get("lr")
    if lr is None or len(lr) < 4:
        return n
    s = lr.finite()
    st, v = np.asarray(s.steps, float), np.asarray(s.values, float)
    if v.size < 4 or not float(v.max()) > 0:
        return n
    peak = float(v.max())
    if float(v[0]) >= WARM_START * peak or int(np.argmax(v)) == 0:
        return n
    end = min(float(symptom.end), float(st[-1]))
    m = st <= end
    if m.sum() < 2:
        return n
    x, y = st[m], v[m]
    need = float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2) / peak  # the trapezoid rule
    loss = run.loss
    total = int(loss.steps[-1]) + 1 if loss is not None and len(loss) else 0
    return int(min(max(n, math.ceil(WARM_MARGIN * need)), max(n, total)))


@dataclass(frozen=True)
class Arm:
    name: str
    change: Mapping[str, Any]
    title: str
    relations: Mapping[str, tuple[str, str]]  # cause -> (FIX or MAY, why)
    cost: float = 1.0
    needs: Callable[[Run], str | None] | None = field(default=None, compare=False)
    #: the causes this arm is the test of (the first relations unless given): it runs when one
    #: of them is still a candidate; the others only read its outcome.
    own: tuple[str, ...] = ()
    #: the change is a no-op unless its cause is present: the symptom going away is a fix even
    #: when the loss level has not followed yet (see compare.compare)
    exact: bool = False
    #: a follow-up: run only when the arm named here came out ``improved`` (a step that went the
    #: right way but not far enough: the lr was off by more than 10x), or ``no_change`` when the
    #: log puts the lr so far off that a tenfold step could not show it (plan.LR_FAR)
    follows: str = ""
    #: why, for this script, the arm's change is only a redraw of its random state (from the
    #: baseline's log), or None: a ``fixed`` outcome then counts as ``improved`` (luck is no
    #: fix), while ``no_change`` keeps its meaning
    luck: Callable[[Run], str | None] | None = field(default=None, compare=False)
    #: the steps this arm needs, given the baseline's log, its symptom and the planned steps ``n``
    #: (``n`` or more), or None: it runs ``n``
    budget: Callable[[Run, Symptom | None, int], int] | None = field(default=None, compare=False)
    #: the change this script needs, given the baseline's log and the arm's steps, or None: it
    #: takes ``change`` as written
    tune: Callable[[Run, int], Mapping[str, Any] | None] | None = field(default=None, compare=False)

    def relation(self, cause: str) -> str:
        return self.relations.get(cause, (NONE, ""))[0]

    def why(self, cause: str) -> str:
        return self.relations.get(cause, (NONE, ""))[1]

    @property
    def tests(self) -> tuple[str, ...]:
        return self.own or tuple(self.relations)[:1]

    def left_out(self, run: Run) -> str | None:
        """Why this script cannot take the change (from the baseline's log), or None."""
        return self.needs(run) if self.needs is not None else None


ARMS: tuple[Arm, ...] = (
    Arm("zero_grad", {"zero_grad": True}, "zero_grad after every step", {
        "missing_zero_grad": (FIX, "clearing the gradients is the fix itself; for a loop that "
                                   "already clears them the change is a no-op"),
    }, cost=0.5, exact=True),
    Arm("lr_div10", {"lr_scale": 0.1}, "lr / 10", {
        "lr_too_high": (FIX, "a tenth of the lr no longer overshoots"),
        "exploding_gradients": (MAY, "smaller steps slow the growth of the weights that feeds the gradient"),
        "missing_zero_grad": (MAY, "the piled-up gradient moves the weights a tenth as far"),
        "data_problem": (MAY, "smaller steps tame the large gradients of unscaled inputs"),
        "bad_initialization": (MAY, "smaller steps can keep a badly scaled net from blowing up"),
        "regularization_too_strong": (MAY, "a decay applied with a large lr can overshoot as well"),
    }),
    Arm("lr_div100", {"lr_scale": 0.01}, "lr / 100", {
        "lr_too_high": (FIX, "a hundredth of the lr: a tenth was not enough"),
        "exploding_gradients": (MAY, "smaller steps slow the growth of the weights that feeds the gradient"),
        "missing_zero_grad": (MAY, "the piled-up gradient moves the weights a tenth as far"),
        "data_problem": (MAY, "smaller steps tame the large gradients of unscaled inputs"),
        "bad_initialization": (MAY, "smaller steps can keep a badly scaled net from blowing up"),
        "regularization_too_strong": (MAY, "a decay applied with a large lr can overshoot as well"),
    }, follows="lr_div10"),
    Arm("lr_x10", {"lr_scale": 10.0}, "lr x 10", {
        "lr_too_low": (FIX, "ten times the lr moves the weights ten times as far"),
        "stuck_plateau": (MAY, "larger steps leave a saddle sooner"),
        "lr_schedule": (MAY, "a warm-up reaches a working lr ten times sooner"),
        "vanishing_gradients": (MAY, "the starved early layers move ten times as far"),
        "loss_misuse": (MAY, "a larger lr makes up for a squashed gradient"),
        "bad_initialization": (MAY, "larger steps undo a bad scale sooner"),
        "dead_relu": (MAY, "the units still alive learn faster"),
        "data_problem": (MAY, "larger steps can make up for inputs on a small scale"),
    }),
    Arm("lr_x100", {"lr_scale": 100.0}, "lr x 100", {
        "lr_too_low": (FIX, "a hundred times the lr: a tenth was not enough"),
        "stuck_plateau": (MAY, "larger steps leave a saddle sooner"),
        "lr_schedule": (MAY, "a warm-up reaches a working lr ten times sooner"),
        "vanishing_gradients": (MAY, "the starved early layers move ten times as far"),
        "loss_misuse": (MAY, "a larger lr makes up for a squashed gradient"),
        "bad_initialization": (MAY, "larger steps undo a bad scale sooner"),
        "dead_relu": (MAY, "the units still alive learn faster"),
        "data_problem": (MAY, "larger steps can make up for inputs on a small scale"),
    }, follows="lr_x10"),
    Arm("decay_off", {"weight_decay_scale": 0.0}, "weight decay off", {
        "regularization_too_strong": (FIX, "without the decay nothing pulls the weights back"),
    }, needs=_has_decay),
    Arm("dropout_off", {"dropout": 0.0}, "dropout off", {
        "regularization_too_strong": (FIX, "without dropout the net uses all its units"),
    }, needs=_has_dropout),
    Arm("reinit", {"reinit": "default"}, "re-init (PyTorch default)", {
        "bad_initialization": (FIX, "the default scale removes what a wrong scale did"),
        "stuck_plateau": (FIX, "a saddle that comes from the init is left at the standard scale"),
        "dead_relu": (MAY, "fresh biases revive units that were dead from the start"),
        "vanishing_gradients": (MAY, "a fresh scale can let the gradient through"),
        "exploding_gradients": (MAY, "a fresh scale can stop an init-driven blow-up"),
    }, cost=1.1, own=("bad_initialization", "stuck_plateau"), luck=_redraw_luck),
    Arm("reinit_gain", {"reinit": "gain"}, "re-init (Kaiming / Xavier at the activation's gain)", {
        "stuck_plateau": (FIX, "a deep net started near zero leaves the saddle at a scale made for its depth "
                               "(PyTorch's default is itself small for deep nets)"),
        "bad_initialization": (MAY, "a scale made for the activation removes what a wrong scale did"),
        "vanishing_gradients": (MAY, "a scale made for the activation lets the gradient through"),
        "dead_relu": (MAY, "biases at 0 and a fresh scale revive units that were dead from the start"),
        "exploding_gradients": (MAY, "a fresh scale can stop an init-driven blow-up"),
    }, cost=1.2, own=("stuck_plateau",), needs=_started_small),
    Arm("clip", {"clip": 1.0}, "clip grad norm at 1", {
        "exploding_gradients": (FIX, "clipping bounds every step whatever the gradient does"),
        "lr_too_high": (MAY, "bounded steps overshoot less"),
        "missing_zero_grad": (MAY, "the piled-up gradient is bounded"),
        "bad_initialization": (MAY, "bounded steps survive a badly scaled start"),
        "data_problem": (MAY, "bounded steps tame the gradients of unscaled inputs"),
    }),
    Arm("constant_lr", {"constant_lr": True}, "constant lr (no schedule)", {
        "lr_schedule": (FIX, "without the schedule the base lr sets the pace from the start"),
        "lr_too_low": (MAY, "a decayed lr is low; held at its peak it is not"),
        "stuck_plateau": (MAY, "the full lr from the first step leaves a saddle sooner"),
    }, needs=_lr_varies, budget=_past_warmup),
    Arm("momentum", {"momentum": 0.9}, "momentum 0.9", {
        "stuck_plateau": (MAY, "momentum carries the weights across a flat region"),
        "lr_too_low": (MAY, "momentum multiplies the effective step about ten times"),
    }, cost=1.2, needs=_plain_sgd),
    Arm("bias_zero", {"reinit": "bias"}, "biases set to 0", {
        "dead_relu": (FIX, "units held below zero by their bias come back (units killed by large "
                           "steps later are the lr's doing: lr_too_high)"),
        "bad_initialization": (MAY, "a bad bias init is undone"),
        "lr_too_high": (MAY, "biases that oversized steps pushed below zero are reset too (the lr may push "
                             "them there again, later)"),
    }, cost=0.9),
    Arm("relu", {"activation": "relu"}, "tanh/sigmoid -> ReLU (Kaiming init)", {
        "vanishing_gradients": (MAY, "ReLU passes the gradient back unsquashed"),
        "data_problem": (MAY, "units driven into saturation by large inputs come back"),
        "bad_initialization": (MAY, "units saturated by a large init come back"),
        # the swap re-initialises every layer at the ReLU gain: what a re-init cures, it may cure
        "stuck_plateau": (MAY, "the Kaiming re-init that comes with the swap leaves a saddle of a tiny init"),
        "dead_relu": (MAY, "the re-init sets every bias to 0"),
        "exploding_gradients": (MAY, "a fresh scale can stop an init-driven blow-up"),
        # Jena's decay-held tanh net, swapped to ReLU at the Kaiming scale, left its plateau in 42
        # steps (the baseline: 991): unsquashed units at a larger scale pull harder than the decay
        "regularization_too_strong": (MAY, "unsquashed units at a larger scale pass a gradient strong enough "
                                           "to pull the weights out against the penalty"),
    }, cost=1.2, needs=_has_saturating),
    Arm("standardize", {"standardize": True}, "standardise inputs", {
        "data_problem": (MAY, "inputs on wildly different scales are put on one"),
    }, needs=_inputs_not_scaled_yet),
    Arm("shuffle", {"shuffle": True}, "data shuffled every epoch", {
        "data_problem": (MAY, "batches in a fixed (label-sorted) order pull the net back and forth every "
                              "epoch; a random order does not (other data problems stay)"),
    }, exact=True, needs=_order_shows),
    Arm("logits", {"logits": True}, "logits into the loss", {
        "loss_misuse": (FIX, "the loss gets the logits it expects"),
    }, cost=0.8),
    Arm("decay_on", {"weight_decay": DECAY_ON}, "weight decay on (0.01; AdamW: scaled to the lr)", {
        "insufficient_regularization": (MAY, "decay holds back the weights that memorise"),
    }, needs=_no_decay_yet, tune=_decay_strength),
)

BY_NAME: dict[str, Arm] = {a.name: a for a in ARMS}


def arms_for(cause: str) -> list[Arm]:
    """The arms that test ``cause``: decisive (FIX) ones first, then by cost."""
    arms = [a for a in ARMS if cause in a.tests]
    return sorted(arms, key=lambda a: (a.relation(cause) != FIX, a.cost))


__all__ = ["Arm", "ARMS", "BY_NAME", "FIX", "MAY", "NONE", "arms_for", "evidence"]
