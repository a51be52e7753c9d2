"""The comparison of an arm with its baseline, and the verdicts the outcomes give, on synthetic
curves with a known answer (positive, negative and a noisy near miss each)."""

import numpy as np
import pytest
from curves import flat, make_run, noisy, plateau_drop

from lossdoctor.core import Cause
from lossdoctor.verify import compare as C
from lossdoctor.verify.arms import BY_NAME
from lossdoctor.verify.infer import decided, infer


def _arm(values):
    return make_run(values)


# -- too slow -------------------------------------------------------------------------------------
def test_a_plateau_left_early_is_fixed():
    base = make_run(noisy(plateau_drop(1500, 1.39, 0.3, 0.7), 0.02))
    arm = _arm(noisy(plateau_drop(500, 1.39, 0.3, 0.2), 0.02, seed=1))
    o = C.compare(base, arm, "plateau_then_drop", 500)
    assert o.outcome == "fixed", o.effect


def test_the_same_plateau_is_no_change():
    base = make_run(noisy(plateau_drop(1500, 1.39, 0.3, 0.7), 0.02))
    arm = _arm(noisy(flat(500, 1.39), 0.02, seed=2))
    assert C.compare(base, arm, "plateau_then_drop", 500).outcome == "no_change"


def test_a_dip_within_the_noise_is_no_change():
    base = make_run(noisy(flat(1000, 2.3), 0.08))
    arm = _arm(noisy(flat(250, 2.3 * 0.98), 0.08, seed=3))  # 2% lower: inside the band
    assert C.compare(base, arm, "stagnation", 250).outcome == "no_change"


def test_a_small_real_gain_is_improved_not_fixed():
    base = make_run(noisy(flat(1000, 2.3), 0.01))
    arm = _arm(noisy(flat(250, 2.3 * 0.96), 0.01, seed=4))  # beyond the noise, under 5%
    assert C.compare(base, arm, "stagnation", 250).outcome == "improved"


def test_the_target_stops_a_fixed_arm_below_the_baseline():
    base = make_run(noisy(flat(1000, 2.3), 0.02))
    t = C.target(base, "stagnation", 250)
    assert t is not None and t < 2.3 * 0.95
    assert C.target(base, "oscillation", 250) is None


# -- blow-ups -------------------------------------------------------------------------------------
def _blow(n, at):
    y = np.full(n, 1.0)
    y[at:] = np.exp(np.arange(n - at) / 5.0)
    y[min(n - 1, at + 40):] = np.nan
    return y


def test_no_blow_up_is_fixed_and_a_later_one_improved():
    base = make_run(_blow(200, 50))
    assert C.compare(base, _arm(np.full(120, 0.9)), "nan_inf", 120).outcome == "fixed"
    assert C.compare(base, _arm(_blow(160, 110)), "nan_inf", 160).outcome == "improved"
    assert C.compare(base, _arm(_blow(120, 50)), "nan_inf", 120).outcome == "no_change"


def test_a_gradient_that_overflowed_is_a_blow_up_though_the_loss_came_back():
    # SGD at lr 48: the gradient norm is +inf at step 7, the loss soars to 1e27 and falls back to
    # a dead net's chance level; the nan_inf detector reads the gradient norm, so must the arms
    n = 34
    loss = np.full(n, 0.69)
    loss[3:10] = [5e2, 2e7, 7e11, 1e19, 1e27, 1e11, 2e10]
    g = np.full(n, 3.0)
    g[7:9] = np.inf
    base = make_run(loss, extra={"grad_norm": (np.arange(n), g)})
    calm = make_run(np.linspace(0.69, 0.3, n), extra={"grad_norm": (np.arange(n), np.full(n, 2.0))})
    assert C.compare(base, calm, "nan_inf", n).outcome == "fixed"  # was: failed, "the baseline never blew up"
    again = make_run(loss, extra={"grad_norm": (np.arange(n), g)})
    assert C.compare(base, again, "nan_inf", n).outcome == "no_change"


def test_a_swing_that_comes_back_is_no_blow_up():
    y = noisy(np.full(300, 1.0), 0.05)
    y[100:110] = 3.0  # a burst, then back
    assert C.blowup_step(C.Curve(np.arange(300.0), y), 5) is None


