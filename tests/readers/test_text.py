"""Plain-text training output: the real terminal logs and W&B output.log files, every common
print format, progress bars (only their final state counts), and what must not be read."""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lossdoctor import LogError
from lossdoctor.readers import text as T

TEXT_CASES = ("real_text_02", "real_text_04", "real_text_06", "real_text_08", "real_text_10")


def _auto(note: str) -> dict[str, float]:
    """The manifest's ``[auto: train n=25 first=.. min=.. last=..]`` facts."""
    body = re.search(r"\[auto: train (.*?)[;\]]", note).group(1)
    return {k: float(v) for k, v in re.findall(r"(\w+)=([-+.\deE]+)", body)}


def _log_file(reallogs: Path, entry: dict) -> Path:
    p = reallogs / entry["path"]
    return p / "output.log" if p.is_dir() else p  # W&B run folders keep stdout in output.log


def parse(text: str):
    return T.parse(text, "test.log")


# -- real logs ------------------------------------------------------------------------------------

def test_every_text_case_is_covered(manifest):
    assert sorted(c for c, e in manifest.items() if e["format"] == "text_log") == list(TEXT_CASES)


@pytest.mark.parametrize("case", TEXT_CASES)
def test_real_log_matches_the_manifest(case, reallogs, manifest):
    entry = manifest[case]
    f = _log_file(reallogs, entry)
    facts = _auto(entry["notes"])
    run = T.read(f)
    assert len(run.loss) == facts["n"]
    assert run.loss.values[0] == pytest.approx(facts["first"], rel=1e-3)
    assert run.loss.values.min() == pytest.approx(facts["min"], rel=1e-3)
    assert run.loss.values[-1] == pytest.approx(facts["last"], rel=1e-3)
    assert run.meta["step_unit"] == "epoch" and run.meta["format"] == "text_log"
    assert list(run.loss.steps) == list(range(1, int(facts["n"]) + 1))  # "Epoch k/N", 1-based
    assert T.sniff(f, f.read_bytes()[:65536]) >= T.SNIFF_MANY


def test_real_epoch_header_then_metric_lines(reallogs):
    f = reallogs / "text" / "0Xero7__slm_training__logs_2025-02-16 12:31:36.995326.log"
    run = T.read(f)
    val = run.series["val_loss"]
    assert len(val) == 25 and val.values[0] == pytest.approx(6.2081)
    assert run.series["lr"].values[0] == pytest.approx(9.98e-05)  # "Time Taken: 126.03s - LR: ..."
    assert "time_taken" not in run.series  # "126.03s" carries a unit: not a metric
    # the printed config before epoch 1 is the run's hyper-parameters
    assert run.hparams["lr"] == pytest.approx(1e-4) and run.hparams["batch_size"] == 32
    assert run.hparams["weight_decay"] == pytest.approx(0.01) and run.hparams["epochs"] == 30


def test_real_wandb_log_accuracy_and_prose(reallogs):
    f = reallogs / "text" / "Kang346__25SpringDL_Projects__wandb_run-20250312_215149-bik249oj_files" / "output.log"
    run = T.read(f)
    acc, val_acc = run.series["acc"], run.series["val_acc"]
    # "Accuracy: 93.72%" is 0.9372; "New best model saved with accuracy 92.55%" is prose and
    # must not overwrite it
    assert acc.at(41) == pytest.approx(0.9372) and val_acc.at(41) == pytest.approx(0.9255)
    assert len(acc) == 50 and len(val_acc) == 50
    assert not run.warnings


def test_real_run_killed_mid_epoch(reallogs):
    f = reallogs / "text" / "Kang346__25SpringDL_Projects__wandb_run-20250313_011143-a99uur6o_files" / "output.log"
    run = T.read(f)
    assert len(run.loss) == 25 and run.loss.steps[-1] == 25
    assert any("unfinished progress bar (341/390)" in w for w in run.warnings)


def test_real_final_metrics_after_the_last_epoch(reallogs):
    run = T.read(reallogs / "text" / "Aman2125__Rooftop-Image-segmentation__training.log")
    assert len(run.loss) == 200 and run.hparams["epochs"] == 200
    assert run.series["iou_score"].values[-1] == pytest.approx(0.4253227397740864)


