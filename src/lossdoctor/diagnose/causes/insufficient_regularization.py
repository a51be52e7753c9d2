"""``insufficient_regularization``: the model memorises the training set."""

from __future__ import annotations

from ._util import g

ID = "insufficient_regularization"
TITLE = "not enough regularization (memorisation)"
PRODUCES = {
    "overfitting": "a model free to memorise keeps lowering the training loss while the validation loss rises",
    "generalization_delay": "memorisation first, generalization only once regularization slowly wins",
}
FIX = "add weight decay, dropout or data augmentation, get more data, or stop early at the validation minimum"


def assess(ev, f) -> None:
    o = ev.sym("overfitting")
    if o is None:
        if ev.cx.val is None:
            f.need("a validation loss: memorisation shows only as a gap between training and validation")
        return
    f.support("val_turned_up", 0.3, f"validation loss turned up at step {o.start:.0f} while training loss kept falling: memorisation")
    nl = ev.val_never_learned
    if nl is not None:
        ref = f"chance, ln({ev.n_classes}) = {g(ev.chance)}" if ev.chance else f"where it started, {g(nl[0])}"
        f.against("val_never_learned", 0.25, f"the validation loss never went below {ref} ({g(nl[1])} at best): a "
                                             f"model that memorises generalises a little first; here nothing "
                                             f"carried over from the start")
    tb = ev.turned_before_fit
    if tb is not None and nl is None:
        f.against("turned_before_fit", 0.2, f"the training loss was still {tb[2]:.2f}x chance when the validation loss "
                                            f"turned up: a net that memorises clean labels has fit what generalises "
                                            f"first, far below chance")
    f.fix = f"stop at step {o.start:.0f} (the validation minimum) and add weight decay, dropout or augmentation"
    wd, dr = ev.hp_float("weight_decay"), ev.hp_float("dropout")
    if wd == 0 or dr == 0:
        f.support("no_regularizer", 0.1, "no weight decay or dropout" if (wd or 0) == 0 and (dr or 0) == 0
                  else f"weight_decay {g(wd or 0)}, dropout {g(dr or 0)}")
    elif wd is not None and wd >= 1e-2:
        f.against("wd_substantial", 0.1, f"weight decay {g(wd)} is already substantial")
