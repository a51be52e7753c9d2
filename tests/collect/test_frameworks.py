"""A real Lightning ``Trainer.fit`` and a real Hugging Face ``Trainer.train`` each produce a log
that ``lossdoctor.read`` reads with the monitor's signals and hyper-parameters."""

from __future__ import annotations

import logging

import pytest
from collect_helpers import read_log

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import lossdoctor  # noqa: E402

pytestmark = [pytest.mark.frameworks,
              # the frameworks' own deprecations and advice (dataloader workers, loggers) are theirs
              pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::FutureWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]


def _dataset(n=96, d=8, classes=3):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    return torch.utils.data.TensorDataset(x, y)


def _check(run, optimizer):
    for sig in ("loss", "grad_norm", "update_ratio", "lr"):
        assert sig in run.series and len(run.series[sig]) >= 2, sig
    assert run.hparams["optimizer"] == optimizer and "lr" in run.hparams
    assert run.layers("grad_norm")


def test_lightning_fit(tmp_path):
    L = pytest.importorskip("lightning")
    from lossdoctor.collect.lightning import LossdoctorCallback

    logging.getLogger("lightning").setLevel(logging.ERROR)

    class Module(L.LightningModule):
        def __init__(self, lr=0.05):
            super().__init__()
            self.save_hyperparameters()
            self.net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))

        def training_step(self, batch, i):
            x, y = batch
            return nn.functional.cross_entropy(self.net(x), y)

        def validation_step(self, batch, i):
            x, y = batch
            self.log("val_loss", nn.functional.cross_entropy(self.net(x), y))

        def configure_optimizers(self):
            opt = torch.optim.SGD(self.parameters(), lr=self.hparams.lr, momentum=0.9, weight_decay=1e-4)
            return {"optimizer": opt, "lr_scheduler": torch.optim.lr_scheduler.StepLR(opt, 5, 0.5)}

    torch.manual_seed(0)
    dl = torch.utils.data.DataLoader(_dataset(), batch_size=16)
    path = tmp_path / "pl.jsonl"
    trainer = L.Trainer(max_epochs=4, callbacks=[LossdoctorCallback(path, every_n=2)], logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        accelerator="cpu", devices=1, gradient_clip_val=0.5, accumulate_grad_batches=2,
                        default_root_dir=tmp_path)
    trainer.fit(Module(), dl, dl)
    run = lossdoctor.read(path)
    _check(run, "SGD")
    assert len(run.series["loss"]) == trainer.global_step == 12  # 6 batches / 2 accumulated x 4 epochs
    assert len(run.series["val_loss"]) == 4
    assert run.hparams["scheduler"] == "StepLR" and run.hparams["num_classes"] == 3
    assert run.hparams["accumulate_grad_batches"] == 2
    # gradients are read before Lightning clips them at 0.5
    assert max(run.series["grad_norm"].values) > 0.5


def test_huggingface_trainer(tmp_path):
    pytest.importorskip("transformers")
    from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments
    from transformers.utils import logging as hf_logging

    from lossdoctor.collect.hf import LossdoctorTrainerCallback

    hf_logging.set_verbosity_error()
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=32, num_labels=3)
    model = BertForSequenceClassification(cfg)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 64, (48, 12), generator=g)
    labels = ids[:, 0] % 3

    class DS(torch.utils.data.Dataset):
        def __len__(self):
            return len(ids)

        def __getitem__(self, i):
            return {"input_ids": ids[i], "labels": labels[i]}

    args = TrainingArguments(output_dir=str(tmp_path / "out"), per_device_train_batch_size=8,
                             num_train_epochs=2, learning_rate=1e-3, report_to=[], use_cpu=True,
                             logging_steps=2, save_strategy="no", eval_strategy="epoch",
                             disable_tqdm=True, seed=0)
    path = tmp_path / "hf.jsonl"
    trainer = Trainer(model=model, args=args, train_dataset=DS(), eval_dataset=DS(),
                      callbacks=[LossdoctorTrainerCallback(path, every_n=2)])
    trainer.train()
    run = lossdoctor.read(path)
    _check(run, "AdamW")
    assert len(run.series["loss"]) == trainer.state.global_step == 12
    assert len(run.series["val_loss"]) == 2
    assert run.hparams["num_classes"] == 3 and run.hparams["max_grad_norm"] == 1.0
    assert "grad_norm_preclip" in run.series
    # the loss recorded per step is the model's own loss, as the Trainer logs it
    logged = {h["step"]: h["loss"] for h in trainer.state.log_history if "loss" in h}
    recs = {r["step"]: r["loss"] for r in read_log(path)[1] if "loss" in r}
    for step, loss in logged.items():  # HF's step s averages the losses of steps s-1 and s
        assert loss == pytest.approx((recs[step - 1] + recs[step - 2]) / 2, rel=1e-3)
