"""The rules table: the seed's reasoning from the curve alone, and internals that name the cause.

Runs here are synthetic curves with internals shaped the way each cause shapes them; the
really-trained runs are checked in test_scenarios.py and bench/accuracy.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from curves import flat, healthy, make_run, noisy, oscillating, plateau_drop

import lossdoctor
from lossdoctor.core import CAUSES, SCHEMA

N = 2000
T = np.arange(N, dtype=float)


def verdicts(dx):
    return {c.id: c.verdict for c in dx.causes}


def likely(dx):
    return sorted(c.id for c in dx.causes if c.verdict == "likely")


#: What the live monitor logs beside the loss (two internal series make a log of the
#: "internals" regime, whose ``likely`` threshold is the one fitted on monitor logs).
MONITORED = {"weight_norm": np.full(N, 10.0), "dead_frac": np.full(N, 0.02)}


def monitored(**extra):
    return {k: (T, v) for k, v in {**MONITORED, **extra}.items()}


def kept(dx):
    return [c.id for c in dx.causes if c.verdict in ("likely", "possible")]


def ptd_run(**extra):
    hp = extra.pop("hparams", {})
    return make_run(noisy(plateau_drop(N), 0.05), extra={k: (T, v) for k, v in extra.items()}, hparams=hp)


def test_seed_quiz_from_the_curve_alone():
    dx = lossdoctor.diagnose(make_run(noisy(plateau_drop(N), 0.05)))
    v = verdicts(dx)
    assert [s.id for s in dx.symptoms] == ["plateau_then_drop"]
    for cause in ("regularization_too_strong", "lr_too_low", "stuck_plateau"):
        assert v[cause] == "possible"
    assert v["lr_too_high"] == "ruled_out"
    reason = " ".join(dx.cause("lr_too_high").evidence)
    assert "held still, then fell" in reason and "never rose" in reason
    assert likely(dx) == []
    assert dx.missing  # says what to log to decide


def test_every_cause_is_judged_and_sorted():
    dx = lossdoctor.diagnose(make_run(noisy(plateau_drop(N), 0.05)))
    assert sorted(c.id for c in dx.causes) == sorted(CAUSES)
    scores = [c.score for c in dx.causes]
    assert scores == sorted(scores, reverse=True)


def test_lr_too_low_named_by_update_ratio_and_lr():
    dx = lossdoctor.diagnose(ptd_run(update_ratio=np.full(N, 2e-6), grad_norm=np.full(N, 1.0),
                                     hparams={"optimizer": "SGD", "lr": 1e-5}))
    assert likely(dx) == ["lr_too_low"]
    assert any("2.0e-06" in e for e in dx.cause("lr_too_low").evidence)


def test_regularization_named_by_decay_share_and_shrinking_weights():
    dx = lossdoctor.diagnose(ptd_run(wd_share=np.full(N, 0.85), weight_norm=np.linspace(10, 4, N),
                                     update_ratio=np.full(N, 1e-3), hparams={"optimizer": "SGD", "lr": 0.05,
                                                                             "weight_decay": 0.5}))
    assert likely(dx) == ["regularization_too_strong"]
    assert "0.05" in dx.cause("regularization_too_strong").fix


def test_regularization_fix_with_no_weight_decay_points_at_the_loss_not_at_zero():
    # an L2 penalty inside the loss (weight_decay 0): the fix said "lower the weight decay about
    # 10x (from 0 to 0)"
    dx = lossdoctor.diagnose(ptd_run(reg_loss=np.full(N, 1.5),  # the script logs its L2 term
                                     hparams={"optimizer": "SGD", "lr": 0.05, "weight_decay": 0.0}))
    c = dx.cause("regularization_too_strong")
    assert c.verdict in ("likely", "possible")
    fix = c.fix
    assert "from 0 to 0" not in fix and "L2 term added to the loss" in fix


def test_stuck_plateau_named_by_gradient_burst_with_normal_lr():
    g = np.where(T < 1450, 1e-4, 5e-2)
    dx = lossdoctor.diagnose(ptd_run(grad_norm=g, update_ratio=np.where(T < 1450, 1e-5, 2e-3),
                                     wd_share=np.zeros(N), hparams={"optimizer": "SGD", "lr": 0.1}))
    assert likely(dx) == ["stuck_plateau"]


def test_lr_schedule_named_by_warmup_through_the_plateau():
    lr = np.minimum(1.0, T / 1450) * 1e-3
    dx = lossdoctor.diagnose(ptd_run(lr=lr, update_ratio=np.full(N, 1e-3)))
    assert likely(dx) == ["lr_schedule"]


def test_constant_lr_rules_out_the_schedule():
    dx = lossdoctor.diagnose(ptd_run(lr=np.full(N, 1e-3)))
    assert dx.cause("lr_schedule").verdict == "ruled_out"


def test_healthy_with_warmup_and_cosine_is_healthy():
    warm = 100
    lr = np.where(T < warm, T / warm, 0.5 * (1 + np.cos(np.pi * (T - warm) / (N - warm)))) * 1e-3
    y = np.concatenate([np.full(warm, 2.3), healthy(N - warm)])
    dx = lossdoctor.diagnose(make_run(noisy(y, 0.1), extra={"lr": (T, lr)}))
    assert dx.healthy and dx.symptoms == () and likely(dx) == []
    assert json.loads(dx.to_json())["healthy"] is True


def test_bad_initialization_from_loss_at_step_zero():
    y = noisy(flat(N, 2.3), 0.02)
    y[:50] = np.linspace(25.0, 2.3, 50)
    dx = lossdoctor.diagnose(make_run(y, hparams={"num_classes": 10}))
    # a loss-only log: the first loss alone ranks the cause first; committing to it takes more
    # (on the corpus's loss-only logs one rule is not 95% precise)
    assert dx.causes[0].id == "bad_initialization" and dx.causes[0].verdict in ("likely", "possible")
    assert any("ln(10)" in e for e in dx.cause("bad_initialization").evidence)


def test_vanishing_gradients_from_layer_ratio():
    layers = {"grad_norm/net.0.weight": (T, np.full(N, 1e-6)), "grad_norm/net.4.weight": (T, np.full(N, 1e-4)),
              "grad_norm/net.8.weight": (T, np.full(N, 1e-2))}
    dx = lossdoctor.diagnose(make_run(noisy(flat(N), 0.02), extra=layers))
    assert "vanishing_gradients" in likely(dx)
    # two layers only: a tiny first-layer gradient is the input saturating, not depth
    del layers["grad_norm/net.4.weight"]
    dx2 = lossdoctor.diagnose(make_run(noisy(flat(N), 0.02), extra=layers))
    assert "vanishing_gradients" not in likely(dx2)


def test_missing_zero_grad_from_linear_gradient_growth():
    dx = lossdoctor.diagnose(make_run(noisy(oscillating(), 0.05), extra={"grad_norm": (T, 0.1 * (T + 1))}))
    assert "missing_zero_grad" in likely(dx)
    assert "exploding_gradients" not in likely(dx)


def test_exploding_gradients_from_gradient_bursts():
    y = noisy(healthy(), 0.05)
    y[[700, 1400]] = 3.0
    g = np.ones(N)
    g[[700, 1400]] = 1e4
    dx = lossdoctor.diagnose(make_run(y, extra=monitored(grad_norm=g, update_ratio=np.full(N, 1e-3))))
    # the mechanism is kept with its evidence; the root cause behind the bursts (an lr too high,
    # an init, bad batches) is what the corpus labels, so the bursts alone do not commit
    assert "exploding_gradients" in kept(dx)
    assert any("peaked" in e for e in dx.cause("exploding_gradients").evidence)


def test_loss_misuse_from_the_double_softmax_floor():
    floor = np.log(1 + 9 / np.e)
    y = floor + (2.3 - floor) * np.exp(-T / (1.5 * N))
    dx = lossdoctor.diagnose(make_run(noisy(y, 0.01), hparams={"num_classes": 10}))
    assert dx.cause("loss_misuse").verdict in ("likely", "possible")
    dx2 = lossdoctor.diagnose(make_run(noisy(floor + (2.3 - floor) * np.exp(-T / 200), 0.01),
                                       hparams={"num_classes": 10, "output_activation": "softmax",
                                                "loss": "CrossEntropyLoss"}))
    assert dx2.healthy is True or dx2.cause("loss_misuse").verdict != "ruled_out"


def test_overfitting_blames_memorisation():
    val = np.concatenate([np.linspace(2.0, 0.7, 10), np.linspace(0.72, 1.1, 10)])
    run = make_run(noisy(healthy(), 0.05), val=val, hparams={"weight_decay": 0.0})
    assert lossdoctor.diagnose(run).causes[0].id == "insufficient_regularization"  # loss-only: ranked first
    dx = lossdoctor.diagnose(make_run(noisy(healthy(), 0.05), val=val, hparams={"weight_decay": 0.0},
                                      extra=monitored(update_ratio=np.full(N, 1e-3))))
    assert "insufficient_regularization" in likely(dx)


def test_dead_relu_from_dead_share():
    dx = lossdoctor.diagnose(make_run(noisy(flat(N), 0.02), extra={"dead_frac/net.1": (T, np.full(N, 0.8))}))
    assert "dead_relu" in likely(dx)


def test_lr_too_high_from_oversized_updates():
    dx = lossdoctor.diagnose(make_run(noisy(oscillating(), 0.05), extra=monitored(update_ratio=np.full(N, 5e-2)),
                                      hparams={"optimizer": "SGD", "lr": 5.0}))
    assert likely(dx) == ["lr_too_high"] and dx.causes[0].id == "lr_too_high"


def test_data_problem_when_weights_move_but_loss_stays_at_chance():
    dx = lossdoctor.diagnose(make_run(noisy(flat(N, np.log(10)), 0.02), hparams={"num_classes": 10},
                                      extra=monitored(update_ratio=np.full(N, 2e-3))))
    assert "data_problem" in likely(dx)


def test_json_contract():
    dx = lossdoctor.diagnose(make_run(noisy(plateau_drop(N), 0.05)))
    d = json.loads(dx.to_json())
    assert d["schema"] == SCHEMA == "lossdoctor.diagnosis/1"
    assert set(d) >= {"schema", "source", "healthy", "symptoms", "causes"}
    s = d["symptoms"][0]
    assert set(s) >= {"id", "start", "end", "confidence", "summary"}
    assert all(set(c) >= {"id", "verdict", "score", "evidence", "fix"} for c in d["causes"])
    assert all(c["fix"] == "" for c in d["causes"] if c["verdict"] in ("ruled_out", "unlikely"))


def test_no_loss_is_a_clear_error():
    run = make_run(healthy(10))
    run = lossdoctor.Run("x.csv", {"acc": run.loss}, {}, {"format": "csv"})
    with pytest.raises(lossdoctor.LogError, match="no training loss"):
        lossdoctor.diagnose(run)


def test_too_short_runs_are_inconclusive_not_healthy():
    # regression: "only 2 finite loss points" used to be `healthy`, exit 0
    dx = lossdoctor.diagnose(make_run([2.3, 2.2]))
    assert dx.healthy is None and "only 2 finite loss points" in dx.inconclusive
    d = dx.to_dict()
    assert d["healthy"] is None and d["inconclusive"] == dx.inconclusive


def test_few_points_do_not_make_a_shape():
    # regression: an HF checkpoint's 5 logged points were called stagnation
    dx = lossdoctor.diagnose(make_run([3.30, 3.21, 3.12, 3.09, 3.05]))
    assert dx.healthy is None and not dx.symptoms and "only 5" in dx.inconclusive


def test_a_shape_too_short_to_judge_still_says_which_causes_fit():
    # a loss sitting at ln(3) for 7 points: stagnation is not judged on so few, but the causes
    # that make it are kept as possible (not all "unlikely", as on a healthy run), none likely
    dx = lossdoctor.diagnose(make_run([1.0986, 1.0987, 1.0985, 1.0986, 1.0986, 1.0985, 1.0986]))
    assert dx.healthy is None and "stagnation not judged" in dx.inconclusive and not dx.symptoms
    kept = {c.id for c in dx.causes if c.verdict == "possible"}
    assert "lr_too_low" in kept and not dx.likely
    assert "lr_too_high" not in kept  # it makes swings and blow-ups, not a still loss
    assert not [c for c in dx.causes if c.verdict == "ruled_out"]  # nor rules any out


def test_a_run_stopped_early_in_its_own_schedule_says_how_far_it_got():
    # regression: step 2,500 of max_steps=22486 was judged as if the run had ended
    run = make_run(3.3 - 0.02 * np.log1p(T), hparams={"max_steps": 22486})
    run = lossdoctor.Run(run.source, {"loss": lossdoctor.Series("loss", run.loss.steps * 1.25, run.loss.values)},
                         run.hparams, run.meta)
    dx = lossdoctor.diagnose(run)
    assert dx.healthy is None and "planned 22,486" in dx.inconclusive and "% done" in dx.inconclusive
    assert not any(s.id in ("stagnation", "slow_convergence") for s in dx.symptoms)


def test_nan_is_reported_however_short_the_log():
    dx = lossdoctor.diagnose(make_run([2.3, 5.0, float("nan")]))
    assert dx.healthy is False and dx.symptom("nan_inf") is not None


def test_a_red_flag_lr_is_never_healthy():
    # regression: AdamW at lr 5.0 with a quiet-looking curve was `healthy`, exit 0
    dx = lossdoctor.diagnose(make_run(healthy(), hparams={"optimizer": "adamw", "lr": 5.0}))
    assert dx.healthy is None and "500x the top" in dx.inconclusive


def test_constant_negative_loss_is_stagnation_like_zero_or_one():
    for level in (-5.0, 0.0, 1.0):
        dx = lossdoctor.diagnose(make_run(np.full(300, level)))
        assert dx.symptom("stagnation") is not None, level


def test_loss_misuse_knows_the_floor_of_each_loss():
    from lossdoctor.diagnose.causes.loss_misuse import floors

    (ce, _), = floors("ce", 10)
    (bce, _), = floors("bce", 10)
    assert abs(ce - np.log(1 + 9 / np.e)) < 1e-12 and abs(bce - 0.6549) < 1e-3
    # softmax head + BCEWithLogitsLoss on one-hot targets: sits on the BCE floor, far below CE's
    y = bce + (0.75 - bce) * np.exp(-T / 150)
    hp = {"num_classes": 10, "output_activation": "softmax", "loss": "binary_cross_entropy_with_logits"}
    c = lossdoctor.diagnose(make_run(noisy(y, 0.005), hparams=hp)).cause("loss_misuse")
    assert c.verdict == "likely" and any("BCEWithLogitsLoss" in e for e in c.evidence)
    assert not any("log_softmax" in e for e in c.evidence)
    # the same curve with a cross-entropy loss went below CE's floor: that counts against
    hp["loss"] = "cross_entropy"
    c = lossdoctor.diagnose(make_run(noisy(y, 0.005), hparams=hp)).cause("loss_misuse")
    assert any("went below" in e for e in c.evidence)


def test_lr_too_high_ruled_out_on_the_plateau_and_drop_not_after():
    """A bump once the loss has settled after its drop says nothing about what held it."""
    y = plateau_drop(N, start=0.7, end=0.35, plateau_frac=0.5, drop_frac=0.15)
    y[int(0.95 * N):] *= 1.08  # the last 5% of the run sits 8% higher
    v = lossdoctor.diagnose(make_run(noisy(y, 0.005))).cause("lr_too_high")
    assert v.verdict == "ruled_out" and any("up to the end of its drop" in e for e in v.evidence)
    # a rise of that size within the plateau still keeps it open
    y2 = plateau_drop(N, start=0.7, end=0.35, plateau_frac=0.5, drop_frac=0.15)
    y2[int(0.2 * N):int(0.3 * N)] *= 1.08
    assert lossdoctor.diagnose(make_run(noisy(y2, 0.005))).cause("lr_too_high").verdict != "ruled_out"


def test_a_calm_stall_does_not_clear_an_lr_far_above_its_range():
    """An lr far above its optimizer's range can wreck the net in its first steps, before the log
    shows a swing: the calm stall after it is where the net landed. Adam at 0.47 (47x the top of
    its usual range) stays a suspect; at a usual lr the same calm curve rules it out."""
    y = flat(N, 2.9)
    far = lossdoctor.diagnose(make_run(noisy(y, 0.01), hparams={"optimizer": "adam", "lr": 0.47}))
    c = far.cause("lr_too_high")
    assert c.verdict != "ruled_out" and any("moved too calmly" in e for e in c.evidence)
    assert any("top of the usual range" in e for e in c.evidence)
    usual = lossdoctor.diagnose(make_run(noisy(y, 0.01), hparams={"optimizer": "adam", "lr": 1e-3}))
    assert usual.cause("lr_too_high").verdict == "ruled_out"


def test_big_sgd_steps_at_a_small_lr_point_to_the_inputs():
    ur = (T, np.full(N, 0.015))
    hp = {"optimizer": "SGD", "lr": 1e-4, "momentum": 0.0}
    dx = lossdoctor.diagnose(make_run(noisy(oscillating(), 0.05), extra={"update_ratio": ur}, hparams=hp))
    assert any("gradients are huge" in e for e in dx.cause("data_problem").evidence)
    # with Adam the step size is the lr's doing, not the gradient's: no such inference
    hp["optimizer"] = "Adam"
    dx = lossdoctor.diagnose(make_run(noisy(oscillating(), 0.05), extra={"update_ratio": ur}, hparams=hp))
    assert not any("gradients are huge" in e for e in dx.cause("data_problem").evidence)


def _with_model(run, layers):
    run.meta["model"] = {"layers": layers}
    return run


def test_initial_weight_scale_is_measured_against_pytorchs_default():
    from lossdoctor.detect import Context, detect
    from lossdoctor.diagnose.evidence import Evidence

    def measured(run):
        cx = Context(run)
        return Evidence(run, cx, detect(run, cx)).init_scale_measured

    # the monitor's header: parameters with their initial std (default: 1/sqrt(3 fan_in))
    layers = [{"name": f"net.{i}.weight", "shape": [32, 64], "init_std": 0.25 / np.sqrt(3 * 64)}
              for i in range(4)] + [{"name": "net.0.bias", "shape": [32], "init_std": 1.0}]
    assert measured(_with_model(make_run(flat(200)), layers)) == pytest.approx((0.25, 4))
    # a recorder-style header: modules with their type, and per-layer weight norms at step 0
    default_norm = np.sqrt(16 / 3)  # E||W||^2 = out / 3 for any fan-in
    extra = {f"weight_norm/fc{i}.weight": (T[:5], np.full(5, 2.0 * default_norm)) for i in range(3)}
    run = _with_model(make_run(flat(N), extra=extra),
                      [{"name": f"fc{i}", "type": "Linear", "shape": [16, 8]} for i in range(3)]
                      + [{"name": "norm", "type": "LayerNorm", "shape": [16]}])
    assert measured(run) == pytest.approx((2.0, 3))
    assert measured(make_run(flat(200))) is None


def test_a_deep_net_started_far_below_the_default_scale_sits_on_a_saddle():
    """Weights at a quarter of the default scale in five layers: a normal update/weight ratio is
    then tiny steps, and the cause is the saddle, not labels without signal."""
    layers = [{"name": f"net.{i}.weight", "shape": [32, 32], "init_std": 0.25 / np.sqrt(96)} for i in range(5)]
    extra = {"update_ratio": (T, np.full(N, 2e-3))}
    run = _with_model(make_run(noisy(flat(N, 1.386), 0.002), extra=extra,
                               hparams={"num_classes": 4, "optimizer": "SGD", "lr": 0.02, "momentum": 0.9}),
                      layers)
    dx = lossdoctor.diagnose(run)
    assert dx.causes[0].id == "stuck_plateau" and dx.causes[0].verdict == "likely"
    assert not any("labels carry no learnable signal" in e for e in dx.cause("data_problem").evidence)


def test_gradients_that_are_never_cleared_name_missing_zero_grad():
    every10 = T[10::10]
    stale = (every10, np.ones(every10.size))
    dx = lossdoctor.diagnose(make_run(noisy(oscillating(), 0.05), extra={**monitored(), "grad_stale": stale}))
    assert "missing_zero_grad" in likely(dx)
    assert any("never cleared" in e for e in dx.cause("missing_zero_grad").evidence)


def test_gradients_cleared_every_step_rule_out_missing_zero_grad():
    every10 = T[10::10]
    # the gradient norm grows in step with the step count, as a running sum would: the monitor
    # saw the gradients cleared before every backward pass all the same, and that decides
    dx = lossdoctor.diagnose(make_run(noisy(oscillating(), 0.05),
                                      extra={**monitored(), "grad_norm": (T, 0.1 * (T + 1)),
                                             "grad_stale": (every10, np.zeros(every10.size))}))
    c = dx.cause("missing_zero_grad")
    assert c.verdict == "ruled_out"
    assert any("zero_grad() runs" in e for e in c.evidence)


def test_inputs_on_a_raw_scale_point_to_the_data():
    every100 = T[::100]
    raw = {**monitored(), "input_rms": (every100, np.full(every100.size, 180.0))}
    dx = lossdoctor.diagnose(make_run(noisy(oscillating(), 0.05), extra=raw))
    assert any("not normalised" in e for e in dx.cause("data_problem").evidence)
    scaled = {**monitored(), "input_rms": (every100, np.full(every100.size, 0.9))}
    dx2 = lossdoctor.diagnose(make_run(noisy(oscillating(), 0.05), extra=scaled))
    assert not any("not normalised" in e for e in dx2.cause("data_problem").evidence)
    assert dx.cause("data_problem").score > dx2.cause("data_problem").score


def test_a_huge_first_loss_from_raw_inputs_is_not_blamed_on_the_init():
    y = noisy(healthy(start=40.0), 0.05)
    every100 = T[::100]
    hp = {"num_classes": 10}
    raw = {**monitored(), "input_rms": (every100, np.full(every100.size, 300.0))}
    dx = lossdoctor.diagnose(make_run(y, extra=raw, hparams=hp))
    ev = dx.cause("bad_initialization").evidence
    assert any("the inputs, not the weights" in e for e in ev)
    assert not any("initial weights are too large" in e for e in ev)


def test_a_validation_loss_that_never_improves_points_to_the_labels():
    # the training loss falls from chance to near 0 (memorised), the validation loss never goes
    # below where it started: nothing learnt carries over, as with shuffled labels
    val = np.concatenate([np.full(5, 2.31), np.linspace(2.31, 3.5, 15)])
    hp = {"num_classes": 10, "weight_decay": 0.0}
    dx = lossdoctor.diagnose(make_run(noisy(healthy(start=2.3, floor=0.05), 0.05), val=val, hparams=hp,
                                      extra=monitored(update_ratio=np.full(N, 1e-3))))
    assert any("carries over" in e for e in dx.cause("data_problem").evidence)
    assert any("nothing carried over" in e for e in dx.cause("insufficient_regularization").evidence)
    # a model that first generalised, then memorised: no such line
    val2 = np.concatenate([np.linspace(2.3, 0.7, 10), np.linspace(0.72, 1.1, 10)])
    dx2 = lossdoctor.diagnose(make_run(noisy(healthy(start=2.3, floor=0.05), 0.05), val=val2, hparams=hp,
                                       extra=monitored(update_ratio=np.full(N, 1e-3))))
    assert not any("carries over" in e for e in dx2.cause("data_problem").evidence)


def test_a_decay_too_weak_to_pull_the_weights_in_is_not_blamed():
    # a mild decay (1e-4 at lr 0.05 over 2000 steps can shrink the weights by ~1%) takes a large
    # share of each step only because the data's gradient is tiny: not regularization
    hp = {"optimizer": "SGD", "lr": 0.05, "momentum": 0.0, "weight_decay": 1e-4}
    dx = lossdoctor.diagnose(make_run(noisy(flat(N, 2.3), 0.01), hparams=hp,
                                      extra=monitored(wd_share=np.full(N, 0.85), update_ratio=np.full(N, 2e-5))))
    c = dx.cause("regularization_too_strong")
    assert c.verdict not in ("likely", "confirmed")
    assert any("could shrink the weights by only" in e for e in c.evidence)
    # the same share from a decay that can pull the weights to ~0 within the run does count
    hp["weight_decay"] = 0.05
    dx = lossdoctor.diagnose(make_run(noisy(flat(N, 2.3), 0.01), hparams=hp,
                                      extra=monitored(wd_share=np.full(N, 0.85), update_ratio=np.full(N, 2e-5))))
    assert any("makes up 85% of each update" in e for e in dx.cause("regularization_too_strong").evidence)


def test_batches_in_the_same_order_every_epoch_are_found_without_the_epoch_length():
    rng = np.random.default_rng(0)
    period = 37  # batches per epoch, unknown to the log
    pattern = rng.normal(0, 0.15, period)  # each batch's own difficulty, the same every epoch
    t = np.arange(N)
    y = 0.3 + 1.2 * np.exp(-t / 300) + pattern[t % period] + rng.normal(0, 0.02, N)
    from lossdoctor.diagnose.engine import assess

    per = assess(make_run(y)).ev.epoch_periodicity
    assert per is not None and per[1] == period
    dx = lossdoctor.diagnose(make_run(y))
    assert any(f"every {period} steps" in e for e in dx.cause("data_problem").evidence)
    # negative: the same run with the batches reshuffled every epoch
    y2 = 0.3 + 1.2 * np.exp(-t / 300) + rng.normal(0, 0.15, N)
    assert assess(make_run(y2)).ev.epoch_periodicity is None
    # near miss: slow wiggles correlate at every nearby lag alike, with no sharp repeat
    y3 = 0.3 + 1.2 * np.exp(-t / 300) + 0.1 * np.sin(t / 7.0) + rng.normal(0, 0.02, N)
    assert assess(make_run(y3)).ev.epoch_periodicity is None


def test_a_quiet_curve_with_a_fault_in_the_internals_is_not_healthy():
    every10 = T[10::10]
    stale = (every10, np.ones(every10.size))
    dx = lossdoctor.diagnose(make_run(noisy(healthy(), 0.05), extra={**monitored(), "grad_stale": stale}))
    assert dx.healthy is None and "no symptom in the curve, but" in dx.inconclusive
    assert [c.id for c in dx.likely] == ["missing_zero_grad"]
    assert dx.to_dict()["inconclusive"].startswith("no symptom in the curve")
    # the same curve whose gradients were cleared is healthy
    cleared = (every10, np.zeros(every10.size))
    assert lossdoctor.diagnose(make_run(noisy(healthy(), 0.05), extra={**monitored(), "grad_stale": cleared})).healthy


def test_a_validation_turn_before_the_training_set_is_fit_points_to_noisy_labels():
    # noisy training labels: the training loss is still near chance (ln 10 = 2.30) when the
    # validation loss turns up, since most labels cannot be predicted from the inputs
    hp = {"num_classes": 10, "weight_decay": 0.0}
    train = noisy(healthy(start=2.3, floor=1.75, tau_frac=0.5), 0.03)
    val = np.concatenate([np.linspace(2.3, 1.9, 6), np.linspace(1.92, 2.6, 14)])
    dx = lossdoctor.diagnose(make_run(train, val=val, hparams=hp, extra=monitored(update_ratio=np.full(N, 1e-3))))
    assert "overfitting" in [s.id for s in dx.symptoms]
    assert any("before it had fit the training set" in e for e in dx.cause("data_problem").evidence)
    assert any("memorises clean labels" in e for e in dx.cause("insufficient_regularization").evidence)
    assert dx.causes[0].id == "data_problem"
    # clean labels memorised: the training loss was far below chance when validation turned
    val2 = np.concatenate([np.linspace(2.3, 0.7, 10), np.linspace(0.72, 1.1, 10)])
    dx2 = lossdoctor.diagnose(make_run(noisy(healthy(start=2.3, floor=0.05), 0.03), val=val2, hparams=hp,
                                       extra=monitored(update_ratio=np.full(N, 1e-3))))
    assert not any("before it had fit" in e for e in dx2.cause("data_problem").evidence)
    assert dx2.causes[0].id == "insufficient_regularization"
