"""The diagnosis: symptoms plus a rules table over symptoms and evidence.

    dx = lossdoctor.diagnose("runs/exp1.jsonl")
    dx.likely        # the causes the evidence points to
"""

from __future__ import annotations

import os

from ..core import Diagnosis, Run
from .engine import run_diagnosis


def diagnose(path_or_run: str | os.PathLike | Run) -> Diagnosis:
    """Diagnose one run: a :class:`Run` or the path of a log file or run folder."""
    if isinstance(path_or_run, Run):
        return run_diagnosis(path_or_run)
    from ..readers import read

    return run_diagnosis(read(path_or_run))


def diagnose_all(path: str | os.PathLike) -> list[Diagnosis]:
    """One diagnosis per run found under ``path`` (a file gives one)."""
    import dataclasses

    from ..core import LogError
    from ..readers import read_all

    out, skipped = [], []
    for run in read_all(path):
        try:
            out.append(run_diagnosis(run))
        except LogError as exc:  # one run without a loss must not cost the others
            skipped.append(str(exc))
    if not out:
        raise LogError("; ".join(skipped))
    if skipped:
        out[0] = dataclasses.replace(out[0], warnings=out[0].warnings + tuple(f"skipped: {s}" for s in skipped))
    return out


__all__ = ["diagnose", "diagnose_all"]