def test_wandb_folder_through_the_dispatcher(reallogs):
    import lossdoctor

    folder = reallogs / "text" / "Kang346__25SpringDL_Projects__wandb_run-20250312_215149-bik249oj_files"
    run = lossdoctor.read(folder)
    assert run.meta["format"] == "text_log" and len(run.loss) == 50
    assert run.hparams["lr"] == pytest.approx(0.1)  # from W&B's config.yaml beside it


def test_sniff_is_low_for_the_other_real_formats(reallogs):
    for f in reallogs.rglob("*"):
        if f.is_file() and "text" not in f.parts and "events.out" not in f.name:
            assert T.sniff(f, f.read_bytes()[:65536]) <= 0.3, f


# -- the common print formats ----------------------------------------------------------------------

FORMATS = {
    "plain": ("epoch 1 loss: 0.9 val_loss: 1.0\nepoch 2 loss: 0.5 val_loss: 0.6\n"
              "epoch 3 loss: 0.41 val_loss: 0.52\n",
              "epoch", [1, 2, 3], [0.9, 0.5, 0.41], [1.0, 0.6, 0.52]),
    "bracket": ("Epoch [1/50], Loss: 1.4964, Accuracy: 52.49%\nTest Accuracy: 55.56%\n"
                "Epoch [2/50], Loss: 1.2758, Accuracy: 71.48%\n",
                "epoch", [1, 2], [1.4964, 1.2758], None),
    "pipe": ("Epoch 1/200 | Loss: 0.6924\nEpoch 2/200 | Loss: 0.5995\nEpoch 3/200 | Loss: 0.5894\n",
             "epoch", [1, 2, 3], [0.6924, 0.5995, 0.5894], None),
    "keras": ("Epoch 1/2\n100/100 [==============================] - 2s 20ms/step - loss: 0.9 - "
              "accuracy: 0.5 - val_loss: 1.0 - val_accuracy: 0.4\nEpoch 2/2\n"
              "100/100 [==============================] - 2s 20ms/step - loss: 0.41 - "
              "accuracy: 0.8 - val_loss: 0.52 - val_accuracy: 0.7\n",
              "epoch", [1, 2], [0.9, 0.41], [1.0, 0.52]),
    "keras3": ("Epoch 1/2\n\x1b[1m100/100\x1b[0m \x1b[32m━━━━━━━━━━━━━━━━━━━━\x1b[0m\x1b[37m\x1b[0m "
               "\x1b[1m2s\x1b[0m 20ms/step - accuracy: 0.5 - loss: 0.9 - val_accuracy: 0.4 - "
               "val_loss: 1.0\nEpoch 2/2\n100/100 ━━━━━━━━━━━━━━━━━━━━ 2s 20ms/step - "
               "accuracy: 0.8 - loss: 0.41 - val_accuracy: 0.7 - val_loss: 0.52\n",
               "epoch", [1, 2], [0.9, 0.41], [1.0, 0.52]),
    "kv": ("step=120 loss=2.3 lr=1e-3\nstep=240 loss=2.1 lr=1e-3\nstep=360 loss=1.9 lr=5e-4\n",
           "step", [120, 240, 360], [2.3, 2.1, 1.9], None),
    "nanogpt": ("step 0: train loss 10.98, val loss 10.99\niter 0: loss 10.97, time 45.2ms, mfu -100.00%\n"
                "iter 10: loss 9.1, time 40.1ms, mfu 30.50%\niter 20: loss 8.0, time 40.1ms, mfu 30.50%\n"
                "step 20: train loss 7.9, val loss 8.1\n",
                "step", [0, 10, 20], [10.97, 9.1, 8.0], [10.99, 8.1]),
    "hf_dicts": ("{'loss': 0.69, 'grad_norm': 1.2, 'learning_rate': 5e-05, 'epoch': 0.1}\n"
                 "{'loss': 0.55, 'grad_norm': 1.1, 'learning_rate': 4e-05, 'epoch': 0.2}\n"
                 "{'eval_loss': 0.6, 'eval_runtime': 1.5, 'epoch': 0.2}\n"
                 "{'train_runtime': 30.1, 'train_loss': 0.62, 'epoch': 0.2}\n",
                 "epoch", [0.1, 0.2], [0.69, 0.55], [0.6]),
    "train_valid": ("train loss 2.3 | valid loss 2.1\ntrain loss 2.0 | valid loss 1.9\n"
                    "train loss 1.8 | valid loss 1.85\n",
                    "row", [0, 1, 2], [2.3, 2.0, 1.8], [2.1, 1.9, 1.85]),
    "tutorial": ("Epoch [1/2], Step [100/300], Loss: 0.5\nEpoch [1/2], Step [200/300], Loss: 0.4\n"
                 "Epoch [1/2], Step [300/300], Loss: 0.35\nEpoch [2/2], Step [100/300], Loss: 0.3\n",
                 "step", [100, 200, 300, 400], [0.5, 0.4, 0.35, 0.3], None),
    "mnist": ("Train Epoch: 1 [0/60000 (0%)]\tLoss: 2.305532\n"
              "Train Epoch: 1 [30000/60000 (50%)]\tLoss: 0.5\n\n"
              "Test set: Average loss: 0.0331, Accuracy: 9898/10000 (99%)\n\n"
              "Train Epoch: 2 [0/60000 (0%)]\tLoss: 0.2\n",
              "epoch", [1, 1.5, 2], [2.305532, 0.5, 0.2], [0.0331]),
    "tensor_repr": ("epoch 1 loss: tensor(0.6931, grad_fn=<NllLossBackward0>)\n"
                    "epoch 2 loss: tensor(0.5012, device='cuda:0', grad_fn=<NllLossBackward0>)\n",
                    "epoch", [1, 2], [0.6931, 0.5012], None),
    "logging": ("2024-05-01 12:00:01,123 - INFO - Epoch 1 - train_loss: 0.8 - val_loss: 0.9\n"
                "2024-05-01 12:05:01,456 - INFO - Epoch 2 - train_loss: 0.6 - val_loss: 0.7\n",
                "epoch", [1, 2], [0.8, 0.6], [0.9, 0.7]),
    "lightning_bar": ("Epoch 0: 100%|██████████| 50/50 [00:01<00:00, 30.2it/s, v_num=0, "
                      "train_loss_step=0.5, val_loss=0.6, train_loss_epoch=0.55]\n"
                      "Epoch 1: 100%|██████████| 50/50 [00:01<00:00, 30.2it/s, v_num=0, "
                      "train_loss_step=0.4, val_loss=0.5, train_loss_epoch=0.45]\n",
                      "epoch", [0, 1], [0.5, 0.4], [0.6, 0.5]),
    "fairseq": (
        "2023-01-01 00:00:01 | INFO | fairseq_cli.train | num. shared model params: 39,469,056\n"
        "2023-01-01 00:01:00 | INFO | train_inner | epoch 001:    100 / 300 loss=9.5, nll_loss=9.2, "
        "ppl=600.2, wps=1000, ups=2, num_updates=100, lr=1e-4, gnorm=1.2, train_wall=30, wall=50\n"
        "2023-01-01 00:02:00 | INFO | train_inner | epoch 001:    200 / 300 loss=8.5, nll_loss=8.2, "
        "ppl=300.2, wps=1000, ups=2, num_updates=200, lr=2e-4, gnorm=1.1, train_wall=30, wall=80\n"
        "2023-01-01 00:02:30 | INFO | valid | epoch 001 | valid on 'valid' subset | loss 8.1 | "
        "nll_loss 7.9 | ppl 240 | wps 3000 | num_updates 300\n"
        "2023-01-01 00:02:31 | INFO | train | epoch 001 | loss 8.9 | nll_loss 8.6 | ppl 400 | "
        "num_updates 300 | lr 3e-4 | gnorm 1.1 | train_wall 90 | wall 120\n"
        "2023-01-01 00:03:30 | INFO | train_inner | epoch 002:    100 / 300 loss=7.5, nll_loss=7.2, "
        "ppl=180.2, wps=1000, ups=2, num_updates=400, lr=4e-4, gnorm=1.0, train_wall=30, wall=150\n",
        "step", [100, 200, 300, 400], [9.5, 8.5, 8.9, 7.5], [8.1]),
    "hf_console": (
        "***** Running training *****\n  Num examples = 1,000\n  Num Epochs = 3\n"
        "  Total optimization steps = 375\n"
        "\r  0%|          | 0/375 [00:00<?, ?it/s]\r 10%|█         | 37/375 [00:10<01:30,  3.7it/s]"
        "\r                                        \r{'loss': 0.69, 'grad_norm': 1.2, "
        "'learning_rate': 5e-05, 'epoch': 0.1}\n"
        "\r 10%|█         | 37/375 [00:10<01:30,  3.7it/s]\r 20%|██        | 75/375 [00:20<01:20,  "
        "3.7it/s]\r                                        \r{'loss': 0.55, 'grad_norm': 1.0, "
        "'learning_rate': 4e-05, 'epoch': 0.2}\n"
        "\r100%|██████████| 375/375 [01:40<00:00,  3.7it/s]\r                                \r"
        "{'train_runtime': 100.0, 'train_loss': 0.5, 'epoch': 3.0}\n",
        "epoch", [0.1, 0.2], [0.69, 0.55], None),
}


