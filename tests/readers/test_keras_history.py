"""Keras History as JSON (``json.dump(history.history, f)``). Keras is not installed here, so
the synthetic files are byte-faithful copies of what ``json.dump`` writes for a History."""

from __future__ import annotations

import json
import math

import pytest

from lossdoctor.core import LogError
from lossdoctor.readers import keras_history


def test_real_history(reallogs, manifest):
    p = reallogs / manifest["real_keras_09"]["path"]
    assert b"\r\n" in p.read_bytes()  # CRLF, pretty-printed
    assert keras_history.sniff(p, p.read_bytes()[:65536]) >= 0.9
    run = keras_history.read(p)
    assert run.meta["format"] == "keras_history"
    assert run.meta["step_unit"] == "epoch"
    assert len(run.loss) == 6
    assert run.loss.values[0] == pytest.approx(0.7607, rel=1e-3)
    assert run.loss.values[-1] == pytest.approx(0.4855, rel=1e-3)
    val = run.get("val_loss")
    assert val.values[0] == pytest.approx(0.696, rel=1e-3)
    assert val.values[-1] == pytest.approx(0.808, rel=1e-3)
    assert run.get("lr").values.tolist() == pytest.approx([1e-3, 1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4])
    assert run.get("val_acc").values.tolist() == pytest.approx([0.4] * 6)
    assert run.loss.steps.tolist() == [0, 1, 2, 3, 4, 5]


def test_json_dump_default_layout(write):
    # exactly what json.dump(history.history, f) writes: one line, no indent
    hist = {"loss": [1.0, 0.8, 0.6], "accuracy": [0.5, 0.6, 0.7],
            "val_loss": [1.1, 0.9, 0.95], "val_accuracy": [0.4, 0.5, 0.5]}
    p = write("history.json", json.dumps(hist))
    assert keras_history.sniff(p, p.read_bytes()) >= 0.9
    run = keras_history.read(p)
    assert run.loss.values.tolist() == [1.0, 0.8, 0.6]
    assert run.get("val_acc").values.tolist() == [0.4, 0.5, 0.5]
    assert run.warnings == ()


def test_unequal_lengths(write):
    run = keras_history.read(write("h.json", json.dumps(
        {"loss": [1.0, 0.8, 0.6, 0.5], "val_loss": [1.1, 0.9], "lr": [0.1]})))
    assert run.loss.steps.tolist() == [0, 1, 2, 3]
    assert run.get("val_loss").steps.tolist() == [0, 1]
    assert any("differ in length" in w for w in run.warnings)


def test_history_object_state_with_epochs(write):
    doc = {"history": {"loss": [1.0, 0.5], "val_loss": [1.2, 0.7]}, "epoch": [5, 6],
           "params": {"epochs": 7, "steps": 100, "verbose": 1}}
    p = write("h.json", json.dumps(doc))
    assert keras_history.sniff(p, p.read_bytes()) >= 0.9
    run = keras_history.read(p)
    assert run.loss.steps.tolist() == [5, 6]  # a resumed fit: epochs from History.epoch
    assert run.hparams["epochs"] == 7


def test_non_finite_and_text_values(write):
    # NaN as json.dump writes it, numbers dumped with default=str, and a None
    text = '{"loss": [1.0, NaN, Infinity, "0.25", null], "val_loss": [1.0, 2.0, 3.0, 4.0, 5.0]}'
    run = keras_history.read(write("h.json", text))
    v = run.loss.values
    assert run.loss.steps.tolist() == [0, 1, 2, 3]
    assert v[0] == 1.0 and math.isnan(v[1]) and v[2] == math.inf and v[3] == 0.25


def test_long_history_sniffed_from_its_opening(write):
    hist = {"loss": [1.0 / (i + 1) for i in range(5000)], "val_loss": [0.5] * 5000}
    p = write("h.json", json.dumps(hist, indent=4))
    head = p.read_bytes()[:65536]
    with pytest.raises(ValueError):
        json.loads(head)
    assert keras_history.sniff(p, head) >= 0.5
    assert len(keras_history.read(p).loss) == 5000


@pytest.mark.parametrize("text", [
    '{"log_history": [{"loss": 1.0, "step": 1}], "global_step": 1}',
    '{"lr": 0.1, "batch_size": 32, "layers": [64, 32]}',  # a config
    '{"step": 1, "loss": 0.5}\n{"step": 2, "loss": 0.4}\n',  # JSON lines
    '{"names": ["a", "b"], "loss": 0.5}',
    "epoch,loss\n0,1\n",
    "",
])
def test_sniff_refuses(write, text):
    p = write("h.json", text)
    assert keras_history.sniff(p, p.read_bytes()) == 0.0


@pytest.mark.parametrize("text,msg", [
    ("", "empty"),
    ('{"loss": [1.0, 0.8', "not valid JSON"),
    ("[1, 2, 3]", "not a Keras history"),
    ('{"lr": 0.1}', "not a Keras history"),
    ('{"loss": [null, null]}', "not a Keras history"),
])
def test_refusals(write, text, msg):
    p = write("h.json", text)
    with pytest.raises(LogError, match=msg) as exc:
        keras_history.read(p)
    assert str(p) in str(exc.value)
