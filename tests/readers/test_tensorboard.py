"""TensorBoard event files: real YOLOv5 and Hugging Face files, files written by the real
writers (torch's SummaryWriter, TensorBoard's own tf-free Writer), Keras' train/validation
layout, restarts, and damaged files."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from lossdoctor import LogError
from lossdoctor.readers import tensorboard as tb

pytestmark = pytest.mark.frameworks
pytest.importorskip("tensorboard")  # the optional extra these files need

TB_CASES = ("real_tensorboard_01", "real_tensorboard_03", "real_tensorboard_05", "real_tensorboard_07")


def _auto(note: str) -> dict[str, dict[str, float]]:
    """The manifest's ``[auto: train n=30 first=.. min=.. last=..; val/eval n=..]`` facts."""
    body = re.search(r"\[auto: (.*?)\]", note).group(1)
    out = {}
    for part in body.split(";"):
        label, _, facts = part.strip().partition(" ")
        out[label] = {k: float(v) for k, v in re.findall(r"(\w+)=([-+.\deE]+)", facts)}
    return out


def _event_file(folder: Path) -> Path:
    return next(folder.glob("events.out.tfevents.*"))


@pytest.fixture(scope="module")
def real_runs(reallogs, manifest):
    """Each real folder read once: the YOLO files are megabytes of images."""
    return {c: (manifest[c], tb.read(_event_file(reallogs / manifest[c]["path"]))) for c in TB_CASES}


# -- real files ---------------------------------------------------------------------------------

def test_every_real_file_reads_and_matches_the_manifest(real_runs, manifest):
    assert sorted(c for c, e in manifest.items() if e["format"] == "tensorboard") == list(TB_CASES)
    for case, (entry, run) in real_runs.items():
        facts = _auto(entry["notes"])
        yolo = "train/box_loss" in run.series
        # the manifest's numbers describe the first loss tag: YOLO's box loss, HF's loss
        train = run.series["train/box_loss"] if yolo else run.loss
        val = run.series["val/box_loss"] if yolo else run.series["val_loss"]
        for s, f in ((train, facts["train"]), (val, facts["val/eval"])):
            assert len(s) == f["n"], case
            assert s.values[0] == pytest.approx(f["first"], rel=1e-3), case
            assert s.values.min() == pytest.approx(f["min"], rel=1e-3), case
            assert s.values[-1] == pytest.approx(f["last"], rel=1e-3), case
        assert run.meta["format"] == "tensorboard" and not run.warnings, case


def test_yolo_components_sum_to_the_loss_and_lr_maps(real_runs):
    _, run = real_runs["real_tensorboard_01"]
    parts = ("train/box_loss", "train/obj_loss", "train/cls_loss")
    total = sum(run.series[p].values for p in parts)
    np.testing.assert_allclose(run.loss.values, total)
    assert run.get("val_loss") is not None and run.get("lr") is not None  # x/lr0
    assert run.meta["step_unit"] == "epoch"  # YOLOv5 logs once per epoch
    assert list(run.loss.steps) == list(range(30))


def test_hugging_face_file_gives_steps_lr_and_hyperparameters(real_runs):
    _, run = real_runs["real_tensorboard_07"]
    assert list(run.loss.steps) == [100, 200, 300, 400, 500, 600, 700, 800, 900]
    assert run.meta["step_unit"] == "step"
    assert list(run.series["val_loss"].steps) == [500]
    assert len(run.get("lr")) == 9 and len(run.get("grad_norm")) == 9
    assert run.series["epoch"].values[-1] == pytest.approx(10.0)
    # from the TrainingArguments JSON that the HF callback logs as text
    assert run.hparams["lr"] == pytest.approx(3e-5) and run.hparams["epochs"] == 10


def test_real_folder_reads_like_its_file(reallogs):
    folder = reallogs / "tensorboard" / "gammachen__p-llm-createprivatellm-1__logs__1756861504"
    a, b = tb.read(folder), tb.read(_event_file(folder))
    np.testing.assert_array_equal(a.loss.values, b.loss.values)


def test_sniff_real_files(reallogs, manifest):
    for c in TB_CASES:
        f = _event_file(reallogs / manifest[c]["path"])
        head = f.read_bytes()[:65536]
        assert tb.sniff(f, head) == 1.0
        assert tb.sniff(Path("renamed.bin"), head) == tb.SNIFF_EVENT  # by content alone
    hyp = reallogs / "tensorboard" / "alexneilgreen__ACAI-YOLOv5__runs_train_lr0.01" / "hyp.yaml"
    assert tb.sniff(hyp, hyp.read_bytes()) == 0.0


