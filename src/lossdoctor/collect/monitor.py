"""The monitor core: optimizer step hooks, the per-step record, the log and the live alerts.

Flow of one training step::

    forward -> backward -> optimizer.step()                         -> mon.step(loss)
                           |  pre-hook: lr per group, gradient norms    |  queue the step
                           |  (sampled: copy weights, weight norms,     |  every sync_every
                           |   weight-decay terms)                      |  calls: pull device
                           |  post-hook: (sampled) ||w_after-w_before|| |  values in one
                                                                           batch, write records,
                                                                           feed live alerts

Everything computed in the hooks stays on the device as 0-d tensors; every ``sync_every`` calls
one batch is stacked and copied to the host (asynchronously on a GPU, read a batch later), then
turned into records (see :mod:`lossdoctor.collect` for what forces a sync).
"""

from __future__ import annotations

import atexit
import functools
import logging
import math
import os
import time
import warnings
import weakref
from typing import Any, Callable, Iterable, Mapping

import torch
from torch import nn

from . import stats
from .activations import DEAD, DEAD_IN, INPUT, OUTPUT, SAT, ActivationProbe, dense_inputs, first_layer, widths
from .dist import all_reduce_mean, rank_and_world
from .introspect import activation_modules, build_header, clean_name, is_decoupled, jsonable, trainable
from .live import ALERT_ON, CHECK_EVERY, Alert, LiveDiagnosis, TrainingStopped, best_cause, user_stacklevel
from .writer import FLUSH_EVERY, FLUSH_SECS, JsonlWriter, light_dict

log = logging.getLogger("lossdoctor")

#: Detail presets: (every_n, act_every). ``every_n``: steps between samples of the per-layer
#: statistics (gradient and weight norms per layer, update ratio, weight-decay share), which
#: copy the weights once and cost a few passes over them; ``act_every``: steps between
#: activation samples (forward hooks for one step).
DETAIL = {
    "default": (10, 100),
    "full": (1, 1),
}
#: Device values are pulled to the host every this many ``mon.step`` calls. On a GPU a pull
#: starts one asynchronous copy and reads the previous one: the fewer, the fewer launches and
#: records built per call. On the CPU a pull costs nothing, but turning values into records is
#: Python work that runs several times faster in a batch than one record at a time between
#: training steps (which evict its code and data from the caches).
SYNC_EVERY_DEVICE = 32
SYNC_EVERY_CPU = 32
#: Under DDP every pull is also an all-reduce; batch them on the CPU as well.
SYNC_EVERY_DIST = 32
#: ``mon.step`` calls without a single optimizer step before the monitor stops waiting for one
#: (an optimizer whose step bypasses the hooks) and records every call as a step.
NO_OPT_STEP_CALLS = 64


class MonitorWarning(RuntimeWarning):
    """A part of the monitor failed and was switched off; training goes on unchanged."""


def _report(msg: str) -> None:
    log.warning("lossdoctor: %s", msg)
    try:
        warnings.warn(msg, MonitorWarning, stacklevel=user_stacklevel())
    except Exception:  # warnings set to 'error' must not break training
        pass


def _unwrap_optimizer(opt):
    """The torch optimizer inside wrappers (Accelerate's AcceleratedOptimizer, Lightning's
    LightningOptimizer), whose ``step`` the hooks see."""
    seen = 0
    while opt is not None and seen < 5:
        inner = getattr(opt, "optimizer", None) or getattr(opt, "_optimizer", None)
        if isinstance(inner, torch.optim.Optimizer) and inner is not opt:
            opt, seen = inner, seen + 1
            continue
        break
    return opt


def _has_param_groups(opt) -> bool:
    """Whether ``opt`` looks like a torch optimizer to the monitor: param groups that list
    their parameters."""
    try:
        groups = opt.param_groups
        return isinstance(groups, (list, tuple)) and all(
            isinstance(g, Mapping) and "params" in g for g in groups)
    except Exception:
        return False


def _to_float(x) -> float:
    """A learning rate as the header and records hold it (NaN for one that is not a number)."""
    try:
        return float(x)
    except (TypeError, ValueError, OverflowError, RuntimeError):
        return math.nan


def _holds_values(grad):
    """Whether a gradient holds anything (``False`` for ``None``; a device tensor otherwise, read
    with the record; ``None`` for a sparse one, which is not looked at)."""
    if grad is None:
        return False
    if grad.layout != torch.strided:
        return None
    return grad.detach().ne(0).any()


#: The budget's clock. Wall time (a vDSO call, ~0.1 us): the thread's CPU time would keep a
#: loaded machine's pauses out, but reading it is a system call that costs ~4 us right after a
#: training step (cold caches), on every step; the budget takes medians, so a pause is ignored.
_clock = time.perf_counter


