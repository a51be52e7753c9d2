"""Accuracy: really-trained runs with one known fault each (and healthy controls), recorded as
loss-only logs in every format, and trained a second time under the live monitor
(``lossdoctor.watch`` at its defaults: the very log and alerts a user gets), then diagnosed.

    python bench/accuracy/run.py                 # every scenario, seeds 0..2 (~5 min on 2 cores)
    python bench/accuracy/run.py --seeds 1 --quick   # seed 0, fewer formats
    python bench/accuracy/run.py --only jena_lr_low jena_local_minimum --seeds 3

Figures (the goals of the accuracy benchmark):
- symptom accuracy: the scenario's symptom is among those found (healthy: none found), per format,
  with a confusion matrix (true symptom against symptoms found);
- quiz agreement: on plateau-then-drop runs, loss-only: regularization_too_strong, lr_too_low and
  stuck_plateau all possible (or better) and lr_too_high ruled out, as in the seed's answer;
- top-1 cause with internals: the highest-scoring cause is the true one and is `likely`
  (healthy controls: `healthy: true` and no likely cause);
- loss-only: the rank of the true cause, and how many causes stay possible or better;
- false alarms: healthy controls with any symptom or likely cause, or any live alert that names a
  cause;
- alert latency: on plateau-then-drop runs, the step of the first live alert that names the true
  cause, as a share of the plateau (which ends where the final diagnosis says the drop began).
A recording whose curve fails its scenario's own self-check is reported and left out of the figures
(the monitored run trains the same batches and is bit-identical, so it is judged by the same check).
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

MONITOR = "monitor"  # the log lossdoctor.watch wrote
LOSS_ONLY = ("csv", "keras_csv", "lightning", "tensorboard", "text", "trainer_state")
#: Formats that carry the loss curve and nothing else (Lightning adds hparams.yaml, trainer_state
#: the lr series): the seed's quiz is about what the curve alone says.
CURVE_ONLY = ("csv", "keras_csv", "text")
QUIZ_POSSIBLE = ("regularization_too_strong", "lr_too_low", "stuck_plateau")
FAIR = ("confirmed", "likely", "possible")


def one(name: str, seed: int, formats: tuple[str, ...], workdir: str) -> dict:
    """Record one scenario and diagnose it in every format (runs in a worker process)."""
    import logging
    import warnings

    import torch

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")  # live alerts also arrive as warnings and log records;
    logging.getLogger("lossdoctor").setLevel(logging.ERROR)  # they are collected below
    import lossdoctor
    from lossdoctor.scenarios import SCENARIOS, record, selfcheck
    from lossdoctor.scenarios.monitored import train_monitored

    sc = SCENARIOS[name]
    t0 = time.perf_counter()
    rec = record(name, seed=seed)
    train_s = time.perf_counter() - t0
    fails = selfcheck(name, rec)
    out = {"name": name, "seed": seed, "cause": sc.cause, "symptom": sc.symptom, "fails": fails,
           "train_s": train_s, "dx": {}, "alerts": []}
    for fmt in (MONITOR,) + formats:
        path = Path(workdir) / f"{name}_s{seed}" / fmt
        path.mkdir(parents=True, exist_ok=True)
        if fmt == MONITOR:
            mon = train_monitored(name, path / "run.jsonl", seed=seed)
            out["alerts"] = [(a.step, a.symptom, a.likely_cause) for a in mon.alerts]
            written = mon.path
        else:
            written = rec.write(path / {"jsonl": "run.jsonl", "csv": "run.csv", "keras_csv": "training.log",
                                    "text": "train.log", "trainer_state": "trainer_state.json"}.get(fmt, "run"), fmt)
        try:
            dx = lossdoctor.diagnose(written)
        except lossdoctor.LogError as exc:
            out["dx"][fmt] = {"error": str(exc)}
            continue
        ptd = dx.symptom("plateau_then_drop")
        out["dx"][fmt] = {
            "healthy": dx.healthy,
            "plateau_end": ptd.end if ptd else None,
            "symptoms": [s.id for s in dx.symptoms],
            "causes": [(c.id, c.verdict, c.score) for c in dx.causes],
        }
    return out


def _found(r: dict, fmt: str) -> bool:
    d = r["dx"].get(fmt, {})
    if "error" in d:
        return False
    return d["healthy"] if r["symptom"] is None else r["symptom"] in d["symptoms"]


def _alarm(r: dict, fmt: str) -> bool:
    """A healthy control that shows a symptom or a likely cause (or, live, an alert naming a cause)."""
    d = r["dx"].get(fmt, {})
    if "error" in d:
        return True
    live = fmt == MONITOR and any(cause for _, _, cause in r["alerts"])
    return (not d["healthy"]) or any(v in ("likely", "confirmed") for _, v, _ in d["causes"]) or live


def _confusion(ok: list[dict], fmts: tuple[str, ...]) -> list[str]:
    """True symptom (rows) against the symptoms found in those formats (a run counts once per
    symptom found, so a row can sum to more than its runs)."""
    cols: collections.Counter = collections.Counter()
    rows: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    n: collections.Counter = collections.Counter()
    for r in ok:
        truth = r["symptom"] or "healthy"
        for fmt in fmts:
            d = r["dx"].get(fmt)
            if d is None or "error" in d:
                continue
            n[truth] += 1
            for s in d["symptoms"] or ["none"]:
                rows[truth][s] += 1
                cols[s] += 1
    order = sorted(cols, key=lambda s: (s == "none", s))
    out = ["| true \\ found | logs | " + " | ".join(order) + " |", "|---|---|" + "---|" * len(order)]
    for truth in sorted(rows, key=lambda s: (s == "healthy", s)):
        out.append(f"| {truth} | {n[truth]} | " + " | ".join(str(rows[truth][s] or "") for s in order) + " |")
    return out


def figures(results: list[dict]) -> str:
    import statistics

    ok = [r for r in results if not r["fails"]]
    lines = []
    n_fail = len(results) - len(ok)
    lines.append(f"Recordings: {len(results)} ({len({r['name'] for r in results})} scenarios x "
                 f"{len({r['seed'] for r in results})} seeds); {n_fail} failed their own self-check and are left out.")
    for r in results:
        if r["fails"]:
            lines.append(f"  - {r['name']} seed {r['seed']}: {'; '.join(r['fails'])[:200]}")
    fmts = list(ok[0]["dx"]) if ok else []
    healthy = [r for r in ok if r["symptom"] is None]
    faulty = [r for r in ok if r["symptom"] is not None]
    # symptom accuracy per format
    lines += ["", "| log | symptom found (faulty runs) | healthy runs judged healthy | symptom accuracy (all) "
                  "| false alarms on healthy |", "|---|---|---|---|---|"]
    for fmt in fmts:
        hit = sum(_found(r, fmt) for r in faulty)
        hh = sum(_found(r, fmt) for r in healthy)
        fa = sum(_alarm(r, fmt) for r in healthy)
        label = "monitor (lossdoctor.watch)" if fmt == MONITOR else fmt
        lines.append(f"| {label} | {hit}/{len(faulty)} | {hh}/{len(healthy)} | "
                     f"{100 * (hit + hh) / max(len(ok), 1):.0f}% | {fa}/{len(healthy)} |")
    misses = [f"{r['name']} s{r['seed']} ({fmt}: {', '.join(r['dx'][fmt].get('symptoms', [])) or r['dx'][fmt].get('error', 'none')})"
              for r in faulty for fmt in fmts if not _found(r, fmt)]
    if misses:
        lines += ["", "Missed: " + "; ".join(misses)]
    lines += ["", "Symptoms found in the monitor's logs:", ""] + _confusion(ok, (MONITOR,))
    lines += ["", "Symptoms found in curve-only logs (csv, keras_csv, text):", ""] + _confusion(ok, CURVE_ONLY)
    # quiz agreement (loss-only, plateau-then-drop runs)
    q_hit = q_tot = 0
    for r in ok:
        if r["symptom"] != "plateau_then_drop":
            continue
        for fmt in fmts:
            if fmt not in CURVE_ONLY or "error" in r["dx"][fmt]:
                continue
            v = {c: verdict for c, verdict, _ in r["dx"][fmt]["causes"]}
            q_tot += 1
            q_hit += all(v.get(c) in FAIR for c in QUIZ_POSSIBLE) and v.get("lr_too_high") == "ruled_out"
    lines += ["", f"Quiz agreement on plateau-then-drop runs (curve-only logs: csv, keras_csv, text): "
                  f"{q_hit}/{q_tot} = {100 * q_hit / max(q_tot, 1):.0f}%"]
    # top-1 with internals
    conf: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    t_hit = t_tot = 0
    for r in ok:
        d = r["dx"].get(MONITOR, {})
        if "error" in d or not d:
            continue
        truth = r["cause"] or "healthy"
        if r["cause"] is None:
            pred = "healthy" if not _alarm(r, MONITOR) else "alarm"
        else:
            top = d["causes"][0]
            pred = top[0] if top[1] in ("likely", "confirmed") else f"({top[0]})"
        conf[truth][pred] += 1
        t_tot += 1
        t_hit += pred == truth
    lines += ["", f"Top-1 cause with internals (monitor logs): {t_hit}/{t_tot} = {100 * t_hit / max(t_tot, 1):.0f}%",
              "", "| true cause | top-1 with internals (count; in brackets: top cause not likely) |", "|---|---|"]
    for truth in sorted(conf):
        lines.append(f"| {truth} | " + ", ".join(f"{p}: {n}" for p, n in conf[truth].most_common()) + " |")
    # loss-only rank of the truth and number kept
    ranks, kept = [], []
    for r in ok:
        if r["cause"] is None:
            continue
        for fmt in fmts:
            if fmt == MONITOR or "error" in r["dx"][fmt]:
                continue
            causes = r["dx"][fmt]["causes"]
            ids = [c for c, _, _ in causes]
            ranks.append(ids.index(r["cause"]) + 1 if r["cause"] in ids else len(ids))
            kept.append(sum(v in FAIR for _, v, _ in causes))
    if ranks:
        lines += ["", f"Loss-only logs: rank of the true cause: median {statistics.median(ranks):.0f}, "
                      f"mean {statistics.mean(ranks):.1f}, top-3 {100 * sum(x <= 3 for x in ranks) / len(ranks):.0f}%; "
                      f"causes kept possible or better: mean {statistics.mean(kept):.1f} of 13"]
    # alert latency on plateau runs
    lat, rows = [], []
    for r in ok:
        if r["symptom"] != "plateau_then_drop" or MONITOR not in r["dx"]:
            continue
        end = r["dx"][MONITOR].get("plateau_end")
        first = next((s for s, _, c in r["alerts"] if c == r["cause"]), None)
        frac = first / end if (first is not None and end) else None
        if frac is not None:
            lat.append(frac)
        rows.append(f"| {r['name']} s{r['seed']} | {r['cause']} | {first if first is not None else '-'} | "
                    f"{'-' if end is None else f'{end:.0f}'} | {'-' if frac is None else f'{100 * frac:.0f}%'} |")
    if rows:
        lines += ["", f"Alert latency on plateau-then-drop runs (goal < 30% of the plateau): median "
                      f"{100 * statistics.median(lat):.0f}%, under 30% on {sum(x < 0.3 for x in lat)}/{len(rows)} runs"
                  if lat else "", "",
                  "| run | true cause | first live alert naming it (step) | plateau ends (step) | share of the plateau |",
                  "|---|---|---|---|---|"] + rows
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="csv and text only as loss-only formats")
    ap.add_argument("--only", nargs="*", help="scenario names")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("results.md"))
    ap.add_argument("--raw", type=Path, help="also write every diagnosis as JSON here")
    a = ap.parse_args()
    from lossdoctor.scenarios import SCENARIOS

    names = a.only or list(SCENARIOS)
    formats = ("csv", "text") if a.quick else LOSS_ONLY
    jobs = [(n, s) for s in range(a.seeds) for n in names]
    results = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, ProcessPoolExecutor(a.workers) as pool:
        futs = {pool.submit(one, n, s, formats, tmp): (n, s) for n, s in jobs}
        for i, f in enumerate(as_completed(futs), 1):
            n, s = futs[f]
            try:
                results.append(f.result())
            except Exception as exc:  # a scenario that crashes is reported, not hidden
                results.append({"name": n, "seed": s, "cause": None, "symptom": None,
                                "fails": [f"crashed: {type(exc).__name__}: {exc}"], "train_s": 0, "dx": {}})
            print(f"\r[{i}/{len(jobs)}] {n} seed {s}   ", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    results.sort(key=lambda r: (r["name"], r["seed"]))
    text = figures(results)
    text += f"\n\nWall time {time.perf_counter() - t0:.0f} s with {a.workers} worker(s)."
    print(text)
    a.out.write_text(text + "\n")
    if a.raw:
        import json

        a.raw.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