# -- files written by the real writers -----------------------------------------------------------

def _writer(folder: Path):
    SummaryWriter = pytest.importorskip("torch.utils.tensorboard").SummaryWriter

    return SummaryWriter(str(folder))


def test_summary_writer_scalars_old_and_new_style(tmp_path):
    w = _writer(tmp_path)
    losses = [2.3, 1.7, 1.2, 0.9, 0.8]
    for i, x in enumerate(losses):
        w.add_scalar("loss", x, i * 10)  # simple_value
        w.add_scalar("lr", 0.1 * 0.5 ** i, i * 10, new_style=True)  # a scalar tensor
    w.add_histogram("weights", np.random.default_rng(0).normal(size=100), 0)
    w.add_image("sample", np.zeros((3, 8, 8)), 0)
    w.add_text("note", "not a number", 0)
    w.close()
    run = tb.read(_event_file(tmp_path))
    assert set(run.series) == {"loss", "lr"}  # image, histogram and text are skipped
    np.testing.assert_allclose(run.loss.values, losses, rtol=1e-6)  # stored as float32
    assert list(run.loss.steps) == [0, 10, 20, 30, 40]
    np.testing.assert_allclose(run.series["lr"].values, [0.1 * 0.5 ** i for i in range(5)], rtol=1e-6)
    assert run.meta["step_unit"] == "step" and not run.warnings


def test_tensorboards_own_writer(tmp_path):
    from tensorboard.summary import Writer

    w = Writer(str(tmp_path))
    for i in range(4):
        w.add_scalar("train/loss", 1.0 / (i + 1), step=i)
        w.add_scalar("eval/loss", 2.0 / (i + 1), step=i)
    w.close()
    run = tb.read(_event_file(tmp_path))
    np.testing.assert_allclose(run.loss.values, [1, 1 / 2, 1 / 3, 1 / 4], rtol=1e-6)
    np.testing.assert_allclose(run.series["val_loss"].values, [2, 1, 2 / 3, 1 / 2], rtol=1e-6)


def test_hparams_plugin_is_read(tmp_path):
    w = _writer(tmp_path)
    from torch.utils.tensorboard.summary import hparams

    for s in hparams({"lr": 0.03, "optimizer": "sgd", "weight_decay": 0.0}, {"hp_metric": -1}):
        w.file_writer.add_summary(s)  # what Lightning's log_hyperparams does
    w.add_scalar("train_loss", 1.0, 0)
    w.add_scalar("train_loss", 0.5, 1)
    w.close()
    run = tb.read(_event_file(tmp_path))
    assert run.hparams["lr"] == pytest.approx(0.03) and run.hparams["optimizer"] == "sgd"
    assert run.hparams["weight_decay"] == 0.0
    assert len(run.loss) == 2


def test_keras_layout_validation_loss_becomes_val_loss(tmp_path):
    for split, scale in (("train", 1.0), ("validation", 1.5)):
        w = _writer(tmp_path / split)
        for epoch in range(6):
            w.add_scalar("epoch_loss", scale / (epoch + 1), epoch, new_style=True)
            w.add_scalar("epoch_accuracy", 0.5 + epoch / 20, epoch, new_style=True)
        w.close()
    run = tb.read_folder(tmp_path)
    assert run.meta["step_unit"] == "epoch" and run.meta["files"] == 2
    np.testing.assert_allclose(run.loss.values, [1 / (e + 1) for e in range(6)], rtol=1e-6)
    np.testing.assert_allclose(run.series["val_loss"].values, [1.5 / (e + 1) for e in range(6)],
                               rtol=1e-6)
    assert {"acc", "val_acc"} <= set(run.series)
    assert tb.read(tmp_path).series.keys() == run.series.keys()  # read() takes folders too


def test_keras_layout_through_the_dispatcher_is_one_run(tmp_path):
    import lossdoctor

    for split in ("train", "validation"):
        w = _writer(tmp_path / "logs" / split)
        for epoch in range(4):
            w.add_scalar("epoch_loss", 1.0 / (epoch + 1), epoch)
        w.close()
    runs = lossdoctor.read_all(tmp_path)
    assert len(runs) == 1
    assert len(runs[0].loss) == 4 and len(runs[0].series["val_loss"]) == 4


def _write(folder: Path, name: str, steps, values) -> Path:
    """One event file with a chosen name (writers name files by the second they start)."""
    tmp = folder / f"_w_{name}"
    w = _writer(tmp)
    for s, v in zip(steps, values):
        w.add_scalar("loss", v, s)
    w.close()
    target = folder / name
    shutil.move(str(_event_file(tmp)), target)
    shutil.rmtree(tmp)
    return target


