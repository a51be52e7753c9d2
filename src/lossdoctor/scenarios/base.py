"""The two plain records of a scenario: what it claims (:class:`Scenario`) and what it trains
(:class:`TrainConfig`). Nothing here imports torch: a config only holds the torch objects that
a scenario's ``build(seed)`` made."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:  # pragma: no cover
    from .recording import Recording


@dataclass(frozen=True)
class Scenario:
    """One reproducible training with a known fault (or none, for a healthy control).

    ``cause`` is a cause id of ``taxonomy.md`` (``None`` for a healthy run), ``symptom`` the
    symptom id its loss curve must show (``None``: healthy). ``build(seed)`` returns a
    :class:`TrainConfig`. ``expect`` lists extra checks of the run's internals, each
    ``Recording -> str | None`` (a failure message, or ``None`` when it holds): they pin down
    that the fault is the claimed one, not only that the curve has the claimed shape.
    """

    name: str
    cause: str | None
    symptom: str | None
    story: str
    build: Callable[[int], "TrainConfig"]
    expect: tuple[Callable[["Recording"], str | None], ...] = ()
    group: str = ""  # e.g. "jena": runs that belong together

    @property
    def healthy(self) -> bool:
        return self.cause is None


@dataclass
class TrainConfig:
    """Everything the recorder needs to train and log one run.

    ``model`` is an ``nn.Module``; ``train``/``val`` are ``(X, y)`` tensors; ``loss_fn(out, y)``
    returns a scalar tensor; ``scheduler`` (optional) is stepped once per optimizer step.
    ``zero_grad=False`` reproduces the missing ``optimizer.zero_grad()`` bug; ``sort_batches``
    feeds the training set in a fixed, label-sorted order instead of reshuffling each epoch.
    """

    model: Any
    train: tuple[Any, Any]
    val: tuple[Any, Any]
    loss_fn: Callable[[Any, Any], Any]
    optimizer: Any
    steps: int
    batch_size: int
    val_every: int
    seed: int
    hparams: dict[str, Any]
    scheduler: Any = None
    zero_grad: bool = True
    sort_batches: bool = False
    classification: bool = True
    meta: Mapping[str, Any] = field(default_factory=dict)


def batches(cfg: "TrainConfig"):
    """``(step, epoch, index tensor)`` for every training step: a fresh permutation each epoch
    from the scenario's seed, or the fixed label-sorted order of ``sort_batches`` (read by a
    ``DataLoader`` without ``shuffle``, as a user's script would). The recorder
    and the monitored runner both train on exactly these batches."""
    import torch

    Xtr, ytr = cfg.train
    n, bs = len(Xtr), cfg.batch_size
    spe = max(n // bs, 1)
    gen = torch.Generator().manual_seed(cfg.seed)
    if cfg.sort_batches:
        # as a user's DataLoader(shuffle=False) over label-sorted data reads it (a verification
        # arm can then shuffle it, as it would theirs)
        from torch.utils.data import DataLoader

        fixed = torch.argsort(ytr.reshape(len(ytr), -1)[:, 0], stable=True)
        loader = DataLoader(fixed, batch_size=bs, shuffle=False, drop_last=n >= bs)
        it = None
        for step in range(cfg.steps):
            epoch, k = divmod(step, spe)
            if k == 0:
                it = iter(loader)
            yield step, epoch, next(it)
        return
    perm = None
    for step in range(cfg.steps):
        epoch, k = divmod(step, spe)
        if k == 0:
            perm = torch.randperm(n, generator=gen)
        yield step, epoch, perm[k * bs:(k + 1) * bs]