class Budget:
    """How often the costly statistics run at ``detail="default"``, so that the monitor's own
    work stays within a share of the training step.

    The gradient norm is one pass over every gradient; on a model whose step is short next to
    that pass (a small MLP on the CPU: ~100 us of a 2.5 ms step) it is taken every
    ``grad_every`` steps, so that it costs at most :data:`GRAD_SHARE` of the step (or
    :data:`FLOOR_S`, whichever is more). Steps shorter than :data:`MIN_STEP_S` keep everything.
    Likewise the per-layer samples (a copy of the weights and a few passes over them): every
    ``sample_every`` steps, never closer than ``every_n``, within :data:`SAMPLE_SHARE`; and the
    activation samples (forward hooks on every activation layer): every ``act_every`` steps,
    never closer than the schedule's own. The cost is measured on the run itself (the monitor's
    own time, and the time between optimizer steps) over the first :data:`WARMUP` steps, and
    looked at again every :data:`RETUNE` steps. The time between steps is read only on the steps
    that do such work (a clock read right after a training step costs more than the rest of a
    step's bookkeeping), as the mean over the steps since the last one."""

    #: Shares of the step, of what the monitor measures of its own work (in a loop, after the
    #: training step has evicted it from the caches, the same work costs 2-3x that: the shares
    #: are set so that the real cost of each stays near 0.5%).
    GRAD_SHARE = 0.002
    SAMPLE_SHARE = 0.002
    #: The least each may take per step whatever the step's length (the shares above are below
    #: it on steps up to ~2.5 ms).
    FLOOR_S = 5e-6
    #: Steps shorter than this (wall time between optimizer steps) keep every statistic: a model that
    #: small trains in minutes, and the monitor's fixed ~30 us would space everything out.
    MIN_STEP_S = 1e-3
    #: Models with fewer parameters are not budgeted at all: a pass over their gradients is
    #: mostly the call's fixed cost, and their logs stay the same on every machine.
    MIN_PARAMS = 50_000
    WARMUP = 20
    RETUNE = 100
    #: At most this many steps between two gradient norms, and sample_every at most this many
    #: times every_n: the log keeps a curve of each.
    MAX_GRAD_EVERY = 10
    MAX_SAMPLE_FACTOR = 10

    __slots__ = ("every_n", "samples", "grad_every", "sample_every", "act_base", "act_every", "_t_prev",
                 "_n_prev", "_next_decide", "_interval", "_steps", "_grads", "_samples", "_acts",
                 "_last_sampled", "_n", "_acc")

    def __init__(self, every_n: int, samples: bool = True, act_every: int = 0):
        self.every_n = every_n
        self.samples = samples  # an every_n the user chose is kept as it is
        self.grad_every = 1
        self.sample_every = every_n
        self.act_base = act_every  # 0: activation samples off, or an act_every the user chose
        self.act_every = act_every
        self._t_prev = None
        self._n_prev = 0
        self._next_decide = self.WARMUP
        self._interval = None
        self._steps: list[float] = []  # the last few times between optimizer steps (seconds)
        self._grads: list[float] = []  # the last few costs of a gradient-norm pass
        self._samples: list[float] = []  # the last few costs of a sampled step's extra work
        self._acts: list[float] = []  # the last few costs of an activation sample
        self._last_sampled = -1
        self._n = 0
        self._acc = 0.0

    def tick(self, n: int) -> float:
        """Called at the start of optimizer step ``n`` when it does some of the budgeted work:
        the mean time per step since the last call; returns now."""
        now = _clock()
        if self._t_prev is not None and n > self._n_prev:
            self._steps.append((now - self._t_prev) / (n - self._n_prev))
            del self._steps[:-9]
        self._t_prev, self._n_prev, self._n = now, n, n
        if n >= self._next_decide:
            self._decide()
            self._next_decide = (n // self.RETUNE + 1) * self.RETUNE
        self._acc = 0.0
        return now

    def act_spent(self, dt: float) -> None:
        """Record the cost of one activation sample (its hooks' time)."""
        self._acts.append(dt)
        del self._acts[:-5]

    def grad_due(self, index: int) -> bool:
        return self.grad_every == 1 or index % self.grad_every == 0

    def spent(self, sampled: bool, since: float) -> None:
        """Record the cost of the work just done (a sampled step's parts add up)."""
        dt = _clock() - since
        if sampled:
            self._acc += dt  # this step's parts so far (the pre-hook's, then the post-hook's)
            self._samples[-1:] = [self._acc] if self._last_sampled == self._n else self._samples[-1:]
            if self._last_sampled != self._n:
                self._samples.append(self._acc)
                del self._samples[:-5]
                self._last_sampled = self._n
        else:
            self._grads.append(dt)
            del self._grads[:-9]

    def _decide(self) -> None:
        if not self._steps:
            return
        self._interval = sorted(self._steps)[len(self._steps) // 2]  # the median of the last few
        if self._interval < self.MIN_STEP_S:  # a step this short: the run is short too, keep all
            self.grad_every, self.sample_every, self.act_every = 1, self.every_n, self.act_base
            return
        # medians of the last few: a first sample that allocates its buffers, or a pause of the
        # machine, must not space everything out
        if self._grads:
            allowed = max(self.GRAD_SHARE * self._interval, self.FLOOR_S)
            t = sorted(self._grads)[len(self._grads) // 2]
            self.grad_every = int(min(max(1, math.ceil(t / allowed)), self.MAX_GRAD_EVERY))
        if self.samples and self.every_n and self._samples:
            allowed = max(self.SAMPLE_SHARE * self._interval, self.FLOOR_S)
            t = sorted(self._samples)[len(self._samples) // 2]
            k = max(self.every_n, math.ceil(t / allowed / self.every_n) * self.every_n)
            self.sample_every = int(min(k, self.MAX_SAMPLE_FACTOR * self.every_n))
        if self.act_base and self._acts:
            allowed = max(self.SAMPLE_SHARE * self._interval, self.FLOOR_S)
            t = sorted(self._acts)[len(self._acts) // 2]
            k = max(self.act_base, math.ceil(t / allowed / self.act_base) * self.act_base)
            self.act_every = int(min(k, self.MAX_SAMPLE_FACTOR * self.act_base))

    def next_due(self, m: int) -> int:
        """The first step from ``m`` on that takes the gradient norm or a sample."""
        g = self.grad_every
        nxt = -(-m // g) * g
        s = self.sample_every
        if s:
            nxt = min(nxt, -(-m // s) * s)
        return nxt


class _StepData:
    """What the hooks saw during one optimizer step (device tensors until pulled)."""

    __slots__ = ("sampled", "lrs", "wds", "gvec", "grads_done", "w_before", "wvec", "dvec",
                 "den", "gw", "scale", "found_inf", "act", "stale")

    def __init__(self, sampled: bool):
        self.sampled = sampled
        self.lrs: list | None = None
        self.wds: list | None = None
        self.gvec = None
        self.grads_done = False
        self.w_before = None
        self.wvec = None
        self.dvec = None
        self.den: list | None = None  # [(param indices, tensor)] coupled weight-decay norms
        self.gw = None  # <g, w> per parameter (sampled steps)
        self.scale = None
        self.found_inf = None
        self.act = None
        self.stale = None  # did the gradients still hold the last step's when backward began?


class _Entry:
    """One ``mon.step`` (or ``mon.log``) call waiting for its device values."""

    __slots__ = ("kind", "loss", "extras", "data", "n", "flag", "lrs", "raw")

    def __init__(self, kind, loss, extras, data, n, flag, lrs, raw=False):
        self.kind = kind  # "step", "skip", "maybe" (scaler decides), "micro", "log"
        self.loss = loss
        self.raw = raw  # the loss as passed (a tensor not yet checked: see Monitor._loss_value)
        self.extras = extras
        self.data = data
        self.n = n
        self.flag = flag
        self.lrs = lrs


class _Transfer:
    """Device-to-host copy of a batch of 0-d tensors, started at once and read later.

    The tensors are stacked (one call for the whole batch). On the CPU they are read at once.
    On a GPU the stacked vector is copied into pinned host memory without blocking and an event
    marks the end of the copy, so that reading it later (a batch later) finds it done: no stall.
    """

    def __init__(self, ts: list[torch.Tensor]):
        self.n = len(ts)
        self.vals: list | None = None
        self._parts: list = []  # (positions or None for all, host tensor, event or None)
        if not ts:
            self.vals = []
            return
        try:
            groups = [(None, torch.stack(ts))]
        except RuntimeError:  # tensors on several devices (model parallel)
            by_dev: dict = {}
            for i, t in enumerate(ts):
                by_dev.setdefault(t.device, []).append(i)
            groups = [(idx, torch.stack([ts[i] for i in idx])) for idx in by_dev.values()]
        for idx, v in groups:
            if v.device.type == "cpu":
                self._parts.append((idx, v, None))
                continue
            v = v.to(torch.float64 if v.dtype == torch.float64 else torch.float32)
            host = torch.empty(v.shape, dtype=v.dtype, pin_memory=True)
            host.copy_(v, non_blocking=True)
            event = torch.cuda.Event()
            event.record(torch.cuda.current_stream(v.device))
            self._parts.append((idx, host, event))

    def result(self) -> list:
        if self.vals is None:
            vals: list = [None] * self.n
            for idx, host, event in self._parts:
                if event is not None:
                    event.synchronize()  # long done by now: the copy was queued a batch ago
                got = host.tolist()
                if idx is None:
                    vals = got
                else:
                    for i, x in zip(idx, got):
                        vals[i] = x
            self.vals, self._parts = vals, []
        return self.vals


class _Puller:
    """Collects the device values of one batch of records as a flat list of 0-d tensors (and
    plain numbers); :meth:`start` launches the transfer (and, under DDP, the one all-reduce of
    what differs by rank), :meth:`finish` reads it."""

    def __init__(self, reduce_world: int):
        self.flat: list = []
        self.red: list = []
        self.world = reduce_world
        self._t = self._rt = None
        self._order: list = []
        self.vals: list = []
        self.rvals: list = []

    def add(self, x, reduce: bool = False):
        """Queue ``x`` (a 0-d tensor, a list of them, or a number); returns a reference."""
        if x is None:
            return None
        if reduce and self.world > 1:
            if isinstance(x, (list, tuple)):
                self.red.extend(x)
                return ("rl", len(self.red) - len(x), len(x))
            self.red.append(x)
            return ("r", len(self.red) - 1)
        if isinstance(x, torch.Tensor):
            self.flat.append(x if x.dim() == 0 else x.reshape(-1)[0])
            return ("i", len(self.flat) - 1)
        if isinstance(x, (list, tuple)):
            self.flat.extend(x)
            return ("l", len(self.flat) - len(x), len(x))
        return ("v", x)

    def get(self, ref):
        if ref is None:
            return None
        k = ref[0]
        if k == "i":
            return self.vals[ref[1]]
        if k == "l":
            return self.vals[ref[1]:ref[1] + ref[2]]
        if k == "v":
            return ref[1]
        if k == "r":
            return self.rvals[ref[1]]
        return self.rvals[ref[1]:ref[1] + ref[2]]

    def start(self, stop_flag: float = 0.0) -> None:
        self._t = _Transfer(self.flat)
        if self.world > 1:
            vec, self._order = _reduce_vector(self.red + [float(stop_flag)])
            self._rt = _Transfer(list(all_reduce_mean(vec).unbind(0)))

    def finish(self) -> float:
        """Read the values; returns the stop flag shared by the ranks (0 in one process)."""
        self.vals = self._t.result()
        if self._rt is None:
            return 0.0
        got = self._rt.result()
        vals = [0.0] * len(got)
        for pos, v in zip(self._order, got):
            vals[pos] = v
        stop = vals.pop()
        self.rvals = vals
        return stop


def _reduce_vector(xs: list) -> tuple[torch.Tensor, list[int]]:
    """One vector of what to average over the ranks, on the device the backend reduces on
    (NCCL: the GPU; gloo: the CPU), built without a host sync. Returns it and the position in
    ``xs`` of each of its elements (tensors first, then plain numbers)."""
    import torch.distributed as dist

    on_gpu = dist.get_backend() == "nccl"
    dev = torch.device("cuda", torch.cuda.current_device()) if on_gpu else torch.device("cpu")
    dtype = torch.float32 if on_gpu else torch.float64
    tens = [i for i, x in enumerate(xs) if isinstance(x, torch.Tensor)]
    nums = [i for i, x in enumerate(xs) if not isinstance(x, torch.Tensor)]
    parts = []
    if tens:
        parts.append(torch.stack([xs[i].detach().reshape(()).to(dev) for i in tens]).to(dtype))
    if nums:
        t = torch.tensor([float(xs[i]) for i in nums], dtype=dtype)
        parts.append(t.pin_memory().to(dev, non_blocking=True) if on_gpu else t)
    return torch.cat(parts), tens + nums


def _lrs(r: dict, p) -> list:
    lrs = r.get("lrs")
    if not lrs:
        return []
    return [p.get(x) for x in lrs] if r["lrs_ref"] else lrs


#: What :func:`_num` returns for a value that cannot be recorded (dropped, with one warning).
DROP = object()


def _num(x) -> Any:
    """A scalar passed to ``mon.step``: a detached 0-d tensor (read later) or a float; ``DROP``
    for what is not a real number that fits a float (``10**400``, a complex, sparse, meta or
    empty tensor, text), so that one odd value costs itself, not the record or the monitor."""
    if isinstance(x, torch.Tensor):
        if x.layout != torch.strided or x.is_meta or x.is_complex() or x.numel() == 0:
            return DROP
        x = x.detach()
        if x.dim() == 0:
            return x
        return x.reshape(()) if x.numel() == 1 else x.float().mean()
    if isinstance(x, bool) or x is None:
        return x
    if isinstance(x, complex):
        return DROP
    try:
        return float(x)
    except (TypeError, ValueError, OverflowError):
        return DROP


def _finite(x) -> bool:
    return x is None or (x == x and x not in (math.inf, -math.inf))


class Monitor:
    """Records a PyTorch training run; see :func:`watch` for the arguments."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                 path: str | os.PathLike | None = None, *, scheduler=None, scaler=None,
                 hparams: Mapping[str, Any] | None = None, detail: str = "default",
                 every_n: int | None = None, act_every: int | None = None,
                 sync_every: int | None = None, alerts: bool = True, check_every: int = CHECK_EVERY,
                 alert_on: Iterable[str] = ALERT_ON, on_alert: Callable[[Alert], Any] | None = None,
                 stop_on: Iterable[str] = (), flush_every: int = FLUSH_EVERY,
                 flush_secs: float = FLUSH_SECS, mode: str = "w", one_step_per_call: bool = False):
        self._failed: set[str] = set()
        self._dropped: set[str] = set()
        # An odd argument must not keep the training from starting: each is warned about once
        # and replaced by what works (see also the log path and the optimizer below).
        if detail not in DETAIL:
            _report(f"monitor: detail must be one of {sorted(DETAIL)}, not {detail!r}; using "
                    f"'default'")
            detail = "default"
        if hparams is not None and not isinstance(hparams, Mapping):
            _report(f"monitor: hparams= must be a mapping of names to values, not "
                    f"{type(hparams).__name__}; ignored")
            hparams = None
        if isinstance(stop_on, str):
            stop_on = (stop_on,)
        n_every, a_every = DETAIL[detail]
        compiled = hasattr(model, "_orig_mod")  # torch.compile: adding hooks would recompile
        if act_every is None and compiled:
            act_every = 0
        # 0 switches a schedule off
        self.every_n = max(0, int(every_n if every_n is not None else n_every))
        # at detail="default" the monitor keeps its own per-step work within a share of the
        # training step (see Budget): on a model whose step is short next to a pass over its
        # gradients, the gradient norm and the per-layer samples are spaced further apart
        self._budget = None
        self.act_every = max(0, int(act_every if act_every is not None else a_every))
        self._act_every = self.act_every  # as the budget spaces it (see Budget)
        self.model = model
        self.optimizer = _unwrap_optimizer(optimizer)
        self.scaler = scaler if scaler is not None and getattr(scaler, "is_enabled", lambda: True)() else None
        self.stop_on = frozenset(stop_on)
        self.on_alert = on_alert
        self.alerts: list[Alert] = []
        self.rank, self.world = rank_and_world()
        self._off = False
        self._closed = False
        if self.optimizer is not None and not _has_param_groups(self.optimizer):
            _report(f"monitor: the optimizer ({type(self.optimizer).__name__}) has no param_groups; "
                    f"every mon.step() call is recorded as a step, without its learning rate")
            self.optimizer = None
        self._per_call = bool(one_step_per_call) or self.optimizer is None

        try:
            named = trainable(model)
        except Exception as exc:  # not an nn.Module: only the values passed to mon.step
            _report(f"monitor: the model's parameters cannot be read ({type(exc).__name__}: {exc}); "
                    f"only the values passed to mon.step() are recorded")
            named = []
        if self.optimizer is not None:
            in_opt = {id(p) for g in self.optimizer.param_groups for p in g["params"]}
            named = [(n, p) for n, p in named if id(p) in in_opt]
            if not named:  # it trains parameters the model does not hold (or holds frozen)
                named = [(f"param_group{gi}.{j}", p) for gi, g in enumerate(self.optimizer.param_groups)
                         for j, p in enumerate(g["params"])
                         if isinstance(p, torch.Tensor) and p.requires_grad]
        self.names = [n for n, _ in named]
        self.params = [p for _, p in named]
        if detail == "default" and sum(p.numel() for p in self.params) >= Budget.MIN_PARAMS:
            self._budget = Budget(self.every_n, samples=every_n is None,
                                  act_every=self.act_every if act_every is None else 0)
        self._dev = self.params[0].device if self.params else torch.device("cpu")
        self._zero = torch.zeros((), device=self._dev)
        self._prec = stats.precision(self.params)
        groups = self.optimizer.param_groups if self.optimizer is not None else []
        gid = {id(p): gi for gi, g in enumerate(groups) for p in g["params"]}
        self._group_idx: list[list[int]] = [[] for _ in groups]
        for i, p in enumerate(self.params):
            if id(p) in gid:
                self._group_idx[gid[id(p)]].append(i)
        self._decoupled = [is_decoupled(self.optimizer, g) for g in groups]

        if sync_every is None:
            sync_every = (SYNC_EVERY_DIST if self.world > 1 else
                          SYNC_EVERY_CPU if self._dev.type == "cpu" else SYNC_EVERY_DEVICE)
        self.sync_every = max(1, int(sync_every))

        self._n_opt = 0  # optimizer steps seen by the hooks
        self._n_opt_at_call = 0
        self._calls = 0
        self._step = 0  # the next record's step
        self._cur: _StepData | None = None
        self._done: _StepData | None = None
        self._pending: list = []  # _Entry, or (loss, lrs) for a light step
        self._out: list[dict] = []  # records of the batch being written (see _drain)
        self._inflight = None  # a batch whose device values are on their way to the host
        self._async = self._dev.type == "cuda"
        self._carry_loss: list = []
        self._carry_extras: dict = {}
        self._carry_calls: list = []  # (loss, extras) of carried calls, while no step was seen
        self._replay = False
        self._nan_seen = False
        self._stop_request: Alert | None = None
        self._stop_now: TrainingStopped | None = None
        self._prev_scale = None
        self._buf: list[torch.Tensor] | None = None

        self._alerts_on = bool(alerts)
        self._eager_nan = "nan_inf" in self.stop_on and self._dev.type == "cpu"
        monitor_info = {"detail": detail, "every_n": self.every_n, "act_every": self.act_every,
                        "sync_every": self.sync_every, "world_size": self.world}
        try:
            self.header = build_header(model, self.optimizer, scheduler, hparams, named, monitor_info)
        except Exception as exc:  # an odd model must not stop the run: log without the extras
            _report(f"monitor: reading the hyper-parameters failed ({type(exc).__name__}: {exc}); "
                    f"the header holds only what was passed as hparams=")
            self.header = {"type": "header", "schema": "lossdoctor.log/1", "hparams": jsonable(hparams or {}),
                           "model": {"layers": [{"name": n} for n in self.names]}, "monitor": monitor_info}
        self.path = os.fspath(path) if path is not None else None
        self._writer = None
        if self.rank == 0 and path is not None:
            self._writer = self._open_log(path, mode, flush_every, flush_secs)
        self._live = None
        if alerts and self.rank == 0:
            self._live = LiveDiagnosis(source=self.path or "live", hparams=self.header["hparams"],
                                       meta={"model": self.header["model"]}, check_every=check_every,
                                       alert_on=alert_on)
        self._probe = ActivationProbe(activation_modules(model),
                                      on_error=lambda exc: self._degrade("activations", exc),
                                      inputs=dense_inputs(model, clean_name),
                                      first=first_layer(model, clean_name), output=model)
        # optimizer steps before this index do no budgeted work (see Budget.next_due)
        self._next_heavy = 0
        self._light_lrs = None  # the learning rates a light step used (read after its update)
        self._pre_handle = None  # the optimizer pre-hook, while registered (see _want_pre)
        self._pre_fn = self._pre_hook
        self._stale_param = None  # the parameter whose gradient tells whether zero_grad ran
        self._stale_armed = False
        self._stale_handle = None  # its tensor hook, registered only while the check is armed
        self._handles = []
        self._hooked = False  # the optimizer's steps are seen by hooks (else: one step per call)
        if self.optimizer is not None:
            try:
                self._handles.append(self.optimizer.register_step_post_hook(self._post_hook))
                self._pre_handle = self.optimizer.register_step_pre_hook(self._pre_fn)
                self._hooked = True
            except Exception as exc:  # a duck-typed optimizer: no step hooks
                self._remove_hooks()
                self._per_call = True
                _report(f"monitor: the optimizer ({type(self.optimizer).__name__}) takes no step hooks "
                        f"({type(exc).__name__}: {exc}); every mon.step() call is recorded as a step")
        # mon.step() calls take a short path when nothing but a step and its loss can happen
        self._fast_calls = self._hooked and self.scaler is None and not self._eager_nan
        self._arm_activations(0)
        self._atexit = functools.partial(_close_at_exit, weakref.ref(self))
        atexit.register(self._atexit)

    def _open_log(self, path, mode, flush_every, flush_secs) -> JsonlWriter | None:
        """The log's writer, or ``None`` (and one warning) when it cannot be written. A folder
        as the path gets ``lossdoctor.jsonl`` inside it; a log that holds another run's records,
        or that another monitor of this process writes, is never truncated (see
        :func:`.writer.choose_path`)."""
        try:
            if os.path.isdir(path):
                where = os.path.join(path, "lossdoctor.jsonl")
                note = f"{path} is a folder; the log is written to {where}"
                path = where
            else:
                note = None
            writer = JsonlWriter(path, mode=mode, flush_every=flush_every, flush_secs=flush_secs)
            writer.write(self.header)
            writer.flush()
        except Exception as exc:
            if "writer" in locals():
                try:
                    writer.close()
                except Exception:
                    pass
            self._failed.add("writing the log")
            reason = getattr(exc, "strerror", None) or exc
            _report(f"monitor: the log {os.fspath(path)} cannot be written ({type(exc).__name__}: "
                    f"{reason}); nothing will be recorded, training goes on unchanged"
                    f"{' (live alerts stay on)' if self._alerts_on else ''}")
            return None
        note = writer.note or note
        self.path = os.fspath(writer.path)
        if note:
            _report(f"monitor: {note}")
        return writer

    _alerts_on = True

    # -- context manager -----------------------------------------------------------------------
    def __enter__(self) -> "Monitor":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(_error=exc_type is not None)

    # -- failure containment -------------------------------------------------------------------
    def _degrade(self, part: str, exc: BaseException) -> None:
        """Switch one part off after its first failure, and say so once."""
        if part in self._failed:
            return
        self._failed.add(part)
        _report(f"monitor: {part} failed ({type(exc).__name__}: {exc}); that part is switched off, "
                f"training goes on unchanged")
        if part == "activations":
            self._probe.disarm()

    def _fail(self, exc: BaseException) -> None:
        """The core failed: stop monitoring, keep what was logged."""
        if self._off:
            return
        self._off = True
        _report(f"monitor failed ({type(exc).__name__}: {exc}); monitoring stopped, training goes on "
                f"unchanged")
        self._remove_hooks()
        try:
            if self._writer is not None:
                self._writer.flush()
        except Exception:
            pass

    def _remove_hooks(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
        if self._pre_handle is not None:
            self._pre_handle.remove()
            self._pre_handle = None
        if self._stale_handle is not None:
            self._stale_handle.remove()
            self._stale_handle = None
        self._probe.disarm()

    # -- optimizer hooks -----------------------------------------------------------------------
    # The post-hook sees every optimizer step. The pre-hook (what must be read before the
    # update: the gradients, a copy of the weights) is registered only for the steps that read
    # something: a budgeted run's light steps call no Python before their update.
    def _want_pre(self) -> None:
        if self._pre_handle is None and self._hooked and not self._off:
            self._pre_handle = self.optimizer.register_step_pre_hook(self._pre_fn)

    def _sync_pre(self) -> None:
        """The pre-hook registered for the next step if that step reads something."""
        if self._n_opt < self._next_heavy and not self._probe.armed:
            self._drop_pre()
        else:
            self._want_pre()

    def _drop_pre(self) -> None:
        if self._pre_handle is not None:
            self._pre_handle.remove()
            self._pre_handle = None

    def _data(self) -> _StepData:
        d = self._cur
        if d is None:
            d = self._cur = _StepData(self._sampled(self._n_opt))
        return d

    def _sampled(self, index: int) -> bool:
        every = self._budget.sample_every if self._budget is not None else self.every_n
        return bool(every) and index % every == 0 and "sampling" not in self._failed

    def _pre_hook(self, optimizer, args, kwargs):
        if self._off:
            return None
        if (self._n_opt < self._next_heavy and self._cur is None
                and getattr(optimizer, "grad_scale", None) is None):
            return None  # a light step (the post-hook reads its learning rates)
        if "optimizer hooks" in self._failed:
            return None
        try:
            b = self._budget
            t0 = 0.0
            if b is not None:
                t0 = b.tick(self._n_opt)
                self._next_heavy = b.next_due(self._n_opt + 1)
                if self._act_every and b.act_base:
                    self._act_every = b.act_every
            d = self._data()
            groups = optimizer.param_groups
            d.lrs = [g.get("lr") for g in groups]
            scale = getattr(optimizer, "grad_scale", None)  # a fused optimizer under GradScaler
            if scale is not None:
                d.scale = scale.detach().reshape(-1)[0].clone() if isinstance(scale, torch.Tensor) else scale
                found = getattr(optimizer, "found_inf", None)
                d.found_inf = found.detach().sum() if isinstance(found, torch.Tensor) else found
            closure = args[1] if len(args) > 1 else kwargs.get("closure")  # args[0] is the optimizer
            if d.sampled and self.params:
                d.wds = [g.get("weight_decay", 0.0) or 0.0 for g in groups]
                d.w_before = stats.copy(self.params, self._copy_buf())
            if closure is None and not d.grads_done:
                if d.sampled or b is None or b.grad_due(self._n_opt):
                    self._grad_stats(d, self.params)
                    if b is not None:
                        b.spent(d.sampled, t0)
                else:
                    d.grads_done = True  # not this step: the budget spaces the gradient norms
        except Exception as exc:
            self._degrade("optimizer hooks", exc)
            self._cur = None
        return None

    def _post_hook(self, optimizer, args, kwargs) -> None:
        if self._off:
            return
        self._n_opt += 1  # counted even when the statistics are off: records follow the steps
        d, self._cur = self._cur, None
        if d is None:  # a light step: the learning rates it used (the scheduler steps later)
            groups = optimizer.param_groups
            self._light_lrs = [groups[0].get("lr")] if len(groups) == 1 else [g.get("lr") for g in groups]
            if self._n_opt < self._next_heavy:  # and the next one is light too
                self._done = None
                return
        # looked at on sampled steps, and at the second step: a run that blows up at once
        # (gradients summed from the start) is checked before it is gone
        if (self.every_n and (self._n_opt == 1 or self._sampled(self._n_opt))
                and "zero_grad check" not in self._failed):
            self._arm_stale_check()
        elif self._stale_handle is not None and not self._stale_armed:
            self._stale_handle.remove()  # looked at: no Python hook in the backward passes between
            self._stale_handle = None
        try:
            if d is None or "optimizer hooks" in self._failed:
                self._done = None  # a light step: its record holds no statistics
                return
            if not d.grads_done:  # closure optimizers: the gradients exist only now
                self._grad_stats(d, d.w_before if d.w_before is not None else self.params)
            if d.sampled and d.w_before is not None:
                t0 = _clock()
                d.dvec = stats.delta_norms(self.params, d.w_before, self._prec)
                d.w_before = None
                if self._budget is not None:
                    self._budget.spent(True, t0)
            if self._probe.armed:
                cost = self._probe.cost
                d.act = self._probe.take()
                if self._budget is not None:
                    self._budget.act_spent(cost)
            self._done = d
        except Exception as exc:
            self._degrade("optimizer hooks", exc)
        finally:
            try:
                self._sync_pre()
            except Exception as exc:
                self._degrade("optimizer hooks", exc)

    # -- is optimizer.zero_grad() called? --------------------------------------------------------
    def _arm_stale_check(self) -> None:
        """Look, at the next backward pass, whether the gradients still hold this step's values
        (nobody cleared them: ``optimizer.zero_grad()`` is missing). One tensor hook on the
        smallest parameter that has a gradient (a bias, typically), registered on sampled steps
        and removed at the step after (a Python hook in every backward pass costs a few us).
        Gradient accumulation is not mistaken for it: the first backward after an optimizer
        step is the one looked at."""
        try:
            if self._stale_param is None:
                with_grad = [p for p in self.params if p.grad is not None and p.grad.layout == torch.strided]
                if not with_grad:
                    return
                self._stale_param = min(with_grad, key=lambda p: p.numel())
            if self._stale_handle is None:
                self._stale_handle = self._stale_param.register_hook(self._stale_hook)
            self._stale_armed = True
        except Exception as exc:
            self._degrade("zero_grad check", exc)

    def _stale_hook(self, grad):
        if not self._stale_armed or self._off:
            return None
        self._stale_armed = False
        try:
            stale = _holds_values(self._stale_param.grad)
            if stale is not None:
                self._data().stale = stale
        except Exception as exc:
            self._degrade("zero_grad check", exc)
        return None

    def _copy_buf(self) -> list[torch.Tensor] | None:
        """Reusable copy buffers on the CPU (see :func:`stats.copy`); ``None`` elsewhere."""
        if self._dev.type != "cpu":
            return None
        buf = self._buf
        if buf is None or len(buf) != len(self.params) or any(
                b.shape != p.shape or b.dtype != p.dtype for b, p in zip(buf, self.params)):
            buf = self._buf = [torch.empty_like(p, memory_format=torch.contiguous_format)
                               for p in self.params]
        return buf

    def _grad_stats(self, d: _StepData, weights) -> None:
        """Gradient norms (every step) and, on sampled steps, weight norms and the weight-decay
        terms. ``weights`` are the weights the gradients belong to (before the update)."""
        d.grads_done = True
        if not self.params:
            return
        g = stats.grad_norms(self.params, self._zero, self._prec)
        if d.scale is not None:
            g = list(torch._foreach_div(g, d.scale))
        d.gvec = g
        if not d.sampled:
            return
        d.wvec = stats.norms([w.detach() for w in weights], self._prec)
        if "grad/weight alignment" not in self._failed:
            try:
                gw = stats.grad_weight_dots(self.params, weights)
                d.gw = list(torch._foreach_div(gw, d.scale)) if d.scale is not None else gw
            except Exception as exc:  # a statistic of its own: the others go on without it
                self._degrade("grad/weight alignment", exc)
        if d.wds is None:
            groups = self.optimizer.param_groups if self.optimizer is not None else []
            d.wds = [grp.get("weight_decay", 0.0) or 0.0 for grp in groups]
        if d.scale is None:
            den = [stats.coupled_decay_norms(self.params, weights, idx, float(wd))
                   for idx, wd, dec in zip(self._group_idx, d.wds, self._decoupled)
                   if wd and not dec and idx]
            d.den = [(idx, t) for idx, t in den if t is not None]  # groups with no gradient: none

    def capture_gradients(self) -> None:
        """Read the gradients now (before clipping). Framework adapters call this where the
        framework exposes the gradients before it clips them; the step hooks then skip it."""
        if self._off or "optimizer hooks" in self._failed:
            return
        try:
            self._want_pre()  # this step's pre-hook reads its learning rates
            d = self._data()
            if not d.grads_done:
                if d.sampled and d.wds is None and self.optimizer is not None:
                    d.wds = [g.get("weight_decay", 0.0) or 0.0 for g in self.optimizer.param_groups]
                self._grad_stats(d, self.params)
        except Exception as exc:
            self._degrade("optimizer hooks", exc)

    # -- activations ---------------------------------------------------------------------------
    def _arm_activations(self, next_index: int) -> None:
        """Register the forward hooks if the step about to start is an activation sample."""
        if "activations" in self._failed or self._probe.armed:
            return
        if self._act_every and next_index % self._act_every == 0:
            try:
                self._probe.arm()
                if next_index < self._next_heavy:
                    self._next_heavy = next_index  # that step reads the samples: not a light one
                self._want_pre()
            except Exception as exc:
                self._degrade("activations", exc)

    # -- the public per-step API ---------------------------------------------------------------
    def step(self, loss=None, **scalars) -> None:
        """Record one training step: call it once per iteration, after ``optimizer.step()``.

        ``loss`` is the training loss (a tensor or a number; pass the loss before any division
        for gradient accumulation). Keyword scalars are logged too: ``val_loss``, ``reg_loss``
        (an explicit regularization term), or anything else. A scalar named like a computed
        signal replaces it (``grad_norm=`` the pre-clipping norm returned by
        ``clip_grad_norm_``). Under gradient accumulation, calls without an optimizer step are
        merged into the next step's record (mean loss).
        """
        if self._off:
            return
        try:
            self._record_call(loss, scalars)
        except TrainingStopped:
            raise
        except Exception as exc:
            self._fail(exc)

    def log(self, **scalars) -> None:
        """Log scalars outside a training step (``mon.log(val_loss=v)`` after an evaluation);
        they are recorded at the last step."""
        if self._off or not scalars:
            return
        try:
            extras = self._extras(scalars)
            if not extras:
                return
            self._pending.append(_Entry("log", None, extras, None, 0, None, None))
            if len(self._pending) >= self.sync_every:
                self._resolve()
        except TrainingStopped:
            raise
        except Exception as exc:
            self._fail(exc)

    def _record_call(self, loss, scalars) -> None:
        self._calls += 1
        n = self._n_opt - self._n_opt_at_call
        self._n_opt_at_call = self._n_opt
        data, self._done = self._done, None
        self._cur = None  # a step begun but not finished (skipped by a scaler) is dropped
        if n == 1 and self._fast_calls and not scalars and type(loss) is torch.Tensor:
            # the common call, one optimizer step and its loss: queued as it is, the loss
            # checked when the batch is pulled (a few us less per step on a fast loop). On the
            # CPU the loss is read at once (no device to wait for) and a step with no statistics
            # becomes a light entry, written without the general bookkeeping.
            v = None
            if loss.is_cpu:
                try:
                    v = loss.item()
                except Exception:  # not one element (or a meta tensor): the general path says
                    pass
            lrs = self._light_lrs
            if data is None and type(v) is float and lrs is not None:
                # a light entry is the pair (loss, learning rates): see _emit_light
                self._pending.append((v, lrs))
            else:
                self._pending.append(_Entry("step", v if type(v) is float else loss.detach(), None, data,
                                            1, None, None if data is not None and data.lrs is not None else
                                            [g.get("lr") for g in self.optimizer.param_groups],
                                            raw=type(v) is not float))
            ae = self._act_every
            if ae and self._n_opt % ae == 0:
                self._arm_activations(self._n_opt)
            if len(self._pending) >= self.sync_every:
                self._resolve()
            return
        extras = self._extras(scalars) if scalars else None
        loss = self._loss_value(loss)
        flag = lrs = None
        scale_drop = self._scale_drop() if self.scaler is not None else None
        if not self._hooked:  # no optimizer, or one whose steps no hook sees: a call is a step
            kind, n = "step", 1
            data = _StepData(self._sampled(self._calls - 1))
            if "optimizer hooks" not in self._failed:
                try:
                    self._grad_stats(data, self.params)
                except Exception as exc:
                    self._degrade("optimizer hooks", exc)
            if self._probe.armed:
                data.act = self._probe.take()
        elif n:
            kind = "step"
        elif self._per_call:
            kind = "skip"
        elif self.scaler is not None:
            kind, flag = "maybe", self._found_inf()
            if flag is None:
                flag = scale_drop
        else:
            kind = "micro"
            if self._n_opt == 0 and self._calls >= NO_OPT_STEP_CALLS:
                self._no_optimizer_steps()
                return self._record_call_unhooked(loss, extras)
        if self.optimizer is not None and kind != "micro" and (data is None or data.lrs is None):
            lrs = [g.get("lr") for g in self.optimizer.param_groups]
        self._pending.append(_Entry(kind, loss, extras, data, max(n, 1), flag, lrs))
        if kind == "step":
            self._arm_activations(self._n_opt if self._hooked else self._calls)
        if self._eager_nan and kind != "micro" and self._non_finite(loss, data):
            self._resolve()  # stop_on=("nan_inf",): now, not sync_every calls later
        elif len(self._pending) >= self.sync_every:
            self._resolve()

    def _loss_value(self, loss):
        """The loss as it is queued: a detached 0-d tensor, a float or None (one that is not a
        real number is dropped, with one warning)."""
        if not (isinstance(loss, torch.Tensor) and loss.dim() == 0 and not loss.is_complex()
                and loss.layout == torch.strided and not loss.is_meta):
            loss = _num(loss)
            if loss is DROP:
                loss = self._drop("loss", loss)
            return loss
        return loss.detach()

    def _record_call_unhooked(self, loss, extras) -> None:
        self._calls -= 1
        self._record_call(loss, extras and dict(extras))

    def _no_optimizer_steps(self) -> None:
        """No optimizer step in all the calls so far (a manual update loop, or an optimizer whose
        step bypasses the hooks): from now on every call is a step, with the gradient
        statistics read at the call, and the calls so far are recorded one by one too."""
        self._hooked = False
        self._fast_calls = False
        self._replay = True
        _report(f"monitor: no optimizer.step() seen in {self._calls} calls of mon.step() (a manual "
                f"update loop?): every call is recorded as a step, without update statistics")

    def _non_finite(self, loss, data) -> bool:
        """Whether this call's loss or gradient norm is NaN/inf, read at once (CPU only: on a
        GPU reading it would wait for the device)."""
        try:
            if isinstance(loss, float):
                if not math.isfinite(loss):
                    return True
            elif isinstance(loss, torch.Tensor) and loss.device.type == "cpu":
                if not bool(torch.isfinite(loss)):
                    return True
            g = data.gvec if data is not None else None
            if g and g[0].device.type == "cpu":
                return not bool(torch.isfinite(torch.stack(g)).all())
        except Exception:
            return False
        return False

    def _extras(self, scalars: Mapping[str, Any]) -> dict[str, Any] | None:
        """The keyword scalars of a call as recordable values; what is not a number is left
        out of the record (with one warning per name), the rest kept."""
        out = {}
        for k, v in scalars.items():
            x = _num(v)
            if x is DROP:
                self._drop(k, v)
            elif x is not None:
                out[k] = x
        return out or None

    def _drop(self, name: str, value: Any) -> None:
        if name not in self._dropped:
            self._dropped.add(name)
            what = type(value).__name__
            if isinstance(value, torch.Tensor):
                what = f"a {value.layout} {value.dtype} tensor on {value.device}".replace("torch.", "")
            _report(f"monitor: {name}= ({what}) is not a real number that fits a float; it is left "
                    f"out of the records, the rest of each record is kept")
        return None

    def _found_inf(self):
        """``found_inf`` of the scaler's last unscale, while ``update()`` has not yet cleared it
        (a device tensor, read later), else ``None``."""
        try:
            states = getattr(self.scaler, "_per_optimizer_states", None)
            st = states.get(id(self.optimizer)) if states is not None else None
            found = st.get("found_inf_per_device") if st else None
            if found:
                return sum(v.detach().float().sum() for v in found.values()) > 0
        except Exception as exc:
            self._degrade("GradScaler skip detection", exc)
        return None

    def _scale_drop(self):
        """Whether the loss scale fell since the last call (it only falls when ``update()`` saw
        a skipped step). Snapshotted every call, on the device: no sync."""
        try:
            scale = getattr(self.scaler, "_scale", None)
            if not isinstance(scale, torch.Tensor):
                return None
            prev, self._prev_scale = self._prev_scale, scale.detach().reshape(-1)[0].clone()
            return None if prev is None else self._prev_scale < prev
        except Exception as exc:
            self._degrade("GradScaler skip detection", exc)
            return None

    # -- pulling device values and writing records ---------------------------------------------
    def _resolve(self, final: bool = False) -> None:
        """Turn pending calls into records. On a GPU the values of one batch are copied to the
        host without waiting and read at the next pull (``sync_every`` calls later), so no pull
        stalls the GPU; every rank reads at the same call, so a stop is taken together."""
        entries, self._pending = self._pending, []
        batch = self._start(entries, final) if entries else None
        if self._async and not final:
            prev, self._inflight = self._inflight, batch
            if prev is not None:
                self._finish(prev, final)
        else:
            prev, self._inflight = self._inflight, None
            if prev is not None:
                self._finish(prev, final)
            if batch is not None:
                self._finish(batch, final)

    def _start(self, entries: list[_Entry], final: bool):
        p = _Puller(self.world if not final or self._dist_ok_at_close else 1)
        refs = []
        add = p.add
        for i, e in enumerate(entries):
            if type(e) is tuple:  # a light step: a float loss, and float learning rates?
                lrs = e[1]
                if (type(lrs[0]) is float if len(lrs) == 1 else all(type(x) is float for x in lrs)):
                    refs.append(None)  # nothing to pull
                    continue
                e = entries[i] = _Entry("step", e[0], None, None, 1, None, e[1])
            d = e.data
            if e.raw:
                e.loss = self._loss_value(e.loss)
            r = {"loss": add(e.loss, True)}
            if e.extras:
                r["extras"] = {k: add(v, True) for k, v in e.extras.items()}
            if e.flag is not None:
                r["flag"] = add(e.flag)
            lrs = e.lrs if e.lrs is not None else (d.lrs if d is not None else None)
            if lrs:
                # learning rates are plain floats but for capturable/compiled optimizers
                r["lrs"] = lrs if all(type(x) is float for x in lrs) else [add(x) for x in lrs]
                r["lrs_ref"] = r["lrs"] is not lrs
            if d is not None:
                if d.gvec is not None:
                    r["g"] = add(d.gvec)
                if d.wvec is not None:
                    r["w"] = add(d.wvec)
                if d.dvec is not None:
                    r["dw"] = add(d.dvec)
                if d.den:
                    r["den"] = [(idx, add(t)) for idx, t in d.den]
                if d.gw is not None:
                    r["gw"] = add(d.gw)
                if d.found_inf is not None:
                    r["found_inf"] = add(d.found_inf)
                if d.act:
                    r["act"] = (d.act[0], [add(t, True) for t in d.act[1]])
                if d.stale is not None:
                    r["stale"] = add(d.stale)
            refs.append(r)
        p.start(1.0 if self._stop_request is not None else 0.0)
        return entries, refs, p

    def _finish(self, batch, final: bool) -> None:
        entries, refs, p = batch
        stop = p.finish()
        try:
            for e, r in zip(entries, refs):
                if r is None:
                    self._emit_light(e)
                else:
                    self._emit(e, r, p)
        finally:
            self._drain()
        if self._live is not None and not final and "live alerts" not in self._failed:
            try:
                if self._live.due():
                    self._alerts(self._live.check())
            except TrainingStopped:
                raise
            except Exception as exc:
                self._degrade("live alerts", exc)
        if final:
            self._stop_now = None
        elif self._stop_now is not None:
            self._raise_stop(self._stop_now)
        elif self.world > 1 and stop > 0:
            alert = self._stop_request or Alert(self._step - 1, "stopped", None, "",
                                                "rank 0 stopped the training")
            self._raise_stop(TrainingStopped(alert))

    _dist_ok_at_close = True

    def _emit(self, e: _Entry, r: dict, p: _Puller) -> None:
        loss = p.get(r["loss"])
        extras = {k: p.get(v) for k, v in r["extras"].items()} if "extras" in r else None
        if e.kind == "log":
            self._write({"step": max(self._step - 1, 0), **(extras or {})})
            return
        skipped = e.kind == "skip" or (e.kind == "maybe" and bool(p.get(r.get("flag"))))
        if e.kind in ("micro", "maybe") and not skipped:
            if loss is not None:
                self._carry_loss.append(loss)
            if extras:
                self._carry_extras.update(extras)
            if self._n_opt == 0 or self._replay:  # maybe no optimizer step will ever come
                self._carry_calls.append((loss, extras))
            return
        if self._replay:
            self._replay_calls()
        losses = self._carry_loss + ([loss] if loss is not None else [])
        if extras:
            self._carry_extras.update(extras)
        extras, self._carry_extras, self._carry_loss = self._carry_extras, {}, []
        self._carry_calls = []
        rec: dict[str, Any] = {"step": self._step}
        self._step += e.n
        if losses:
            rec["loss"] = losses[0] if len(losses) == 1 else sum(losses) / len(losses)
        lrs = _lrs(r, p)
        if lrs:
            rec["lr"] = _to_float(lrs[0])
            for i, v in enumerate(lrs[1:], 1):
                rec[f"lr/pg{i}"] = _to_float(v)
        if e.kind == "step" and e.data is not None:
            if p.get(r.get("found_inf")):
                skipped = True
            else:
                self._step_stats(rec, e.data, r, p)
            stale = p.get(r.get("stale"))
            if stale is not None:
                rec["grad_stale"] = 1.0 if stale else 0.0
        if skipped:
            rec["skipped"] = 1
        if r.get("act"):
            self._act_stats(rec, r["act"], p)
        if extras:
            rec.update(extras)  # last: a value the user passes replaces the computed one
        self._write(rec)
        self._check_nan(rec, e, r, p)

    def _emit_light(self, e: tuple) -> None:
        """A light entry's record (a step with no statistics, a float loss and float learning
        rates: ``e`` is ``(loss, lrs)``): what :meth:`_emit` writes for it, without the general
        bookkeeping."""
        loss, lrs = e
        if self._carry_loss or self._carry_extras or self._carry_calls or self._replay:
            return self._emit(_Entry("step", loss, None, None, 1, None, lrs),
                              {"loss": ("v", loss), "lrs": lrs, "lrs_ref": False}, _Puller(1))
        self._out.append((self._step, loss, lrs))  # see writer.encode_light
        self._step += 1
        if loss - loss != 0.0 and not self._nan_seen:
            self._check_nan(light_dict(self._out[-1]), _Entry("step", loss, None, None, 1, None, lrs), {}, None)

    def _replay_calls(self) -> None:
        """Record each call carried while waiting for an optimizer step that never came."""
        calls, self._carry_calls = self._carry_calls, []
        self._carry_loss, self._carry_extras = [], {}
        for loss, extras in calls:
            rec: dict[str, Any] = {"step": self._step}
            self._step += 1
            if loss is not None:
                rec["loss"] = loss
            if extras:
                rec.update(extras)
            self._write(rec)

    def _step_stats(self, rec: dict, d: _StepData, r: dict, p: _Puller) -> None:
        g = p.get(r.get("g"))
        if g is None:
            return
        rec["grad_norm"] = gn = math.hypot(*g)
        if not d.sampled:
            return
        names = self.names
        w, dw = p.get(r.get("w")), p.get(r.get("dw"))
        if w is not None:
            rec["weight_norm"] = wn = math.hypot(*w)
            if dw is not None:
                rec["update_ratio"] = math.hypot(*dw) / wn if wn > 0 else math.nan
            gw = p.get(r.get("gw"))
            if gw is not None and gn * wn > 0 and math.isfinite(gn * wn):
                rec["grad_w_cos"] = math.fsum(gw) / (gn * wn)
        share = self._wd_share(d, r, p, g, w, dw)
        if share is not None:
            rec["wd_share"] = share
        for n, v in zip(names, g):
            rec["grad_norm/" + n] = v
        if w is not None:
            for n, v in zip(names, w):
                rec["weight_norm/" + n] = v
            if dw is not None:
                for n, a, b in zip(names, dw, w):
                    if b > 0:
                        rec["update_ratio/" + n] = a / b

    def _wd_share(self, d: _StepData, r: dict, p: _Puller, g, w, dw) -> float | None:
        """Share of the update that weight decay contributes, in [0, 1].

        Decoupled (AdamW): ``lr * wd * ||w|| / ||dw||``, exact for one step. Coupled L2
        (SGD/Adam/RMSprop ``weight_decay``): ``||wd * w|| / ||g + wd * w||``, the decay's share
        of the effective gradient; for plain SGD this equals ``||lr * wd * w|| / ||dw||``, with
        momentum it is the share of what the momentum averages, and for Adam it is approximate
        (the adaptive scaling reweights coordinates after the decay is added).
        """
        if w is None or d.wds is None or not self._group_idx:
            return None
        lrs = [float(x) for x in _lrs(r, p)] or [0.0] * len(d.wds)
        if not any(d.wds):
            return 0.0
        if all(self._decoupled):
            if dw is None:
                return None
            num = math.hypot(*(lrs[gi] * float(d.wds[gi]) * w[i]
                               for gi, idx in enumerate(self._group_idx) for i in idx))
            den = math.hypot(*dw)
        elif not any(self._decoupled):
            if r.get("den") is None and any(d.wds):
                return None
            num_parts, den_parts = [], list(g)
            for gi, idx in enumerate(self._group_idx):
                wd = float(d.wds[gi])
                for i in idx:
                    num_parts.append(wd * w[i])
                    if wd:
                        den_parts[i] = wd * w[i]  # a parameter without gradient: only the decay
            for idx, ref in r.get("den") or ():
                vals = p.get(ref)
                for i, v in zip(idx, vals):
                    den_parts[i] = v
            num, den = math.hypot(*num_parts), math.hypot(*den_parts)
        else:
            return None  # mixed coupled and decoupled groups: no single share
        if not den > 0:
            return None
        return min(1.0, num / den)

    def _act_stats(self, rec: dict, act, p: _Puller) -> None:
        layout, refs = act
        vals = [p.get(x) for x in refs]
        dead = units = sat = total = dead_in = units_in = 0.0
        per: list[tuple[str, float]] = []
        stds: list[tuple[str, float]] = []
        for (name, kind, denom), k in zip(layout, widths(layout)):
            count, std = vals[k], vals[k + 1]
            if kind == OUTPUT:
                lo, hi, dev = vals[k:k + 3]
                if all(v is not None and math.isfinite(v) for v in (lo, hi, dev)):
                    rec["out_min"], rec["out_max"], rec["out_rowsum_dev"] = lo, hi, dev
                continue
            if kind == INPUT:
                if count is not None and math.isfinite(count):
                    rec["input_rms"] = count
                continue
            if kind == DEAD_IN:
                if denom:
                    per.append(("dead_frac/" + name + ".input", count / denom))
                    dead_in += count
                    units_in += denom
                continue
            if kind == DEAD and denom:
                per.append(("dead_frac/" + name, count / denom))
                dead += count
                units += denom
            elif kind == SAT and denom:
                per.append(("saturation/" + name, count / denom))
                sat += count
                total += denom
            stds.append(("act_std/" + name, std))
        if units:
            rec["dead_frac"] = dead / units
        elif units_in and dead_in:  # no ReLU modules: dead units seen where they land
            rec["dead_frac"] = dead_in / units_in
        if total:
            rec["saturation"] = sat / total
        rec.update(per)
        rec.update(stds)

    def _write(self, rec: dict) -> None:
        """Queue a record; :meth:`_drain` hands the batch to the log and the live checks."""
        self._out.append(rec)

    def _drain(self) -> None:
        """Write the queued records and feed them to the live checks, a batch at a time (one
        call each per batch, not per record)."""
        out, self._out = self._out, []
        if not out:
            return
        if self._writer is not None and "writing the log" not in self._failed:
            try:
                self._writer.write_many(out)
            except Exception as exc:
                self._degrade("writing the log", exc)
        if self._live is not None and "live alerts" not in self._failed:
            try:
                self._live.add_many(out)
            except Exception as exc:
                self._degrade("live alerts", exc)

    # -- NaN / inf -------------------------------------------------------------------------------
    def _check_nan(self, rec: dict, e: _Entry, r: dict, p: _Puller) -> None:
        if self._nan_seen:
            return
        loss, gn = rec.get("loss"), rec.get("grad_norm")
        if _finite(loss) and _finite(gn):
            return
        self._nan_seen = True
        self._drain()  # the records up to this one, then the event
        step = rec["step"]
        where = self._locate(rec, e, r, p)
        what = "loss" if not _finite(loss) else "gradient norm"
        value = loss if not _finite(loss) else gn
        event = {"type": "event", "event": "nan" if value != value else "inf", "step": step, "where": where}
        if self._writer is not None:
            try:
                self._writer.write(event)
                self._writer.flush()
            except Exception as exc:
                self._degrade("writing the log", exc)
        summary = f"{what} became {value} at step {step} (first non-finite: {where})"
        cause, fix = None, ""
        if self._live is not None and "live alerts" not in self._failed:
            try:
                dx = self._live_diagnosis()
                if dx is not None:
                    cause, fix = best_cause(dx, "nan_inf")
            except Exception as exc:
                self._degrade("live alerts", exc)
        alert = Alert(step, "nan_inf", cause, fix, summary)
        if self._live is not None:
            self._alerts(self._live.fire(alert))
        else:
            self._alerts([alert], emitted=False)

    def _live_diagnosis(self):
        from ..diagnose import diagnose

        run = self._live.run()
        return diagnose(run) if run.loss is not None else None

    def _locate(self, rec: dict, e: _Entry, r: dict, p: _Puller) -> str:
        """Where the first non-finite value appeared, from what this step sampled. Forward order
        is weights -> activations -> loss -> gradients, and backward runs from the output: a
        finite loss with non-finite gradients started at the non-finite gradient nearest the
        output. Weights and activations are known only on sampled steps (``every_n``,
        ``act_every``); otherwise the answer is the loss."""
        d = e.data
        if _finite(rec.get("loss")) and d is not None and r.get("g") is not None:
            g = p.get(r["g"])
            bad = [n for n, v in zip(self.names, g) if not _finite(v)]
            if bad:
                return f"{bad[-1]} (grad)"
        if d is not None and r.get("w") is not None:
            w = p.get(r["w"])
            bad = [n for n, v in zip(self.names, w) if not _finite(v)]
            if bad:
                return f"{bad[0]} (weight)"
        act = r.get("act")
        if act:
            layout, refs = act
            for (name, kind, _), k in zip(layout, widths(layout)):
                if kind != OUTPUT and not _finite(p.get(refs[k + 1])):
                    return f"{name} ({'input' if kind in (DEAD_IN, INPUT) else 'activation'})"
        if rec["step"] == 0:
            for row in self.header["model"]["layers"]:
                if isinstance(row.get("init_std"), str):
                    return f"{row['name']} (weight)"
        if act:
            return "loss (weights and activations finite)"
        if d is not None and r.get("w") is not None:
            return "loss (forward pass: weights finite, activations not sampled at this step)"
        return "loss (forward pass: weights and activations not sampled at this step)"

    # -- alerts ----------------------------------------------------------------------------------
    def _alerts(self, alerts: list[Alert], emitted: bool = True) -> None:
        """Hand alerts to the user (warning, log, ``on_alert``; rank 0 only) and note a stop,
        which :meth:`_resolve` raises once the batch of records is written."""
        from .live import _emit

        for a in alerts:
            self.alerts.append(a)
            if self.rank == 0:
                if not emitted:
                    _emit(a)
                if self.on_alert is not None:
                    try:
                        self.on_alert(a)
                    except TrainingStopped as stop:  # the callback may stop the run itself
                        if self.world > 1:
                            self._stop_request = self._stop_request or stop.alert
                        else:
                            self._stop_now = self._stop_now or stop
                    except Exception as exc:
                        self._degrade("the on_alert callback", exc)
            if a.symptom in self.stop_on:
                if self.world > 1 and a.symptom != "nan_inf":
                    # only rank 0 diagnoses: every rank learns of it at the next pull
                    self._stop_request = self._stop_request or a
                else:
                    self._stop_now = self._stop_now or TrainingStopped(a)

    def _raise_stop(self, stop: TrainingStopped) -> None:
        """Write what is known (the batch still on its way from the GPU too), switch off, raise."""
        self._stop_now = None
        inflight, self._inflight = self._inflight, None
        if inflight is not None:
            try:
                self._finish(inflight, final=True)
            except Exception:  # the stop matters more than the last records
                pass
        self._flush_quietly()
        self._off = True
        self._remove_hooks()
        raise stop

    def _flush_quietly(self) -> None:
        try:
            if self._writer is not None:
                self._writer.flush()
        except Exception:
            pass

    # -- closing ---------------------------------------------------------------------------------
    def close(self, _error: bool = False) -> None:
        """Write what is pending, remove the hooks and close the log. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            atexit.unregister(self._atexit)
        except Exception:
            pass
        self._remove_hooks()
        if not self._off:
            # after an exception other ranks may be gone: no collective calls then
            self._dist_ok_at_close = not _error
            try:
                self._resolve(final=True)
                if self._carry_calls and self._n_opt == 0 and not self._replay:
                    self._no_optimizer_steps()  # fewer calls than it takes to decide: say so now
                if self._replay and self._carry_calls:
                    self._replay_calls()
                    self._drain()
            except TrainingStopped:
                pass
            except Exception as exc:
                _report(f"monitor: the last records could not be written ({type(exc).__name__}: {exc})")
        self._off = True
        if self._writer is not None:
            failed = "writing the log" in self._failed  # already said once: close quietly
            try:
                self._writer.close()
            except Exception as exc:
                if not failed:
                    _report(f"monitor: closing {self.path} failed ({type(exc).__name__}: {exc}); "
                            f"the last records may be missing")

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run (the log is complete and closed)."""
        return self._closed

    @property
    def steps(self) -> int:
        """Steps recorded so far (optimizer steps plus skipped ones)."""
        return self._step


def _close_at_exit(ref) -> None:
    mon = ref()
    if mon is not None:
        mon.close(_error=True)
