"""Small training scripts a new user would write, really trained, and what the diagnosis must say
of them: each test is named after what a user once got wrong from lossdoctor."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import lossdoctor  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::UserWarning")]


def _digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return torch.tensor(X / 16.0, dtype=torch.float32), torch.tensor(y)


def _train_digits(path, lr, momentum, epochs=12, seed=0):
    """A two-layer ReLU MLP on digits with SGD, every step logged by ``lossdoctor.watch``."""
    X, y = _digits()
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    losses = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with lossdoctor.watch(model, opt, path=path) as mon:
            for _ in range(epochs):
                perm = torch.randperm(len(X))
                for i in range(0, len(X) - 63, 64):
                    idx = perm[i:i + 64]
                    loss = nn.functional.cross_entropy(model(X[idx]), y[idx])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    mon.step(loss)
                    losses.append(float(loss))
    return losses


def test_sgd_at_lr_3_with_momentum_is_the_lr_not_the_data(tmp_path):
    # regression: loss 2.3 -> 12 at step 1, then dead at chance was `stagnation`, `likely
    # data_problem` ("the loss repeats the same pattern every epoch": a period guessed from two
    # early spikes), and lr_too_high ruled out
    path = tmp_path / "run.jsonl"
    losses = _train_digits(path, lr=3.0, momentum=0.9)
    assert max(losses[:10]) > 3 * losses[0]  # it did blow up at once
    dx = lossdoctor.diagnose(path)
    assert dx.causes[0].id == "lr_too_high" and dx.causes[0].verdict == "likely"
    assert dx.cause("data_problem").verdict not in ("likely", "confirmed")
    assert not any("every epoch" in e for e in dx.cause("data_problem").evidence)
    # from the loss alone the early jump keeps it in play
    csv = tmp_path / "loss.csv"
    csv.write_text("step,loss\n" + "".join(f"{i},{v}\n" for i, v in enumerate(losses)))
    assert lossdoctor.diagnose(csv).cause("lr_too_high").verdict != "ruled_out"


def test_an_lr_above_its_range_is_never_called_too_low(tmp_path):
    # regression: at SGD lr 0.5 with momentum 0.9 lr_too_low said the lr "is in the usual range"
    # and proposed raising it 10x, in the report where lr_too_high said it was above the range
    path = tmp_path / "run.jsonl"
    _train_digits(path, lr=0.5, momentum=0.9, epochs=6)
    low = lossdoctor.diagnose(path).cause("lr_too_low")
    assert low.verdict in ("ruled_out", "unlikely")
    assert not any("usual range" in e and "is in" in e for e in low.evidence)
    assert "raise" not in low.fix


@pytest.mark.frameworks
@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_hf_trainer_at_lr_5_is_not_healthy(tmp_path):
    # regression: AdamW at lr 5.0 (the loss jumps, the eval loss ends above ln 2) was `healthy`,
    # exit 0, while the report itself said the lr was ~500x the usual top
    pytest.importorskip("transformers")
    from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments
    from transformers.utils import logging as hf_logging

    from lossdoctor.cli import main

    hf_logging.set_verbosity_error()
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=32, num_labels=2)
    model = BertForSequenceClassification(cfg)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 64, (128, 12), generator=g)
    labels = ids[:, 0] % 2

    class DS(torch.utils.data.Dataset):
        def __len__(self):
            return len(ids)

        def __getitem__(self, i):
            return {"input_ids": ids[i], "labels": labels[i]}

    args = TrainingArguments(output_dir=str(tmp_path / "out"), per_device_train_batch_size=16,
                             num_train_epochs=4, learning_rate=5.0, report_to=[], use_cpu=True,
                             logging_steps=2, save_strategy="no", eval_strategy="epoch",
                             disable_tqdm=True, seed=0)
    trainer = Trainer(model=model, args=args, train_dataset=DS(), eval_dataset=DS())
    trainer.train()
    state = tmp_path / "trainer_state.json"
    trainer.state.save_to_json(str(state))
    dx = lossdoctor.diagnose(state)
    assert dx.healthy is not True
    assert main(["diagnose", "--quiet", str(state)]) != 0
    first = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert np.isfinite(first).all()
