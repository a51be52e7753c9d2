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


# -- the pyarrow fast path gives exactly what the line reader gives -------------------------------

def _both(path, monkeypatch):
    """(fast-path Run or None, line-reader Run) for one file."""
    monkeypatch.setattr(jsonl, "ARROW_MIN_BYTES", 0)
    fast = jsonl._read_arrow(path)
    monkeypatch.setattr(jsonl, "_read_arrow", lambda p: None)
    return fast, jsonl.read(path)


def _same(a, b):
    assert sorted(a.series) == sorted(b.series)
    for k in a.series:
        assert np.array_equal(a.series[k].steps, b.series[k].steps), k
        assert np.array_equal(a.series[k].values, b.series[k].values, equal_nan=True), k
    assert a.hparams == b.hparams and a.meta == b.meta and a.warnings == b.warnings


_EXAMPLES = sorted((__import__("pathlib").Path(__file__).parents[2] / "examples").glob("*.jsonl"))


@pytest.mark.parametrize("path", _EXAMPLES[:6], ids=lambda p: p.stem)
def test_fast_path_matches_the_line_reader_on_monitor_logs(path, monkeypatch):
    fast, slow = _both(path, monkeypatch)
    assert fast is not None  # clean monitor logs take the fast path
    _same(fast, slow)


FAST_CASES = {
    # header, then flat records; a step-only record; a later record with an extra key
    "flat": _lines(HEADER, {"step": 0, "loss": 2.0, "lr": 0.1}, {"step": 1},
                   {"step": 1, "loss": 1.9, "lr": 0.1}, {"step": 2, "loss": 1.8, "val_loss": 2.1}),
    # no step column: epochs are the axis, and booleans are no metric
    "epochs": _lines({"epoch": 1, "loss": 1.0, "best": True}, {"epoch": 2, "loss": 0.5, "best": False}),
    # an eval record without a step belongs to the step before it; one before any step is skipped
    "forward_fill": _lines({"loss": 3.0}, {"step": 5, "loss": 2.0}, {"val_loss": 2.5},
                           {"step": 6, "loss": 1.5}),
    "no_axis": _lines({"loss": 1.0}, {"loss": 0.9}, {"loss": 0.8}),
    # JSON has no NaN, but Python writes it: both readers take it as a NaN
    "nan_literal": '{"step": 0, "loss": NaN}\n\n{"step": 1, "loss": 1.0}\n',
    # an event between steps (numbers on it are no metric) and blank lines
    "events": _lines(HEADER, {"step": 0, "loss": 1.0}) + "\n" + _lines(
        {"type": "event", "step": 0, "lr": 0.01, "event": "lr_drop"}, {"step": 1, "loss": 0.9}),
}
FALLBACK_CASES = {
    "nested": _lines({"step": 0, "train": {"loss": 1.0}}, {"step": 1, "train": {"loss": 0.9}}),
    "text_value": _lines({"step": 0, "loss": "1.0"}, {"step": 1, "loss": 0.9}),
    "typed_metrics": _lines({"type": "train", "step": 0, "loss": 1.0}, {"type": "train", "step": 1, "loss": 0.9}),
    "bad_line": _lines({"step": 0, "loss": 1.0}) + "not json\n" + _lines({"step": 1, "loss": 0.9}),
    "cut_off": _lines({"step": 0, "loss": 1.0}, {"step": 1, "loss": 0.9}) + '{"step": 2, "lo',
    "two_step_columns": _lines({"step": 0, "global_step": 0, "loss": 1.0}, {"step": 1, "global_step": 8, "loss": 0.9}),
}


@pytest.mark.parametrize("case", sorted(FAST_CASES))
def test_fast_path_quirks(case, write, monkeypatch):
    fast, slow = _both(write(f"{case}.jsonl", FAST_CASES[case]), monkeypatch)
    assert fast is not None
    _same(fast, slow)


@pytest.mark.parametrize("case", sorted(FALLBACK_CASES))
def test_fast_path_leaves_the_odd_files_to_the_line_reader(case, write, monkeypatch):
    monkeypatch.setattr(jsonl, "ARROW_MIN_BYTES", 0)
    assert jsonl._read_arrow(write(f"{case}.jsonl", FALLBACK_CASES[case])) is None
