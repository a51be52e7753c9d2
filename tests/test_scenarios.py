"""The scenarios: real small trainings that must show what they claim.

Three kinds of test: the self-check criteria on synthetic curves (positive, negative, near
miss), the recorder against a direct torch computation, and real trainings of a fast subset
(Jena's four runs and a handful of others) against their self-checks.
"""

from __future__ import annotations

import csv
import collections
import functools
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lossdoctor import core
from lossdoctor.scenarios import SCENARIOS, Recording, build, checks, record, selfcheck
from lossdoctor.scenarios import make_examples
from lossdoctor.scenarios.recording import FORMATS

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

ROOT = Path(__file__).resolve().parents[1]
JENA = ("jena_regularization", "jena_lr_low", "jena_local_minimum", "jena_lr_high")
# Cheap runs (about a second each) that cover other causes and shapes.
FAST = ("lr_high_divergence", "exploding_deep_init", "data_unnormalized", "missing_zero_grad",
        "dead_relu_bias", "healthy_cosine", "exploding_deep_linear", "missing_zero_grad_momentum",
        "softmax_before_bce")


@functools.lru_cache(maxsize=None)
def _recorded(name: str) -> Recording:
    """One real recording per scenario and test session (the Jena runs serve two tests)."""
    return record(name)


def _rec(curve, val=None, **hparams) -> Recording:
    """A recording from a synthetic loss curve (val: {step: value})."""
    rows = [{"step": i, "epoch": i // 10, "loss": float(v)} for i, v in enumerate(curve)]
    for step, v in (val or {}).items():
        rows[step]["val_loss"] = float(v)
    return Recording(hparams=dict(hparams), model={}, rows=rows, steps_per_epoch=10)


def _noise(n, scale, seed=0):
    return np.random.default_rng(seed).normal(0, scale, n)


# -- the table -------------------------------------------------------------------------------

def test_every_cause_has_several_scenarios_and_ids_are_known():
    per_cause = collections.Counter(s.cause for s in SCENARIOS.values())
    assert all(per_cause[c] >= 2 for c in core.CAUSES), per_cause
    # and they differ: no two scenarios of one cause share their story's first line
    firsts = {(s.cause, s.story.splitlines()[0]) for s in SCENARIOS.values()}
    assert len(firsts) == len(SCENARIOS)
    for s in SCENARIOS.values():
        assert s.cause is None or s.cause in core.CAUSES, s.name
        assert s.symptom is None or s.symptom in core.SYMPTOMS, s.name
        assert (s.cause is None) == (s.symptom is None), s.name
        assert len(s.story.splitlines()) == 2, s.name
    assert [s.name for s in SCENARIOS.values() if s.group == "jena" and s.cause] == list(JENA)


def test_importing_scenarios_does_not_import_torch():
    code = ("import sys, lossdoctor.scenarios as S; assert S.SCENARIOS; "
            "assert 'torch' not in sys.modules and 'sklearn' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_unknown_scenario_names_the_known_ones():
    with pytest.raises(ValueError, match="jena_lr_low"):
        build("no_such_run")


# -- the self-check criteria on synthetic curves ------------------------------------------------

def test_plateau_then_drop_positive_negative_and_near_miss():
    n = 1000
    late = np.r_[np.full(700, 2.3), np.linspace(2.3, 0.6, 300)] + _noise(n, 0.02)
    # Leaves the 10% band 74 steps into its fall: within it for 45% of the run, not 50%.
    early = np.r_[np.full(376, 2.3), np.linspace(2.3, 0.6, 624)] + _noise(n, 0.02)
    shallow = np.r_[np.full(700, 2.3), np.linspace(2.3, 1.8, 300)] + _noise(n, 0.02)  # -22%
    assert checks.plateau_then_drop(_rec(late)).ok
    assert not checks.plateau_then_drop(_rec(early)).ok
    assert not checks.plateau_then_drop(_rec(shallow)).ok
    assert not checks.stagnation(_rec(late)).ok


def test_stagnation_and_slow_convergence_tell_flat_from_steady():
    n = 800
    flat = np.full(n, 2.30) + _noise(n, 0.03)
    steady = np.linspace(2.3, 1.4, n) + _noise(n, 0.03)
    fast = 2.3 * np.exp(-np.arange(n) / 40) + 0.05 + _noise(n, 0.01)
    assert checks.stagnation(_rec(flat, num_classes=10, loss="cross_entropy")).ok
    assert not checks.slow_convergence(_rec(flat)).ok
    assert checks.slow_convergence(_rec(steady)).ok
    assert not checks.stagnation(_rec(steady)).ok
    assert not checks.slow_convergence(_rec(fast)).ok  # most of the fall in the first quarter


def test_oscillation_needs_swings_both_ways_not_noise_or_a_climb():
    n = 1000
    t = np.arange(n)
    swing = 0.5 + 1.5 * np.sin(t / 20) ** 2 * (t > 100) + _noise(n, 0.05)  # period ~63 steps
    noisy_low = np.r_[np.linspace(2.3, 0.05, 200), np.full(800, 0.05)]
    noisy_low = np.abs(noisy_low + _noise(n, 0.04))  # healthy mini-batch noise near zero
    climb = np.exp(t / 100)
    assert checks.oscillation(_rec(swing)).ok
    assert not checks.oscillation(_rec(noisy_low)).ok
    assert not checks.oscillation(_rec(climb)).ok
    assert checks.divergence(_rec(climb)).ok


def test_spikes_need_a_jump_that_lasts_and_recovers():
    base = np.full(600, 0.5) + _noise(600, 0.01)
    spiked, blip = base.copy(), base.copy()
    spiked[300:305] = 4.0  # a few steps high, then back
    blip[300] = 4.0  # one bad batch
    assert checks.spikes(_rec(spiked)).ok
    assert not checks.spikes(_rec(blip)).ok


def test_nan_and_overfitting():
    loss = np.r_[np.linspace(2, 1, 50), [np.nan] * 5]
    assert checks.nan_inf(_rec(loss)).ok
    assert not checks.nan_inf(_rec(loss[:50])).ok
    n = 1000
    train = 2.0 * np.exp(-np.arange(n) / 100) + 0.01
    rising = {s: 0.5 + 0.4 * max(0, s - 300) / 700 for s in range(0, n, 50)}
    flat = {s: 0.5 for s in range(0, n, 50)}
    assert checks.overfitting(_rec(train, rising)).ok
    assert not checks.overfitting(_rec(train, flat)).ok


def test_healthy_check_rejects_a_plateau():
    n = 1000
    good = 2.3 * np.exp(-np.arange(n) / 80) + 0.05 + _noise(n, 0.01)
    plateau = np.r_[np.full(700, 2.3), np.linspace(2.3, 0.2, 300)]
    assert checks.healthy(_rec(good)).ok
    res = checks.healthy(_rec(plateau))
    assert not res.ok and "plateau_then_drop" in res.why


# -- the recorder against a direct torch computation ----------------------------------------

def _tiny(opt: str, wd: float, zero_grad: bool = True):
    from torch import nn

    from lossdoctor.scenarios._build import Net
    from lossdoctor.scenarios.base import TrainConfig

    torch.manual_seed(0)
    X, y = torch.randn(32, 5), torch.randint(0, 3, (32,))
    model = Net(nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3)))
    ref = Net(nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3)))
    ref.load_state_dict(model.state_dict())
    lr = 0.1
    optim = (torch.optim.SGD(model.parameters(), lr=lr, weight_decay=wd) if opt == "sgd"
             else torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd))
    cfg = TrainConfig(model=model, train=(X, y), val=(X, y), loss_fn=nn.CrossEntropyLoss(),
                      optimizer=optim, steps=2, batch_size=32, val_every=1, seed=0,
                      hparams={}, zero_grad=zero_grad)
    return cfg, ref, X, y, lr


