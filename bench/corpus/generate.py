"""Regenerate the training corpus: draw recipes, train each (faulty runs also as a paired fixed
run), label by intervention, and write every labelled run in every format the readers take.

    python bench/corpus/generate.py                       # 1400 drawn recipes + 250 healthy, all cores
    python bench/corpus/generate.py --n 40 --out /tmp/c   # a small corpus
    python bench/corpus/generate.py --only r0007 r0012    # replay some recipes
    python bench/corpus/generate.py --seed 1 --split heldout --out ~/.cache/lossdoctor/corpus_fresh
                                                          # a fresh held-out draw, looked at once

Runs are cached: a recipe whose folder already holds its ``label.json`` (made from the same
recipe) is not trained again, so an interrupted generation resumes where it stopped. The
corpus lives outside git (hundreds of MB); ``manifest.jsonl`` in its folder lists every recipe
with its split, label and files.

Per labelled run, in ``<out>/<id>/``: ``run.jsonl`` (the monitor log: per-step internals),
``run.csv``, ``training.log`` (Keras CSVLogger, per epoch), ``lightning/`` (CSVLogger +
hparams.yaml), ``tensorboard/``, ``train.log`` (terminal text), ``trainer_state.json`` (HF); the
loss-only formats are logged every ``recipe.log.every`` steps (or once an epoch).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from corpus import recipes as R  # noqa: E402

DEFAULT_OUT = Path(os.environ.get("LOSSDOCTOR_CORPUS", Path.home() / ".cache" / "lossdoctor" / "corpus"))
DEFAULT_N = 1400
DEFAULT_HEALTHY = 250
#: The loss-only formats and the file (or folder) each is written to.
FORMATS = {"csv": "run.csv", "keras_csv": "training.log", "lightning": "lightning", "tensorboard": "tensorboard",
           "text": "train.log", "trainer_state": "trainer_state.json"}
MONITOR_FILE = "run.jsonl"


def recipe_hash(recipe: dict[str, Any]) -> str:
    return hashlib.sha1(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


#: Each run's curves (faulty and fixed), kept so that labels can be decided again without training.
CURVES_FILE = "curves.json.gz"
_ROW_KEYS = ("step", "epoch", "loss", "lr", "grad_norm", "val_loss")


def one(recipe: dict[str, Any], out: str) -> dict[str, Any]:
    """Train, label and write one recipe (in a worker process)."""
    import logging
    import warnings

    warnings.simplefilter("ignore")
    logging.getLogger("lossdoctor").setLevel(logging.CRITICAL)
    from corpus import train as T

    folder = Path(out) / recipe["id"]
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    t0 = time.perf_counter()
    entry: dict[str, Any] = {"id": recipe["id"], "hash": recipe_hash(recipe), "split": recipe["split"],
                             "recipe": recipe}
    try:
        res = T.train(recipe, folder / MONITOR_FILE)
        fixed = T.train(R.apply_fix(recipe), monitor=False) if recipe.get("fix") else None
        save_curves(folder, res, fixed)
        entry["alerts"] = [[a.step, a.symptom, a.likely_cause] for a in res.alerts]
        entry["steps"] = len(res.rows)
        entry = label_one(entry, folder, res, fixed)
    except Exception as exc:  # a recipe that cannot train is dropped, with its reason
        entry.update(label=None, symptoms=[], why=f"error: {type(exc).__name__}: {exc}"[:300])
    entry["seconds"] = round(time.perf_counter() - t0, 2)
    (folder / "label.json").write_text(json.dumps(entry, default=_plain))
    return entry


def label_one(entry: dict[str, Any], folder: Path, res, fixed) -> dict[str, Any]:
    """Decide the label from the two runs' curves; write the loss-only formats of a labelled run."""
    from corpus import label as L

    recipe = entry["recipe"]
    for k in ("label", "symptoms", "why", "found", "fixed_found", "fixed_healthy", "end", "fixed_end", "files"):
        entry.pop(k, None)
    entry.update(L.decide(recipe, L.recording(res), L.recording(fixed) if fixed is not None else None))
    if entry["label"] is not None:
        entry["files"] = write_formats(res, folder, recipe)
    return entry


