"""Overhead of the live monitor: step time with ``lossdoctor.watch`` over step time without.

    python bench/overhead/run.py                      # CPU, 1 thread, MLP + CNN + transformer
    python bench/overhead/run.py --quick              # fewer repetitions
    python bench/overhead/run.py --device cuda        # on a GPU (goal: <= 1.01 at defaults)

Both arms run in ONE process, on two identical copies of the model (same init, same batch).
The monitored arm runs what a user gets by default: records written to a real file, live alerts
on. The figure is the median, over ``--reps`` blocks, of (monitored time / plain time) within a
block, with the quartiles and the mean; alternating cancels drift, the median ignores the odd
block hit by a hiccup, and the mean includes the periodic work (samples every 10 steps,
activation samples every 100, live checks) in full.

- CPU (``torch.set_num_threads(1)``): steps alternate one by one (plain, monitored, monitored,
  plain, ...), each timed by the training thread's CPU time (``time.thread_time``: every op runs
  on that thread, file writes included), so other processes on the machine stay out of the
  figures; a block is ``--block`` step pairs.
- CUDA: whole blocks of ``--block`` steps alternate, timed by wall clock and synchronised only at
  their ends, so that the monitor's host work overlaps the GPU's as in training (a sync per step
  would serialise them). The models are wider there: a CPU-sized model on a GPU is all launch
  latency.

A second estimate, "self-time", times the monitor's own code (``mon.step``, its optimizer and
forward hooks) directly: on the CPU it is the overhead without the noise of the A/B difference;
on a GPU it is host time that overlaps the GPU's work when the step is GPU-bound.

Goals (defaults): transformer <= 1.03, MLP <= 1.10 on the CPU; <= 1.01 on a GPU.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

import lossdoctor
from lossdoctor.collect import live as live_module
from lossdoctor.collect import monitor as monitor_module

GOALS_CPU = {"mlp": 1.10, "cnn": 1.10, "transformer": 1.03}
GOAL_GPU = 1.01


class TinyTransformer(nn.Module):
    def __init__(self, vocab: int, d: int, layers: int, heads: int, ff: int):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        layer = nn.TransformerEncoderLayer(d, heads, ff, dropout=0.1, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d, vocab)

    def forward(self, x):
        return self.head(self.enc(self.emb(x))).flatten(0, 1)


def make(name: str, device: str, big: bool):
    """(model factory, inputs, targets): small models on the CPU, wider ones on a GPU (a GPU
    step of a CPU-sized model is all launch latency and measures nothing real)."""
    g = torch.Generator().manual_seed(0)
    if name == "mlp":
        w, b = (4096, 1024) if big else (256, 64)
        f = lambda: nn.Sequential(nn.Linear(784, w), nn.ReLU(), nn.Linear(w, w), nn.ReLU(),
                                  nn.Linear(w, 10))
        x, y = torch.randn(b, 784, generator=g), torch.randint(0, 10, (b,), generator=g)
    elif name == "cnn":
        c = 64 if big else 16
        f = lambda: nn.Sequential(nn.Conv2d(3, c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(c, 2 * c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Flatten(), nn.Linear(2 * c * 8 * 8, 10))
        b = 256 if big else 32
        x, y = torch.randn(b, 3, 32, 32, generator=g), torch.randint(0, 10, (b,), generator=g)
    elif name == "transformer":
        vocab, d, layers, heads, ff, b, t = ((8192, 512, 6, 8, 2048, 32, 128) if big else
                                             (512, 128, 2, 4, 256, 16, 32))
        f = lambda: TinyTransformer(vocab, d, layers, heads, ff)
        x = torch.randint(0, vocab, (b, t), generator=g)
        y = torch.randint(0, vocab, (b * t,), generator=g)
    else:
        raise SystemExit(f"unknown model {name}")
    return f, x.to(device), y.to(device)


def arm(factory, device: str, seed: int = 0):
    torch.manual_seed(seed)
    model = factory().to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    return model, opt


def bench(name: str, device: str, settings: dict, reps: int, block: int, warmup: int, tmp: Path):
    factory, x, y = make(name, device, big=device != "cpu")
    loss_fn = nn.CrossEntropyLoss()
    m0, o0 = arm(factory, device)
    m1, o1 = arm(factory, device)
    cuda = device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    # On the CPU, with one thread, all the work (torch's and the monitor's) runs on this thread:
    # its CPU time is immune to the machine's other load, which wall time is not.
    clock = time.perf_counter if cuda else time.thread_time
    mon = lossdoctor.watch(m1, o1, path=tmp / f"{name}.jsonl", **settings)
    self_time = _time_monitor(mon, time.perf_counter if cuda else time.thread_time)

    def plain(n):
        for _ in range(n):
            loss = loss_fn(m0(x), y)
            o0.zero_grad(set_to_none=True)
            loss.backward()
            o0.step()

    def watched(n):
        for _ in range(n):
            loss = loss_fn(m1(x), y)
            o1.zero_grad(set_to_none=True)
            loss.backward()
            o1.step()
            mon.step(loss)

    plain(warmup)
    watched(warmup)
    sync()
    self_time[0] = 0.0
    n_watched = 0
    ratios, t_plain, t_watch = [], [], []
    for r in range(reps):
        if cuda:
            # blocks of steps, synchronised only at their ends: the monitor's host work overlaps
            # the GPU's as it does in training (a sync per step would serialise them)
            times = {}
            for fn in ((plain, watched) if r % 2 == 0 else (watched, plain)):
                sync()
                t0 = clock()
                fn(block)
                sync()
                times[fn] = clock() - t0
            tp, tw = times[plain], times[watched]
        else:
            # one plain step, one monitored step, alternately, each timed: both arms see the
            # same machine state, step by step; the block's sums give one ratio
            tp = tw = 0.0
            for i in range(block):
                for fn in ((plain, watched) if i % 2 == 0 else (watched, plain)):
                    t0 = clock()
                    fn(1)
                    dt = clock() - t0
                    if fn is plain:
                        tp += dt
                    else:
                        tw += dt
        n_watched += block
        ratios.append(tw / tp)
        t_plain.append(tp / block)
        t_watch.append(tw / block)
    mon.close()
    q = statistics.quantiles(ratios, n=4)
    step_plain = statistics.median(t_plain)
    return {"model": name, "device": device, "settings": settings, "ratio": statistics.median(ratios),
            "mean": statistics.fmean(ratios),
            "q1": q[0], "q3": q[2], "step_ms": 1e3 * step_plain,
            "overhead_us": 1e6 * (statistics.median(t_watch) - step_plain),
            "self_us": 1e6 * self_time[0] / n_watched,
            "self_ratio": 1 + self_time[0] / n_watched / step_plain,
            "n_params": sum(p.numel() for p in m0.parameters()), "reps": reps, "block": block,
            "live_checks": mon._live.checks if mon._live is not None else 0}


def bench_toggle(name: str, settings: dict, reps: int, block: int, warmup: int, tmp: Path):
    """CPU: ONE model and optimizer, the monitor attached for one step and detached for the
    next, alternately (its optimizer hooks removed, ``mon.step`` not called), each step timed by
    the thread's CPU time. Two copies of a model, however identical, are not: their tensors sit
    at other addresses, and on this machine that alone moved a copy's step by 2-3% either way
    (a measured 1.02-1.03 for two unmonitored copies with no-op hooks, 0.99 for one copy with the
    same hooks switched on and off). Toggling one model measures the monitor and nothing else."""
    saved = monitor_module._clock, live_module._clock
    try:
        return _toggle(name, settings, reps, block, warmup, tmp)
    finally:  # the monitor's clocks as they were, also when a run fails
        monitor_module._clock, live_module._clock = saved


def _toggle(name: str, settings: dict, reps: int, block: int, warmup: int, tmp: Path):
    factory, x, y = make(name, "cpu", big=False)
    loss_fn = nn.CrossEntropyLoss()
    model, opt = arm(factory, "cpu")
    clock = time.thread_time
    # The monitor's budget times the steps it sees; here every other step is unmonitored, which
    # it would take for a step twice as long (and space its work half as far); the live checks,
    # held to a share of wall time, would come twice as often per monitored step. Their clocks
    # run during the monitored steps only, as in a run where every step is monitored.
    virt = [0.0, None]
    vclock = lambda: virt[0] + (time.perf_counter() - virt[1] if virt[1] is not None else 0.0)  # noqa: E731
    monitor_module._clock = live_module._clock = vclock  # the budget's and the live checks' clocks
    mon = lossdoctor.watch(model, opt, path=tmp / f"{name}.jsonl", **settings)
    # The ratio is measured on the monitor as it is; its self-time in further blocks, through
    # timing wrappers (perf_counter: the thread's CPU time costs ~4 us to read right after a
    # step), which would otherwise add their own cost to the ratio.
    raw = [mon._pre_hook, mon._post_hook, mon.step, mon._probe._record]
    self_time = _time_monitor(mon, time.perf_counter)
    timed = [*mon._timed_hooks, mon.step, mon._probe._record]
    hooks = list(mon._handles)
    use = [None, None]

    def select(fns):
        use[0], use[1], mon.step, mon._probe._record = fns
        mon._pre_fn = use[0]

    select(raw)

    def attach():
        # as the monitor leaves them after its last step: the post-hook, and the pre-hook if
        # the coming step reads something
        mon._handles = [opt.register_step_post_hook(use[1])]
        mon._arm_activations(mon._n_opt)
        mon._sync_pre()

    def detach():
        mon._remove_hooks()
        mon._stale_armed = False

    for h in hooks:
        h.remove()
    mon._handles = []
    mon._drop_pre()

    def one(watched: bool) -> float:
        if watched:
            attach()
            virt[1] = time.perf_counter()
        t0 = clock()
        loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if watched:
            mon.step(loss)
        dt = clock() - t0
        if watched:
            virt[0] += time.perf_counter() - virt[1]
            virt[1] = None
            detach()
        return dt

    def blocks(n):
        out = []
        for _ in range(n):
            tp = tw = 0.0
            for i in range(block):
                for watched in ((False, True) if i % 2 == 0 else (True, False)):
                    dt = one(watched)
                    if watched:
                        tw += dt
                    else:
                        tp += dt
            out.append((tw / tp, tp / block, tw / block))
        return out

    for i in range(2 * warmup):
        one(i % 2 == 0)
    got = blocks(reps)
    ratios, t_plain, t_watch = ([g[k] for g in got] for k in range(3))
    select(timed)
    self_time[0] = 0.0
    self_reps = max(4, reps // 4)
    blocks(self_reps)
    select(raw)
    attach()
    mon.close()
    q = statistics.quantiles(ratios, n=4)
    step_plain = statistics.median(t_plain)
    n_watched = self_reps * block
    return {"model": name, "device": "cpu", "settings": settings, "ratio": statistics.median(ratios),
            "mean": statistics.fmean(ratios), "q1": q[0], "q3": q[2], "step_ms": 1e3 * step_plain,
            "overhead_us": 1e6 * (statistics.median(t_watch) - step_plain),
            "self_us": 1e6 * self_time[0] / n_watched, "self_ratio": 1 + self_time[0] / n_watched / step_plain,
            "n_params": sum(p.numel() for p in model.parameters()), "reps": reps, "block": block,
            "live_checks": mon._live.checks if mon._live is not None else 0, "method": "toggle",
            "budget": ({"grad_every": mon._budget.grad_every, "sample_every": mon._budget.sample_every,
                        "act_every": mon._budget.act_every}
                       if getattr(mon, "_budget", None) is not None else None)}


def _time_monitor(mon, clock):
    """Time spent inside the monitor itself (``mon.step``, its optimizer hooks, its forward
    hooks): a second, noise-free estimate of the overhead. The hooks are re-registered through
    timing wrappers; what they run is unchanged."""
    acc = [0.0]

    def timed(fn):
        def inner(*a, **k):
            t0 = clock()
            try:
                return fn(*a, **k)
            finally:
                acc[0] += clock() - t0
        return inner

    for h in mon._handles:
        h.remove()
    opt = mon.optimizer
    mon._timed_hooks = (timed(mon._pre_hook), timed(mon._post_hook))
    # the pre-hook is registered by the monitor for the steps that need it (see _sync_pre)
    mon._drop_pre()
    mon._pre_fn = mon._timed_hooks[0]
    mon._handles = [opt.register_step_post_hook(mon._timed_hooks[1])]
    mon._sync_pre()
    mon._probe._record = timed(mon._probe._record)
    mon.step = timed(mon.step)
    return acc


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--models", default="mlp,cnn,transformer")
    ap.add_argument("--reps", type=int, default=60)
    ap.add_argument("--block", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="10 repetitions of 25 steps")
    ap.add_argument("--detail", default="default,full", help="settings to measure")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--method", choices=("toggle", "copies"), default="toggle",
                    help="CPU: one model with the monitor switched on and off step by step (default), or "
                         "two copies of the model, one monitored (the method before 2026-12-07)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    reps, block = (10, 25) if a.quick else (a.reps, a.block)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for name in a.models.split(","):
            for detail in a.detail.split(","):
                if a.device == "cpu" and a.method == "toggle":
                    r = bench_toggle(name, {"detail": detail}, reps, block, warmup=max(10, block // 2), tmp=Path(d))
                else:
                    r = bench(name, a.device, {"detail": detail}, reps, block, warmup=max(10, block // 2),
                              tmp=Path(d))
                rows.append(r)
                goal = None
                if detail == "default":
                    goal = GOAL_GPU if a.device != "cpu" else GOALS_CPU.get(name)
                verdict = "" if goal is None else ("  ok" if r["ratio"] <= goal else f"  ABOVE GOAL {goal}")
                print(f"{name:12s} {detail:8s} ratio {r['ratio']:.3f} (IQR {r['q1']:.3f}-{r['q3']:.3f})  "
                      f"step {r['step_ms']:.2f} ms  +{r['overhead_us']:.0f} us/step; monitor self-time "
                      f"{r['self_us']:.0f} us/step = ratio {r['self_ratio']:.3f}{verdict}", flush=True)
    dev = torch.cuda.get_device_name() if a.device.startswith("cuda") else f"CPU, {a.threads} thread(s)"
    print("\n| model | params | detail | step (ms) | ratio (median) | IQR | mean | monitor self-time "
          "(us/step) | 1 + self-time/step |\n|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['n_params']:,} | {r['settings']['detail']} | {r['step_ms']:.2f} | "
              f"{r['ratio']:.3f} | {r['q1']:.3f}-{r['q3']:.3f} | {r['mean']:.3f} | {r['self_us']:.0f} | "
              f"{r['self_ratio']:.3f} |")
    how = ("blocks alternating" if a.device.startswith("cuda") else
           "one model, the monitor on and off step by step, thread CPU time" if a.method == "toggle" else
           "step pairs alternating, thread CPU time")
    print(f"\n{dev}; torch {torch.__version__}; {reps} blocks of {block} steps ({how})")
    if a.json:
        Path(a.json).write_text(json.dumps({"device": dev, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