# -- unsteady -----------------------------------------------------------------------------------
def test_calmer_and_lower_is_fixed_but_only_calmer_is_not():
    rng = np.random.default_rng(0)
    base = make_run(1.5 + 0.6 * np.abs(rng.standard_normal(1000)))
    calm_low = _arm(0.4 + 0.05 * np.abs(rng.standard_normal(250)))
    calm_same = _arm(1.95 + 0.05 * rng.standard_normal(250))
    assert C.compare(base, calm_low, "oscillation", 250).outcome == "fixed"
    assert C.compare(base, calm_same, "oscillation", 250).outcome != "fixed"


# -- the verdicts -------------------------------------------------------------------------------
def _causes(**scores):
    return [Cause(k, "likely" if v >= 0.8 else "possible" if v >= 0.3 else "unlikely", v) for k, v in scores.items()]


def test_an_overfitting_rise_removed_at_a_higher_level_is_improved_not_worse():
    # regression (a loop without zero_grad, tuning split): clearing the gradients learned more
    # slowly, so the validation loss did not rise but sat higher; "worse" ruled the cause out
    n = 400
    t = np.arange(n)
    val_b = 0.3 + 0.2 * np.exp(-t / 40) + np.where(t > 200, (t - 200) / 1000, 0)  # rises 0.2 from step 200
    base = make_run(noisy(flat(n, 0.3), 0.02), val=val_b[::10], val_every=10)
    val_a = 0.6 + 0.2 * np.exp(-t / 80)  # no rise, but higher than the baseline ever got
    arm = make_run(noisy(flat(n, 0.5), 0.02, seed=1), val=val_a[::10], val_every=10)
    assert C.compare(base, arm, "overfitting", n).outcome == "improved"
    worse = make_run(noisy(flat(n, 0.5), 0.02, seed=1), val=(val_a + val_b)[::10] - 0.3, val_every=10)
    assert C.compare(base, worse, "overfitting", n).outcome == "worse"  # rises as well, and higher
    fixed = make_run(noisy(flat(n, 0.3), 0.02, seed=1), val=(0.28 + 0.2 * np.exp(-t / 40))[::10], val_every=10)
    assert C.compare(base, fixed, "overfitting", n).outcome == "fixed"


def test_an_unsteady_arm_runs_into_the_stretch_where_the_baseline_swung():
    # regression: a loss that began to swing at step 238 of 800 had its arms stop at 200
    from lossdoctor.core import Symptom
    from lossdoctor.verify.plan import default_steps

    run = make_run(noisy(flat(800, 0.4), 0.05))
    assert default_steps(run, Symptom("oscillation", 238.0, 799.0, 0.9, "")) == 379  # 238 + a quarter of the rest
    assert default_steps(run, Symptom("oscillation", 0.0, 799.0, 0.9, "")) == 200  # from the start: as before
    assert default_steps(run, Symptom("stagnation", 238.0, 799.0, 0.9, "")) == 200  # levels: unchanged


def test_jenas_lr_low_run():
    causes = _causes(lr_too_low=0.9, stuck_plateau=0.1, regularization_too_strong=0.1)
    found = infer(causes, [("lr_x10", "fixed", "e"), ("reinit", "no_change", "e")])
    assert found["lr_too_low"].verdict == "confirmed"
    assert found["stuck_plateau"].verdict == "ruled_out"  # its own decisive arm did nothing
    assert found["regularization_too_strong"].verdict == "ruled_out"  # lr x10 cannot cure decay
    assert decided(causes, found)


def test_jenas_local_minimum_run():
    causes = _causes(stuck_plateau=1.0, lr_too_low=0.3, regularization_too_strong=0.1)
    found = infer(causes, [("reinit", "fixed", "e"), ("lr_x10", "fixed", "e")])
    assert found["stuck_plateau"].verdict == "confirmed"
    assert found["lr_too_low"].verdict == "ruled_out"  # a fresh init cannot cure a low lr


def test_jenas_regularization_run_when_the_relu_arm_also_ran():
    # regression (5th seed, arms finishing in another order on a busy machine): the ReLU swap at
    # the Kaiming scale left the decay-held plateau in 42 steps, and its fix ruled the decay out
    causes = _causes(regularization_too_strong=0.9, vanishing_gradients=0.3, stuck_plateau=0.1)
    found = infer(causes, [("decay_off", "fixed", "e"), ("reinit", "no_change", "e"), ("relu", "fixed", "e")])
    assert found["regularization_too_strong"].verdict == "confirmed"
    assert found["vanishing_gradients"].verdict == "ruled_out"  # decay off cannot cure it