@pytest.mark.parametrize("name", list(FORMATS))
def test_formats(name):
    text, unit, steps, losses, val = FORMATS[name]
    run = parse(text)
    assert run.meta["step_unit"] == unit
    np.testing.assert_allclose(run.loss.steps, steps)
    np.testing.assert_allclose(run.loss.values, losses)
    if val is not None:
        np.testing.assert_allclose(run.series["val_loss"].values, val)
    assert not run.warnings
    assert T.sniff(Path("train.log"), text.encode()) >= T.SNIFF_FEW


def test_bracket_format_accuracy_is_a_fraction():
    run = parse(FORMATS["bracket"][0])
    np.testing.assert_allclose(run.series["acc"].values, [0.5249, 0.7148])
    np.testing.assert_allclose(run.series["val_acc"].values, [0.5556])  # "Test Accuracy"


def test_mnist_accuracy_as_a_count():
    run = parse(FORMATS["mnist"][0])
    assert run.series["val_acc"].values[0] == pytest.approx(0.9898)  # "9898/10000"


def test_fairseq_validation_line_is_validation():
    run = parse(FORMATS["fairseq"][0])
    assert run.series["val_ppl"].values[0] == 240  # not mixed into the training ppl
    assert list(run.series["lr"].steps) == [100, 200, 300, 400]
    assert list(run.series["epoch"].values) == [1, 1, 1, 2]


