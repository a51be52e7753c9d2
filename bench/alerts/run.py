"""Live monitor on really-trained runs: the diagnosis of the monitor's own logs, and how early
the first correct live alert fires on plateau runs.

    python bench/alerts/run.py               # every scenario, seed 0 (~2 min on 2 cores)
    python bench/alerts/run.py --only jena_lr_low jena_local_minimum

Figures:
- top-1 cause on the monitor's log (``lossdoctor.watch`` at its defaults): the top cause is the
  true one and ``likely``; healthy controls stay healthy;
- alert latency on plateau-then-drop runs: the step of the first alert that names the true cause,
  as a share of the plateau (the plateau ends where the final diagnosis says the drop began).
  Goal: before 30% of the plateau.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path


def one(name: str, seed: int, workdir: str) -> dict:
    import torch

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")  # alerts also arrive as warnings; they are collected below
    import lossdoctor
    from lossdoctor.scenarios import SCENARIOS
    from lossdoctor.scenarios.monitored import train_monitored

    sc = SCENARIOS[name]
    path = Path(workdir) / f"{name}_s{seed}.jsonl"
    run = train_monitored(name, path, seed=seed)
    dx = lossdoctor.diagnose(path)
    ptd = dx.symptom("plateau_then_drop")
    first = next((a.step for a in run.alerts if a.likely_cause == sc.cause), None)
    return {"name": name, "seed": seed, "cause": sc.cause, "symptom": sc.symptom,
            "healthy": dx.healthy, "top": (dx.causes[0].id, dx.causes[0].verdict),
            "symptoms": [s.id for s in dx.symptoms], "likely": [c.id for c in dx.likely],
            "plateau_end": ptd.end if ptd else None, "first_correct_alert": first,
            "alerts": [(a.step, a.symptom, a.likely_cause) for a in run.alerts][:6]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("results.md"))
    a = ap.parse_args()
    from lossdoctor.scenarios import SCENARIOS

    names = a.only or list(SCENARIOS)
    jobs = [(n, s) for s in range(a.seeds) for n in names]
    res = []
    with tempfile.TemporaryDirectory() as tmp, ProcessPoolExecutor(a.workers) as pool:
        futs = {pool.submit(one, n, s, tmp): (n, s) for n, s in jobs}
        for i, f in enumerate(as_completed(futs), 1):
            res.append(f.result())
            print(f"\r[{i}/{len(jobs)}]", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    res.sort(key=lambda r: (r["name"], r["seed"]))
    lines = ["| run | true cause | symptoms (monitor log) | top cause | first correct alert | plateau ends | latency |",
             "|---|---|---|---|---|---|---|"]
    hit = 0
    lat = []
    for r in res:
        ok = (r["healthy"] and not r["likely"]) if r["cause"] is None else r["top"] == (r["cause"], "likely")
        hit += ok
        latency = ""
        if r["symptom"] == "plateau_then_drop" and r["plateau_end"] and r["first_correct_alert"] is not None:
            frac = r["first_correct_alert"] / r["plateau_end"]
            lat.append(frac)
            latency = f"{100 * frac:.0f}%"
        lines.append(f"| {r['name']} s{r['seed']} | {r['cause'] or 'healthy'} | {', '.join(r['symptoms']) or '-'} | "
                     f"{r['top'][0]} ({r['top'][1]}){'' if ok else ' ✗'} | {r['first_correct_alert'] if r['first_correct_alert'] is not None else '-'} | "
                     f"{r['plateau_end'] if r['plateau_end'] is not None else '-'} | {latency} |")
    summary = [f"Top-1 cause on the monitor's own logs: {hit}/{len(res)} = {100 * hit / max(len(res), 1):.0f}%"]
    if lat:
        summary.append(f"Alert latency on plateau-then-drop runs: first correct alert at {', '.join(f'{100 * x:.0f}%' for x in lat)} "
                       f"of the plateau (worst {100 * max(lat):.0f}%; goal < 30%)")
    text = "\n".join(summary + [""] + lines)
    print(text)
    a.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
