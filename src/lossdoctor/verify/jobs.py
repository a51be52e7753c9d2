"""One rerun as a job any executor can run: :func:`run_job` starts the user's script (or the
pickled ``train_fn``) in a fresh process with the arm's plan in the environment, waits for it
with a time limit, and returns the files it wrote (its monitor log, the arm's status, the tail of
its output) as bytes, so that a worker on another machine ships the log back to the caller.

The job and its result are plain picklable dataclasses; :func:`run_job` is a top-level function
(a process pool, Dask and Ray all pickle it by reference). It imports neither torch nor the rest
of lossdoctor.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

ENV = "LOSSDOCTOR_VERIFY"  # the same name as lossdoctor.collect.intervene.ENV
STATUS = "arm.json"
PAYLOAD = "train_fn.pkl"
#: The files of an arm's folder that go back to the caller (logs are all ``*.jsonl``).
SHIP = (STATUS, "stdout.txt", "stderr.txt")
#: Bytes of the script's stdout / stderr kept.
TAIL = 64_000
#: Seconds between polls of a running child (and between checks of its time limit).
POLL = 0.2


@dataclass(frozen=True)
class Job:
    """One run of the script. ``command`` is the argv to start (``None``: the ``payload``, a
    pickled ``(train_fn, config)``, run by ``python -m lossdoctor.verify.child``); ``workdir``
    is where the arm's files go on the worker (``None``: a temporary folder, removed after its
    files were read); ``steps`` 0 runs the script to its end (the baseline)."""

    name: str
    change: dict[str, Any]
    steps: int
    command: tuple[str, ...] | None = None
    payload: bytes | None = None
    cwd: str | None = None
    workdir: str | None = None
    timeout: float | None = None
    stop_below: tuple[float, int, int] | None = None
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class JobResult:
    name: str
    rc: int | None
    files: dict[str, bytes]
    seconds: float
    timed_out: bool = False
    error: str | None = None  # the job could not even start the process
    host: str = ""

    @property
    def status(self) -> dict[str, Any]:
        raw = self.files.get(STATUS)
        try:
            return json.loads(raw) if raw else {}
        except ValueError:
            return {}

    def text(self, name: str) -> str:
        return self.files.get(name, b"").decode("utf-8", "replace")


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        try:
            proc.kill()
        except OSError:
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def _tail(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            n = f.tell()
            f.seek(max(0, n - TAIL))
            return f.read()
    except OSError:
        return b""


def run_job(job: Job) -> JobResult:
    """Run one job to its end (or its time limit) and return its files."""
    import socket

    t0 = time.monotonic()
    temp = job.workdir is None
    workdir = tempfile.mkdtemp(prefix=f"lossdoctor-{job.name}-") if temp else job.workdir
    host = socket.gethostname()
    try:
        os.makedirs(workdir, exist_ok=True)
        for stale in os.listdir(workdir):  # a rerun into the same folder starts clean
            if stale.endswith(".jsonl") or stale in SHIP or stale == PAYLOAD:
                os.remove(os.path.join(workdir, stale))
        plan = {"arm": job.name, "change": job.change, "dir": os.path.abspath(workdir),
                "steps": int(job.steps), "stop_below": list(job.stop_below) if job.stop_below else None}
        env = dict(os.environ)
        env.update(job.env)
        env[ENV] = json.dumps(plan)
        if job.command is not None:
            argv = list(job.command)
        else:
            pkl = os.path.join(workdir, PAYLOAD)
            with open(pkl, "wb") as f:
                f.write(job.payload or b"")
            argv = [sys.executable, "-m", "lossdoctor.verify.child", pkl]
        cwd = job.cwd if job.cwd and os.path.isdir(job.cwd) else None
        with open(os.path.join(workdir, "stdout.txt"), "wb") as out, \
                open(os.path.join(workdir, "stderr.txt"), "wb") as err:
            try:
                proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                        stderr=err, start_new_session=True)
            except OSError as exc:
                return JobResult(job.name, None, {}, time.monotonic() - t0,
                                 error=f"cannot start {argv[0]!r}: {exc.strerror or exc}", host=host)
            pidfile = os.path.join(workdir, "pid")
            if not temp:  # the caller's Ctrl-C ends it by this (its own session ignores the terminal)
                with open(pidfile, "w") as f:
                    f.write(str(proc.pid))
            timed_out = False
            try:
                while True:
                    try:
                        proc.wait(timeout=POLL)
                        break
                    except subprocess.TimeoutExpired:
                        if job.timeout and time.monotonic() - t0 > job.timeout:
                            timed_out = True
                            _kill(proc)
                            break
            except BaseException:  # Ctrl-C in the worker, or the job was cancelled: no orphan
                _kill(proc)
                raise
        if not temp:
            try:
                os.remove(pidfile)
            except OSError:
                pass
        files: dict[str, bytes] = {}
        for name in sorted(os.listdir(workdir)):
            p = os.path.join(workdir, name)
            if name.endswith(".jsonl"):
                with open(p, "rb") as f:
                    files[name] = f.read()
            elif name in ("stdout.txt", "stderr.txt"):
                files[name] = _tail(p)
            elif name == STATUS:
                with open(p, "rb") as f:
                    files[name] = f.read()
        return JobResult(job.name, proc.returncode, files, time.monotonic() - t0, timed_out=timed_out,
                         host=host)
    finally:
        if temp:
            shutil.rmtree(workdir, ignore_errors=True)
        elif job.payload is not None:
            try:
                os.remove(os.path.join(workdir, PAYLOAD))
            except OSError:
                pass


__all__ = ["Job", "JobResult", "run_job", "ENV"]
