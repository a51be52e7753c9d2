"""Fit the weights of the diagnosis's evidence on the TUNING split of the training corpus, and
choose its verdict thresholds there. The held-out split is never read.

    python bench/accuracy/fit.py                 # writes src/lossdoctor/diagnose/weights.json
    python bench/accuracy/fit.py --dry-run       # fit and report, write nothing
    python bench/accuracy/corpus_eval.py              # then measure, on both splits

The model (see ``lossdoctor.diagnose.model``): for a faulty run in one log format, each cause
not ruled out has a utility, ``bias + weights of its fired rules + weights of the symptoms
shown``, and the causes share ``softmax(utility)``. It is a conditional logit, fitted by
L-BFGS on the log-likelihood of the labelled cause with an L2 penalty that pulls each rule's
weight towards its hand-set weight (times ``HAND_TO_LOGIT``; shapes, symptoms and the bias
towards 0, harder), so that a rule the corpus rarely sees keeps the reading a person gave it and
a rule the corpus contradicts moves. The penalty's strength is picked
by cross-validation over groups of (data source, model family) inside the tuning split, so that
the penalty too is chosen on families the fold did not see. Each run counts once per format;
monitor logs count :data:`MONITOR_WEIGHT` times.

Thresholds: ``likely`` is the lowest probability at which ``likely`` is right at least
:data:`LIKELY_PRECISION` of the time on the tuning split, one for logs with internals and one for
loss-only logs (``lossdoctor.diagnose.model.regime``); ``possible`` the highest at which the
true cause keeps ``possible`` or better in :data:`KEEP_RECALL` of the tuning runs.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from corpus_eval import read_runs, FORMATS, MONITOR  # noqa: E402
from corpus.generate import DEFAULT_OUT, load_manifest  # noqa: E402
from lossdoctor.diagnose.model import HAND_TO_LOGIT  # noqa: E402  (a rule's prior weight)

MONITOR_WEIGHT = 2.0
LIKELY_PRECISION = 0.95
KEEP_RECALL = 0.985
MIN_COUNT = 3  # a feature seen in fewer samples than this gets no weight of its own
STAT_PENALTY = 5.0  # the L2 penalty of shape and symptom features, relative to rules
LAMBDAS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)


def samples(entries, runs, formats):
    """(features per cause, available causes, label, weight, group, run id, format) for every
    faulty (run, format) whose diagnosis sees a symptom."""
    import warnings

    warnings.simplefilter("ignore")
    from lossdoctor.diagnose import model
    from lossdoctor.diagnose.engine import assess

    out = []
    for e in entries:
        if e["label"] == "healthy":
            continue
        for fmt in formats:
            run = runs.get(f"{e['id']}:{fmt}")
            if run is None or isinstance(run, str):
                continue
            try:
                a = assess(run)
            except Exception:
                continue
            if not a.symptoms:
                continue
            feats = {c: model.features(a, c) for c, f in a.findings.items() if not f.ruled_out}
            r = e["recipe"]
            out.append({"x": feats, "y": e["label"], "w": MONITOR_WEIGHT if fmt == MONITOR else 1.0,
                        "group": f"{r['data']}/{r['model']['family']}", "id": e["id"], "fmt": fmt,
                        "fits": {c: (not a.symptoms or any(s.id in _produces(c) for s in a.symptoms))
                                 for c in feats},
                        "own": {c: any(w > 0 for w in a.findings[c].keys.values()) for c in feats},
                        "hand": {c: dict(a.findings[c].keys) for c in feats},
                        "regime": model.regime(run)})
    return out


def _produces(cause: str):
    from lossdoctor.diagnose.rules import RULES

    return next(m.PRODUCES for m in RULES if m.ID == cause)


class Model:
    """Design matrices per cause and the conditional-logit likelihood."""

    def __init__(self, data, causes, vocab=None):
        self.causes = list(causes)
        if vocab is None:
            counts = {c: collections.Counter() for c in self.causes}
            for s in data:
                for c, x in s["x"].items():
                    counts[c].update(x)
            vocab = {c: sorted(k for k, n in counts[c].items() if n >= MIN_COUNT or k == "bias") for c in self.causes}
        self.vocab = vocab
        self.offsets = {}
        o = 0
        for c in self.causes:
            self.offsets[c] = (o, o + len(vocab[c]))
            o += len(vocab[c])
        self.n_params = o
        # statistical features (the symptoms shown, the shape facts) are shrunk harder than the
        # rules: a rule reads the run's mechanics, a shape's weight is a corpus frequency
        self.penalty = np.ones(o)
        # a rule's weight is shrunk towards its hand-set weight (in logit units), not towards 0:
        # what the corpus says little about keeps the reading a person gave it
        hand = {c: collections.defaultdict(list) for c in self.causes}
        for s in data:
            for c, keys in s.get("hand", {}).items():
                for k, v in keys.items():
                    hand[c][k].append(v)
        self.prior = np.zeros(o)
        for c in self.causes:
            a, _ = self.offsets[c]
            for t, k in enumerate(vocab[c]):
                if k.startswith(("shape:", "sym:")):
                    self.penalty[a + t] = STAT_PENALTY
                elif k.startswith("rule:") and hand[c].get(k[5:]):
                    self.prior[a + t] = HAND_TO_LOGIT * float(np.median(hand[c][k[5:]]))
        n, C = len(data), len(self.causes)
        self.X = {c: np.zeros((n, len(vocab[c]))) for c in self.causes}
        self.avail = np.zeros((n, C), bool)
        self.Y = np.zeros((n, C))
        self.w = np.array([s["w"] for s in data])
        for i, s in enumerate(data):
            for j, c in enumerate(self.causes):
                x = s["x"].get(c)
                if x is None:
                    continue
                self.avail[i, j] = True
                idx = {k: t for t, k in enumerate(vocab[c])}
                for k, v in x.items():
                    if k in idx:
                        self.X[c][i, idx[k]] = v
            if s["y"] in self.causes:
                j = self.causes.index(s["y"])
                if self.avail[i, j]:
                    self.Y[i, j] = 1.0
        self.ok = self.Y.sum(1) > 0  # the true cause was not ruled out

    def utilities(self, theta):
        U = np.full(self.avail.shape, -np.inf)
        for j, c in enumerate(self.causes):
            a, b = self.offsets[c]
            U[:, j] = np.where(self.avail[:, j], self.X[c] @ theta[a:b], -np.inf)
        return U

    def probs(self, theta):
        U = self.utilities(theta)
        U = U - U.max(1, keepdims=True)
        E = np.where(self.avail, np.exp(U), 0.0)
        return E / E.sum(1, keepdims=True)

    def loss_grad(self, theta, lam, rows=None):
        rows = self.ok if rows is None else (rows & self.ok)
        P = self.probs(theta)
        w = self.w * rows
        ll = -np.sum(w * np.log(np.maximum((P * self.Y).sum(1), 1e-300)))
        G = w[:, None] * (P - self.Y)
        grad = np.zeros_like(theta)
        for j, c in enumerate(self.causes):
            a, b = self.offsets[c]
            grad[a:b] = self.X[c].T @ G[:, j]
        W = max(w.sum(), 1.0)
        pen = self.penalty
        d = theta - self.prior
        return ll / W + lam * np.sum(pen * d ** 2), grad / W + 2 * lam * pen * d

    def fit(self, lam, rows=None):
        from scipy.optimize import minimize

        res = minimize(self.loss_grad, self.prior.copy(), args=(lam, rows), jac=True,
                       method="L-BFGS-B", options={"maxiter": 1000})
        return res.x

    def as_weights(self, theta):
        out = {}
        for c in self.causes:
            a, b = self.offsets[c]
            out[c] = {k: round(float(v), 4) for k, v in zip(self.vocab[c], theta[a:b])}
        return out


def top1_accuracy(m: Model, theta, rows):
    P = m.probs(theta)
    pred = P.argmax(1)
    truth = np.argmax(m.Y, 1)
    valid = rows & m.ok
    return float(np.sum((pred == truth) * m.w * valid) / max(np.sum(m.w * rows), 1e-9))


def choose_lambda(data, causes, groups):
    """The penalty with the best top-1 on the monitor's logs of held-back groups (5 folds of
    (data source, model family) groups inside the tuning split)."""
    monitor = np.array([s["fmt"] == MONITOR for s in data])
    uniq = sorted(set(groups))
    rng = np.random.default_rng(0)
    rng.shuffle(uniq)
    folds = [set(uniq[k::5]) for k in range(5)]
    g = np.array(groups)
    best = None
    report = []
    m = Model(data, causes)
    for lam in LAMBDAS:
        accs = []
        for fold in folds:
            test = np.isin(g, list(fold))
            theta = m.fit(lam, rows=~test)
            accs.append(top1_accuracy(m, theta, test & monitor))
        acc = float(np.mean(accs))
        report.append((lam, acc))
        if best is None or acc > best[1] + 1e-9:
            best = (lam, acc)
    return best, report


def thresholds(data, P, causes):
    """Thresholds from the tuning samples' probabilities (see the module doc): ``likely`` per
    regime (logs with internals, loss-only logs), ``possible`` over all samples."""
    said = collections.defaultdict(list)  # regime -> (p of a cause that fits and has a rule of its own, right?, w)
    truth_p = []
    for i, s in enumerate(data):
        for jj, cc in enumerate(causes):
            if P[i, jj] > 0 and s["fits"].get(cc, False) and s["own"].get(cc, False):
                said[s["regime"]].append((float(P[i, jj]), cc == s["y"], s["w"]))
        if s["y"] in causes:
            truth_p.append((float(P[i, causes.index(s["y"])]), s["w"]))
    likely = {}
    for regime, rows in sorted(said.items()):
        likely[regime] = 0.99
        for t in np.arange(0.30, 0.995, 0.01):
            sel = [(ok, w) for p, ok, w in rows if p >= t]
            if sel and sum(w for ok, w in sel if ok) / sum(w for _, w in sel) >= LIKELY_PRECISION:
                likely[regime] = float(round(t, 2))
                break
    ps = np.array([p for p, _ in truth_p])
    ws = np.array([w for _, w in truth_p])
    possible = 0.001
    for t in np.arange(0.30, 0.0009, -0.001):
        if np.sum(ws * (ps >= t)) / ws.sum() >= KEEP_RECALL:
            possible = float(round(t, 4))
            break
    return {"likely": likely, "possible": possible}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--out", type=Path, default=HERE.parents[1] / "src" / "lossdoctor" / "diagnose" / "weights.json")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--dry-run", action="store_true")
    ap.add_argument("--samples", type=Path, help="keep the assessed samples in this pickle (reused when "
                    "it exists; for trying the fit's settings quickly)")
    a = ap.parse_args(argv)
    entries = [e for e in load_manifest(a.corpus) if e.get("label") and e["split"] == "tune"]
    if a.samples and a.samples.is_file():
        import pickle

        data = pickle.loads(a.samples.read_bytes())
    else:
        runs = read_runs(entries, a.corpus, FORMATS, a.jobs, a.corpus / "_runs.pkl")
        # the hand-set scores must not leak into the fit: fit from a model-free assessment
        data = samples(entries, runs, FORMATS)
        if a.samples:
            import pickle

            a.samples.write_bytes(pickle.dumps(data))
    from lossdoctor.core import CAUSES

    causes = list(CAUSES)
    groups = [s["group"] for s in data]
    (lam, cv), report = choose_lambda(data, causes, groups)
    m = Model(data, causes)
    theta = m.fit(lam)
    P = m.probs(theta)
    th = thresholds(data, P, causes)
    acc = top1_accuracy(m, theta, np.ones(len(data), bool))
    print(f"{len(data)} samples from {len({s['id'] for s in data})} faulty tuning runs; "
          f"{int((~m.ok).sum())} samples had their true cause ruled out")
    print("lambda by grouped CV (top-1):", ", ".join(f"{l:g}: {v:.3f}" for l, v in report), f"-> {lam:g}")
    print(f"top-1 on the tuning samples: {acc:.3f}; thresholds {th}")
    weights = {
        "schema": "lossdoctor.weights/1",
        "fitted_on": {"split": "tune", "runs": len({s['id'] for s in data}), "samples": len(data),
                      "corpus": "bench/corpus (generate.py)", "lambda": lam, "cv_top1": round(cv, 4),
                      "date": dt.date.today().isoformat()},
        "thresholds": th,
        "causes": m.as_weights(theta),
    }
    if not a.dry_run:
        a.out.write_text(json.dumps(weights, indent=1, sort_keys=True) + "\n")
        print(f"wrote {a.out}")
    for c in causes:
        w = weights["causes"][c]
        top = sorted(((k, v) for k, v in w.items()), key=lambda kv: -abs(kv[1]))[:8]
        print(f"  {c}: " + ", ".join(f"{k}={v:+.2f}" for k, v in top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
