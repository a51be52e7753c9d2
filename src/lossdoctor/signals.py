"""Names of the series a :class:`~lossdoctor.core.Run` can hold, and the mapping from the
column names people actually log to those names. One place: readers, collectors, detectors and
rules all key on these constants.

Per-layer series are ``<signal>/<layer>``, e.g. ``grad_norm/encoder.0.weight``.
"""

from __future__ import annotations

import re

# -- global series ---------------------------------------------------------------------------
LOSS = "loss"  # training loss (per step or per epoch)
VAL_LOSS = "val_loss"  # validation / eval loss
LR = "lr"  # learning rate (first param group)
GRAD_NORM = "grad_norm"  # global L2 norm of the gradient
WEIGHT_NORM = "weight_norm"  # global L2 norm of the parameters
UPDATE_RATIO = "update_ratio"  # ||delta w|| / ||w|| for one optimizer step
WD_SHARE = "wd_share"  # share of the update that weight decay / L2 contributes (0..1)
REG_LOSS = "reg_loss"  # explicit regularization term added to the loss
DEAD_FRAC = "dead_frac"  # share of ReLU units that are zero for the whole batch
SATURATION = "saturation"  # share of tanh/sigmoid units in their flat tails
INPUT_RMS = "input_rms"  # root mean square of the data reaching the first layer (~1 standardised)
GRAD_STALE = "grad_stale"  # 1: the gradients still held the last step's values at the next backward
GRAD_W_COS = "grad_w_cos"  # cosine of gradient and weights (> 0: something in the loss pulls them in)
OUT_MIN = "out_min"  # smallest value the model returned (its logits)
OUT_MAX = "out_max"  # largest value the model returned
OUT_ROWSUM_DEV = "out_rowsum_dev"  # largest |sum of an output row - 1| (~0: the outputs are probabilities)
ACC = "acc"
VAL_ACC = "val_acc"
EPOCH = "epoch"  # epoch number per step, when a log has both

#: Signals that are stored per layer as ``<signal>/<layer>`` as well as globally.
PER_LAYER = (GRAD_NORM, WEIGHT_NORM, UPDATE_RATIO, DEAD_FRAC, SATURATION, "act_std")

# -- column-name mapping ----------------------------------------------------------------------
# Each alias list is ordered: when a log has several candidates, the first one present wins.
_ALIASES: dict[str, tuple[str, ...]] = {
    LOSS: (
        "loss", "train_loss", "training_loss", "train/loss", "loss/train", "train_loss_step",
        "loss_step", "train/loss_step", "trn_loss", "tr_loss", "train_loss_epoch", "loss_epoch",
        "train/loss_epoch", "train/total_loss", "total_loss", "train_total_loss", "avg_loss",
        "running_loss", "train/loss_total",
    ),
    VAL_LOSS: (
        "val_loss", "eval_loss", "validation_loss", "valid_loss", "val/loss", "eval/loss",
        "loss/val", "loss/valid", "loss/validation", "val_loss_epoch", "valid/loss", "test_loss",
        "dev_loss", "validation/loss", "val/total_loss", "val_loss_step",
    ),
    LR: (
        "lr", "learning_rate", "learningrate", "train/learning_rate", "lr-adam", "lr-adamw",
        "lr-sgd", "lr/pg0", "x/lr0", "lr0", "lr-rmsprop", "lr-adagrad", "train/lr", "lr_0",
    ),
    GRAD_NORM: (
        "grad_norm", "gradient_norm", "train/grad_norm", "grad_2.0_norm_total", "grad_norm_total",
        "global_grad_norm", "gnorm", "grad_l2_norm",
    ),
    WEIGHT_NORM: ("weight_norm", "param_norm", "parameter_norm", "weights_norm", "w_norm"),
    UPDATE_RATIO: ("update_ratio", "update_to_weight", "update/weight", "update_weight_ratio"),
    WD_SHARE: ("wd_share", "weight_decay_share", "decay_share"),
    REG_LOSS: ("reg_loss", "l2_loss", "regularization_loss", "weight_decay_loss", "l2_penalty"),
    DEAD_FRAC: ("dead_frac", "dead_relu", "dead_fraction", "dead_units", "dead_relu_frac"),
    SATURATION: ("saturation", "saturated_frac", "saturation_frac"),
    ACC: ("acc", "accuracy", "train_acc", "train_accuracy", "train/acc", "train/accuracy"),
    VAL_ACC: (
        "val_acc", "val_accuracy", "eval_accuracy", "eval_acc", "valid_acc", "validation_accuracy",
        "val/acc", "test_acc", "test_accuracy",
    ),
}

#: Column names that give the step axis, in order of preference.
STEP_ALIASES = ("global_step", "step", "steps", "iteration", "iter", "it", "trainer/global_step",
                "_step", "batch", "update", "updates", "n_iter", "train/step")
EPOCH_ALIASES = ("epoch", "epochs", "ep")

_LOOKUP = {alias: sig for sig, aliases in _ALIASES.items() for alias in aliases}
_RANK = {alias: i for aliases in _ALIASES.values() for i, alias in enumerate(aliases)}

# Per-layer columns: grad_norm/<layer>, Lightning's grad_2.0_norm/<layer>, grad_norm_<layer>...
_PER_LAYER_RE = re.compile(
    r"^(?P<sig>grad_norm|grad_2(?:\.0)?_norm|gradnorm|weight_norm|param_norm|update_ratio|"
    r"dead_frac|dead_relu|saturation|act_std)[/:](?P<layer>.+)$"
)
_PER_LAYER_CANON = {"grad_2.0_norm": GRAD_NORM, "grad_2_norm": GRAD_NORM, "gradnorm": GRAD_NORM,
                    "param_norm": WEIGHT_NORM, "dead_relu": DEAD_FRAC}


def normalize(raw: str) -> str:
    """Lower-case, trim and unify separators of a raw column name."""
    return raw.strip().strip('"').strip().lower().replace(" ", "_")


def canonical(raw: str) -> str | None:
    """The signal name for a logged column, or ``None`` when it is not one we know.

    >>> canonical("Train Loss"), canonical("eval_loss"), canonical("grad_2.0_norm/fc1.weight")
    ('loss', 'val_loss', 'grad_norm/fc1.weight')
    """
    name = normalize(raw)
    if name in _LOOKUP:
        return _LOOKUP[name]
    m = _PER_LAYER_RE.match(name)
    if m:
        sig = _PER_LAYER_CANON.get(m["sig"], m["sig"])
        return f"{sig}/{_layer_part(raw)}"
    return None


def _layer_part(raw: str) -> str:
    raw = raw.strip()
    for sep in ("/", ":"):
        if sep in raw:
            return raw.split(sep, 1)[1]
    return raw


def alias_rank(raw: str) -> int:
    """Position of a raw name in its signal's alias list (lower is preferred)."""
    return _RANK.get(normalize(raw), 999)


def is_step_column(raw: str) -> bool:
    return normalize(raw) in STEP_ALIASES


def is_epoch_column(raw: str) -> bool:
    return normalize(raw) in EPOCH_ALIASES


def layer_of(name: str) -> tuple[str, str | None]:
    """Split ``grad_norm/fc1.weight`` into ``('grad_norm', 'fc1.weight')``."""
    sig, _, layer = name.partition("/")
    return (sig, layer or None) if sig in PER_LAYER else (name, None)