def test_hf_console_header_is_hyperparameters():
    run = parse(FORMATS["hf_console"][0])
    assert run.hparams["num_epochs"] == 3 and "num_examples" not in run.hparams  # "1,000"
    assert run.series["train_loss"].values[0] == 0.5  # the final average stays apart


def test_step_logs_keep_the_epoch():
    run = parse("epoch=0 step=10 loss=1.0\nepoch=0 step=20 loss=0.9\nepoch=1 step=30 loss=0.8\n")
    assert run.meta["step_unit"] == "step"
    np.testing.assert_allclose(run.series["epoch"].values, [0, 0, 1])


# -- progress bars ------------------------------------------------------------------------------------

def test_tqdm_carriage_returns_only_final_state_counts():
    text = ("Epoch 1:  10%|#         | 5/50 [00:01<00:09, loss=0.95, lr=0.001]\r"
            "Epoch 1:  60%|######    | 30/50 [00:01<00:01, loss=0.7, lr=0.001]\r"
            "Epoch 1: 100%|##########| 50/50 [00:01<00:00, loss=0.5, lr=0.001]\n"
            "Epoch 2:  10%|#         | 5/50 [00:01<00:09, loss=0.45, lr=0.001]\r"
            "Epoch 2: 100%|##########| 50/50 [00:01<00:00, loss=0.23, lr=0.0005]\n")
    run = parse(text)
    assert list(run.loss.values) == [0.5, 0.23]
    assert list(run.series["lr"].values) == [0.001, 0.0005]


def test_bars_that_replace_each_other_on_one_line_each_count():
    # tqdm(leave=False): every epoch's bar overwrites the last one, no newline in between
    text = "".join(f"\rEpoch {e}:  50%|#####     | 25/50 [00:01<00:01, loss={1.0 / e:.3f}]"
                   f"\rEpoch {e}: 100%|##########| 50/50 [00:02<00:00, loss={0.5 / e:.3f}]"
                   for e in (1, 2, 3)) + "\r" + " " * 60 + "\r\n"
    run = parse(text)
    np.testing.assert_allclose(run.loss.values, [0.5, 0.25, 0.167])
    assert list(run.loss.steps) == [1, 2, 3] and not run.warnings


def test_tqdm_bars_without_epoch_use_the_order_of_bars():
    text = "".join(f"100%|##########| 50/50 [00:01<00:00, 40.1it/s, loss={1 / (i + 1):.3f}]\n"
                   for i in range(4))
    run = parse(text)
    assert run.meta["step_unit"] == "row" and list(run.loss.steps) == [0, 1, 2, 3]


