"""Reproducible small trainings that each show one known fault, and healthy controls.

Each :class:`Scenario` is a real PyTorch training on CPU (seconds, data from scikit-learn's
bundled datasets, nothing downloaded) with a known cause and the symptom its loss curve shows::

    from lossdoctor.scenarios import SCENARIOS, record, selfcheck
    rec = record("jena_lr_low")                 # trains and records every step
    rec.write("runs/jena_lr_low.jsonl", "jsonl")  # the monitor log, with internals
    rec.write("runs/jena_lr_low.csv", "csv")      # loss only
    assert not selfcheck("jena_lr_low", rec)      # the curve shows what the scenario claims

torch is imported only when a scenario is built or recorded.
"""

from __future__ import annotations

from . import bugs, data, gradients, healthy, initialization, jena, learning_rate, regularization
from .base import Scenario, TrainConfig
from .checks import CheckResult, check, check_all
from .recording import FORMATS, Recording

_MODULES = (jena, regularization, learning_rate, initialization, gradients, data, bugs, healthy)

#: Every scenario by name.
SCENARIOS: dict[str, Scenario] = {s.name: s for m in _MODULES for s in m.SCENARIOS}


def get(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}") from None


def build(name: str, seed: int = 0, steps: int | None = None) -> TrainConfig:
    """The training config of one scenario; ``steps`` cuts (or extends) the run without
    rescaling its schedule."""
    cfg = get(name).build(seed)
    if steps is not None:
        cfg.steps = int(steps)
        cfg.hparams["max_steps"] = int(steps)
        cfg.val_every = min(cfg.val_every, max(int(steps) // 10, 1))
    return cfg


def record(name: str, seed: int = 0, steps: int | None = None) -> Recording:
    """Train one scenario and record every step (loss, lr, gradient, weight and update norms,
    weight-decay share, activation statistics, validation loss)."""
    from ._record import train_and_record

    sc = get(name)
    cfg = build(name, seed, steps)
    return train_and_record(cfg, meta={"scenario": name, "seed": seed, "cause": sc.cause,
                                       "symptom": sc.symptom})


def selfcheck(name: str | Scenario, rec: Recording) -> list[str]:
    """What is wrong with a recording of a scenario: ``[]`` when its curve shows the claimed
    symptom (or, for a healthy control, falls, settles and shows none) and every internal
    expectation holds; otherwise one message per failure."""
    sc = get(name) if isinstance(name, str) else name
    res = check(sc.symptom, rec)
    fails = [] if res.ok else [f"{sc.symptom or 'healthy'}: {res.why}"]
    for expect in sc.expect:
        msg = expect(rec)
        if msg:
            fails.append(f"{getattr(expect, '__name__', 'expect').lstrip('_')}: {msg}")
    return fails


__all__ = ["SCENARIOS", "Scenario", "TrainConfig", "Recording", "FORMATS", "CheckResult",
           "record", "build", "get", "selfcheck", "check", "check_all"]
