"""A deterministic subset of the training corpus (``bench/corpus``), trained for real: each
recipe's label by intervention is decided again (the fault's run against its one-factor fix),
and the diagnosis of the monitor's log must name that label. A regression guard on runs made
the way the corpus makes them, beside the scenario library's; the full corpus is measured by
``bench/accuracy/corpus_eval.py``, not here."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

from corpus import label as L  # noqa: E402
from corpus import recipes as R  # noqa: E402
from corpus import train as T  # noqa: E402

import lossdoctor  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::UserWarning")]

#: (recipe index, its label): fast recipes (under 1.5 s a run) of nine causes and a healthy
#: control, all from the tuning split (the held-out split is only measured, in bench/accuracy).
CASES = (
    (680, "bad_initialization"),
    (1214, "dead_relu"),
    (895, "exploding_gradients"),
    (865, "lr_schedule"),
    (1168, "lr_too_high"),
    (668, "lr_too_low"),
    (1230, "missing_zero_grad"),
    (300, "stuck_plateau"),
    (1261, "healthy"),
)


@pytest.mark.parametrize("index,label", CASES)
def test_corpus_recipe_is_labelled_and_diagnosed(tmp_path, index, label):
    recipe = R.make(index)
    assert R.split_of(recipe) == "tune"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = T.train(recipe, tmp_path / "run.jsonl")
        fixed = T.train(R.apply_fix(recipe), monitor=False) if recipe.get("fix") else None
    decided = L.decide(recipe, L.recording(res), L.recording(fixed) if fixed is not None else None)
    assert decided["label"] == label, decided["why"]
    dx = lossdoctor.diagnose(tmp_path / "run.jsonl")
    if label == "healthy":
        assert dx.healthy is True and not dx.likely
    else:
        assert dx.causes[0].id == label and dx.causes[0].verdict == "likely", \
            [(c.id, c.verdict, round(c.score, 2)) for c in dx.causes[:3]]


def test_recipes_are_drawn_the_same_way_every_time():
    a, b = R.make(7), R.make(7)
    assert a == b and R.make(8) != a
    assert R.split_of(a) in ("tune", "heldout")


def test_a_fix_changes_one_factor():
    for i in range(60):
        r = R.make(i)
        if r["fix"]:
            fixed = R.apply_fix(r)
            changed = [p for p in r["fix"] if _get(fixed, p) != _get(r, p)]
            assert changed and all(p in r["fix"] for p in changed)


def _get(r, path):
    d = r
    for k in path.split("."):
        d = d.get(k) if isinstance(d, dict) else None
    return d