def _grads(ref, X, y):
    ref.zero_grad()
    torch.nn.functional.cross_entropy(ref(X), y).backward()
    return [p.grad.clone() for p in ref.parameters()]


def _norm(ts):
    return math.sqrt(sum(float((t ** 2).sum()) for t in ts))


def test_recorder_matches_direct_computation_for_sgd_with_l2():
    from lossdoctor.scenarios._record import train_and_record

    cfg, ref, X, y, lr = _tiny("sgd", wd=0.5)
    row = train_and_record(cfg).rows[0]
    w = [p.detach().clone() for p in ref.parameters()]
    g = _grads(ref, X, y)
    step = [gi + 0.5 * wi for gi, wi in zip(g, w)]  # SGD adds the L2 gradient wd*w
    with torch.no_grad():
        assert row["loss"] == pytest.approx(float(torch.nn.functional.cross_entropy(ref(X), y)))
    assert row["grad_norm"] == pytest.approx(_norm(g), rel=1e-5)
    assert row["weight_norm"] == pytest.approx(_norm(w), rel=1e-5)
    assert row["update_ratio"] == pytest.approx(lr * _norm(step) / _norm(w), rel=1e-4)
    decay = 0.5 * _norm(w)
    assert row["wd_share"] == pytest.approx(decay / (decay + _norm(g)), rel=1e-4)
    assert row["grad_norm/net.0.weight"] == pytest.approx(float(g[0].norm()), rel=1e-5)
    assert row["update_ratio/net.2.weight"] == pytest.approx(
        lr * float(step[2].norm()) / float(w[2].norm()), rel=1e-4)
    h = torch.relu(X @ w[0].T + w[1])
    assert row["dead_frac"] == pytest.approx(float((h <= 0).all(0).float().mean()))
    assert row["dead_frac/net.1"] == row["dead_frac"]


