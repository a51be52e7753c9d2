"""JSON Lines reader: lossdoctor's own monitor log and generic one-object-per-line logs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from lossdoctor.core import LogError
from lossdoctor.readers import jsonl

HEADER = {"type": "header", "schema": "lossdoctor.log/1",
          "hparams": {"learning_rate": 0.1, "weight_decay": 0.05, "optimizer": "sgd"},
          "model": {"params": 1234, "layers": ["fc1", "fc2"]}}


def _lines(*records) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def test_monitor_log(write):
    recs = [HEADER]
    for step in range(0, 50, 10):
        recs.append({"step": step, "loss": 2.0 - step / 100, "lr": 0.1, "grad_norm": 1.0,
                     "grad_norm/fc1.weight": 0.5, "grad_norm/fc2.weight": 0.25})
        if step == 20:
            recs.append({"type": "event", "step": step, "event": "lr_drop", "lr": 0.01})
            recs.append({"step": step, "val_loss": 1.9})
    p = write("run.jsonl", _lines(*recs))
    assert jsonl.sniff(p, p.read_bytes()) >= 0.95
    run = jsonl.read(p)
    assert run.meta["format"] == "jsonl"
    assert run.meta["schema"] == "lossdoctor.log/1"
    assert run.meta["model"]["params"] == 1234
    assert run.hparams["lr"] == 0.1 and run.hparams["weight_decay"] == 0.05
    assert run.hparams["optimizer"] == "sgd"
    assert run.loss.steps.tolist() == [0, 10, 20, 30, 40]
    assert run.loss.values.tolist() == pytest.approx([2.0, 1.9, 1.8, 1.7, 1.6])
    assert run.get("lr").values.tolist() == [0.1] * 5  # the event record is not a metric
    assert run.get("val_loss").steps.tolist() == [20]
    assert set(run.layers("grad_norm")) == {"fc1.weight", "fc2.weight"}
    assert run.warnings == ()


def test_nested_objects_flatten(write):
    run = jsonl.read(write("m.jsonl", _lines(
        {"iteration": 1, "train": {"loss": 1.0, "acc": 0.5}, "val": {"loss": 1.2}},
        {"iteration": 2, "train": {"loss": 0.8, "acc": 0.6}, "val": {"loss": 1.1}})))
    assert run.loss.values.tolist() == [1.0, 0.8]
    assert run.get("val_loss").values.tolist() == [1.2, 1.1]
    assert run.get("acc").values.tolist() == [0.5, 0.6]  # train/acc is a known name


@pytest.mark.parametrize("key", ["step", "global_step", "iteration", "Step", "_step"])
def test_step_keys(write, key):
    run = jsonl.read(write("m.jsonl", _lines({key: 5, "loss": 1.0}, {key: 9, "loss": 0.5})))
    assert run.loss.steps.tolist() == [5, 9]
    assert run.meta["step_unit"] == "step"
    assert key not in run.series and key.lower() not in run.series


def test_epoch_axis_and_record_index(write):
    run = jsonl.read(write("e.jsonl", _lines({"epoch": 1, "loss": 1.0}, {"epoch": 2, "loss": 0.5})))
    assert run.meta["step_unit"] == "epoch" and run.loss.steps.tolist() == [1, 2]
    assert "epoch" not in run.series
    run = jsonl.read(write("i.jsonl", _lines({"loss": 1.0}, {"loss": 0.7}, {"loss": 0.5})))
    assert run.loss.steps.tolist() == [0, 1, 2]


def test_step_axis_keeps_epoch_as_a_series(write):
    run = jsonl.read(write("m.jsonl", _lines({"step": 10, "epoch": 0, "loss": 1.0},
                                             {"step": 20, "epoch": 1, "loss": 0.5})))
    assert run.get("epoch").values.tolist() == [0, 1]


def test_record_without_step_belongs_to_the_step_before(write):
    run = jsonl.read(write("m.jsonl", _lines(
        {"step": 10, "loss": 1.0}, {"val_loss": 1.5}, {"step": 20, "loss": 0.5})))
    assert run.get("val_loss").steps.tolist() == [10]


def test_nan_and_inf(write):
    text = ('{"step": 1, "loss": 1.0}\n{"step": 2, "loss": NaN}\n{"step": 3, "loss": Infinity}\n'
            '{"step": 4, "loss": "nan"}\n{"step": 5, "loss": "-inf"}\n{"step": 6, "loss": null}\n')
    run = jsonl.read(write("m.jsonl", text))
    v = run.loss.values
    assert run.loss.steps.tolist() == [1, 2, 3, 4, 5]  # null is not logged
    assert v[0] == 1.0 and math.isnan(v[1]) and v[2] == math.inf and math.isnan(v[3])
    assert v[4] == -math.inf


def test_non_numeric_values_skipped(write):
    run = jsonl.read(write("m.jsonl", _lines(
        {"step": 1, "loss": 1.0, "phase": "train", "ok": True, "shape": [1, 2]},
        {"step": 2, "loss": 0.5, "phase": "train", "ok": False, "shape": [1, 2]})))
    assert set(run.series) == {"loss"}


def test_truncated_last_line_keeps_the_rest(write):
    text = _lines(*[{"step": i, "loss": 1.0 / (i + 1)} for i in range(100)]) + '{"step": 100, "lo'
    run = jsonl.read(write("m.jsonl", text))
    assert len(run.loss) == 100
    (w,) = run.warnings
    assert "line 101" in w and "cut off" in w


def test_bad_line_in_the_middle(write):
    recs = [json.dumps({"step": i, "loss": 1.0}) for i in range(10)]
    recs[4] = '{"step": 4, "loss": 1.0,,}'
    recs[7] = "[1, 2]"
    run = jsonl.read(write("m.jsonl", "\n".join(recs) + "\n"))
    assert len(run.loss) == 8
    (w,) = run.warnings
    assert "2 line(s)" in w and "line 5" in w


def test_crlf_and_blank_lines(write):
    text = '\r\n{"step": 1, "loss": 1}\r\n\r\n{"step": 2, "loss": 0.5}\r\n'
    run = jsonl.read(write("m.jsonl", text))
    assert run.loss.values.tolist() == [1, 0.5]


def test_restarted_run_keeps_the_later_steps(write):
    recs = [{"step": s, "loss": 1.0} for s in range(5)]
    recs += [{"step": s, "loss": 2.0} for s in (3, 4, 5)]
    run = jsonl.read(write("m.jsonl", _lines(*recs)))
    assert run.loss.steps.tolist() == [0, 1, 2, 3, 4, 5]
    assert run.loss.values.tolist() == [1, 1, 1, 2, 2, 2]
    assert any("restarted" in w for w in run.warnings)


def test_many_lines(write):
    n = 100_000
    rng = np.random.default_rng(0)
    loss = rng.random(n)
    text = "".join(f'{{"step": {i}, "loss": {float(loss[i])!r}, "lr": 0.001}}\n' for i in range(n))
    run = jsonl.read(write("big.jsonl", text))
    assert np.array_equal(run.loss.values, loss)


@pytest.mark.parametrize("text,score", [
    ('{"loss": [1.0, 0.5], "val_loss": [1.2, 0.9]}', 0.0),  # Keras history on one line
    ('{\n  "loss": [1.0, 0.5]\n}\n', 0.0),  # pretty-printed JSON
    ('{"log_history": [{"loss": 1, "step": 1}], "global_step": 1}', 0.0),
    ("step,loss\n1,0.5\n", 0.0),
    ("", 0.0),
])
def test_sniff_refuses(write, text, score):
    p = write("x.json", text)
    assert jsonl.sniff(p, p.read_bytes()) == score


def test_sniff_is_lukewarm_about_a_single_object(write):
    p = write("summary.json", '{"loss": 0.1, "epoch": 50}')
    assert 0 < jsonl.sniff(p, p.read_bytes()) < 0.5
    p = write("wandb-summary.json", '{"loss": 0.1, "epoch": 50}')
    assert jsonl.sniff(p, p.read_bytes()) == 0.0


@pytest.mark.parametrize("text,msg", [
    ("", "empty"),
    ("not json\nat all\n{\"loss\": 1}\n", "not JSON lines"),
    ('{"phase": "train"}\n{"phase": "val"}\n', "no numeric"),
    ('{"step": 1}\n{"step": 2}\n', "no numeric"),
])
def test_refusals(write, text, msg):
    p = write("bad.jsonl", text)
    with pytest.raises(LogError, match=msg) as exc:
        jsonl.read(p)
    assert str(p) in str(exc.value)
