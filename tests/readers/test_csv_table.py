"""CSV/TSV reader: real Keras, Lightning and YOLO logs, files written by Lightning's own
CSVLogger, delimiters and line endings, and the fast path."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest

from lossdoctor.core import LogError
from lossdoctor.readers import csv_table

# -- real logs ---------------------------------------------------------------------------------
# (case, file inside the case path, format, loss n/first/last, val_loss n/first/last or None);
# the numbers are the [auto: ...] notes of manifest.json.
REAL = [
    ("real_keras_01", None, "keras_csv", (100, 1.78, 0.3073), (100, 1.897, 0.7466)),
    ("real_keras_03", None, "keras_csv", (25, 0.291, 0.05914), None),
    ("real_keras_05", None, "keras_csv", (29, 1.843, 0.09125), (29, 1.328, 0.4161)),
    ("real_keras_07", None, "keras_csv", (2, 1.732, 1.607), (2, 1.892, 1.891)),
    ("real_lightning_02", "metrics.csv", "lightning_csv", (1511, 9.441, 4.576), None),
    ("real_lightning_04", "metrics.csv", "lightning_csv", (114, 9.573, 6.104), (20, 7.839, 6.228)),
    ("real_lightning_06", "metrics.csv", "lightning_csv", (640, 0.4691, 0.3142), None),
    ("real_lightning_10", "metrics.csv", "lightning_csv", (6400, 37.96, 0.0001096), None),
]


def _path(reallogs, manifest, case, inner=None) -> Path:
    p = reallogs / manifest[case]["path"]
    return p / inner if inner else p


def _check(series, n, first, last):
    assert series is not None
    assert len(series) == n
    assert series.values[0] == pytest.approx(first, rel=1e-3)
    assert series.values[-1] == pytest.approx(last, rel=1e-3)


@pytest.mark.parametrize("case,inner,fmt,train,val", REAL, ids=[r[0] for r in REAL])
def test_real_logs(reallogs, manifest, case, inner, fmt, train, val):
    p = _path(reallogs, manifest, case, inner)
    assert csv_table.sniff(p, p.read_bytes()[:65536]) >= 0.8
    run = csv_table.read(p)
    assert run.meta["format"] == fmt
    assert run.warnings == ()
    _check(run.loss, *train)
    if val is None:
        assert run.get("val_loss") is None
    else:
        _check(run.get("val_loss"), *val)
    assert np.all(np.diff(run.loss.steps) > 0)


def test_real_keras_epochs_and_accuracy(reallogs, manifest):
    run = csv_table.read(_path(reallogs, manifest, "real_keras_03"))  # old 'acc' key, CRLF
    assert run.meta["step_unit"] == "epoch"
    assert run.loss.steps.tolist() == list(range(25))
    assert run.get("acc").values[0] == pytest.approx(0.92483332578688859, rel=1e-15)


def test_real_keras_cr_cr_lf(reallogs, manifest):
    p = _path(reallogs, manifest, "real_keras_07")
    assert b"\r\r\n" in p.read_bytes()
    run = csv_table.read(p)
    assert set(run.series) >= {"loss", "val_loss", "acc", "val_acc"}
    assert run.get("val_acc").values.tolist() == pytest.approx([0.075, 0.0744047611951828])


def test_real_lightning_epoch_vs_step_losses(reallogs, manifest):
    """A PINN log with train_loss_step on 160 rows and train_loss_epoch on 1000: the denser
    column stands for the loss, the other keeps its name."""
    run = csv_table.read(_path(reallogs, manifest, "real_lightning_08", "metrics.csv"))
    _check(run.get("train_loss_step"), 160, 134.7, 7.013)
    _check(run.loss, 1000, 306.9, 5.811)
    assert run.meta["step_unit"] == "step"
    assert run.get("epoch").values[-1] == 999


def test_real_lightning_sparse_rows(reallogs, manifest):
    """Lightning leaves a cell empty when a row did not log that metric: no NaN may appear."""
    run = csv_table.read(_path(reallogs, manifest, "real_lightning_04", "metrics.csv"))
    for s in run.series.values():
        assert np.isfinite(s.values).all(), s.name


YOLO = [
    # case, epochs, train/box_loss first/last, val/box_loss first/last, NaN val points
    ("real_yolo_01", 30, 0.05606, 0.01422, 0.01695, 0.004052, 0),
    ("real_yolo_03", 30, 0.07939, 0.02282, 0.02871, 0.004544, 0),
    ("real_yolo_05", 1000, 0.1238, 0.04621, math.nan, 0.07388, 2),
    ("real_yolo_07", 886, 0.116, 0.06725, 0.1062, 0.08307, 0),
]


@pytest.mark.parametrize("case,n,box0,box1,vbox0,vbox1,nan_val", YOLO, ids=[y[0] for y in YOLO])
def test_real_yolo(reallogs, manifest, case, n, box0, box1, vbox0, vbox1, nan_val):
    p = _path(reallogs, manifest, case, "results.csv")
    assert p.read_bytes().startswith(b"      ")  # space-padded header
    run = csv_table.read(p)
    assert run.meta["format"] == "yolo_csv"
    assert run.meta["step_unit"] == "epoch"
    box = run.get("train/box_loss")
    _check(box, n, box0, box1)
    vbox = run.get("val/box_loss")
    if math.isnan(vbox0):
        assert math.isnan(vbox.values[0])
    else:
        assert vbox.values[0] == pytest.approx(vbox0, rel=1e-3)
    assert vbox.values[-1] == pytest.approx(vbox1, rel=1e-3)
    # YOLO logs only components: the loss is their sum, and a NaN component stays NaN
    parts = [run.get(f"train/{c}_loss").values for c in ("box", "obj", "cls")]
    assert run.loss.values == pytest.approx(np.sum(parts, axis=0))
    assert int((~np.isfinite(run.get("val_loss").values)).sum()) == nan_val
    assert run.get("lr") is not None


def test_real_yolov8(reallogs, manifest):
    p = _path(reallogs, manifest, "real_yolo_09")
    run = csv_table.read(p)
    assert run.meta["format"] == "yolo_csv"
    _check(run.get("train/box_loss"), 70, 0.6525, 0.4486)
    assert run.loss.steps[0] == 1  # Ultralytics counts epochs from 1
    expected = {"train/cls_loss", "train/dfl_loss", "val/dfl_loss", "metrics/map50(b)"}
    assert expected <= set(run.series)


# -- files written by the real library --------------------------------------------------------

@pytest.mark.frameworks
def test_lightning_csvlogger_roundtrip(tmp_path):
    loggers = pytest.importorskip("lightning.pytorch.loggers")
    lg = loggers.CSVLogger(str(tmp_path), name="m")
    lg.log_hyperparams({"lr": 0.01})
    lg.log_metrics({"train_loss_step": 1.0, "epoch": 0}, step=0)
    lg.log_metrics({"train_loss_step": float("nan"), "epoch": 0}, step=1)
    lg.log_metrics({"val_loss": 0.5, "epoch": 0}, step=1)
    lg.log_metrics({"train_loss_step": 0.25, "epoch": 1}, step=2)
    lg.save()
    p = Path(lg.log_dir) / "metrics.csv"
    assert csv_table.sniff(p, p.read_bytes()) >= 0.8
    run = csv_table.read(p)
    assert run.meta["format"] == "lightning_csv"
    assert run.loss.steps.tolist() == [0, 1, 2]
    v = run.loss.values
    assert v[0] == 1.0 and math.isnan(v[1]) and v[2] == 0.25  # a logged NaN stays NaN
    assert run.get("val_loss").steps.tolist() == [1]  # empty cells are missing, not NaN
    assert run.get("val_loss").values.tolist() == [0.5]


# -- delimiters, encodings, line endings --------------------------------------------------------

@pytest.mark.parametrize("text,delim", [
    ("step,loss,acc\n1,0.5,0.1\n2,0.4,0.2\n", ","),
    ("step\tloss\tacc\n1\t0.5\t0.1\n2\t0.4\t0.2\n", "tab"),
    ("step;loss;acc\n1;0.5;0.1\n2;0.4;0.2\n", ";"),
    ("step;loss;acc\n1;0,5;0,1\n2;0,4;0,2\n", ";"),  # decimal comma
    ("  step   loss    acc\n     1    0.5    0.1\n     2    0.4    0.2\n", "spaces"),
    ("  step,  loss,   acc\n     1,   0.5,   0.1\n     2,   0.4,   0.2\n", ","),
    ("step,loss,acc\r\n1,0.5,0.1\r\n2,0.4,0.2\r\n", ","),
    ("step,loss,acc\r\r\n1,0.5,0.1\r\r\n2,0.4,0.2\r\r\n", ","),
    ("step,loss,acc\r1,0.5,0.1\r2,0.4,0.2\r", ","),
    ('"step","loss","acc"\n"1","0.5","0.1"\n"2","0.4","0.2"\n', ","),
])
def test_delimiters_and_line_ends(write, text, delim):
    p = write("log.csv", text)
    assert csv_table.sniff(p, p.read_bytes()) >= 0.8
    run = csv_table.read(p)
    assert run.meta["delimiter"] == delim
    assert run.loss.steps.tolist() == [1, 2]
    assert run.loss.values.tolist() == [0.5, 0.4]
    assert run.get("acc").values.tolist() == [0.1, 0.2]
    assert run.warnings == ()


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_byte_order_marks(write, encoding):
    p = write("log.csv", "step,loss\n10,1.5\n20,1.25\n".encode(encoding))
    assert csv_table.sniff(p, p.read_bytes()) >= 0.8
    run = csv_table.read(p)
    assert run.loss.values.tolist() == [1.5, 1.25]
    assert run.loss.steps.tolist() == [10, 20]  # the BOM did not stick to the 'step' name


def test_keras_flavour_and_epoch_axis(write):
    run = csv_table.read(write("training.log", "epoch,accuracy,loss,val_accuracy,val_loss\n"
                                               "0,0.5,1.0,0.4,1.1\n1,0.6,0.8,0.5,0.9\n"))
    assert run.meta["format"] == "keras_csv"
    assert run.meta["step_unit"] == "epoch"
    assert run.get("val_acc").values.tolist() == [0.4, 0.5]


def test_headerless_matrix_is_read_but_not_claimed(write):
    p = write("m.csv", "1,2\n3,4\n")
    assert csv_table.sniff(p, p.read_bytes()) < 0.2
    run = csv_table.read(p)
    assert run.get("column_2").values.tolist() == [2, 4]


def test_no_loss_column_is_still_a_run(write):
    run = csv_table.read(write("m.csv", "step,acc\n1,0.1\n2,0.2\n"))
    assert run.loss is None
    assert run.get("acc") is not None


def test_text_columns_are_left_out(write):
    p = write("m.csv", "time,loss,name\n2024-01-01 10:00,0.5,a\n2024-01-01 10:01,0.4,b\n")
    assert csv_table.sniff(p, p.read_bytes()) >= 0.8
    run = csv_table.read(p)
    assert set(run.series) == {"loss"}
    assert run.warnings == ()


@pytest.mark.parametrize("text,what", [
    ("{\"loss\": [1, 2]}\n", "json"),
    ("Epoch 1/10 - loss: 0.5 - acc: 0.9\nEpoch 2/10 - loss: 0.4 - acc: 0.9\n", "keras stdout"),
    ("[INFO] step 10 loss=0.5\n[INFO] step 20 loss=0.4\n", "log lines"),
    ("Epoch [1/50], Loss: 1.47, Accuracy: 47%\nEpoch [2/50], Loss: 1.02, Accuracy: 63%\n", "text"),
    ("a,b\nx,y\nz,w\n", "text table"),
    ("step 10 loss 0.52\nstep 20 loss 0.47\nstep 30 loss 0.41\n", "key-value text"),
    ("time,loss,name\n2024-01-01,run,a\n2024-01-02,run,b\n", "no numbers"),
    ("weights: yolov5l.pt\nlr0: 0.01\nlrf: 0.1\nmomentum: 0.937\n", "yaml"),
    ("", "empty"),
])
def test_sniff_refuses_other_content(write, text, what):
    p = write("log.csv", text)
    assert csv_table.sniff(p, p.read_bytes()) < 0.2, what


def test_sniff_accepts_a_header_longer_than_the_head(write):
    header = ",".join(["loss"] + [f"metric_{i}" for i in range(20000)])
    p = write("wide.csv", header + "\n" + ",".join(["1"] * 20001) + "\n")
    assert csv_table.sniff(p, p.read_bytes()[:65536]) > 0.2


# -- the fast path -----------------------------------------------------------------------------

def _forbid_line_reader(monkeypatch):
    def fail(*a, **k):
        raise AssertionError("the line-by-line reader was used")
    monkeypatch.setattr(csv_table, "_read_lines", fail)


def test_fast_path_reads_sparse_and_nan(write, monkeypatch):
    _forbid_line_reader(monkeypatch)
    rows = ["epoch,step,train_loss_step,val_loss"]
    for i in range(5000):
        rows.append(f"0,{i},{'nan' if i == 7 else 1.0 / (i + 1)},{'' if i % 100 else 0.5}")
    run = csv_table.read(write("metrics.csv", "\n".join(rows) + "\n"))
    assert len(run.loss) == 5000
    assert int(np.isnan(run.loss.values).sum()) == 1 and math.isnan(run.loss.values[7])
    assert run.loss.values[4999] == pytest.approx(1 / 5000)
    assert len(run.get("val_loss")) == 50


def test_fast_path_handles_a_text_column(write, monkeypatch):
    _forbid_line_reader(monkeypatch)
    rows = ["step,loss,note"] + [f"{i},{i * 0.5},{'ok' if i % 2 else 'warm'}" for i in range(3000)]
    run = csv_table.read(write("m.csv", "\n".join(rows) + "\n"))
    assert set(run.series) == {"loss"}
    assert run.loss.values[-1] == 2999 * 0.5


def test_fast_path_warns_once_about_junk_cells_with_the_line(write, monkeypatch):
    _forbid_line_reader(monkeypatch)
    rows = ["step,loss"] + [f"{i},{'oops' if i in (1500, 2000) else 1.0}" for i in range(3000)]
    run = csv_table.read(write("m.csv", "\n\n" + "\n".join(rows) + "\n"))  # 2 blank lines first
    assert len(run.loss) == 2998
    (w,) = run.warnings
    assert "'loss'" in w and "2 cell" in w and "line 1504" in w  # 2 blank + header + 1500 + 1


@pytest.mark.slow
def test_million_rows_are_fast(tmp_path):
    """1M rows x 5 columns: about 0.1-0.15 s on a quiet machine; the bound is loose so a busy
    CI box passes, but the line-by-line reader (several seconds) would not."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    n = 1_000_000
    rng = np.random.default_rng(0)
    table = pa.table({"step": np.arange(n), "loss": rng.random(n), "val_loss": rng.random(n),
                      "lr": np.full(n, 1e-3), "grad_norm": rng.random(n)})
    p = tmp_path / "big.csv"
    pacsv.write_csv(table, str(p), write_options=pacsv.WriteOptions(quoting_style="none"))
    csv_table.read(p)  # warm up imports
    t = time.perf_counter()
    run = csv_table.read(p)
    elapsed = time.perf_counter() - t
    assert len(run.loss) == n
    assert run.get("grad_norm").values[-1] == table.column("grad_norm")[-1].as_py()
    assert elapsed < 1.0, f"{elapsed:.2f} s"


# -- refusals ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text,msg", [
    ("", "empty"),
    ("\n\n  \n", "empty"),
    ("epoch,loss,val_loss\n", "header only"),
    ("epoch,loss,val_loss\r\n\r\n\r\n", "header only"),
    ("name,comment\nfoo,bar\nbaz,qux\n", "no numeric"),
])
def test_refusals_name_the_file(write, text, msg):
    p = write("bad.csv", text)
    with pytest.raises(LogError, match=msg) as exc:
        csv_table.read(p)
    assert str(p) in str(exc.value)


def test_missing_file(tmp_path):
    with pytest.raises(LogError, match="cannot be read"):
        csv_table.read(tmp_path / "nope.csv")
