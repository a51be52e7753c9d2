"""Throughput: `lossdoctor diagnose` on large CSV logs, whole process, wall time and peak memory.

    python bench/throughput/run.py            # 1M steps (goal: <= 0.6 s, <= 300 MB) and 10M steps
    python bench/throughput/run.py --quick    # 1M only

Writes the CSVs under bench/throughput/data/ (git-ignored), runs the real console command
through the installed entry point several times and prints the median, plus a Markdown row for
BENCHMARKS.md. Peak memory is the child's max RSS (getrusage), which includes the interpreter.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
DATA = HERE / "data"


def make_csv(path: Path, n: int, seed: int = 0) -> None:
    """A 5-column log (step, loss, val_loss, lr, grad_norm) of a noisy, decaying run, written in
    chunks so 10M rows need little memory."""
    if path.exists():
        return
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        f.write("step,loss,val_loss,lr,grad_norm\n")
        chunk = 1_000_000
        for a in range(0, n, chunk):
            t = np.arange(a, min(n, a + chunk))
            loss = 0.1 + 2.2 * np.exp(-t / (0.15 * n)) * np.exp(0.1 * rng.standard_normal(t.size))
            val = np.where(t % 1000 == 0, loss + 0.05, np.nan)
            lr = 1e-3 * 0.5 * (1 + np.cos(np.pi * t / n))
            g = 1 + 0.1 * rng.standard_normal(t.size)
            cols = np.column_stack([t, loss, val, lr, g])
            lines = "\n".join(
                f"{int(r[0])},{r[1]:.6f},{'' if np.isnan(r[2]) else f'{r[2]:.6f}'},{r[3]:.6g},{r[4]:.5f}" for r in cols
            )
            f.write(lines + "\n")
    tmp.rename(path)


def run_once(cmd: list[str]) -> tuple[float, float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if p.returncode not in (0, 1):
        sys.exit(f"lossdoctor failed ({p.returncode}): {p.stderr.decode()[-500:]}")
    return dt, max(rss, before) / 1024, p.returncode


def measure(path: Path, repeats: int) -> dict:
    exe = shutil.which("lossdoctor") or str(Path(sys.executable).parent / "lossdoctor")
    cmd = [exe, "diagnose", str(path), "--json"]
    run_once(cmd)  # warm the page cache
    times, peak = [], 0.0
    for _ in range(repeats):
        # a fresh process per run: ru_maxrss of children is a high-water mark, so measure each in its own
        # grandchild via /usr/bin/time when present
        dt, _, _ = run_once(cmd)
        times.append(dt)
    peak = peak_rss(cmd)
    return {"file": path.name, "rows": sum(1 for _ in open(path)) - 1 if path.stat().st_size < 5e8 else None,
            "size_mb": path.stat().st_size / 1e6, "median_s": statistics.median(times),
            "min_s": min(times), "peak_mb": peak}


def peak_rss(cmd: list[str]) -> float:
    """Peak RSS of one run, in MB, measured in a fresh child of a fresh Python process."""
    code = ("import resource,subprocess,sys;subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL);"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, *cmd], capture_output=True, text=True)
    return int(out.stdout.strip()) / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="1M steps only")
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    sizes = [1_000_000] if a.quick else [1_000_000, 10_000_000]
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")
    for n in sizes:
        p = DATA / f"steps_{n}.csv"
        make_csv(p, n)
        r = measure(p, a.repeats if n <= 1_000_000 else max(1, a.repeats // 2))
        print(f"{n:>10,} steps  {r['size_mb']:.0f} MB  median {r['median_s']:.3f} s  "
              f"(min {r['min_s']:.3f})  peak {r['peak_mb']:.0f} MB")


if __name__ == "__main__":
    main()
