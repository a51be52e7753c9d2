"""Synthetic curve factories for detector tests: each returns a Run whose loss has one known
shape, with optional mini-batch noise. Seeds are fixed."""

from __future__ import annotations

import numpy as np

from lossdoctor.core import Run, Series


def make_run(loss, val=None, steps=None, val_every=None, extra=None, hparams=None, unit="step") -> Run:
    loss = np.asarray(loss, float)
    steps = np.arange(loss.size, dtype=float) if steps is None else np.asarray(steps, float)
    series = {"loss": Series("loss", steps, loss)}
    if val is not None:
        val = np.asarray(val, float)
        vs = steps[:: val_every][: val.size] if val_every else np.linspace(steps[0], steps[-1], val.size)
        series["val_loss"] = Series("val_loss", vs, val)
    for k, (st, v) in (extra or {}).items():
        series[k] = Series(k, np.asarray(st, float), np.asarray(v, float))
    return Run("synthetic", series, dict(hparams or {}), {"format": "synthetic", "step_unit": unit})


def noisy(y, rel=0.05, seed=0):
    """Multiplicative mini-batch noise (losses are positive and heavier-tailed upwards)."""
    rng = np.random.default_rng(seed)
    y = np.asarray(y, float)
    return y * np.exp(rel * rng.standard_normal(y.size))


def healthy(n=2000, start=2.3, floor=0.1, tau_frac=0.15):
    t = np.arange(n)
    return floor + (start - floor) * np.exp(-t / (tau_frac * n))


def plateau_drop(n=2000, start=2.3, end=0.3, plateau_frac=0.7, drop_frac=0.1):
    t = np.arange(n) / n
    s = 1 / (1 + np.exp(-(t - plateau_frac - drop_frac / 2) / (drop_frac / 8)))
    return start - (start - end) * s


def slow(n=2000, start=2.3, floor=0.1, tau_frac=1.5):
    return healthy(n, start, floor, tau_frac)


def flat(n=2000, level=2.3):
    return np.full(n, level, float)


def oscillating(n=2000, level=1.5, amp=0.5, period=200, seed=0):
    """Swings of irregular length (a phase that wanders), as an overshooting optimizer makes;
    a clean sinusoid would read as a pattern repeating every epoch."""
    t = np.arange(n)
    phase = np.cumsum(np.random.default_rng(seed).normal(0, 0.05, n))
    return level + amp * np.sin(2 * np.pi * t / period + phase) + 0.8 * np.exp(-t / 100)


def diverging(n=2000, start=2.3):
    t = np.arange(n) / n
    return np.where(t < 0.4, start - 1.5 * t / 0.4, 0.8 * np.exp(4 * (t - 0.4)))


def hard_batches(n=350, batch=64, hard_share=0.001, seed=0):
    """A healthy classifier's mini-batch loss near zero, made from per-sample losses: most
    samples fit (a loss falling from 0.66 to 0.03 with log-normal scatter), a few still
    misclassified (a loss of 1 plus an exponential of mean 3). A batch that draws one or two of
    them sits at 2-6x the level: a heavy upper tail, no spike (healthy breast-cancer runs)."""
    r = np.random.default_rng(seed)
    level = 0.66 * np.exp(-np.arange(n) / 30) + 0.03
    easy = level[:, None] * r.lognormal(-0.125, 0.5, (n, batch))
    hard = (r.random((n, batch)) < hard_share) * (r.exponential(3.0, (n, batch)) + 1.0)
    return (easy + hard).mean(axis=1)
