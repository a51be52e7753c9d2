"""The monitor on Jena's runs: its own log makes exactly the true cause likely, and the live
alert names it early in the plateau."""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

import lossdoctor  # noqa: E402
from lossdoctor.scenarios import SCENARIOS  # noqa: E402
from lossdoctor.scenarios.monitored import train_monitored  # noqa: E402

SEED_CAUSES = ("regularization_too_strong", "lr_too_low", "stuck_plateau")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["jena_regularization", "jena_lr_low", "jena_local_minimum"])
def test_monitor_log_makes_exactly_the_true_cause_likely_and_alerts_early(name, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the alerts also arrive as warnings; collected below
        run = train_monitored(name, tmp_path / "run.jsonl")
    truth = SCENARIOS[name].cause
    dx = lossdoctor.diagnose(run.path)
    assert [c.id for c in dx.likely if c.id in SEED_CAUSES] == [truth]
    ptd = dx.symptom("plateau_then_drop")
    assert ptd is not None
    first = next(a.step for a in run.alerts if a.likely_cause == truth)
    assert first < 0.3 * ptd.end  # named before 30% of the plateau has passed


@pytest.mark.slow
def test_monitored_training_equals_unmonitored_training_step_for_step(tmp_path):
    import numpy as np

    from lossdoctor.scenarios import record

    plain = record("jena_lr_high").values("loss")  # the recorder touches no optimizer hooks
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        watched = train_monitored("jena_lr_high", tmp_path / "run.jsonl").losses
    assert np.array_equal(np.asarray(plain, dtype=float), np.asarray(watched, dtype=float))


@pytest.mark.slow
@pytest.mark.parametrize("name,seed", [("healthy_warmup_cosine", 0), ("healthy_step_decay", 2)])
def test_healthy_runs_raise_no_live_alert(name, seed, tmp_path):
    """A 100-step warm-up, and the swinging first mini-batches of a high-lr start, are not
    alarms: shapes judged against the run so far wait for SHAPE_MIN_STEPS."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = train_monitored(name, tmp_path / "run.jsonl", seed=seed)
    assert run.alerts == []
    assert lossdoctor.diagnose(run.path).healthy