def test_two_changes_that_both_fix_and_close_scores_confirm_nothing():
    causes = _causes(lr_too_high=0.6, exploding_gradients=0.5)
    found = infer(causes, [("lr_div10", "fixed", "e"), ("clip", "fixed", "e")])
    assert not any(f.verdict == "confirmed" for f in found.values())
    causes = _causes(lr_too_high=0.95, exploding_gradients=0.4)
    found = infer(causes, [("lr_div10", "fixed", "e"), ("clip", "fixed", "e")])
    assert found["lr_too_high"].verdict == "confirmed"  # the log breaks the tie


def test_improved_and_failed_arms_decide_nothing():
    causes = _causes(lr_too_low=0.9)
    for outcome in ("improved", "failed"):
        found = infer(causes, [("lr_x10", outcome, "e")])
        assert found["lr_too_low"].verdict is None
    assert not decided(causes, infer(causes, [("lr_x10", "improved", "e")]))


@pytest.mark.parametrize("outcome", ["no_change", "worse"])
def test_a_decisive_arm_that_did_not_help_rules_its_cause_out(outcome):
    causes = _causes(missing_zero_grad=0.9)
    assert infer(causes, [("zero_grad", outcome, "e")])["missing_zero_grad"].verdict == "ruled_out"


def test_one_form_of_a_cause_fixed_and_another_not_still_confirms_it():
    # regression: decay off fixed, dropout off did nothing, and regularization_too_strong came out
    # ruled out (a held-out corpus run, arms run in parallel)
    causes = _causes(regularization_too_strong=0.5, stuck_plateau=0.3)
    found = infer(causes, [("decay_off", "fixed", "e"), ("dropout_off", "no_change", "e")])
    assert found["regularization_too_strong"].verdict == "confirmed"
    assert found["stuck_plateau"].verdict == "ruled_out"  # decay off cannot cure a saddle
    # with no form that fixed it, a decisive arm that did nothing still rules it out
    found = infer(causes, [("dropout_off", "no_change", "e")])
    assert found["regularization_too_strong"].verdict == "ruled_out"
    # and a change that could not have cured it, yet removed the symptom, rules it out all the same
    found = infer(_causes(lr_too_low=0.6), [("lr_x10", "fixed", "e"), ("reinit", "fixed", "e")])
    assert found["lr_too_low"].verdict == "ruled_out"


# -- the plan -------------------------------------------------------------------------------------
def test_an_lr_far_below_its_default_is_tested_at_100x_at_once():
    # regression: AdamW at 3.4e-6 (300x below its default) came out no_change at lr x 10 over an
    # arm's quarter of the run, and lr_too_low was ruled out; at x 100 it is confirmed
    from pathlib import Path

    import lossdoctor
    from lossdoctor.verify.plan import plan

    ex = Path(__file__).resolve().parents[2] / "examples"
    far = plan(lossdoctor.diagnose(ex / "lr_low_shallow.jsonl"))  # SGD at 0.0006: 170x below 0.1
    names = [p.arm.name for p in far.arms]
    assert "lr_x100" in names and "lr_x10" not in names and "lr_x10" not in far.followups
    near = plan(lossdoctor.diagnose(ex / "jena_lr_low.jsonl"))  # SGD at 0.0016 effective: 60x below
    names = [p.arm.name for p in near.arms]
    assert "lr_x10" in names and "lr_x100" not in names and near.followups["lr_x10"].arm.name == "lr_x100"


def test_standardising_inputs_already_on_a_normal_scale_is_left_out():
    # regression: a held-out run whose inputs reached the first layer at rms 1 had data_problem
    # confirmed by the standardise arm (a near no-op whose luck delayed a blow-up)
    from pathlib import Path

    import lossdoctor
    from lossdoctor.verify.arms import BY_NAME

    ex = Path(__file__).resolve().parents[2] / "examples"
    why = BY_NAME["standardize"].left_out(lossdoctor.read(ex / "data_unshuffled.jsonl"))
    assert why and "normal scale" in why
    raw = make_run(flat(200, 2.3), extra={"input_rms": (np.arange(0, 200, 10), np.full(20, 250.0))})
    assert BY_NAME["standardize"].left_out(raw) is None  # raw inputs: the arm runs
    assert BY_NAME["standardize"].left_out(make_run(flat(200, 2.3))) is None  # not recorded: it runs


