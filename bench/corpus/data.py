"""The corpus's data sources: scikit-learn's bundled and generated datasets, a character-level
text (the source of Python's standard library, which is on every machine) and small synthetic
images. Nothing is downloaded. Every source is fixed (seed-independent); a run's seed picks its
train/validation split and its subsample.

A source gives :class:`Data`: tensors plus what kind of input it is (``flat`` features,
``image`` 1xHxW, ``seq`` token indices or ``rows``, a sequence of feature vectors).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

#: Share of each dataset held out for validation.
VAL_SHARE = 0.25
#: Characters of context for the next-character task.
TEXT_CONTEXT = 24
TEXT_SAMPLES = 3000
IMAGE_SIDE = 12
IMAGE_SAMPLES = 1600


@dataclass
class Data:
    Xtr: object
    ytr: object
    Xva: object
    yva: object
    task: str  # "clf" or "reg"
    n_classes: int  # 1 for a regression
    kind: str  # "flat", "image", "seq" (token ids) or "rows" (sequence of feature vectors)
    shape: tuple  # one example's shape (for "seq": (T,), with the vocabulary in n_vocab)
    n_vocab: int = 0


SOURCES = ("digits", "wine", "breast_cancer", "moons", "circles", "classification", "regression",
           "friedman", "text", "images")
#: Sources that can be seen as images or as sequences of rows (digits are 8x8 pictures).
IMAGE_LIKE = ("digits", "images")


@lru_cache(maxsize=None)
def _raw(name: str) -> tuple[np.ndarray, np.ndarray, str]:
    from sklearn import datasets as D

    if name == "digits":
        X, y = D.load_digits(return_X_y=True)
        return X / 16.0, y, "clf"
    if name == "wine":
        X, y = D.load_wine(return_X_y=True)
        return X, y, "clf"
    if name == "breast_cancer":
        X, y = D.load_breast_cancer(return_X_y=True)
        return X, y, "clf"
    if name == "moons":
        X, y = D.make_moons(n_samples=1500, noise=0.25, random_state=3)
        return X, y, "clf"
    if name == "circles":
        X, y = D.make_circles(n_samples=1500, noise=0.08, factor=0.5, random_state=3)
        return X, y, "clf"
    if name == "classification":
        X, y = D.make_classification(n_samples=2000, n_features=16, n_informative=8, n_redundant=4,
                                     n_classes=5, n_clusters_per_class=1, class_sep=1.2, random_state=3)
        return X, y, "clf"
    if name == "regression":
        X, y = D.make_regression(n_samples=1500, n_features=12, n_informative=8, noise=10.0,
                                 random_state=3)
        return X, (y - y.mean()) / y.std(), "reg"
    if name == "friedman":
        X, y = D.make_friedman1(n_samples=1500, n_features=10, noise=0.5, random_state=3)
        return X, (y - y.mean()) / y.std(), "reg"
    if name == "text":
        return (*_text(), "clf")
    if name == "images":
        return (*_images(), "clf")
    raise ValueError(f"unknown data source {name!r}")


def _text() -> tuple[np.ndarray, np.ndarray]:
    """Next-character prediction over windows of the standard library's own source text,
    restricted to its most common characters (the rest map to one 'other' symbol)."""
    import inspect
    import json.decoder
    import string
    import textwrap

    src = "".join(inspect.getsource(m) for m in (textwrap, string, json.decoder))
    chars, counts = np.unique(list(src), return_counts=True)
    keep = chars[np.argsort(-counts)][:39]
    index = {c: i + 1 for i, c in enumerate(keep)}  # 0: any other character
    ids = np.array([index.get(c, 0) for c in src], dtype=np.int64)
    rng = np.random.default_rng(7)
    starts = rng.choice(len(ids) - TEXT_CONTEXT - 1, size=TEXT_SAMPLES, replace=False)
    X = np.stack([ids[s:s + TEXT_CONTEXT] for s in starts])
    y = ids[starts + TEXT_CONTEXT]
    return X, y


def _images() -> tuple[np.ndarray, np.ndarray]:
    """12x12 pictures of four shapes (a horizontal bar, a vertical bar, a hollow square, a
    diagonal) at random places and sizes, with pixel noise."""
    rng = np.random.default_rng(11)
    n, s = IMAGE_SAMPLES, IMAGE_SIDE
    X = np.zeros((n, s, s))
    y = rng.integers(0, 4, size=n)
    for i in range(n):
        k = int(rng.integers(4, 8))
        r, c = rng.integers(0, s - k, size=2)
        img = X[i]
        if y[i] == 0:
            img[r + k // 2, c:c + k] = 1
        elif y[i] == 1:
            img[r:r + k, c + k // 2] = 1
        elif y[i] == 2:
            img[r, c:c + k] = img[r + k - 1, c:c + k] = 1
            img[r:r + k, c] = img[r:r + k, c + k - 1] = 1
        else:
            for j in range(k):
                img[r + j, c + j] = 1
    X += rng.normal(0, 0.25, size=X.shape)
    return X.reshape(n, s * s), y


def load(name: str, seed: int, kind: str, *, n_train: int | None = None, standardize: bool = True,
         input_scale: float = 1.0, input_offset: float = 0.0, label_noise: float = 0.0) -> Data:
    """One source as tensors for a model that takes ``kind`` inputs. ``input_scale`` and
    ``input_offset`` (applied after standardising) make unnormalised inputs; ``label_noise``
    replaces that share of the training labels with random ones."""
    import torch

    X, y, task = _raw(name)
    rng = np.random.default_rng(5000 + seed)
    order = rng.permutation(len(X))
    n_val = int(round(VAL_SHARE * len(X)))
    va, tr = order[:n_val], order[n_val:]
    if n_train is not None:
        tr = tr[:n_train]
    Xtr, Xva, ytr, yva = X[tr].astype(np.float64), X[va].astype(np.float64), y[tr].copy(), y[va]
    text = name == "text"
    if standardize and not text:
        mu, sd = Xtr.mean(0), Xtr.std(0)
        sd[sd == 0] = 1.0
        Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
    if not text and (input_scale != 1.0 or input_offset):
        # a fixed per-feature scale, as raw measurements in different units have
        unit = np.exp(np.random.default_rng(17).uniform(-1, 1, size=Xtr.shape[1]))
        Xtr = Xtr * input_scale * unit + input_offset
        Xva = Xva * input_scale * unit + input_offset
    n_classes = int(y.max()) + 1 if task == "clf" else 1
    if label_noise > 0 and task == "clf":
        flip = rng.random(len(ytr)) < label_noise
        ytr[flip] = rng.integers(0, n_classes, size=int(flip.sum()))
    f = torch.float32
    if text:
        Xtr_t, Xva_t = torch.tensor(Xtr, dtype=torch.long), torch.tensor(Xva, dtype=torch.long)
        shape, n_vocab = (TEXT_CONTEXT,), 40
    else:
        Xtr_t, Xva_t = torch.tensor(Xtr, dtype=f), torch.tensor(Xva, dtype=f)
        side = int(round(np.sqrt(Xtr.shape[1])))
        if kind in ("image", "rows"):
            if side * side != Xtr.shape[1]:
                raise ValueError(f"{name} is not image-like")
            shape = (1, side, side) if kind == "image" else (side, side)
            Xtr_t, Xva_t = Xtr_t.reshape(-1, *shape), Xva_t.reshape(-1, *shape)
        else:
            shape = (Xtr.shape[1],)
        n_vocab = 0
    if task == "reg":
        ytr_t, yva_t = torch.tensor(ytr, dtype=f)[:, None], torch.tensor(yva, dtype=f)[:, None]
    else:
        ytr_t, yva_t = torch.tensor(ytr, dtype=torch.long), torch.tensor(yva, dtype=torch.long)
    return Data(Xtr_t, ytr_t, Xva_t, yva_t, task, n_classes, "seq" if text else kind, shape, n_vocab)


def shuffled_labels(d: Data, seed: int) -> Data:
    """The same data with the training labels permuted: no relation left to learn."""
    import torch

    g = torch.Generator().manual_seed(9000 + seed)
    perm = torch.randperm(len(d.ytr), generator=g)
    return Data(d.Xtr, d.ytr[perm], d.Xva, d.yva, d.task, d.n_classes, d.kind, d.shape, d.n_vocab)
