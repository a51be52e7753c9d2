"""Hugging Face trainer_state.json: real files from several transformers versions and one
written by transformers' own Trainer."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from lossdoctor.core import LogError
from lossdoctor.readers import trainer_state

# case, loss n/first/last, val_loss n/first/last or None, has grad_norm, finished
REAL = [
    ("real_trainer_state_01", (30, 2.406, 0.0007), (6, 0.01122, 0.0006997), True),
    ("real_trainer_state_03", (5, 3.303, 3.05), None, False),
    ("real_trainer_state_05", (12, 3.26, 3.025), None, True),
    ("real_trainer_state_07", (10, 1.141, 0.2645), (10, 0.6598, 0.4917), True),
    ("real_trainer_state_09", (18, 0.6899, 0.349), (3, 0.3951, 0.3892), True),
    ("real_trainer_state_11", (100, 0.691, 0.5736), None, False),
]


def _check(series, n, first, last):
    assert series is not None
    assert len(series) == n
    assert series.values[0] == pytest.approx(first, rel=1e-3)
    assert series.values[-1] == pytest.approx(last, rel=1e-3)


@pytest.mark.parametrize("case,train,val,finished", REAL, ids=[r[0] for r in REAL])
def test_real_files(reallogs, manifest, case, train, val, finished):
    p = reallogs / manifest[case]["path"]
    assert trainer_state.sniff(p, p.read_bytes()[:65536]) >= 0.95
    run = trainer_state.read(p)
    assert run.meta["format"] == "trainer_state"
    assert run.meta["step_unit"] == "step"
    assert run.meta["finished"] is finished
    assert run.warnings == ()
    _check(run.loss, *train)
    if val is None:
        assert run.get("val_loss") is None
    else:
        _check(run.get("val_loss"), *val)
    assert len(run.get("grad_norm")) == len(run.loss)
    assert len(run.get("lr")) == len(run.loss)
    assert run.hparams["batch_size"] > 0 and run.hparams["max_steps"] > 0
    assert not any(k.endswith(("_runtime", "_per_second")) for k in run.series)


def test_predict_entries_and_summary_are_left_out(reallogs, manifest):
    """Jaong's file (CRLF) has predict_* entries without 'step' and a train_runtime summary
    whose train_loss is a whole-run average."""
    run = trainer_state.read(reallogs / manifest["real_trainer_state_07"]["path"])
    assert run.meta["entries_without_step"] == 10
    assert not any(k.startswith("predict") for k in run.series)
    assert "train_loss" not in run.series
    assert len(run.get("eval_rouge-1")) == 10  # other eval metrics are kept
    assert run.hparams["epochs"] == 10


def test_unfinished_checkpoint(reallogs, manifest):
    run = trainer_state.read(reallogs / manifest["real_trainer_state_11"]["path"])
    assert run.meta["global_step"] == 1000 and run.meta["max_steps"] == 25257
    assert run.meta["finished"] is False
    gn = run.get("grad_norm").values
    assert gn[0] == pytest.approx(1.571, rel=1e-3) and gn.max() > 5 * gn[0]  # 1.5 -> ~14


def test_nan_losses_and_string_nan(write):
    state = {"global_step": 3, "max_steps": 3, "log_history": [
        {"loss": 1.0, "step": 1, "epoch": 0.1},
        {"loss": float("nan"), "grad_norm": float("inf"), "step": 2, "epoch": 0.2},
        {"loss": "nan", "step": 3, "epoch": 0.3}]}
    run = trainer_state.read(write("trainer_state.json", json.dumps(state)))
    v = run.loss.values
    assert v[0] == 1.0 and math.isnan(v[1]) and math.isnan(v[2])
    assert run.get("grad_norm").values.tolist() == [math.inf]


@pytest.mark.parametrize("text,msg", [
    ("", "empty"),
    ('{"log_history": [{"loss": 1.0, "step": 1}', "not valid JSON"),
    ('{"global_step": 1}', "no 'log_history'"),
    ('[1, 2]', "no 'log_history'"),
    ('{"log_history": []}', "no logged metrics"),
    ('{"log_history": [{"predict_loss": 1.0}]}', "no logged metrics"),
])
def test_refusals(write, text, msg):
    p = write("trainer_state.json", text)
    with pytest.raises(LogError, match=msg) as exc:
        trainer_state.read(p)
    assert str(p) in str(exc.value)


@pytest.mark.parametrize("name,text,expect", [
    ("trainer_state.json", '{\n  "best_metric": null,\n  "log_history": [\n', 0.99),
    ("state.json", '{"global_step": 5, "log_history": []}', 0.95),
    ("history.json", '{"loss": [1, 2]}', 0.0),
    ("log.csv", "step,loss\n1,2\n", 0.0),
])
def test_sniff(write, name, text, expect):
    p = write(name, text)
    assert trainer_state.sniff(p, p.read_bytes()) == expect


@pytest.mark.frameworks
def test_real_trainer_writes_what_we_read(tmp_path):
    """A tiny BERT trained for 6 steps by transformers' Trainer (no downloads): the checkpoint's
    trainer_state.json and the final state saved with TrainerState.save_to_json."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("accelerate")

    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=32, hidden_size=16, num_hidden_layers=1,
                                  num_attention_heads=2, intermediate_size=32,
                                  max_position_embeddings=16, num_labels=2)
    model = transformers.BertForSequenceClassification(cfg)
    g = torch.Generator().manual_seed(0)

    class Tokens(torch.utils.data.Dataset):
        def __init__(self, n):
            self.x = torch.randint(0, 32, (n, 8), generator=g)
            self.y = torch.randint(0, 2, (n,), generator=g)

        def __len__(self):
            return len(self.x)

        def __getitem__(self, i):
            return {"input_ids": self.x[i], "labels": self.y[i]}

    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"), max_steps=6, logging_steps=1, eval_strategy="steps",
        eval_steps=3, save_strategy="steps", save_steps=6, per_device_train_batch_size=4,
        per_device_eval_batch_size=8, learning_rate=1e-3, report_to=[], use_cpu=True,
        disable_tqdm=True, seed=0)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=Tokens(32),
                                   eval_dataset=Tokens(16))
    trainer.train()
    final = tmp_path / "trainer_state.json"
    trainer.state.save_to_json(str(final))

    for p in (tmp_path / "out" / "checkpoint-6" / "trainer_state.json", final):
        assert trainer_state.sniff(p, p.read_bytes()[:65536]) >= 0.95
        run = trainer_state.read(p)
        assert run.loss.steps.tolist() == [1, 2, 3, 4, 5, 6]
        assert np.all(np.abs(run.loss.values - math.log(2)) < 0.1)  # random labels: ~ln 2
        assert run.get("val_loss").steps.tolist() == [3, 6]
        assert run.get("lr").values[0] == pytest.approx(1e-3)
        assert len(run.get("grad_norm")) == 6
        assert run.hparams["batch_size"] == 4 and run.meta["finished"] is True
        assert "train_loss" not in run.series  # the summary entry of the final state
    history = trainer.state.log_history
    assert run.loss.values.tolist() == [e["loss"] for e in history if "loss" in e]