def test_a_tiny_init_fixed_by_a_scaled_reinit_is_a_saddle_even_if_the_default_one_did_nothing():
    # regression: deep GELU nets started at 0.04-0.2x: PyTorch's default re-init left them stuck
    # (itself small for deep nets), Kaiming at the activation's gain freed them
    causes = _causes(stuck_plateau=0.5, lr_too_low=0.3)
    found = infer(causes, [("reinit", "no_change", "e"), ("reinit_gain", "fixed", "e")])
    assert found["stuck_plateau"].verdict == "confirmed"
    assert found["lr_too_low"].verdict == "ruled_out"  # a re-init cannot cure a low lr
    found = infer(causes, [("reinit", "no_change", "e"), ("reinit_gain", "no_change", "e")])
    assert found["stuck_plateau"].verdict == "ruled_out"


def test_the_scaled_reinit_runs_only_on_a_net_that_started_small():
    # Jena's low-lr run starts at PyTorch's scale: a larger init would speed it up and read as a
    # saddle, so the arm is left out there; the deep linear net started at 0.25x gets it
    from pathlib import Path

    import lossdoctor
    from lossdoctor.verify.arms import BY_NAME

    ex = Path(__file__).resolve().parents[2] / "examples"
    arm = BY_NAME["reinit_gain"]
    assert "did not start small" in arm.left_out(lossdoctor.read(ex / "jena_lr_low.jsonl"))
    assert arm.left_out(lossdoctor.read(ex / "stuck_deep_linear.jsonl")) is None
    assert "does not show" in arm.left_out(make_run(flat(200, 2.3)))


def _layered(weight_scale=1.0, bias_rms=None):
    """A run whose monitor header describes a 2-layer MLP whose weights started at
    ``weight_scale`` times PyTorch's default std, with first weight norms for the biases."""
    import math

    shapes = {"0.weight": [64, 16], "0.bias": [64], "2.weight": [3, 64], "2.bias": [3]}
    layers, extra = [], {}
    for name, shape in shapes.items():
        fan_in = shape[1] if len(shape) > 1 else (16 if name == "0.bias" else 64)
        ref = 1 / math.sqrt(3 * fan_in)
        std = ref * (weight_scale if len(shape) > 1 else 1.0)
        layers.append({"name": name, "shape": shape, "init_std": std})
        rms = std if len(shape) > 1 or bias_rms is None else bias_rms
        extra[f"weight_norm/{name}"] = ([0, 10], [rms * math.sqrt(math.prod(shape))] * 2)
    run = make_run(flat(200, 1.1), extra=extra)
    run.meta["model"] = {"layers": layers}
    return run


def test_a_reinit_of_a_net_already_at_the_default_scale_is_a_redraw_and_its_fix_only_luck():
    # regression: an lr decayed to nothing early stalls wherever its first steps took it; the
    # default re-init of a net that already started at the default scale drew luckier weights,
    # "fixed" the stall and confirmed stuck_plateau over the true lr_schedule (its own arm fixed too)
    arm = BY_NAME["reinit"]
    assert "default scale" in arm.luck(_layered(1.0))
    assert arm.luck(_layered(0.05)) is None  # a tiny start: the re-init is the test of a saddle
    assert arm.luck(_layered(20.0)) is None  # a huge one: the test of a bad init
    assert arm.luck(_layered(1.0, bias_rms=2.0)) is None  # biases at -2: not the default
    assert arm.luck(make_run(flat(200, 1.1))) is None  # the log cannot tell: a fix counts
    # a redraw that did not help still rules the init out (Jena's low-lr run)
    found = infer(_causes(lr_schedule=0.5, stuck_plateau=0.5),
                  [("constant_lr", "fixed", "e"), ("reinit", "improved", "e")])
    assert found["lr_schedule"].verdict == "confirmed"


def test_a_reinit_after_an_lr_that_died_early_is_luck_too():
    # regression (a transformer on digits, lr decayed 70x by step 23 of 500, not at PyTorch's
    # default init scheme everywhere): the dead lr froze the baseline at 2.2; a redraw ended at
    # 2.06, "fixed" it, and confirmed stuck_plateau over the true lr_schedule
    arm = BY_NAME["reinit"]
    steps = np.arange(500)
    died = 7e-4 * np.exp(-steps / 5.0) + 1e-5
    assert "fell to a tenth of its peak by step 13" in arm.luck(make_run(flat(500, 2.2), extra={"lr": (steps, died)}))
    cosine = 7e-4 * 0.5 * (1 + np.cos(np.pi * steps / 500))  # a tenth of its peak at 80% of the run
    assert arm.luck(make_run(flat(500, 2.2), extra={"lr": (steps, cosine)})) is None
    warm = np.minimum(1.0, (steps + 1) / 200) * 1e-3  # a warm-up: it never falls
    assert arm.luck(make_run(flat(500, 2.2), extra={"lr": (steps, warm)})) is None


