"""The verification loop: baseline, plan, arms through an executor, outcomes, verdicts.

Everything a run writes lands under ``out``: ``baseline/`` (when the baseline is run here),
one folder per arm (``run.jsonl``, ``arm.json``, the script's ``stdout.txt`` / ``stderr.txt``)
and ``verification.json``, the diagnosis with its ``verification`` section. Arms whose results
came back are written as they come, so an interrupted verification leaves them readable.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import json
import math
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from ..core import ArmResult, Cause, Diagnosis, LogError, Series
from . import compare as C
from . import executors as X
from .infer import HID, decided, infer
from .jobs import STATUS, Job, JobResult, run_job
from .plan import Plan, Planned, plan

LOG = "run.jsonl"
RESULT = "verification.json"
#: Seconds between progress polls while arms run.
POLL = 0.5
#: An arm's time limit when none is given: this many times what its steps took in the baseline,
#: plus START_S for starting the interpreter and the script's imports (a loaded machine).
TIMEOUT_FACTOR = 4.0
START_S = 90.0
#: With neither a limit nor a baseline time to go by.
DEFAULT_TIMEOUT = 1800.0
#: The confirmed cause's score.
CONFIRMED_SCORE = 1.0


class VerifyError(Exception):
    """The verification cannot go on: the command does not start, crashes before it trains,
    or never calls ``lossdoctor.watch()``. The message says which, in one line."""


@dataclass(frozen=True)
class Event:
    """Progress for a display. ``kind``: ``baseline`` (the baseline run started), ``baseline_done``,
    ``plan`` (``info`` holds the Plan), ``left_out``, ``start``, ``progress`` (``steps`` so far),
    ``done`` (``result``: the ArmResult), ``skipped`` (not run: the verdict was settled)."""

    kind: str
    arm: str = ""
    steps: int = 0
    planned: int = 0
    result: ArmResult | None = None
    info: Any = None


def _emit(on_event, ev: Event) -> None:
    if on_event is not None:
        on_event(ev)


def _payload(train_fn: Callable, config: Any) -> bytes:
    try:
        import cloudpickle

        return cloudpickle.dumps((train_fn, config))
    except ImportError:
        import pickle

        try:
            return pickle.dumps((train_fn, config))
        except Exception as exc:
            raise VerifyError(f"train_fn cannot be sent to another process ({exc}); "
                              f"pip install cloudpickle, or define it in an importable module") from None


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


def _last_step(path: Path) -> int:
    """The last step in a growing JSONL log (0 if none yet)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            n = f.tell()
            f.seek(max(0, n - 8192))
            tail = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return 0
    for line in reversed(tail):
        if '"step"' in line:
            try:
                return int(json.loads(line).get("step", 0)) + 1
            except ValueError:
                continue
    return 0