def test_bar_refreshes_on_their_own_lines_are_dropped():
    # some captures keep every refresh as a line: only the finished bars count
    lines = []
    for ep in (1, 2):
        for k in (10, 25, 50):
            lines.append(f"Epoch {ep}: {k * 2}%|###| {k}/50 [00:01<00:00, loss={1 / (ep * k):.4f}]")
    run = parse("\n".join(lines) + "\n")
    np.testing.assert_allclose(run.loss.values, [1 / 50, 1 / 100], rtol=1e-3)


def test_single_unfinished_bar_still_counts():
    run = parse("Training:  40%|####      | 400/1000 [01:00<01:30, loss=1.234]\r"
                "Training:  41%|####      | 410/1000 [01:01<01:29, loss=1.2]")
    assert list(run.loss.values) == [1.2]
    assert any("unfinished progress bar (410/1000)" in w for w in run.warnings)


def test_keras_backspace_redraws():
    text = ("Epoch 1/2\n 10/100 [==>...........................] - ETA: 9s - loss: 2.0"
            "\x08" * 60 + "100/100 [==============================] - 2s 20ms/step - loss: 0.9\n"
            "Epoch 2/2\n100/100 [==============================] - 2s 20ms/step - loss: 0.5\n")
    run = parse(text)
    assert list(run.loss.values) == [0.9, 0.5]


# -- what must not be read -------------------------------------------------------------------------

def test_tables_warnings_and_prose_are_ignored():
    text = """Model: "sequential"
 Layer (type)                Output Shape              Param #
 dense (Dense)               (None, 128)               100480
 Total params: 101,770 (397.54 KB)
Mean: [0.49261177 0.48097432 0.44712296]
/usr/lib/python3/site-packages/torch/nn/functional.py:1331: UserWarning: dropout2d is deprecated
Loaded CIFAR-10: 60000 train, 10000 test samples.
epoch 1 loss: 0.9
Saving checkpoint to ckpt_1.pt (best loss so far)
New best model saved with accuracy 93.45%
epoch 2 loss: 0.7
"""
    run = parse(text)
    assert list(run.loss.values) == [0.9, 0.7]
    assert set(run.series) == {"loss"}


def test_config_lines_before_training_are_hyperparameters():
    text = ("Namespace(lr=0.01, batch_size=64, weight_decay=0.0005, epochs=90)\n"
            "dropout: 0.3\n"
            "epoch 1 loss: 0.9\nepoch 2 loss: 0.7\n")
    run = parse(text)
    assert run.hparams["lr"] == pytest.approx(0.01) and run.hparams["batch_size"] == 64
    assert run.hparams["weight_decay"] == pytest.approx(5e-4) and run.hparams["dropout"] == 0.3
    assert "lr" not in run.series and list(run.loss.steps) == [1, 2]


def test_nan_and_inf_losses_are_kept():
    run = parse("step 1 loss: 0.9\nstep 2 loss: nan\nstep 3 loss: inf\nstep 4 loss: NaN\n")
    v = run.loss.values
    assert v[0] == 0.9 and math.isnan(v[1]) and math.isinf(v[2]) and math.isnan(v[3])


def test_restarted_log_keeps_the_later_run():
    text = "".join(f"epoch {e} loss: {1.0 / e}\n" for e in (1, 2, 3))
    text += "".join(f"epoch {e} loss: {0.5 / e}\n" for e in (1, 2, 3, 4))
    run = parse(text)
    np.testing.assert_allclose(run.loss.values, [0.5, 0.25, 0.5 / 3, 0.125])
    assert any("restarted" in w for w in run.warnings)


def test_steps_that_go_back_within_an_epoch_are_a_restart():
    text = "step=1 loss=1.0\nstep=2 loss=0.9\nstep=3 loss=0.8\nstep=2 loss=0.7\nstep=3 loss=0.6\n"
    run = parse(text)
    assert list(run.loss.steps) == [1, 2, 3] and list(run.loss.values) == [1.0, 0.7, 0.6]
    assert any("restarted" in w for w in run.warnings)


def test_crlf_line_ends():
    run = parse("epoch 1 loss: 0.9\r\nepoch 2 loss: 0.7\r\n")
    assert list(run.loss.values) == [0.9, 0.7]


# -- sniffing ---------------------------------------------------------------------------------------