def test_the_constant_lr_arm_of_a_warm_up_runs_until_it_has_taken_the_baselines_lr():
    # regression (tuning split): a linear warm-up over 77% of 400 steps, left at step 245; the
    # constant-lr arm stopped at 93 steps (a third of the plateau), where a net at the peak lr
    # has only just taken the lr the baseline had summed by 245: "no change" ruled the schedule
    # out, lr x 10 fixed the plateau, and lr_too_low (unlikely in the log) was confirmed
    from lossdoctor.core import Symptom
    from lossdoctor.verify.arms import _past_warmup

    steps = np.arange(400)
    warm = 0.02 * np.minimum(1.0, (steps + 1) / 310)
    run = make_run(plateau_drop(400, plateau_frac=0.6), extra={"lr": (steps, warm)})
    sym = Symptom("plateau_then_drop", 0.0, 245.0, 0.9, "")
    k = _past_warmup(run, sym, 93)
    assert 1.5 * 245 ** 2 / (2 * 310) - 2 <= k <= 1.5 * 245 ** 2 / (2 * 310) + 2  # 1.5x the lr sum at the peak
    assert _past_warmup(make_run(flat(400, 2.3), extra={"lr": (steps, np.full(400, 0.02))}), sym, 93) == 93
    cosine = 0.02 * 0.5 * (1 + np.cos(np.pi * steps / 400))  # decays from its peak: no warm-up
    assert _past_warmup(make_run(flat(400, 2.3), extra={"lr": (steps, cosine)}), sym, 93) == 93
    # only a plateau that ended: a stall to the end gives no step where the lr sum did its work
    assert _past_warmup(run, Symptom("stagnation", 0.0, 399.0, 0.9, ""), 93) == 93


def test_an_lr_30x_off_runs_the_next_decade_after_a_tenfold_step_that_showed_nothing():
    from pathlib import Path

    import lossdoctor
    from lossdoctor.verify.plan import plan

    ex = Path(__file__).resolve().parents[2] / "examples"
    near = plan(lossdoctor.diagnose(ex / "jena_lr_low.jsonl"))  # SGD at 0.0016 effective: 60x below
    assert near.follow_on["lr_x10"] == ("improved", "no_change")
    run = make_run(flat(300, 2.3), hparams={"optimizer": "sgd", "lr": 0.02})  # 5x below: x10 is enough
    from lossdoctor.verify.plan import LR_FAR, _lr_ratio, _tenfold_arm

    assert _tenfold_arm(_lr_ratio(run), LR_FAR) is None
    assert _tenfold_arm(_lr_ratio(make_run(flat(300, 2.3), hparams={"optimizer": "adam", "lr": 3e-5})),
                        LR_FAR) == "lr_x10"


def test_no_symptom_but_a_likely_cause_is_tested_on_the_loss_level():
    # regression: probabilities fed to CrossEntropyLoss, seen in the outputs, on a curve that shows
    # no symptom: verify ran nothing; the logits arm now runs, judged on the loss level
    from lossdoctor.core import Diagnosis
    from lossdoctor.verify.plan import plan

    run = make_run(noisy(np.linspace(2.3, 1.5, 300) ** 1), hparams={"optimizer": "adam", "lr": 1e-3})
    dx = Diagnosis("x", None, (), (Cause("loss_misuse", "likely", 0.9), Cause("lr_too_low", "possible", 0.4)),
                   run=run, inconclusive="no symptom in the curve")
    p = plan(dx)
    assert p.level_only and p.symptom.id == "stagnation" and "no symptom" in p.symptom.summary
    assert [c.id for c in p.candidates] == ["loss_misuse"]
    assert [a.arm.name for a in p.arms] == ["logits"]
    # no onset to stop just past: the arms run as long as the baseline (gradients that pile up
    # show late), and stop early once under the fixed level
    assert p.steps == 300 and p.arms[0].stop_below is not None
    healthy = Diagnosis("x", True, (), (Cause("lr_too_low", "unlikely", 0.1),), run=run)
    assert not plan(healthy).arms and "nothing to verify" in plan(healthy).why_none


