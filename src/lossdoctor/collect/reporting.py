"""The HTML report at the end of a watched run: ``watch(..., report="run.html")`` and the same
keyword on the Lightning and Hugging Face callbacks.

When the monitor closes (the ``with`` block ends, training ends, or the run fails), its log is
read back and diagnosed like any log, and :func:`lossdoctor.report.html.write_html` writes the
report: a crashed run gets one too. Only rank 0 writes. Like the rest of the monitor, a failure
here is reported (``MonitorWarning``) and never raised into the training script.
"""

from __future__ import annotations

import os

from . import intervene
from .monitor import Monitor, _report


class ReportingMonitor(Monitor):
    """A :class:`Monitor` that writes the HTML report of its log when it closes."""

    def __init__(self, *args, report: str | os.PathLike, **kwargs):
        super().__init__(*args, **kwargs)
        self.report = os.fspath(report)
        if self.path is None:  # training must start all the same: say it once
            _report("monitor: report= needs a log (path=): the report is made from it; no report "
                    "will be written")
            self.report = None

    def close(self, _error: bool = False) -> None:
        first = not self._closed
        super().close(_error)
        if first and getattr(self, "report", None) and self.rank == 0:
            write_report(self.path, self.report)


def monitor(model, optimizer=None, path=None, *args, report: str | os.PathLike | None = None,
            **kwargs) -> Monitor:
    """A Monitor, one that writes its report on close when ``report`` is given. Under
    ``lossdoctor verify`` the arm's change is applied first (:mod:`.intervene`)."""
    path, report = intervene.start(model, optimizer, path, report, kwargs.get("scheduler"))
    if report is None:
        return intervene.attach(Monitor(model, optimizer, path, *args, **kwargs))
    return ReportingMonitor(model, optimizer, path, *args, report=report, **kwargs)


def write_report(log: str | os.PathLike, report: str | os.PathLike) -> None:
    try:
        from ..diagnose import diagnose
        from ..report.html import write_html

        write_html(diagnose(log), report)
    except Exception as exc:  # the run is over and its log is safe: say so, do not raise
        _report(f"monitor: the HTML report {report} could not be written ({type(exc).__name__}: {exc})")


__all__ = ["ReportingMonitor", "monitor", "write_report"]