def test_recorder_wd_share_for_decoupled_adamw():
    from lossdoctor.scenarios._record import train_and_record

    cfg, ref, X, y, lr = _tiny("adamw", wd=0.3)
    row = train_and_record(cfg).rows[0]
    w = [p.detach().clone() for p in ref.parameters()]
    g = _grads(ref, X, y)
    # First Adam step: m_hat / sqrt(v_hat) = g / |g| (up to eps), so the Adam part of the step
    # has norm lr * sqrt(number of nonzero gradient entries).
    adam = lr * math.sqrt(sum(int((gi.abs() > 1e-6).sum()) for gi in g))
    decay = lr * 0.3 * _norm(w)
    assert row["wd_share"] == pytest.approx(decay / (decay + adam), rel=1e-3)


def test_recorder_without_zero_grad_logs_the_accumulated_gradient():
    from lossdoctor.scenarios._record import train_and_record

    cfg, ref, X, y, lr = _tiny("sgd", wd=0.0, zero_grad=False)
    rows = train_and_record(cfg).rows
    g0 = _grads(ref, X, y)
    with torch.no_grad():  # replay the first (accumulated-free) SGD step on the copy
        for p, gi in zip(ref.parameters(), g0):
            p -= lr * gi
    g1 = _grads(ref, X, y)
    assert rows[1]["grad_norm"] == pytest.approx(_norm([a + b for a, b in zip(g0, g1)]),
                                                 rel=1e-5)


def test_recording_is_repeatable():
    a = record("dead_relu_bias", steps=40)
    b = record("dead_relu_bias", steps=40)
    assert a.values("loss").tolist() == b.values("loss").tolist()
    assert a.values("grad_norm").tolist() == b.values("grad_norm").tolist()


# -- the writers --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def short_run() -> Recording:
    return record("healthy_cosine", steps=60)  # lr 0.05 with a cosine over 800 steps


def test_every_format_writes_a_readable_file(short_run, tmp_path):
    suffix = {"jsonl": ".jsonl", "csv": ".csv", "keras_csv": ".csv", "text": ".log",
              "trainer_state": ".json"}
    for fmt in FORMATS:
        if fmt == "tensorboard":
            pytest.importorskip("tensorboard")
        target = tmp_path / fmt if fmt in ("lightning", "tensorboard") else (
            tmp_path / fmt / ("run" + suffix[fmt]))
        assert short_run.write(target, fmt).exists(), fmt
    lines = (tmp_path / "jsonl/run.jsonl").read_text().splitlines()
    header, first = json.loads(lines[0]), json.loads(lines[1])
    assert header["type"] == "header" and header["schema"] == "lossdoctor.log/1"
    assert {"optimizer", "lr", "weight_decay", "batch_size", "num_classes", "loss"} <= set(
        header["hparams"])
    assert header["model"]["n_params"] > 0 and header["model"]["layers"]
    assert {"step", "loss", "lr", "grad_norm", "weight_norm", "update_ratio", "wd_share",
            "grad_norm/net.0.weight", "weight_norm/net.2.weight", "update_ratio/net.0.weight",
            "saturation", "saturation/net.1"} <= set(first)
    assert len(lines) == 61
    rows = list(csv.reader((tmp_path / "csv/run.csv").read_text().splitlines()))
    assert rows[0] == ["step", "loss", "val_loss"] and len(rows) == 61
    assert rows[2][2] == "" and rows[1][2] != ""  # validation at step 0 only, then every k
    keras = list(csv.DictReader((tmp_path / "keras_csv/run.csv").read_text().splitlines()))
    assert [int(r["epoch"]) for r in keras] == list(range(len(keras)))
    lightning = tmp_path / "lightning/lightning_logs/version_0"
    assert (lightning / "metrics.csv").read_text().startswith("epoch,step,train_loss_step,val_loss")
    assert "lr: 0.05" in (lightning / "hparams.yaml").read_text()
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    text = (tmp_path / "text/run.log").read_text().splitlines()
    assert text[0].startswith("epoch 0 step 0 loss: ") and "val_loss: " in text[0]
    state = json.loads((tmp_path / "trainer_state/run.json").read_text())
    assert state["global_step"] == 59
    assert {"loss", "learning_rate", "step", "epoch"} <= set(state["log_history"][0])
    assert any("eval_loss" in e for e in state["log_history"])