def test_a_rival_ruled_out_only_by_another_changes_fix_still_gets_its_own_arm():
    # regression: a long warm-up that re-init (Xavier -> default) and lr x 10 both cured: when the
    # re-init finished first, bad_initialization was confirmed and the verdict settled before the
    # constant-lr arm ran; when that arm ran too, it fixed the curve and nothing was confirmed
    causes = _causes(bad_initialization=0.23, lr_schedule=0.08 + 0.3, lr_too_low=0.01)  # slow_convergence's
    found = infer(causes, [("reinit", "fixed", "e")])
    assert found["bad_initialization"].verdict == "confirmed"
    assert found["lr_schedule"].verdict == "ruled_out" and not found["lr_schedule"].own_failed
    assert not decided(causes, found, tested={"bad_initialization", "lr_too_low"})  # constant_lr pending
    assert decided(causes, found, tested={"bad_initialization", "lr_too_low", "lr_schedule"})
    found = infer(causes, [("reinit", "fixed", "e"), ("constant_lr", "fixed", "e")])
    assert not any(f.verdict == "confirmed" for f in found.values())
    # a rival whose own decisive arm failed is settled
    found = infer(causes, [("reinit", "fixed", "e"), ("constant_lr", "no_change", "e")])
    assert found["lr_schedule"].own_failed and decided(causes, found, tested={"bad_initialization", "lr_too_low"})


def test_a_cause_left_over_with_no_test_of_its_own_is_not_confirmed_by_elimination():
    # a healthy run's swings calmed by a ReLU swap and by lr / 10: data_problem "may" fit both
    # (unscaled inputs), neither tests it, and the causes each one tests are ruled out by the other
    causes = _causes(lr_too_high=0.4, vanishing_gradients=0.3, data_problem=0.3)
    found = infer(causes, [("relu", "fixed", "e"), ("lr_div10", "fixed", "e")])
    assert found["data_problem"].verdict is None
    assert any("test other causes" in x for x in found["data_problem"].lines)
    # its own test removing the symptom does confirm it
    found = infer(_causes(data_problem=0.3, lr_too_high=0.2), [("standardize", "fixed", "e")])
    assert found["data_problem"].verdict == "confirmed"


def test_the_relu_arms_re_init_does_not_rule_out_a_tiny_inits_saddle():
    causes = _causes(stuck_plateau=0.5, bad_initialization=0.45)
    found = infer(causes, [("reinit", "fixed", "e"), ("reinit_gain", "fixed", "e"), ("relu", "fixed", "e")])
    assert found["stuck_plateau"].verdict != "ruled_out"
    assert found["bad_initialization"].verdict is None  # both fit: neither confirmed


def test_biases_reset_after_a_too_high_lr_name_the_lr():
    # lr / 100 and biases at 0 both revived a net that oversized steps had killed
    causes = _causes(lr_too_high=0.5, bad_initialization=0.4, dead_relu=0.3)
    found = infer(causes, [("lr_div100", "fixed", "e"), ("bias_zero", "fixed", "e")])
    assert found["lr_too_high"].verdict == "confirmed"
    assert found["bad_initialization"].verdict != "confirmed"


def test_decay_on_is_strong_enough_to_matter_under_a_decoupled_optimizer():
    # regression (tuning split): eight AdamW nets memorising a small training set were unmoved by
    # weight decay 0.01 (lr x wd = 2e-5 a step: no decay at all); at a decay that could shrink the
    # weights to a fifth within the arm, six of the eight no longer overfit
    import math

    from lossdoctor.verify.arms import DECAY_ON, DECAY_PULL, _decay_strength

    steps = np.arange(1000)
    lr = np.full(1000, 1e-3)
    adamw = make_run(flat(1000, 0.5), extra={"lr": (steps, lr)}, hparams={"optimizer": "AdamW"})
    wd = _decay_strength(adamw, 500)["weight_decay"]
    assert wd == pytest.approx(-math.log(1 - DECAY_PULL) / (1e-3 * 500))
    assert 1 - math.exp(-wd * 1e-3 * 500) == pytest.approx(DECAY_PULL)
    # coupled decay (Adam, SGD) joins the gradient: 0.01 as written
    assert _decay_strength(make_run(flat(1000, 0.5), extra={"lr": (steps, lr)}, hparams={"optimizer": "Adam"}), 500) is None
    # a large lr never gets less than the written decay
    big = make_run(flat(1000, 0.5), extra={"lr": (steps, lr * 1e4)}, hparams={"optimizer": "AdamW"})
    assert _decay_strength(big, 500)["weight_decay"] == DECAY_ON