def _save(res: JobResult, folder: Path, written_there: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if written_there:
        return
    for name, data in res.files.items():
        (folder / name).write_bytes(data)


def _failure(res: JobResult, log: Path, what: str) -> str | None:
    """Why a job gave nothing to compare (None when its log has steps)."""
    if res.error:
        return res.error
    if res.timed_out:
        return f"{what} ran past its time limit and was stopped (--timeout)"
    has_log = log.exists() and log.stat().st_size > 0
    steps = _last_step(log) if has_log else 0
    err = _last_line(res.text("stderr.txt"))
    stopped = res.status.get("stopped")
    if not has_log:
        if res.rc not in (0, None):
            return f"{what} failed (exit code {res.rc}) before it called lossdoctor.watch()" + (f": {err}" if err else "")
        return (f"{what} ended without calling lossdoctor.watch() (or a Lightning / Hugging Face "
                f"callback): there is no training to verify")
    if steps == 0:
        if res.rc not in (0, None) and not stopped:
            return f"{what} crashed (exit code {res.rc}) before its first step" + (f": {err}" if err else "")
        return f"{what} called lossdoctor.watch() but never trained (no step was recorded)"
    if res.rc not in (0, None) and not stopped:
        return f"{what} crashed at step {steps:,} (exit code {res.rc})" + (f": {err}" if err else "")
    return None


class _DeferredInterrupt:
    """Ctrl-C while the jobs run. A KeyboardInterrupt raised inside ``concurrent.futures``' own
    locking (``wait`` takes every future's lock in turn) can leave a lock held, and the pool's
    exit then waits on it for ever. So while verify runs, Ctrl-C only sets a flag (when SIGINT
    still has Python's default handler, in the main thread), and the loops raise
    KeyboardInterrupt themselves between waits (:meth:`check`)."""

    def __init__(self) -> None:
        self.flag = threading.Event()
        self.old: Any = None

    def __enter__(self) -> "_DeferredInterrupt":
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            try:
                self.old = signal.signal(signal.SIGINT, lambda signum, frame: self.flag.set())
            except (ValueError, OSError):
                self.old = None
        return self

    def check(self) -> None:
        if self.flag.is_set():
            self.flag.clear()
            raise KeyboardInterrupt

    def __exit__(self, exc_type, *exc) -> bool:
        if self.old is not None:
            signal.signal(signal.SIGINT, self.old)
        if exc_type is None:
            self.check()  # a Ctrl-C after the last wait still stops the caller
        return False


class _Runner:
    def __init__(self, pool: X.Pool, template: Job, out: Path, on_event):
        self.pool = pool
        self.template = template
        self.out = out
        self.on_event = on_event
        self.interrupt = _DeferredInterrupt()

    def wait(self, fut: cf.Future) -> JobResult:
        """The job's result, waited for in steps so that Ctrl-C is seen between them."""
        while True:
            done, _ = cf.wait([fut], timeout=POLL)
            self.interrupt.check()
            if done:
                return fut.result()

    def job(self, name: str, change: dict, steps: int, timeout: float | None, below=None) -> Job:
        workdir = str((self.out / name).resolve()) if self.pool.shared_disk else None
        return dataclasses.replace(self.template, name=name, change=dict(change), steps=int(steps),
                                   workdir=workdir, timeout=timeout, stop_below=below)

    def kill_running(self) -> None:
        """Ctrl-C: end every script still running in a local worker (its pid is in its folder)."""
        if not self.pool.shared_disk:
            return
        for pidfile in self.out.glob("*/pid"):
            try:
                os.killpg(int(pidfile.read_text()), signal.SIGKILL)
            except (OSError, ValueError):
                pass


def verify(target: Sequence[str] | Callable, *, config: Any = None, log: str | os.PathLike | None = None,
           steps: int | None = None, out: str | os.PathLike | None = None,
           executor: str | cf.Executor = "local", address: str | None = None, jobs: int | None = None,
           timeout: float | None = None, all_arms: bool = False, arms: Sequence[str] | None = None,
           on_event: Callable[[Event], Any] | None = None) -> Diagnosis:
    """Verify the diagnosis of a training by rerunning it one change at a time.

    ``target`` is the command of a script that trains under ``lossdoctor.watch()`` (or the
    Lightning / Hugging Face callbacks), as an argv list, or a function ``train_fn()`` /
    ``train_fn(config)`` that does. See :mod:`lossdoctor.verify` for the options.
    """
    from ..diagnose import diagnose

    out = Path(out) if out is not None else Path("runs/verify") / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    if callable(target) and not isinstance(target, (str, bytes)):
        template = Job("", {}, 0, payload=_payload(target, config), cwd=os.getcwd(),
                       env={"PYTHONPATH": os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))})
    else:
        argv = [target] if isinstance(target, str) else [str(a) for a in target]
        if not argv:
            raise VerifyError("no command to verify: give it after --, e.g. -- python train.py")
        template = Job("", {}, 0, command=tuple(argv), cwd=os.getcwd())
    if isinstance(executor, str):
        pool = X.make(executor, address, jobs)
    else:
        pool = X.Pool(executor, jobs or X.cores(), type(executor).__name__, shared_disk=False,
                      close=lambda: None)
    threads = str(max(1, X.cores() // pool.slots))
    env = dict(template.env)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if var not in os.environ:
            env[var] = threads
    template = dataclasses.replace(template, env=env)
    runner = _Runner(pool, template, out, on_event)
    try:
        with runner.interrupt:
            return _verify(runner, diagnose, log, steps, timeout, all_arms, arms)
    except KeyboardInterrupt:
        runner.kill_running()
        raise
    finally:
        pool.close(wait=False)


def _verify(runner: _Runner, diagnose, log, steps, timeout, all_arms, only) -> Diagnosis:
    out, on_event = runner.out, runner.on_event
    base_seconds = None
    if log is not None:
        dx0 = diagnose(log)
    else:
        _emit(on_event, Event("baseline"))
        job = runner.job("baseline", {}, 0, timeout)
        res = runner.wait(runner.pool.submit(run_job, job))
        folder = out / "baseline"
        _save(res, folder, job.workdir is not None)
        why = _failure(res, folder / LOG, "the command")
        if why:
            raise VerifyError(why)
        base_seconds = res.seconds
        try:
            dx0 = diagnose(folder / LOG)
        except LogError as exc:
            raise VerifyError(f"the baseline's log cannot be read: {exc}") from None
        _emit(on_event, Event("baseline_done", steps=_last_step(folder / LOG)))
    p = plan(dx0, steps, tuple(only) if only else None)
    _emit(on_event, Event("plan", info=p))
    notes = [f"verify: arm {name} left out ({', '.join(tests) or 'no candidate'}): {why}"
             for name, tests, why in p.left_out]
    if p.level_only and p.arms:
        notes.append(f"verify: {p.symptom.summary}")
    for name, tests, why in p.left_out:
        _emit(on_event, Event("left_out", arm=name, info=why))
    if dx0.healthy is True or not p.arms:
        if p.why_none and dx0.healthy is not True:
            notes.append(f"verify: nothing run: {p.why_none}")
        dx = dataclasses.replace(dx0, warnings=dx0.warnings + tuple(notes))
        _write(out, dx)
        return dx
    run = dx0.run
    base_n = max(p.baseline_steps, 1)
    if timeout is None and base_seconds:
        timeout = START_S + TIMEOUT_FACTOR * base_seconds * p.steps / base_n
    elif timeout is None:
        timeout = DEFAULT_TIMEOUT

    results: list[ArmResult] = []
    triples: list[tuple[str, str, str]] = []
    queue: list[Planned] = list(p.arms)
    running: dict[cf.Future, tuple[Planned, Job, float]] = {}
    settled = False
    progress: dict[str, int] = {}
    while queue or running:
        while queue and len(running) < runner.pool.slots and not settled:
            pa = queue.pop(0)
            job = runner.job(pa.arm.name, dict(pa.arm.change), pa.steps, timeout, pa.stop_below)
            fut = runner.pool.submit(run_job, job)
            running[fut] = (pa, job, time.monotonic())
            _emit(on_event, Event("start", arm=pa.arm.name, planned=pa.steps))
        if settled and not running:
            break
        done, _ = cf.wait(list(running), timeout=POLL, return_when=cf.FIRST_COMPLETED)
        runner.interrupt.check()
        for fut, (pa, job, _t) in list(running.items()):
            if fut in done:
                continue
            if job.workdir is not None:
                n = _last_step(Path(job.workdir) / LOG)
                if n != progress.get(pa.arm.name):
                    progress[pa.arm.name] = n
                    _emit(on_event, Event("progress", arm=pa.arm.name, steps=n, planned=pa.steps))
        for fut in done:
            pa, job, t0 = running.pop(fut)
            try:
                res = fut.result()
            except cf.CancelledError:
                continue
            except Exception as exc:  # the executor lost the job (a worker died)
                res = JobResult(pa.arm.name, None, {}, time.monotonic() - t0,
                                error=f"the executor lost the arm ({type(exc).__name__}: {exc})")
            result = _arm_result(res, pa, job, out, run, p)
            if result is None:  # the change does not apply to this script
                why = res.status.get("not_applicable", "")
                notes.append(f"verify: arm {pa.arm.name} left out ({', '.join(pa.tests)}): {why}")
                _emit(on_event, Event("left_out", arm=pa.arm.name, info=why))
                continue
            results.append(result)
            triples = _triples(results, p.symptom.id, run)
            follow = p.followups.get(result.arm)
            if follow is not None and result.outcome in p.follow_on.get(result.arm, ("improved",)) and not settled:
                queue.insert(0, follow)  # the right way, not far enough (or too small a step): the next decade
            _emit(on_event, Event("done", arm=result.arm, steps=result.steps, planned=pa.steps, result=result))
            if not all_arms:
                pending = {pa.arm.name for pa in queue} | {x[0].arm.name for x in running.values()}
                tested = {c.id for c in p.candidates
                          if not any(c.id in pa.tests and pa.arm.name in pending for pa in p.arms)}
                if decided(p.candidates, infer(p.candidates, triples), tested):
                    settled = True
        if settled and queue:
            for pa in queue:
                _emit(on_event, Event("skipped", arm=pa.arm.name, planned=pa.steps))
            queue = []
    order = {pa.arm.name: i for i, pa in enumerate(p.arms)}
    results.sort(key=lambda r: order.get(r.arm, 99))
    dx = _verdicts(dx0, p, results, notes)
    _write(out, dx)
    return dx


def _arm_result(res: JobResult, pa: Planned, job: Job, out: Path, base_run, p: Plan) -> ArmResult | None:
    from ..readers import read

    folder = out / pa.arm.name
    _save(res, folder, job.workdir is not None)
    status = res.status
    if status.get("not_applicable"):
        return None
    log = folder / (status.get("log") or LOG)
    applied = tuple(status.get("applied", ()))
    base = dict(arm=pa.arm.name, tests=pa.tests, change=dict(pa.arm.change), title=pa.arm.title,
                applied=applied, seconds=res.seconds, log=str(log))
    why = _failure(res, log, "the rerun")
    if why:
        return ArmResult(steps=_last_step(log) if log.exists() else 0, outcome="failed", effect=why, **base)
    try:
        arm_run = read(log)
    except LogError as exc:
        return ArmResult(steps=0, outcome="failed", effect=f"its log cannot be read: {exc}", **base)
    o, _sid = C.compare_all(base_run, arm_run, [s.id for s in p.symptoms], pa.steps, exact=pa.arm.exact)
    loss = arm_run.loss
    n = int(loss.steps[-1]) + 1 if loss is not None and len(loss) else 0
    effect, outcome = o.effect, o.outcome
    if status.get("stopped") == "target":
        effect += " (stopped once past the fixed level)"
    luck = pa.arm.luck(base_run) if pa.arm.luck is not None and outcome == "fixed" else None
    if luck:
        outcome, effect = "improved", f"{effect}; counted as improved: {luck}"
    return ArmResult(steps=n, outcome=outcome, effect=effect,
                     curve=Series("loss", loss.steps, loss.values) if loss is not None else None, **base)


def _hid(results: list[ArmResult], symptom: str, base=None) -> set[str]:
    """Fixes that only hid a blow-up or a swing (:func:`compare.rank_fixes`)."""
    from .arms import BY_NAME

    levels = {r.arm: C.end_level(_as_run(r), r.steps) for r in results if r.outcome == "fixed"
              and not (r.arm in BY_NAME and BY_NAME[r.arm].exact)}  # a no-op's fix needs no level
    if len(levels) < 2:
        return set()
    steps = max(r.steps for r in results)
    floor = C.before_blowup(base, C.WINDOW_SHARE * steps) if base is not None else -math.inf
    return C.rank_fixes(symptom, levels, floor)


def _triples(results: list[ArmResult], symptom: str, base=None) -> list[tuple[str, str, str]]:
    hid = _hid(results, symptom, base)
    return [(r.arm, HID if r.arm in hid else r.outcome, r.effect) for r in results]


def _demote(results: list[ArmResult], symptom: str, base=None) -> list[ArmResult]:
    hid = _hid(results, symptom, base)
    if not hid:
        return results
    best = min(C.end_level(_as_run(r), r.steps) for r in results if r.outcome == "fixed" and r.arm not in hid)
    return [dataclasses.replace(r, outcome="improved", effect=r.effect + f"; it only hid the symptom: "
                                f"the best fix ends at {C._f(best)}") if r.arm in hid else r
            for r in results]


def _as_run(r: ArmResult):
    from ..core import Run

    return Run(r.log or r.arm, {"loss": r.curve}) if r.curve is not None else None


def _verdicts(dx0: Diagnosis, p: Plan, results: list[ArmResult], notes: list[str]) -> Diagnosis:
    found = infer(p.candidates, _triples(results, p.symptom.id, dx0.run))
    results = _demote(results, p.symptom.id, dx0.run)
    causes: list[Cause] = []
    for c in dx0.causes:
        f = found.get(c.id)
        if f is None or (f.verdict is None and not f.lines):
            causes.append(c)
            continue
        if f.verdict == "confirmed":
            causes.append(dataclasses.replace(c, verdict="confirmed", score=max(c.score, CONFIRMED_SCORE),
                                              evidence=tuple(f.lines) + c.evidence))
        elif f.verdict == "ruled_out":
            causes.append(dataclasses.replace(c, verdict="ruled_out", score=0.0,
                                              evidence=tuple(f.lines) + c.evidence, fix=""))
        else:
            causes.append(dataclasses.replace(c, evidence=tuple(f.lines) + c.evidence))
    rank = {"confirmed": 0}
    causes.sort(key=lambda c: (rank.get(c.verdict, 1), -c.score))
    spent = sum(r.steps for r in results)
    if p.baseline_steps:
        notes.append(f"verify: {len(results)} arm{'s' if len(results) != 1 else ''} ran {spent:,} steps in all, "
                     f"{spent / p.baseline_steps:.2f}x the baseline's {p.baseline_steps:,} "
                     f"(judged on {'the loss level' if p.level_only else p.symptom.id}, {p.steps:,} steps each at most)")
    extra = {}
    if dx0.healthy is None and any(c.verdict == "confirmed" for c in causes):
        # a cause an arm confirmed settles a run the log alone could not judge
        extra = {"healthy": False, "inconclusive": None}
    return dataclasses.replace(dx0, causes=tuple(causes), verification=tuple(results),
                               warnings=dx0.warnings + tuple(notes), **extra)


def _write(out: Path, dx: Diagnosis) -> None:
    tmp = out / (RESULT + ".tmp")
    tmp.write_text(dx.to_json() + "\n")
    os.replace(tmp, out / RESULT)


def cost(dx: Diagnosis) -> float | None:
    """Steps all arms took together, as a share of the baseline run's."""
    if dx.run is None or dx.run.loss is None or not len(dx.run.loss):
        return None
    n = int(dx.run.loss.steps[-1]) + 1
    return sum(r.steps for r in dx.verification) / n if n else None


__all__ = ["verify", "VerifyError", "Event", "cost", "RESULT"]