def save_curves(folder: Path, res, fixed) -> None:
    import gzip

    def pack(r):
        if r is None:
            return None
        return {"rows": [{k: x[k] for k in _ROW_KEYS if k in x} for x in r.rows], "hparams": r.hparams,
                "model": r.model, "steps_per_epoch": r.steps_per_epoch, "val_every": r.val_every,
                "n_classes": r.n_classes, "task": r.task}

    with gzip.open(folder / CURVES_FILE, "wt") as f:
        json.dump({"faulty": pack(res), "fixed": pack(fixed)}, f, default=_plain)


def load_curves(folder: Path):
    import gzip

    from corpus.train import Result

    with gzip.open(folder / CURVES_FILE, "rt") as f:
        d = json.load(f)
    unpack = lambda x: None if x is None else Result(**x)  # noqa: E731
    return unpack(d["faulty"]), unpack(d["fixed"])


def add_scenarios(out: Path, seeds: int, jobs: int) -> None:
    """Record the scenario library's runs into the corpus folder (see corpus.scenario_runs);
    recordings already there are kept."""
    from corpus import scenario_runs as SR

    todo = [(n, s) for n, s in SR.jobs(seeds) if not (Path(out) / f"s_{n}_{s}" / "label.json").exists()]
    print(f"scenarios: {len(todo)} recordings to make", flush=True)
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futs = [pool.submit(SR.one, n, s, str(out)) for n, s in todo]
        for k, fut in enumerate(as_completed(futs), 1):
            fut.result()
            if k % 20 == 0 or k == len(futs):
                print(f"  {k}/{len(futs)} scenario recordings", flush=True)


def relabel(out: Path) -> list[dict[str, Any]]:
    """Decide every run's label again from its kept curves (after a change to the labelling
    rules), writing the formats of runs that become labelled; trains nothing."""
    entries = []
    for f in sorted(Path(out).glob("[rhs][0-9_]*/label.json")):
        try:  # a generation running beside this one may be retraining the run right now
            entry = json.loads(f.read_text())
            folder = f.parent
            if (folder / CURVES_FILE).exists() and (folder / MONITOR_FILE).exists():
                res, fixed = load_curves(folder)
                entry = label_one(entry, folder, res, fixed)
                f.write_text(json.dumps(entry, default=_plain))
        except (OSError, ValueError, EOFError):
            continue
        entries.append(entry)
    return entries


