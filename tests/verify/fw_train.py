"""Two user scripts in one, for the verify tests: a Lightning ``Trainer.fit`` or a Hugging Face
``Trainer.train``, each monitored by lossdoctor's callback writing ``--log``.

    python fw_train.py lightning --log runs/pl.jsonl
    python fw_train.py hf --log runs/hf.jsonl --out runs/hf_out
"""

import argparse
import logging
import sys
import warnings

import torch
from torch import nn


def lightning(log, out):
    import lightning as L

    from lossdoctor.collect.lightning import LossdoctorCallback

    logging.getLogger("lightning").setLevel(logging.ERROR)

    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))

        def training_step(self, batch, i):
            x, y = batch
            return nn.functional.cross_entropy(self.net(x), y)

        def configure_optimizers(self):
            opt = torch.optim.SGD(self.parameters(), lr=0.01, momentum=0.9)
            return {"optimizer": opt, "lr_scheduler": torch.optim.lr_scheduler.StepLR(opt, 5, 0.5)}

    torch.manual_seed(0)
    x = torch.randn(96, 8)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    dl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)
    trainer = L.Trainer(max_epochs=3, callbacks=[LossdoctorCallback(log)], logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        accelerator="cpu", devices=1, default_root_dir=out)
    trainer.fit(Module(), dl)


def hf(log, out):
    from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments
    from transformers.utils import logging as hf_logging

    from lossdoctor.collect.hf import LossdoctorTrainerCallback

    hf_logging.set_verbosity_error()
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=32, num_labels=3)
    model = BertForSequenceClassification(cfg)
    ids = torch.randint(0, 64, (96, 12), generator=torch.Generator().manual_seed(0))
    labels = ids[:, 0] % 3

    class DS(torch.utils.data.Dataset):
        def __len__(self):
            return len(ids)

        def __getitem__(self, i):
            return {"input_ids": ids[i], "labels": labels[i]}

    args = TrainingArguments(output_dir=out, per_device_train_batch_size=8, num_train_epochs=2,
                             learning_rate=1e-3, lr_scheduler_type="linear", report_to=[], use_cpu=True,
                             save_strategy="no", disable_tqdm=True, seed=0)
    Trainer(model=model, args=args, train_dataset=DS(), callbacks=[LossdoctorTrainerCallback(log)]).train()


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    ap = argparse.ArgumentParser()
    ap.add_argument("framework", choices=("lightning", "hf"))
    ap.add_argument("--log", required=True)
    ap.add_argument("--out", default="fw_out")
    a = ap.parse_args()
    {"lightning": lightning, "hf": hf}[a.framework](a.log, a.out)
    print("trained")
    sys.exit(0)
