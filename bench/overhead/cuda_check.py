"""Checks of the monitor that need a GPU (the test suite runs on the CPU):

    python bench/overhead/cuda_check.py [--device cuda]

1. Host-device syncs: with ``torch.cuda.set_sync_debug_mode("warn")`` every synchronising call
   warns; over 96 monitored steps at the defaults at most the batched pulls (one per
   ``sync_every`` = 32 steps) may sync, and with deferred reads none should.
2. Same losses, bit for bit, with and without the monitor (``detail="full"``).
3. Oracle on the GPU: grad_norm and update_ratio against a direct computation.
4. AMP: fp16 autocast with a GradScaler; a step whose gradients hold an inf is recorded as
   ``skipped``, the others carry the unscaled gradient norm.

Prints one line per check and exits 1 if any fails.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

import lossdoctor
from lossdoctor.collect import watch


def model_and_data(device, seed=0):
    torch.manual_seed(seed)
    m = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.Tanh(),
                      nn.Linear(256, 10)).to(device)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(128, 64, generator=g).to(device)
    y = torch.randint(0, 10, (128,), generator=g).to(device)
    return m, x, y


def records(path):
    import json

    return [r for r in map(json.loads, Path(path).read_text().splitlines()) if "type" not in r]


def check_syncs(device, tmp) -> tuple[bool, str]:
    m, x, y = model_and_data(device)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
    mon = watch(m, opt, tmp / "sync.jsonl")
    for _ in range(40):  # warm-up, first pulls, first live check
        loss = F.cross_entropy(m(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        mon.step(loss)
    torch.cuda.synchronize()
    steps, syncs = 96, []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            for _ in range(steps):
                loss = F.cross_entropy(m(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                mon.step(loss)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    # the first warning is torch's notice that the debug mode is a prototype: not a sync
    syncs = [str(w.message).splitlines()[0] for w in caught
             if "synchroniz" in str(w.message).lower() and "prototype feature" not in str(w.message)]
    mon.close()
    allowed = steps // mon.sync_every + 1
    kinds = sorted(set(syncs))[:3]
    return len(syncs) <= allowed, (f"{len(syncs)} syncs in {steps} steps (allowed {allowed}: one per pull)"
                                   + (f": {kinds}" if kinds else ""))


def train(device, path, **kw):
    m, x, y = model_and_data(device)
    opt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
    mon = watch(m, opt, path, **kw) if path else None
    losses, ref = [], []
    for _ in range(20):
        loss = F.cross_entropy(m(x), y)
        opt.zero_grad()
        loss.backward()
        g = math.sqrt(sum(p.grad.double().norm().item() ** 2 for p in m.parameters()))
        before = [p.detach().clone() for p in m.parameters()]
        opt.step()
        dw = math.sqrt(sum((p.detach() - b).double().norm().item() ** 2
                           for p, b in zip(m.parameters(), before)))
        w = math.sqrt(sum(b.double().norm().item() ** 2 for b in before))
        ref.append((g, dw / w))
        losses.append(loss.detach())
        if mon:
            mon.step(loss)
    if mon:
        mon.close()
    return torch.stack(losses).cpu(), ref


def check_identity_and_oracle(device, tmp) -> list[tuple[bool, str]]:
    plain, _ = train(device, None)
    watched, ref = train(device, tmp / "full.jsonl", detail="full")
    recs = records(tmp / "full.jsonl")
    same = torch.equal(plain, watched)
    worst = max(max(abs(r["grad_norm"] / g - 1), abs(r["update_ratio"] / u - 1))
                for r, (g, u) in zip(recs, ref))
    run = lossdoctor.read(tmp / "full.jsonl")
    ok_read = all(k in run.series
                  for k in ("grad_norm", "update_ratio", "dead_frac", "saturation", "wd_share"))
    return [(same, "losses bit-identical with and without the monitor" if same else "LOSSES DIFFER"),
            (worst < 1e-4 and ok_read,
             f"grad_norm and update_ratio within {worst:.1e} of a direct computation")]


def check_amp(device, tmp) -> tuple[bool, str]:
    m, x, y = model_and_data(device)
    opt = torch.optim.SGD(m.parameters(), lr=0.05)
    scaler = torch.amp.GradScaler("cuda", init_scale=2.0 ** 10)
    ref = {}
    with watch(m, opt, tmp / "amp.jsonl", scaler=scaler, detail="full", alerts=False) as mon:
        for s in range(8):
            with torch.autocast("cuda", dtype=torch.float16):
                loss = F.cross_entropy(m(x), y)
            opt.zero_grad()
            scaler.scale(loss).backward()
            sc = scaler.get_scale()
            ref[s] = math.sqrt(sum((p.grad.double() / sc).norm().item() ** 2 for p in m.parameters()))
            if s == 3:
                m[0].weight.grad[0, 0] = math.inf
            scaler.step(opt)
            scaler.update()
            mon.step(loss)
    recs = records(tmp / "amp.jsonl")
    skipped = [r["step"] for r in recs if r.get("skipped")]
    worst = max(abs(r["grad_norm"] / ref[r["step"]] - 1) for r in recs if "grad_norm" in r)
    ok = skipped == [3] and worst < 1e-3 and len(recs) == 8
    return ok, f"AMP: skipped steps {skipped} (expected [3]); unscaled grad_norm within {worst:.1e}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device")
        return 1
    print(torch.cuda.get_device_name(), torch.__version__)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        results = [check_syncs(a.device, tmp), *check_identity_and_oracle(a.device, tmp),
                   check_amp(a.device, tmp)]
    for ok, msg in results:
        print(("ok   " if ok else "FAIL ") + msg)
    return 0 if all(ok for ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