def test_restarted_run_later_file_wins(tmp_path):
    _write(tmp_path, "events.out.tfevents.1700000000.host.1.0", range(10), [1.0] * 10)
    _write(tmp_path, "events.out.tfevents.1700000500.host.2.0", range(5, 15), [2.0] * 10)
    run = tb.read_folder(tmp_path)
    assert list(run.loss.steps) == list(range(15))
    assert list(run.loss.values) == [1.0] * 5 + [2.0] * 10
    assert any("restarted" in w for w in run.warnings)


# -- damaged and foreign files -------------------------------------------------------------------

def _good_file(tmp_path: Path, n: int = 50) -> Path:
    w = _writer(tmp_path / "src")
    for i in range(n):
        w.add_scalar("loss", 1.0 / (i + 1), i)
    w.close()
    return _event_file(tmp_path / "src")


def test_truncated_file_keeps_what_was_read(tmp_path):
    good = _good_file(tmp_path)
    data = good.read_bytes()
    cut = tmp_path / "events.out.tfevents.cut"
    cut.write_bytes(data[: len(data) * 2 // 3 + 5])  # ends inside a record
    run = tb.read(cut)
    assert 20 < len(run.loss) < 50
    np.testing.assert_allclose(run.loss.values, [1.0 / (i + 1) for i in range(len(run.loss))], rtol=1e-6)
    assert any("truncated or corrupt" in w and str(cut) in w for w in run.warnings)


def test_corrupt_record_in_the_middle(tmp_path):
    good = _good_file(tmp_path)
    data = bytearray(good.read_bytes())
    data[len(data) // 2] ^= 0xFF  # a CRC now fails
    bad = tmp_path / "events.out.tfevents.bad"
    bad.write_bytes(bytes(data))
    run = tb.read(bad)
    assert 0 < len(run.loss) < 50
    assert any("truncated or corrupt" in w for w in run.warnings)


def test_junk_file_with_an_event_name(tmp_path):
    junk = tmp_path / "events.out.tfevents.x"
    junk.write_bytes(b"this is not a TFRecord file, just some text\n" * 20)
    assert tb.sniff(junk, junk.read_bytes()) == 1.0  # the name is all a sniff can see
    with pytest.raises(LogError, match=re.escape(str(junk))):
        tb.read(junk)
    tiny = tmp_path / "events.out.tfevents.y"
    tiny.write_bytes(_good_file(tmp_path).read_bytes()[:10])  # cut inside the first header
    with pytest.raises(LogError, match=re.escape(str(tiny))):
        tb.read(tiny)


def test_sniff_content(tmp_path):
    head = _good_file(tmp_path).read_bytes()[:4096]
    assert tb.sniff(Path("x.log"), head) == tb.SNIFF_EVENT
    assert tb.sniff(Path("x.log"), b"epoch 1 loss: 0.5\n") == 0.0
    assert tb.sniff(Path("x.bin"), bytes(range(256))) == 0.0
    assert tb.sniff(Path("x.bin"), b"") == 0.0


def test_images_only_file_is_refused(tmp_path):
    w = _writer(tmp_path)
    w.add_image("sample", np.zeros((3, 4, 4)), 0)
    w.close()
    with pytest.raises(LogError, match="no scalar"):
        tb.read(_event_file(tmp_path))


def test_run_without_a_loss_says_so(tmp_path):
    w = _writer(tmp_path)
    for i in range(3):
        w.add_scalar("accuracy", 0.5 + i / 10, i)
    w.close()
    run = tb.read(_event_file(tmp_path))
    assert len(run.series["acc"]) == 3
    assert any("no loss scalar" in w and "accuracy" in w for w in run.warnings)


def test_folder_without_event_files(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing")
    with pytest.raises(LogError, match="no TensorBoard event files"):
        tb.read_folder(tmp_path)


def test_unreadable_file_in_a_folder_is_a_warning(tmp_path):
    _write(tmp_path, "events.out.tfevents.1700000000.host.1.0", range(5), [1.0] * 5)
    (tmp_path / "events.out.tfevents.1700000900.host.1.0").write_bytes(b"garbage" * 10)
    run = tb.read_folder(tmp_path)
    assert len(run.loss) == 5
    assert any("no events could be read" in w for w in run.warnings)


def test_missing_tensorboard_names_the_extra(tmp_path, monkeypatch):
    good = _good_file(tmp_path)
    monkeypatch.setitem(sys.modules, "tensorboard.backend.event_processing", None)
    with pytest.raises(LogError, match=re.escape("pip install 'lossdoctor[tensorboard]'")):
        tb.read(good)
