"""Benchmark of ``lossdoctor verify``, run as a user would: ``lossdoctor verify --json -- python
<script>`` on real scripts, one verification at a time (each with ``--jobs``).

    python bench/verify/run.py scenarios                 # the scenario library (seed 0)
    python bench/verify/run.py jena --seeds 0,1,2,3,4    # Jena's three plateau runs, 5 seeds
    python bench/verify/run.py corpus --faulty 45 --healthy 15   # a held-out sample of the corpus
    python bench/verify/run.py executors                 # local vs dask vs ray: same verdicts?
    python bench/verify/run.py walltime                  # --jobs 2 against a sequential run
    python bench/verify/run.py summary RESULTS.jsonl...  # the figures of BENCHMARKS.md

Scenarios run ``python -m lossdoctor.scenarios.train NAME --out DIR --seed S`` (verify runs the
baseline itself); corpus runs are ``python bench/corpus/train.py recipe.json --out DIR`` with
``--log`` the run's own log from the corpus (the same script wrote it). Results go to one JSON
line per case (``--results``; cases already there are skipped, so a run resumes).

A case is *faulty* when its truth is a cause; ``true`` means that cause came out ``confirmed``,
``wrong`` that some other cause did. Healthy cases count any confirmation against.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("LOSSDOCTOR_CORPUS", Path.home() / ".cache" / "lossdoctor" / "corpus"))
WORK = Path(os.environ.get("LOSSDOCTOR_BENCH_WORK", "/tmp/lossdoctor-bench-verify"))
RESULTS = ROOT / "bench" / "verify" / "results"
JENA = ("jena_regularization", "jena_lr_low", "jena_local_minimum")


def lossdoctor() -> list[str]:
    exe = Path(sys.executable).with_name("lossdoctor")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "lossdoctor"]


def verify(case: str, command: list[str], out: Path, *, log: str | None = None, jobs: int = 2,
           extra: list[str] = ()) -> dict:
    argv = lossdoctor() + ["verify", "--json", "--no-live", "--jobs", str(jobs), "--out", str(out)]
    if log:
        argv += ["--log", log]
    argv += list(extra) + ["--"] + command
    t0 = time.monotonic()
    p = subprocess.run(argv, capture_output=True, text=True, cwd=str(ROOT))
    wall = time.monotonic() - t0
    rec = {"case": case, "rc": p.returncode, "wall_s": round(wall, 1)}
    try:
        dx = json.loads(p.stdout)
    except ValueError:
        rec["error"] = (p.stderr.strip().splitlines() or ["no output"])[-1][:300]
        return rec
    arms = dx.get("verification", [])
    rec["confirmed"] = [c["id"] for c in dx["causes"] if c["verdict"] == "confirmed"]
    rec["ruled_out_by_arms"] = [c["id"] for c in dx["causes"] if c["verdict"] == "ruled_out"
                                and any(e.startswith("rerun ") for e in c["evidence"])]
    rec["likely"] = [c["id"] for c in dx["causes"] if c["verdict"] == "likely"]
    rec["healthy"] = dx["healthy"]
    rec["symptoms"] = [s["id"] for s in dx["symptoms"]]
    rec["arms"] = [{"arm": a["arm"], "outcome": a["outcome"], "steps": a["steps"], "seconds": a.get("seconds")}
                   for a in arms]
    rec["arm_steps"] = sum(a["steps"] for a in arms)
    rec["notes"] = [w for w in dx.get("warnings", []) if w.startswith("verify:")]
    rec["baseline_steps"] = _baseline_steps(dx, out, log)
    return rec


def _baseline_steps(dx: dict, out: Path, log: str | None) -> int | None:
    for w in dx.get("warnings", []):
        if "x the baseline's" in w:
            try:
                return int(w.split("the baseline's ")[1].split(" ")[0].replace(",", ""))
            except (IndexError, ValueError):
                pass
    path = Path(log) if log else out / "baseline" / "run.jsonl"
    try:
        last = 0
        with open(path) as f:
            for line in f:
                if '"step"' in line:
                    last = json.loads(line).get("step", last)
        return int(last) + 1
    except OSError:
        return None


def _done(results: Path) -> set[str]:
    if not results.exists():
        return set()
    return {json.loads(line)["case"] for line in results.read_text().splitlines() if line.strip()}


def _append(results: Path, rec: dict) -> None:
    results.parent.mkdir(parents=True, exist_ok=True)
    with open(results, "a") as f:
        f.write(json.dumps(rec) + "\n")
    ok = ("true" if rec.get("truth") in rec.get("confirmed", []) else
          "WRONG" if rec.get("confirmed") else "-")
    print(f"{rec['case']:42s} truth={rec.get('truth')!s:28s} confirmed={','.join(rec.get('confirmed', [])) or '-':28s} "
          f"{ok:5s} rc={rec['rc']} arms={len(rec.get('arms', []))} steps={rec.get('arm_steps')}/{rec.get('baseline_steps')} "
          f"{rec['wall_s']}s {rec.get('error', '')}", flush=True)


# -- the suites ---------------------------------------------------------------------------------

def scenario_cases(names: list[str] | None, seeds: list[int]):
    sys.path.insert(0, str(ROOT / "src"))
    from lossdoctor.scenarios import SCENARIOS

    for seed in seeds:
        for name, sc in SCENARIOS.items():
            if names and name not in names:
                continue
            yield f"{name}@{seed}", sc.cause or "healthy", name, seed


def run_scenarios(args) -> Path:
    results = Path(args.results or RESULTS / f"scenarios{'_all' if args.all_arms else ''}.jsonl")
    done = _done(results)
    names = args.names.split(",") if args.names else None
    if args.suite == "jena":
        names = list(JENA)
        results = Path(args.results or RESULTS / "jena.jsonl")
        done = _done(results)
    for case, truth, name, seed in scenario_cases(names, args.seeds):
        if case in done:
            continue
        out = WORK / args.suite / case.replace("@", "_s")
        cmd = [sys.executable, "-m", "lossdoctor.scenarios.train", name, "--out", str(out / "user"),
               "--seed", str(seed)]
        rec = verify(case, cmd, out, jobs=args.jobs, extra=["--all-arms"] if args.all_arms else [])
        rec["truth"] = truth
        _append(results, rec)
    return results


def corpus_sample(split: str, n_faulty: int, n_healthy: int, seed: int) -> list[dict]:
    """A fixed sample of labelled corpus runs of ``split``: faulty runs drawn evenly over causes
    (round robin in a seeded order), healthy ones at random."""
    entries = []
    for lab in sorted(CORPUS.glob("*/label.json")):
        try:
            e = json.loads(lab.read_text())
        except ValueError:
            continue
        if e.get("split") == split and e.get("label") and (lab.parent / "run.jsonl").exists():
            entries.append(e)
    rng = random.Random(seed)
    rng.shuffle(entries)
    healthy = [e for e in entries if e["label"] == "healthy"][:n_healthy]
    by_cause: dict[str, list] = {}
    for e in entries:
        if e["label"] != "healthy":
            by_cause.setdefault(e["label"], []).append(e)
    faulty: list[dict] = []
    while len(faulty) < n_faulty and any(by_cause.values()):
        for cause in sorted(by_cause):
            if by_cause[cause] and len(faulty) < n_faulty:
                faulty.append(by_cause[cause].pop())
    return faulty + healthy


def run_corpus(args) -> Path:
    results = Path(args.results or RESULTS / f"corpus_{args.split}{'_all' if args.all_arms else ''}.jsonl")
    done = _done(results)
    for e in corpus_sample(args.split, args.faulty, args.healthy, args.sample_seed):
        case = e["id"]
        if case in done:
            continue
        out = WORK / f"corpus_{args.split}" / case
        out.mkdir(parents=True, exist_ok=True)
        recipe = out / "recipe.json"
        recipe.write_text(json.dumps({**e["recipe"], "id": case}))
        if e["recipe"].get("kind") == "scenario":  # a scenario recorded into the tuning split
            cmd = [sys.executable, "-m", "lossdoctor.scenarios.train", e["recipe"]["data"], "--out",
                   str(out / "user"), "--seed", str(e["recipe"].get("seed", 0))]
        else:
            cmd = [sys.executable, str(ROOT / "bench" / "corpus" / "train.py"), str(recipe), "--out",
                   str(out / "user")]
        rec = verify(case, cmd, out, log=str(CORPUS / case / "run.jsonl"), jobs=args.jobs,
                     extra=["--all-arms"] if args.all_arms else [])
        rec["truth"] = e["label"]
        rec["variant"] = (e["recipe"].get("fault") or {}).get("variant")
        rec["corpus_symptoms"] = e.get("symptoms")
        _append(results, rec)
    return results


def run_executors(args) -> Path:
    """The same verifications on the three executors: a local pool, a dask LocalCluster and a
    local Ray instance, each with 2 workers."""
    results = Path(args.results or RESULTS / "executors.jsonl")
    cases = [("jena_lr_low", 0), ("jena_regularization", 0), ("missing_zero_grad", 0), ("lr_high_adam", 0)]
    from distributed import LocalCluster

    import ray

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    ray_info = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        backends = [("local", []), ("dask", ["--executor", "dask", "--address", cluster.scheduler_address]),
                    ("ray", ["--executor", "ray", "--address", ray_info.address_info["address"]])]
        for name, seed in cases:
            for backend, extra in backends:
                case = f"{name}@{seed}:{backend}"
                out = WORK / "executors" / f"{name}_{backend}"
                cmd = [sys.executable, "-m", "lossdoctor.scenarios.train", name, "--out", str(out / "user"),
                       "--seed", str(seed)]
                rec = verify(case, cmd, out, jobs=2, extra=extra + ["--all-arms"])
                rec["truth"] = next(sc for sc in [_cause_of(name)])
                rec["backend"] = backend
                _append(results, rec)
    finally:
        ray.shutdown()
        cluster.close()
    return results


def _cause_of(name: str) -> str:
    sys.path.insert(0, str(ROOT / "src"))
    from lossdoctor.scenarios import SCENARIOS

    return SCENARIOS[name].cause or "healthy"


def run_walltime(args) -> Path:
    results = Path(args.results or RESULTS / "walltime.jsonl")
    for name in JENA:
        base = WORK / "walltime" / name
        log = base / "log" / f"{name}.jsonl"
        if not log.exists():
            subprocess.run([sys.executable, "-m", "lossdoctor.scenarios.train", name, "--out", str(log.parent)],
                           check=True)
        for jobs in (2, 1):
            out = base / f"jobs{jobs}"
            cmd = [sys.executable, "-m", "lossdoctor.scenarios.train", name, "--out", str(out / "user")]
            rec = verify(f"{name}:jobs{jobs}", cmd, out, log=str(log), jobs=jobs, extra=["--all-arms"])
            rec["truth"] = _cause_of(name)
            rec["jobs"] = jobs
            _append(results, rec)
    return results


# -- the figures ----------------------------------------------------------------------------------

def summary(paths: list[Path]) -> str:
    lines = []
    for path in paths:
        recs = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
        faulty = [r for r in recs if r.get("truth") != "healthy"]
        healthy = [r for r in recs if r.get("truth") == "healthy"]
        true = [r for r in faulty if r["truth"] in r.get("confirmed", [])]
        wrong = [r for r in faulty if any(c != r["truth"] for c in r.get("confirmed", []))]
        h_conf = [r for r in healthy if r.get("confirmed")]
        errors = [r for r in recs if r.get("error")]
        costs = [r["arm_steps"] / r["baseline_steps"] for r in faulty if r.get("baseline_steps") and "arm_steps" in r]
        lines.append(f"{path.name}: {len(recs)} cases ({len(faulty)} faulty, {len(healthy)} healthy, "
                     f"{len(errors)} errors)")
        if faulty:
            lines.append(f"  true cause confirmed  {len(true)}/{len(faulty)} = {len(true) / len(faulty):.0%}")
            lines.append(f"  wrong cause confirmed {len(wrong)}/{len(faulty)} = {len(wrong) / len(faulty):.0%}")
        if healthy:
            lines.append(f"  healthy with a confirmed cause {len(h_conf)}/{len(healthy)}")
        if costs:
            lines.append(f"  arm steps / baseline steps: median {statistics.median(costs):.2f}, "
                         f"mean {statistics.mean(costs):.2f}, max {max(costs):.2f}")
        by: dict[str, list] = {}
        for r in faulty:
            by.setdefault(r["truth"], []).append(r)
        for cause in sorted(by):
            rs = by[cause]
            t = sum(r["truth"] in r.get("confirmed", []) for r in rs)
            w = sum(any(c != r["truth"] for c in r.get("confirmed", [])) for r in rs)
            lines.append(f"    {cause:28s} {t}/{len(rs)} true, {w} wrong")
        for r in wrong + h_conf:
            lines.append(f"    ! {r['case']}: truth {r['truth']}, confirmed {r.get('confirmed')}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("suite", choices=("scenarios", "jena", "corpus", "executors", "walltime", "summary"))
    ap.add_argument("paths", nargs="*")
    ap.add_argument("--seeds", default="0", help="scenario seeds, comma-separated")
    ap.add_argument("--names", help="only these scenarios")
    ap.add_argument("--split", default="heldout")
    ap.add_argument("--faulty", type=int, default=45)
    ap.add_argument("--healthy", type=int, default=15)
    ap.add_argument("--sample-seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--all-arms", action="store_true")
    ap.add_argument("--results")
    args = ap.parse_args(argv)
    args.seeds = [int(s) for s in str(args.seeds).split(",") if s.strip()]
    if args.suite == "summary":
        print(summary([Path(p) for p in args.paths]))
        return 0
    run = {"scenarios": run_scenarios, "jena": run_scenarios, "corpus": run_corpus,
           "executors": run_executors, "walltime": run_walltime}[args.suite]
    path = run(args)
    print(summary([path]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
