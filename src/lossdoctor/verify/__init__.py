"""Verify a diagnosis by experiment: rerun the training one change at a time.

    dx = lossdoctor.verify(["python", "train.py", "--lr", "1e-4"])   # a script under watch()
    dx = lossdoctor.verify(train_fn)                                  # or a function (notebooks)
    dx.cause("lr_too_low").verdict        # "confirmed", "ruled_out", or the log's verdict
    [a.to_dict() for a in dx.verification]                            # one entry per arm

The training must use ``lossdoctor.watch(model, optimizer, path=...)`` or the Lightning / Hugging
Face callbacks; nothing else in it changes. The baseline (``log=``, or one run here) is diagnosed
as ``diagnose`` does; every cause still kept that makes its symptom gets its one-factor rerun
(an "arm", :mod:`lossdoctor.verify.arms`), applied inside the rerun by the monitor itself when
it starts (:mod:`lossdoctor.collect.intervene`) and ended after ``steps``. Each arm's outcome
(:mod:`.compare`) turns causes ``confirmed`` or ``ruled_out`` (:mod:`.infer`); the rest keep
their log verdict. The result is the same :class:`~lossdoctor.Diagnosis` as ``diagnose``'s, with
``verification`` filled.

Options: ``log`` (the baseline's log, instead of a baseline run), ``steps`` (each arm's budget;
default just past where the baseline's symptom showed itself), ``out`` (every file goes there;
default ``runs/verify/<time>``), ``executor`` (``"local"``, ``"dask"``, ``"ray"`` or any
``concurrent.futures.Executor``) with ``address`` and ``jobs``, ``timeout`` (seconds per arm),
``all_arms`` (no early stop), ``arms`` (only these arm names), ``config`` (passed to
``train_fn``), ``on_event`` (progress callback, :class:`Event`).
"""

from __future__ import annotations

import sys
import types
from typing import Any

_LAZY = {"VerifyError": "engine", "Event": "engine", "cost": "engine", "RESULT": "engine",
         "ARMS": "arms", "ExecutorError": "executors"}


def verify(target, **options: Any):
    """Rerun ``target`` (a command, as an argv list, or ``train_fn``) one change at a time and
    return the verified :class:`~lossdoctor.Diagnosis`; the options are in this module's
    docstring and :func:`lossdoctor.verify.engine.verify`."""
    from .engine import verify as _verify

    return _verify(target, **options)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _CallableModule(types.ModuleType):
    """``lossdoctor.verify`` is this package and the function at once: ``lossdoctor.verify(...)``
    calls :func:`verify`, ``lossdoctor.verify.arms`` is the arms table."""

    def __call__(self, target, **options: Any):
        return verify(target, **options)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["verify", "VerifyError", "Event", "cost", "RESULT", "ARMS", "ExecutorError"]