def test_thin_keeps_an_even_grid_with_validation_and_drops_layers_between(short_run):
    assert short_run.meta["val_every"] == 6  # 60 steps: validation at 0, 6, 12...
    thin = short_run.thin(12, layer_every=2)
    steps = [r["step"] for r in thin.rows]
    assert steps == [0, 6, 12, 18, 24, 30, 36, 42, 48, 54, 59]  # stride 5 -> 6, the val grid
    assert all("val_loss" in r for r in thin.rows)
    assert "grad_norm/net.0.weight" in thin.rows[0]
    assert "grad_norm/net.0.weight" not in thin.rows[1]
    coarse = short_run.thin(4)
    assert [r["step"] for r in coarse.rows] == [0, 18, 36, 54, 59]


def test_round_trip_through_the_readers(short_run, tmp_path):
    from lossdoctor import readers

    path = short_run.write(tmp_path / "run.jsonl", "jsonl")
    run = readers.read(path)
    assert np.allclose(run.loss.values, short_run.values("loss"), rtol=1e-5)
    assert run.hparams.get("lr") == pytest.approx(0.05)
    assert "grad_norm/net.0.weight" in run.series


def test_committed_examples_match_the_table():
    folder = ROOT / "examples"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert [m["name"] for m in manifest] == list(make_examples.EXAMPLES)
    for m in manifest:
        assert m["cause"] == SCENARIOS[m["name"]].cause
        for f in m["files"]:
            assert (folder / f).stat().st_size > 0
    size = sum(p.stat().st_size for p in folder.iterdir())
    assert size < 600_000  # committed examples stay small


# -- real trainings: the curve shows what the scenario claims -------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("name", JENA + FAST)
def test_scenario_shows_its_symptom(name):
    rec = _recorded(name)
    assert selfcheck(name, rec) == []
    if SCENARIOS[name].symptom == "plateau_then_drop":
        assert not checks.oscillation(rec).ok


@pytest.mark.slow
def test_jena_runs_differ_inside_the_way_their_causes_do():
    """The three plateau runs look alike from the loss; their internals must not."""
    runs = {n: _recorded(n) for n in JENA[:3]}
    first_40 = {n: slice(0, int(r.n_steps * 0.4)) for n, r in runs.items()}

    def med(name, key):
        return float(np.median(runs[name].values(key)[first_40[name]]))

    assert med("jena_lr_low", "update_ratio") < med("jena_local_minimum", "update_ratio") / 1.2
    assert med("jena_regularization", "wd_share") > 0.3
    assert med("jena_lr_low", "wd_share") == med("jena_local_minimum", "wd_share") == 0.0
    assert med("jena_local_minimum", "grad_norm") < med("jena_lr_low", "grad_norm") / 2
    w = runs["jena_regularization"].values("weight_norm")
    assert w[first_40["jena_regularization"].stop] < 0.6 * w[0]


# -- the diagnosis on real trainings: a regression guard (thresholds, not exact outputs) ----------

SEED_CAUSES = ("regularization_too_strong", "lr_too_low", "stuck_plateau")


@pytest.mark.slow
@pytest.mark.parametrize("name", JENA + FAST + ("data_unshuffled", "schedule_long_warmup"))
def test_diagnosis_with_internals_names_the_true_cause(name, tmp_path):
    import lossdoctor

    dx = lossdoctor.diagnose(_recorded(name).write(tmp_path / "run.jsonl", "jsonl"))
    truth = SCENARIOS[name].cause
    if truth is None:
        assert dx.healthy and not dx.likely
        return
    top = dx.causes[0]
    assert (top.id, top.verdict) == (truth, "likely"), [(c.id, c.verdict, c.evidence) for c in dx.causes[:3]]
    if name in JENA[:3]:  # the seed: with internals exactly one of its three causes is likely
        assert [c.id for c in dx.likely if c.id in SEED_CAUSES] == [truth]


@pytest.mark.slow
@pytest.mark.parametrize("name", JENA)
def test_loss_only_diagnosis_reproduces_the_quiz(name, tmp_path):
    import lossdoctor

    dx = lossdoctor.diagnose(_recorded(name).write(tmp_path / "run.csv", "csv"))
    v = {c.id: c.verdict for c in dx.causes}
    if name == "jena_lr_high":  # the quiz's wrong answer is the right one here: the loss swings
        assert {"oscillation", "divergence"} & {s.id for s in dx.symptoms}
        assert v["lr_too_high"] in ("likely", "possible")
        return
    assert [s.id for s in dx.symptoms] == ["plateau_then_drop"]
    assert all(v[c] == "possible" for c in SEED_CAUSES)
    assert v["lr_too_high"] == "ruled_out"
