"""Where the arms run: any ``concurrent.futures.Executor``. Three are built in; no scheduling
of our own happens here, each engine schedules its jobs itself.

``local``
    a process pool (``concurrent.futures.ProcessPoolExecutor``), ``jobs`` processes (default:
    the machine's cores). Each worker starts the script in its own process and waits for it.
``dask``
    a ``dask.distributed`` cluster at ``address`` (``tcp://host:8786``), through the client's
    own ``concurrent.futures`` executor (``Client.get_executor``). ``pip install
    'lossdoctor[dask]'``.
``ray``
    a Ray cluster at ``address`` (``ray://host:10001``, ``host:6379`` or ``auto``): every job is
    a Ray task (``ray.remote``, one CPU) and its ``ObjectRef.future()`` is the future.
    ``pip install 'lossdoctor[ray]'``.

The job function and its result are plain picklable objects and the result carries the arm's
files as bytes, so workers need no disk in common with the caller.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
from typing import Any, Callable

NAMES = ("local", "dask", "ray")
#: Seconds to wait for a dask scheduler to answer.
CONNECT_TIMEOUT = 20


class ExecutorError(RuntimeError):
    """An executor could not be set up (missing package, cluster not reachable)."""


def cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class Pool:
    """An executor plus what the caller needs to know about it: how many jobs run at once
    (``slots``), whether workers write straight into the caller's folders (``shared_disk``), and
    how to cancel a running job (``cancel``)."""

    def __init__(self, executor: cf.Executor, slots: int, name: str, shared_disk: bool,
                 close: Callable[[], None] | None = None, cancel: Callable[[cf.Future], None] | None = None):
        self.executor = executor
        self.slots = max(1, int(slots))
        self.name = name
        self.shared_disk = shared_disk
        self._close = close
        self._cancel = cancel

    def submit(self, fn, *args) -> cf.Future:
        return self.executor.submit(fn, *args)

    def cancel(self, fut: cf.Future) -> None:
        if not fut.cancel() and self._cancel is not None:
            self._cancel(fut)

    def close(self, wait: bool = True) -> None:
        try:
            if self._close is not None:
                self._close()
            else:
                self.executor.shutdown(wait=wait, cancel_futures=True)
        except Exception:  # closing must not hide what happened before
            pass


def _ignore_sigint() -> None:
    # Ctrl-C is the caller's to handle: it kills the running scripts itself (a worker that took
    # it would print a traceback of its own)
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def local(jobs: int | None = None) -> Pool:
    n = jobs or cores()
    return Pool(cf.ProcessPoolExecutor(max_workers=n, initializer=_ignore_sigint), n, "local",
                shared_disk=True)


def dask(address: str | None, jobs: int | None = None) -> Pool:
    try:
        from distributed import Client
    except ImportError:
        raise ExecutorError("--executor dask needs dask.distributed: pip install 'lossdoctor[dask]'") from None
    if not address:
        raise ExecutorError("--executor dask needs --address tcp://HOST:PORT (a dask scheduler)")
    try:
        client = Client(address, timeout=f"{CONNECT_TIMEOUT}s", set_as_default=False)
    except Exception as exc:
        raise ExecutorError(f"cannot reach the dask scheduler at {address}: {exc}") from None
    slots = jobs or max(1, sum(client.nthreads().values()))
    ex = client.get_executor(pure=False)

    def close():
        try:
            ex.shutdown(wait=False)
        finally:
            client.close()

    return Pool(ex, slots, "dask", shared_disk=False, close=close)


def ray(address: str | None, jobs: int | None = None) -> Pool:
    try:
        import ray as _ray
    except ImportError:
        raise ExecutorError("--executor ray needs Ray: pip install 'lossdoctor[ray]'") from None
    if not address:
        raise ExecutorError("--executor ray needs --address (ray://HOST:10001, HOST:6379 or auto)")
    started = False
    if not _ray.is_initialized():
        try:
            _ray.init(address=address, log_to_driver=False, logging_level="ERROR")
            started = True
        except Exception as exc:
            raise ExecutorError(f"cannot connect to Ray at {address}: {exc}") from None
    ex = RayExecutor()
    slots = jobs or max(1, int(_ray.cluster_resources().get("CPU", 1)))

    def close():
        ex.shutdown(wait=False, cancel_futures=True)
        if started:
            _ray.shutdown()

    return Pool(ex, slots, "ray", shared_disk=False, close=close, cancel=ex.cancel_running)


class RayExecutor(cf.Executor):
    """``concurrent.futures`` over Ray tasks: ``submit`` runs ``fn`` as a one-CPU Ray task and
    returns the ``ObjectRef``'s own future."""

    def __init__(self) -> None:
        import ray as _ray

        self._ray = _ray
        self._refs: dict[cf.Future, Any] = {}
        self._remote: dict[Callable, Any] = {}

    def submit(self, fn, /, *args, **kwargs):
        task = self._remote.get(fn)
        if task is None:
            task = self._remote[fn] = self._ray.remote(num_cpus=1, max_retries=0)(fn)
        ref = task.remote(*args, **kwargs)
        fut = ref.future()
        self._refs[fut] = ref
        fut.add_done_callback(lambda f: self._refs.pop(f, None))
        return fut

    def cancel_running(self, fut: cf.Future) -> None:
        ref = self._refs.get(fut)
        if ref is not None:
            try:
                self._ray.cancel(ref)  # a KeyboardInterrupt in the task: it kills its script
            except Exception:
                pass

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures:
            for fut in list(self._refs):
                self.cancel_running(fut)
        if wait:
            cf.wait(list(self._refs))


def make(name: str, address: str | None = None, jobs: int | None = None) -> Pool:
    if name == "local":
        return local(jobs)
    if name == "dask":
        return dask(address, jobs)
    if name == "ray":
        return ray(address, jobs)
    raise ExecutorError(f"unknown executor {name!r}; one of {', '.join(NAMES)}")


__all__ = ["Pool", "make", "local", "dask", "ray", "RayExecutor", "ExecutorError", "cores", "NAMES"]