def test_sniff_low_for_generic_text_and_zero_for_binary():
    assert T.sniff(Path("notes.txt"), b"Meeting notes\nWe discussed the plan for 2024.\n") <= 0.3
    assert T.sniff(Path("README.md"), b"# Project\n\nTrain with `python train.py --lr 0.1`\n") <= 0.3
    assert T.sniff(Path("config.yaml"), b"lr: 0.001\nbatch_size: 32\nepochs: 10\n") <= 0.3
    assert T.sniff(Path("x.bin"), bytes(range(256)) * 4) == 0.0
    assert T.sniff(Path("x.png"), b"\x89PNG\r\n\x1a\n" + bytes(200)) == 0.0
    assert T.sniff(Path("e.log"), b"") == 0.0


def test_sniff_leaves_json_and_csv_to_their_readers():
    jsonl = "".join(json.dumps({"step": i, "loss": 1 / (i + 1)}) + "\n" for i in range(20))
    assert T.sniff(Path("metrics.log"), jsonl.encode()) <= 0.3
    doc = json.dumps({"log_history": [{"loss": 0.5, "step": i} for i in range(20)]}, indent=2)
    assert T.sniff(Path("trainer_state.json"), doc.encode()) <= 0.3
    assert T.sniff(Path("history.json"), b'{"loss": [0.9, 0.7], "val_loss": [1.0, 0.8]}') <= 0.3
    csv = "epoch,loss,val_loss\n" + "".join(f"{i},{1 / (i + 1)},{1 / (i + 2)}\n" for i in range(20))
    assert T.sniff(Path("training.log"), csv.encode()) <= 0.3


def test_sniff_scales_with_loss_lines():
    one = T.sniff(Path("run.log"), b"some text\nepoch 1 loss: 0.5\n")
    many = T.sniff(Path("run.log"), b"".join(b"epoch %d loss: 0.5\n" % i for i in range(10)))
    assert 0.3 < one < many <= 0.6


def test_wandb_output_log_sniffs_as_text_before_any_loss(tmp_path):
    summary = "".join(f"        Conv2d-{i}           [-1, 32, 32, 32]             864\n" for i in range(200))
    log = tmp_path / "output.log"
    log.write_text("Loading data...\n" + summary)
    bare = T.sniff(log, log.read_bytes())
    (tmp_path / "config.yaml").write_text("lr:\n    value: 0.1\n")
    assert T.sniff(log, log.read_bytes()) >= T.SNIFF_WANDB > bare


# -- errors and robustness ----------------------------------------------------------------------------

def test_no_loss_is_an_error_naming_the_file(tmp_path):
    p = tmp_path / "train.log"
    p.write_text("epoch 1 accuracy: 0.5\nepoch 2 accuracy: 0.6\n")
    with pytest.raises(LogError, match=rf"{re.escape(str(p))}: no loss values found"):
        T.read(p)


def test_binary_and_missing_files_are_errors(tmp_path):
    p = tmp_path / "model.log"
    p.write_bytes(b"\x00\x01\x02loss: 0.5" * 10)
    with pytest.raises(LogError, match="binary"):
        T.read(p)
    with pytest.raises(LogError, match="cannot be opened"):
        T.read(tmp_path / "absent.log")


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.lists(st.one_of(
    st.text(max_size=60),
    st.sampled_from(["epoch 1 loss: 0.5", "loss=nan", "step=3 loss=1e400", "Epoch [2/0], Step [0/0]",
                     "100%|##| 5/5 [00:01, loss=0.1]\r", "Train Epoch: 1 [5/0 (0%)]\tLoss: 1",
                     "{'loss': 0.1, 'epoch': 1e308}", "acc: 5/0", "\x08\x08\x1b[2K", "loss: -inf"]),
), max_size=12))
def test_random_text_raises_only_log_error(lines):
    try:
        run = parse("\n".join(lines))
    except LogError:
        return
    assert run.loss is not None or run.get("val_loss") is not None or any(
        k.endswith("loss") for k in run.series)


def test_large_log_is_fast():
    n = 50_000
    text = "\n".join(f"step={i} loss={2.3 - i * 1e-5:.5f} lr=3e-4 grad_norm={1 + (i % 7) / 10}"
                     if i % 5 else f"Epoch {i // 1000} | valid loss {2.0 - i * 1e-5:.4f}"
                     for i in range(n))
    t = time.perf_counter()
    run = parse(text)
    elapsed = time.perf_counter() - t
    assert len(run.loss) == n - n // 5
    # about a second for 200k lines on a laptop; generous for a loaded 2-core runner
    assert elapsed < 4.0, elapsed
