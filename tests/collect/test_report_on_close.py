"""``report="run.html"``: watch() and the Lightning and Hugging Face callbacks write the HTML
report of the run's log when training ends (and when it fails)."""

from __future__ import annotations

import logging

import pytest
from collect_helpers import data, mlp

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import lossdoctor  # noqa: E402


def _train(mon, steps=60, fail_at=None):
    model, opt = mon.model, mon.optimizer
    x, y = data()
    for i in range(steps):
        if i == fail_at:
            raise RuntimeError("the run broke")
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        mon.step(loss.detach())


def _is_report_of(path, log):
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>")
    dx = lossdoctor.diagnose(log)
    assert dx.run.name in text and "ld-causes" in text


def test_watch_writes_the_report_when_the_block_ends(tmp_path):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    log, report = tmp_path / "run.jsonl", tmp_path / "out" / "run.html"
    with lossdoctor.watch(model, opt, path=log, report=report, alerts=False) as mon:
        _train(mon)
        assert not report.exists()  # written at the end, from the whole log
    _is_report_of(report, log)


def test_a_failed_run_gets_its_report_too(tmp_path):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    log, report = tmp_path / "run.jsonl", tmp_path / "run.html"
    with pytest.raises(RuntimeError, match="the run broke"):
        with lossdoctor.watch(model, opt, path=log, report=report, alerts=False) as mon:
            _train(mon, fail_at=40)
    _is_report_of(report, log)


def test_report_needs_a_log_and_training_starts_all_the_same(tmp_path):
    from lossdoctor.collect import MonitorWarning

    model = mlp()
    with pytest.warns(MonitorWarning, match="report= needs a log"):
        mon = lossdoctor.watch(model, torch.optim.SGD(model.parameters(), lr=0.1), report=tmp_path / "r.html")
    mon.close()
    assert not (tmp_path / "r.html").exists()


def test_a_report_that_cannot_be_written_warns_and_never_raises(tmp_path):
    from lossdoctor.collect import MonitorWarning

    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.warns(MonitorWarning, match="could not be written"):
        with lossdoctor.watch(model, opt, path=tmp_path / "run.jsonl", report=blocker / "r.html",
                              alerts=False) as mon:
            _train(mon, steps=20)


@pytest.mark.frameworks
@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning")
def test_lightning_callback_report(tmp_path):
    L = pytest.importorskip("lightning")
    from lossdoctor.collect.lightning import LossdoctorCallback

    logging.getLogger("lightning").setLevel(logging.ERROR)

    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = mlp()

        def training_step(self, batch, i):
            x, y = batch
            return nn.functional.cross_entropy(self.net(x), y)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.05)

    x, y = data()
    dl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
    log, report = tmp_path / "pl.jsonl", tmp_path / "pl.html"
    trainer = L.Trainer(max_epochs=5, callbacks=[LossdoctorCallback(log, report=report, alerts=False)],
                        logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu", devices=1,
                        default_root_dir=tmp_path)
    trainer.fit(Module(), dl)
    _is_report_of(report, log)


@pytest.mark.frameworks
@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning")
def test_huggingface_callback_report(tmp_path):
    pytest.importorskip("transformers")
    from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments
    from transformers.utils import logging as hf_logging

    from lossdoctor.collect.hf import LossdoctorTrainerCallback

    hf_logging.set_verbosity_error()
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=32, num_labels=3)
    model = BertForSequenceClassification(cfg)
    ids = torch.randint(0, 64, (48, 12), generator=torch.Generator().manual_seed(0))

    class DS(torch.utils.data.Dataset):
        def __len__(self):
            return len(ids)

        def __getitem__(self, i):
            return {"input_ids": ids[i], "labels": ids[i, 0] % 3}

    args = TrainingArguments(output_dir=str(tmp_path / "out"), per_device_train_batch_size=8,
                             num_train_epochs=2, learning_rate=1e-3, report_to=[], use_cpu=True,
                             save_strategy="no", disable_tqdm=True, seed=0)
    log, report = tmp_path / "hf.jsonl", tmp_path / "hf.html"
    Trainer(model=model, args=args, train_dataset=DS(),
            callbacks=[LossdoctorTrainerCallback(log, report=report, alerts=False)]).train()
    _is_report_of(report, log)