def write_formats(res, folder: Path, recipe: dict[str, Any]) -> dict[str, str]:
    from lossdoctor.scenarios.recording import Recording

    rec = Recording(hparams=dict(res.hparams), model=res.model, rows=res.rows,
                    steps_per_epoch=res.steps_per_epoch, meta={"val_every": res.val_every})
    every = recipe["log"]["every"]
    stride = res.steps_per_epoch if every == "epoch" else int(every)
    thin = rec.thin(max(2, -(-len(res.rows) // max(stride, 1)))) if stride > 1 else rec
    files = {"monitor": MONITOR_FILE}
    for fmt, name in FORMATS.items():
        written = (rec if fmt == "keras_csv" else thin).write(folder / name, fmt)
        files[fmt] = str(Path(written).relative_to(folder))
    return files


def _plain(x: Any) -> Any:
    import numpy as np

    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, Path):
        return str(x)
    return str(x)


def cached(out: Path, recipe: dict[str, Any]) -> dict[str, Any] | None:
    f = out / recipe["id"] / "label.json"
    if not f.exists():
        return None
    try:
        entry = json.loads(f.read_text())
    except ValueError:
        return None
    return entry if entry.get("hash") == recipe_hash(recipe) else None


#: Extra healthy controls are numbered from here (their recipes never collide with the draw's).
HEALTHY_BASE = 100_000


def recipes(n: int, master_seed: int = 0, healthy: int = 0) -> list[dict[str, Any]]:
    """The corpus's recipes: ``n`` drawn ones, then ``healthy`` extra healthy controls."""
    out = [R.make(i, master_seed) for i in range(n)]
    out += [R.make(HEALTHY_BASE + i, master_seed, cause=None) for i in range(healthy)]
    return out


def generate(n: int, out: Path, jobs: int, master_seed: int = 0, only: list[str] | None = None,
             quiet: bool = False, healthy: int = 0, split: str | None = None) -> list[dict[str, Any]]:
    out.mkdir(parents=True, exist_ok=True)
    todo, done = [], []
    for r in recipes(n, master_seed, healthy):
        if only and r["id"] not in only:
            continue
        if split and r["split"] != split:
            continue
        hit = cached(out, r)
        (done if hit is not None else todo).append(hit if hit is not None else r)
    if not quiet:
        print(f"corpus: {len(done)} cached, {len(todo)} to train with {jobs} worker(s) -> {out}", flush=True)
    t0 = time.perf_counter()
    counts: dict[str, int] = {}
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futs = [pool.submit(one, r, str(out)) for r in todo]
        for k, fut in enumerate(as_completed(futs), 1):
            e = fut.result()
            done.append(e)
            lab = e.get("label") or "dropped"
            counts[lab] = counts.get(lab, 0) + 1
            if not quiet and (k % 10 == 0 or k == len(futs)):
                el = time.perf_counter() - t0
                print(f"  {k}/{len(futs)} trained in {el:.0f} s (eta {el / k * (len(futs) - k):.0f} s); "
                      f"labelled {sum(v for c, v in counts.items() if c != 'dropped')}, dropped "
                      f"{counts.get('dropped', 0)}", flush=True)
    done.sort(key=lambda e: e["id"])
    write_manifest(out, done)
    return done


def collect(out: Path) -> list[dict[str, Any]]:
    """The entries of every run folder that holds a label (a generation still running, or cut short)."""
    entries = []
    for f in sorted(Path(out).glob("[rhs][0-9_]*/label.json")):
        try:
            entries.append(json.loads(f.read_text()))
        except ValueError:
            continue
    return entries


def write_manifest(out: Path, entries: list[dict[str, Any]]) -> None:
    with (Path(out) / "manifest.jsonl").open("w") as f:
        for e in sorted(entries, key=lambda e: e["id"]):
            f.write(json.dumps(e, default=_plain) + "\n")


def load_manifest(out: Path = DEFAULT_OUT) -> list[dict[str, Any]]:
    f = Path(out) / "manifest.jsonl"
    if not f.exists():
        raise FileNotFoundError(f"{f}: no corpus here; run python bench/corpus/generate.py --out {out}")
    return [json.loads(line) for line in f.read_text().splitlines() if line.strip()]


def summary(entries: list[dict[str, Any]]) -> str:
    import collections

    lines = []
    by = collections.Counter((e["split"], e.get("label") or "dropped") for e in entries)
    labels = sorted({e.get("label") or "dropped" for e in entries}, key=lambda x: (x == "dropped", x))
    lines.append(f"{'label':<28} {'tune':>6} {'heldout':>8}")
    for lab in labels:
        lines.append(f"{lab:<28} {by[('tune', lab)]:>6} {by[('heldout', lab)]:>8}")
    kept = [e for e in entries if e.get("label")]
    lines.append(f"labelled runs: {len(kept)} of {len(entries)} recipes "
                 f"({sum(e['split'] == 'heldout' for e in kept)} held out)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=DEFAULT_N, help=f"recipes to draw (default {DEFAULT_N})")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"corpus folder (default {DEFAULT_OUT})")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seed", type=int, default=0, help="master seed of the recipe draw")
    ap.add_argument("--healthy", type=int, default=DEFAULT_HEALTHY,
                    help=f"extra healthy controls beyond the draw (default {DEFAULT_HEALTHY})")
    ap.add_argument("--only", nargs="*", help="recipe ids to (re)train")
    ap.add_argument("--split", choices=("tune", "heldout"),
                    help="train only the recipes of this split (a fresh held-out draw: --seed 1 --split "
                         "heldout --out ANOTHER_FOLDER)")
    ap.add_argument("--manifest", action="store_true",
                    help="only rebuild manifest.jsonl from the runs already in --out (train nothing)")
    ap.add_argument("--scenarios", type=int, default=0, metavar="SEEDS",
                    help="also record every scenario of lossdoctor.scenarios at seeds 0..SEEDS-1 (tuning "
                         "split only)")
    ap.add_argument("--relabel", action="store_true",
                    help="decide every run's label again from its kept curves (train nothing)")
    args = ap.parse_args(argv)
    if args.scenarios:
        add_scenarios(args.out, args.scenarios, args.jobs)
    if args.manifest or args.relabel or args.scenarios:
        entries = relabel(args.out) if args.relabel else collect(args.out)
        write_manifest(args.out, entries)
    else:
        entries = generate(args.n, args.out, args.jobs, args.seed, args.only, healthy=args.healthy,
                           split=args.split)
    print(summary(entries))
    return 0


if __name__ == "__main__":
    sys.exit(main())
