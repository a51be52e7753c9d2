"""Accuracy on the training corpus (``bench/corpus``): runs made by randomised recipes, labelled by
intervention, in every format, reported on both splits. The ``tune`` split is what thresholds and
weights may be fitted on; ``heldout`` (other data sources and model families) is what the figures
that count come from.

    python bench/corpus/generate.py                         # make (or complete) the corpus first
    python bench/accuracy/corpus_eval.py                         # every run, every format -> corpus_results.md
    python bench/accuracy/corpus_eval.py --split tune --formats monitor,csv   # a quicker look
    python bench/accuracy/corpus_eval.py --raw /tmp/dx.json      # also every diagnosis, for analysis

Figures, per split:
- symptom accuracy per format: a faulty run's labelled symptom (one the fix removed) is among
  those found; a healthy run shows none. Loss-only logs are split into per-step logs (every 1-25
  steps) and epoch logs (Keras CSV, and logs written once an epoch);
- top-1 cause with internals (the monitor's log): the top cause is the label and ``likely``
  (healthy: healthy, nothing likely);
- loss-only: the true cause kept (``possible`` or better), and how many causes are kept;
- calibration: how often ``likely`` is right, and ``possible`` holds the truth;
- false alarms: healthy runs with a symptom or a likely cause, per format;
- inconclusive: diagnoses that said the log cannot be judged (not counted as alarms);
- confusion matrices and the held-out runs missed.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import pickle
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from corpus.generate import DEFAULT_OUT, load_manifest  # noqa: E402

MONITOR = "monitor"
LOSS_ONLY = ("csv", "keras_csv", "lightning", "tensorboard", "text", "trainer_state")
FORMATS = (MONITOR,) + LOSS_ONLY
KEPT = ("confirmed", "likely", "possible")
SPLITS = ("tune", "heldout")


def _read(args: tuple[str, str]) -> tuple[str, Any]:
    import warnings

    warnings.simplefilter("ignore")
    import lossdoctor

    key, path = args
    try:
        return key, lossdoctor.read(path)
    except Exception as exc:  # an unreadable log is an error the figures count
        return key, f"{type(exc).__name__}: {exc}"


def read_runs(entries, corpus: Path, formats, jobs: int, cache: Path | None) -> dict[str, Any]:
    """Every (run, format) as a ``Run`` (or an error string), read once and cached: reading is
    not what this benchmark measures, and the diagnosis is rerun many times while tuning."""
    stamp = {}
    todo = []
    for e in entries:
        for fmt in formats:
            name = e["files"]["monitor" if fmt == MONITOR else fmt]
            p = corpus / e["id"] / name
            key = f"{e['id']}:{fmt}"
            stamp[key] = (str(p), p.stat().st_mtime if p.exists() else 0)
            todo.append((key, str(p)))
    runs: dict[str, Any] = {}
    if cache is not None and cache.exists():
        try:
            old_stamp, old = pickle.loads(cache.read_bytes())
            runs = {k: v for k, v in old.items() if old_stamp.get(k) == stamp.get(k)}
        except Exception:
            runs = {}
    todo = [t for t in todo if t[0] not in runs]
    if todo:
        print(f"reading {len(todo)} logs ...", file=sys.stderr, flush=True)
        with ProcessPoolExecutor(jobs) as pool:
            for k, run in pool.map(_read, todo, chunksize=16):
                runs[k] = run
        if cache is not None:
            allstamp = {k: stamp[k] for k in runs if k in stamp}
            cache.write_bytes(pickle.dumps((allstamp, runs)))
    return runs


def _diagnose(item: tuple[str, Any]) -> tuple[str, dict[str, Any]]:
    import warnings

    warnings.simplefilter("ignore")
    from lossdoctor.diagnose.engine import run_diagnosis

    key, run = item
    if isinstance(run, str):
        return key, {"error": run}
    try:
        dx = run_diagnosis(run)
    except Exception as exc:
        return key, {"error": f"{type(exc).__name__}: {exc}"}
    return key, {"healthy": dx.healthy, "inconclusive": getattr(dx, "inconclusive", None),
                 "symptoms": [s.id for s in dx.symptoms],
                 "causes": [(c.id, c.verdict, round(c.score, 3)) for c in dx.causes]}


def diagnose_all(runs: dict[str, Any], jobs: int) -> dict[str, dict[str, Any]]:
    with ProcessPoolExecutor(jobs) as pool:
        return dict(pool.map(_diagnose, runs.items(), chunksize=32))


# -- figures ---------------------------------------------------------------------------------

def epoch_log(e: dict[str, Any], fmt: str) -> bool:
    return fmt == "keras_csv" or (fmt != MONITOR and e["recipe"]["log"]["every"] == "epoch")


def found(e, d) -> bool:
    if "error" in d:
        return False
    if e["label"] == "healthy":
        return d["healthy"] is True
    return any(s in d["symptoms"] for s in e["symptoms"])


def alarm(d) -> bool:
    if "error" in d:
        return True
    return bool(d["symptoms"]) or any(v in ("likely", "confirmed") for _, v, _ in d["causes"])


def top1(e, d) -> str:
    if "error" in d:
        return "error"
    if e["label"] == "healthy" or not d["causes"]:
        return "healthy" if not alarm(d) else "alarm"
    c, v, _ = d["causes"][0]
    if d.get("inconclusive") and v not in ("likely", "confirmed"):
        return "inconclusive"
    return c if v in ("likely", "confirmed") else f"({c})"


def pct(a: int, b: int) -> str:
    return f"{a}/{b} = {100 * a / b:.0f}%" if b else "-"


def figures(entries, dx, formats, split: str) -> list[str]:
    es = [e for e in entries if e["split"] == split]
    faulty = [e for e in es if e["label"] != "healthy"]
    healthy = [e for e in es if e["label"] == "healthy"]
    L = [f"### {split}: {len(es)} runs ({len(faulty)} faulty, {len(healthy)} healthy)", ""]
    get = lambda e, f: dx.get(f"{e['id']}:{f}", {"error": "not diagnosed"})  # noqa: E731
    # symptoms per format
    L += ["| log | symptom found (faulty) | healthy judged healthy | false alarms (healthy) | inconclusive |",
          "|---|---|---|---|---|"]
    for fmt in formats:
        hit = sum(found(e, get(e, fmt)) for e in faulty)
        hh = sum(found(e, get(e, fmt)) for e in healthy)
        fa = sum(alarm(get(e, fmt)) for e in healthy)
        inc = sum(bool(get(e, fmt).get("inconclusive")) for e in es)
        L.append(f"| {fmt} | {pct(hit, len(faulty))} | {pct(hh, len(healthy))} | {pct(fa, len(healthy))} | {inc} |")
    lo = [f for f in formats if f != MONITOR]
    if lo:
        per_step = [(e, f) for e in faulty for f in lo if not epoch_log(e, f)]
        per_epoch = [(e, f) for e in faulty for f in lo if epoch_log(e, f)]
        ph = sum(found(e, get(e, f)) for e, f in per_step)
        pe = sum(found(e, get(e, f)) for e, f in per_epoch)
        fa_all = sum(alarm(get(e, f)) for e in healthy for f in formats)
        L += ["", f"- loss-only symptoms, per-step logs: **{pct(ph, len(per_step))}**; epoch logs: "
                  f"**{pct(pe, len(per_epoch))}**",
              f"- false alarms on healthy runs, all formats: **{pct(fa_all, len(healthy) * len(formats))}**"]
        kept_true = kept_n = n = 0
        for e in faulty:
            for f in lo:
                d = get(e, f)
                if "error" in d:
                    continue
                v = {c: verdict for c, verdict, _ in d["causes"]}
                n += 1
                kept_true += v.get(e["label"]) in KEPT
                kept_n += sum(x in KEPT for x in v.values())
        L.append(f"- loss-only: true cause kept **{pct(kept_true, n)}**; causes kept on average "
                 f"**{kept_n / max(n, 1):.1f}** of 13")
    if MONITOR in formats:
        conf: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        hit = 0
        for e in es:
            p = top1(e, get(e, MONITOR))
            conf[e["label"]][p] += 1
            hit += p == e["label"]
        fhit = sum(top1(e, get(e, MONITOR)) == e["label"] for e in faulty)
        L += [f"- top-1 cause with internals (monitor logs): faulty **{pct(fhit, len(faulty))}**, "
              f"all runs {pct(hit, len(es))}"]
        L += ["", "| true cause | runs | top-1 with internals (brackets: top cause only possible) |", "|---|---|---|"]
        for truth in sorted(conf, key=lambda t: (t == "healthy", t)):
            row = ", ".join(f"{p}: {k}" for p, k in conf[truth].most_common())
            L.append(f"| {truth} | {sum(conf[truth].values())} | {row} |")
    # calibration over every format
    said = collections.Counter()
    right = collections.Counter()
    for e in es:
        for f in formats:
            d = get(e, f)
            if "error" in d:
                continue
            for c, v, _ in d["causes"]:
                if v in ("likely", "possible", "unlikely", "ruled_out"):
                    fmtkind = "monitor" if f == MONITOR else "loss-only"
                    said[(fmtkind, v)] += 1
                    right[(fmtkind, v)] += c == e["label"]
    L += ["", "| calibration | said | the true cause |", "|---|---|---|"]
    for kind in ("monitor", "loss-only"):
        for v in ("likely", "possible", "unlikely", "ruled_out"):
            if said[(kind, v)]:
                L.append(f"| {kind} `{v}` | {said[(kind, v)]} | {pct(right[(kind, v)], said[(kind, v)])} |")
    return L


def symptom_confusion(entries, dx, formats, split: str) -> list[str]:
    """Labelled main symptom (rows) against the symptoms found in ``formats`` (a log counts once
    per symptom found, so a row can sum to more than its logs)."""
    rows: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    n: collections.Counter = collections.Counter()
    cols: set[str] = set()
    for e in entries:
        if e["split"] != split:
            continue
        truth = e["symptoms"][0] if e["symptoms"] else "healthy"
        for f in formats:
            d = dx.get(f"{e['id']}:{f}")
            if d is None or "error" in d:
                continue
            n[truth] += 1
            found = d["symptoms"] or (["inconclusive"] if d.get("inconclusive") else ["none"])
            for sym in found:
                rows[truth][sym] += 1
                cols.add(sym)
    order = sorted(cols, key=lambda x: (x in ("none", "inconclusive"), x))
    out = ["| labelled \\ found | logs | " + " | ".join(order) + " |", "|---|---|" + "---|" * len(order)]
    for truth in sorted(rows, key=lambda t: (t == "healthy", t)):
        out.append(f"| {truth} | {n[truth]} | " + " | ".join(str(rows[truth][o] or "") for o in order) + " |")
    return out


def misses(entries, dx, split: str, limit: int = 60) -> list[str]:
    out = []
    for e in entries:
        if e["split"] != split:
            continue
        d = dx.get(f"{e['id']}:{MONITOR}")
        if d is None:
            continue
        p = top1(e, d)
        if p != e["label"]:
            r = e["recipe"]
            f = r.get("fault") or {}
            out.append(f"- {e['id']} {e['label']} ({f.get('variant', '-')}, {r['data']}/{r['model']['family']}/"
                       f"{r['optim'].get('name', 'scenario')}): said {p}; symptoms {','.join(d.get('symptoms', [])) or '-'} "
                       f"(labelled {','.join(e['symptoms']) or '-'})")
    return out[:limit] + ([f"- ... and {len(out) - limit} more"] if len(out) > limit else [])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--formats", default=",".join(FORMATS))
    ap.add_argument("--split", choices=SPLITS + ("both",), default="both")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", type=Path, default=HERE / "corpus_results.md")
    ap.add_argument("--raw", type=Path, help="write every diagnosis as JSON here")
    ap.add_argument("--no-cache", action="store_true", help="read every log again")
    a = ap.parse_args(argv)
    formats = tuple(f for f in a.formats.split(",") if f)
    entries = [e for e in load_manifest(a.corpus) if e.get("label")]
    splits = SPLITS if a.split == "both" else (a.split,)
    entries = [e for e in entries if e["split"] in splits]
    t0 = time.perf_counter()
    cache = None if a.no_cache else a.corpus / "_runs.pkl"
    runs = read_runs(entries, a.corpus, formats, a.jobs, cache)
    t1 = time.perf_counter()
    dx = diagnose_all(runs, a.jobs)
    t2 = time.perf_counter()
    lines = [f"Corpus: {a.corpus} ({len(entries)} labelled runs); formats: {', '.join(formats)}", ""]
    for sp in splits:
        lines += figures(entries, dx, formats, sp) + [""]
        if MONITOR in formats:
            lines += [f"Symptoms, monitor logs ({sp}):", ""] + symptom_confusion(entries, dx, (MONITOR,), sp) + [""]
        lo = tuple(f for f in formats if f != MONITOR)
        if lo:
            lines += [f"Symptoms, loss-only logs ({sp}: {', '.join(lo)}):", ""] + \
                symptom_confusion(entries, dx, lo, sp) + [""]
    if MONITOR in formats:
        for sp in splits:
            lines += [f"Runs missed with internals ({sp}):", ""] + misses(entries, dx, sp) + [""]
    lines.append(f"Read in {t1 - t0:.0f} s, diagnosed {len(dx)} logs in {t2 - t1:.0f} s with {a.jobs} worker(s).")
    text = "\n".join(lines)
    print(text)
    a.out.write_text(text + "\n")
    if a.raw:
        a.raw.write_text(json.dumps(dx))
    return 0


if __name__ == "__main__":
    sys.exit(main())
