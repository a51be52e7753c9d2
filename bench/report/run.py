"""The HTML report of a 1M-step log: `lossdoctor report FILE -o OUT`, whole process (start,
imports, read, diagnose on every point, thin for drawing, write), wall time and file size.

    python bench/report/run.py                 # 1M steps: 5-column CSV and a monitor JSONL with per-layer norms
    python bench/report/run.py --repeats 3

Goal (issue 10): <= 3 s and <= 5 MB. The CSV is bench/throughput's (step, loss, val_loss, lr,
grad_norm; val_loss every 1000 steps); the JSONL adds a per-layer gradient norm of 8 layers
every 10 steps, so the heat map is drawn too. Data under bench/report/data/ (git-ignored).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
DATA = HERE / "data"
_spec = importlib.util.spec_from_file_location("throughput", HERE.parent / "throughput" / "run.py")
throughput = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(throughput)

GOAL_S = 3.0
GOAL_MB = 5.0


def make_jsonl(path: Path, n: int, layers: int = 8, seed: int = 0) -> None:
    """A monitor-style log: loss, lr, grad_norm every step; per-layer norms every 10 steps."""
    if path.exists():
        return
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        f.write(json.dumps({"type": "header", "schema": "lossdoctor.log/1",
                            "hparams": {"optimizer": "adam", "lr": 1e-3}}) + "\n")
        chunk = 100_000
        for a in range(0, n, chunk):
            t = np.arange(a, min(n, a + chunk))
            loss = 0.1 + 2.2 * np.exp(-t / (0.15 * n)) * np.exp(0.1 * rng.standard_normal(t.size))
            g = 1 + 0.1 * rng.standard_normal(t.size)
            lines = []
            for i, step in enumerate(t):
                rec = {"step": int(step), "loss": round(float(loss[i]), 6), "lr": 1e-3,
                       "grad_norm": round(float(g[i]), 5)}
                if step % 10 == 0:
                    for k in range(layers):
                        rec[f"grad_norm/layer{k}.weight"] = round(float(g[i]) * 0.5 ** (layers - k), 6)
                if step % 1000 == 0:
                    rec["val_loss"] = round(float(loss[i]) + 0.05, 6)
                lines.append(json.dumps(rec))
            f.write("\n".join(lines) + "\n")
    tmp.rename(path)


def measure(log: Path, repeats: int) -> dict:
    exe = shutil.which("lossdoctor", path=str(Path(sys.executable).parent)) or "lossdoctor"
    out = DATA / (log.stem + ".html")
    cmd = [exe, "report", str(log), "-o", str(out)]
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=False)  # warm the page cache
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        times.append(time.perf_counter() - t0)
        if p.returncode not in (0, 1):
            sys.exit(f"lossdoctor report failed ({p.returncode}): {p.stderr.decode()[-500:]}")
    return {"log": log.name, "log_mb": log.stat().st_size / 1e6, "median_s": statistics.median(times),
            "min_s": min(times), "html_mb": out.stat().st_size / 1e6}


def breakdown(log: Path) -> str:
    """Where the time goes, in this process: read, diagnose (every point), write the report."""
    import lossdoctor
    from lossdoctor.report.html import write_html

    t0 = time.perf_counter()
    run = lossdoctor.read(log)
    t1 = time.perf_counter()
    dx = lossdoctor.diagnose(run)
    t2 = time.perf_counter()
    write_html(dx, DATA / "breakdown.html")
    t3 = time.perf_counter()
    return f"read {t1 - t0:.2f} s, diagnose {t2 - t1:.2f} s, write the report {t3 - t2:.2f} s"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    n = 1_000_000
    csv = DATA / f"steps_{n}.csv"
    throughput.make_csv(csv, n)
    jsonl = DATA / f"monitor_{n}.jsonl"
    make_jsonl(jsonl, n)
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")
    ok = True
    for log in (csv, jsonl):
        r = measure(log, a.repeats)
        good = r["median_s"] <= GOAL_S and r["html_mb"] <= GOAL_MB
        ok &= good
        print(f"{r['log']:<24} {r['log_mb']:>5.0f} MB log  median {r['median_s']:.2f} s "
              f"(min {r['min_s']:.2f})  report {r['html_mb']:.2f} MB  {'ok' if good else 'OVER GOAL'}")
        print(f"{'':<24} in-process: {breakdown(log)}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
