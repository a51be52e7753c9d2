"""lossdoctor: why does my training loss look like that, and how do I fix it?

The public API is small::

    run = lossdoctor.read("lightning_logs/version_3")     # any supported log or run folder
    dx = lossdoctor.diagnose(run)                         # or diagnose("path/to/log")
    print(dx.to_json())
"""

from .core import Cause, Diagnosis, LogError, Run, Series, Symptom
from .readers import read, read_all
from .diagnose import diagnose, diagnose_all
def watch(model, optimizer=None, path=None, **kw): from .collect import watch as w; return w(model, optimizer, path, **kw)  # noqa: E302,E704 (lazy: torch loads only when watching; see lossdoctor.collect.watch)

__version__ = "0.1.0"

__all__ = ["read", "read_all", "diagnose", "diagnose_all", "Run", "Series", "Symptom", "Cause",
           "Diagnosis", "LogError", "__version__"]
