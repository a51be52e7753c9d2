"""lossdoctor: why does my training loss look like that, and how do I fix it?

The public API is small::

    run = lossdoctor.read("lightning_logs/version_3")     # any supported log or run folder
    dx = lossdoctor.diagnose(run)                         # or diagnose("path/to/log")
    print(dx.to_json())

    with lossdoctor.watch(model, optimizer, path="runs/exp1.jsonl") as mon:   # live, PyTorch
        ...
        mon.step(loss)

    dx = lossdoctor.verify(["python", "train.py"])        # confirm the cause: one-change reruns
"""

import logging as _logging

from .collect.live import Alert, LossdoctorAlert, TrainingStopped
from .core import ArmResult, Cause, Diagnosis, LogError, Run, Series, Symptom
from .diagnose import diagnose, diagnose_all
from .readers import read, read_all
from . import verify  # the package is callable: lossdoctor.verify(train_fn) (see lossdoctor.verify)

__version__ = "0.1.0"


def watch(model, optimizer=None, path=None, **kw):
    """Watch a PyTorch training run: see :func:`lossdoctor.collect.watch`. torch is imported
    only here, when a run is watched, never by ``import lossdoctor``."""
    from .collect import watch as _watch

    return _watch(model, optimizer, path, **kw)


# A library's logger prints nothing until the application configures logging: alerts and the
# monitor's own warnings reach the terminal once, as warnings, not a second time through
# logging's last-resort handler.
_logging.getLogger("lossdoctor").addHandler(_logging.NullHandler())

__all__ = ["read", "read_all", "diagnose", "diagnose_all", "watch", "verify", "Run", "Series", "Symptom",
           "Cause", "Diagnosis", "ArmResult", "LogError", "TrainingStopped", "LossdoctorAlert", "Alert",
           "__version__"]
