"""Regressions of issue 11 on the live side: the monitor never loses records (two monitors on
one path, a Hugging Face train() that raised), never switches off for one odd value, records
manual update loops, starts whatever its arguments, stops on time, and says each thing once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
from collect_helpers import data, mlp, read_log

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

import lossdoctor  # noqa: E402
from lossdoctor.collect import LossdoctorAlert, MonitorWarning, TrainingStopped, watch  # noqa: E402


def _steps(model, opt, mon, n, x=None, y=None, **extra):
    if x is None:
        x, y = data()
    for _ in range(n):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        mon.step(loss, **extra)


def _monitor_warnings(rec) -> list[str]:
    return [str(w.message) for w in rec if issubclass(w.category, MonitorWarning)]


# -- item 3: two monitors on one path ------------------------------------------------------------
def test_a_second_monitor_on_the_same_path_never_truncates_the_first(log_path):
    m1, m2 = mlp(0), mlp(1)
    o1, o2 = torch.optim.SGD(m1.parameters(), lr=0.05), torch.optim.SGD(m2.parameters(), lr=0.05)
    with pytest.warns(MonitorWarning, match="another monitor in this process is writing it") as rec:
        a = watch(m1, o1, log_path, flush_every=1)
        _steps(m1, o1, a, 20)
        b = watch(m2, o2, log_path, flush_every=1)
        _steps(m1, o1, a, 20)
        _steps(m2, o2, b, 30)
        a.close()
        b.close()
    assert Path(a.path) == log_path and Path(b.path) == log_path.with_name("run.1.jsonl")
    assert str(b.path) in " ".join(_monitor_warnings(rec))
    for path, n in ((a.path, 40), (b.path, 30)):
        raw = Path(path).read_bytes()
        assert b"\x00" not in raw
        header, recs, _ = read_log(path)
        assert header is not None and [r["step"] for r in recs] == list(range(n))


def test_a_log_that_holds_an_earlier_run_is_kept_and_the_new_run_logged_beside_it(log_path):
    model, opt = mlp(), None
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    with watch(model, opt, log_path) as mon:
        _steps(model, opt, mon, 10)
    first = log_path.read_bytes()
    with pytest.warns(MonitorWarning, match="holds the records of an earlier run"):
        with watch(model, opt, log_path) as mon:
            _steps(model, opt, mon, 5)
    assert log_path.read_bytes() == first
    assert len(read_log(log_path.with_name("run.1.jsonl"))[1]) == 5
    with warnings.catch_warnings():
        warnings.simplefilter("error", MonitorWarning)
        with watch(model, opt, log_path, mode="overwrite") as mon:  # asked for: replaced, no word
            _steps(model, opt, mon, 3)
    assert len(read_log(log_path)[1]) == 3


@pytest.mark.frameworks
@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning",
                            "ignore:.*:UserWarning")
def test_one_lightning_callback_through_two_fits_keeps_both_logs(tmp_path):
    L = pytest.importorskip("lightning")
    import logging

    from lossdoctor.collect.lightning import LossdoctorCallback

    logging.getLogger("lightning").setLevel(logging.ERROR)

    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = mlp()

        def training_step(self, batch, i):
            return F.cross_entropy(self.net(batch[0]), batch[1])

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.05)

    dl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(*data()), batch_size=16)
    cb = LossdoctorCallback(tmp_path / "pl.jsonl")
    for _ in range(2):
        trainer = L.Trainer(max_epochs=2, callbacks=[cb], logger=False, enable_checkpointing=False,
                            enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
                            devices=1, default_root_dir=tmp_path)
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            trainer.fit(Module(), dl)
    assert any("pl.1.jsonl" in m for m in _monitor_warnings(rec))
    for name in ("pl.jsonl", "pl.1.jsonl"):
        assert [r["step"] for r in read_log(tmp_path / name)[1]] == list(range(8))


# -- item 4: a Hugging Face train() that raises --------------------------------------------------
_HF_SCRIPT = """
import sys, torch, warnings, logging
from torch import nn
warnings.simplefilter("ignore")
from transformers import Trainer, TrainingArguments
from transformers.utils import logging as hf_logging
from lossdoctor.collect.hf import LossdoctorTrainerCallback
hf_logging.set_verbosity_error()
out = sys.argv[1]

class Net(nn.Module):
    def __init__(self, fail_at):
        super().__init__()
        self.lin = nn.Linear(8, 3)
        self.calls, self.fail_at = 0, fail_at
    def forward(self, x, labels=None):
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("data loader broke")
        logits = self.lin(x)
        return {"loss": nn.functional.cross_entropy(logits, labels), "logits": logits}

g = torch.Generator().manual_seed(0)
x, y = torch.randn(64, 8, generator=g), torch.randint(0, 3, (64,), generator=g)
class DS(torch.utils.data.Dataset):
    def __len__(self): return 64
    def __getitem__(self, i): return {"x": x[i], "labels": y[i]}

cb = LossdoctorTrainerCallback(out + "/hf.jsonl", flush_every=1)
model = Net(fail_at=6)
args = TrainingArguments(output_dir=out + "/o", per_device_train_batch_size=8, num_train_epochs=1,
                         report_to=[], use_cpu=True, save_strategy="no", disable_tqdm=True,
                         logging_strategy="no", seed=0)
trainer = Trainer(model=model, args=args, train_dataset=DS(), callbacks=[cb])
try:
    trainer.train()
except RuntimeError as exc:
    print("raised:", exc)
first = cb.monitor
model.fail_at = -1
trainer.train()
print("first closed:", first.closed, "hooks:", len(model._forward_hooks), "second:", cb.monitor.path)
"""


@pytest.mark.frameworks
def test_a_hugging_face_train_that_raised_is_closed_and_the_next_train_logs_apart(tmp_path):
    pytest.importorskip("transformers")
    r = subprocess.run([sys.executable, "-c", _HF_SCRIPT, str(tmp_path)], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "raised: data loader broke" in r.stdout
    assert "first closed: True hooks: 0" in r.stdout, r.stdout  # the stale hook is gone too
    first, second = tmp_path / "hf.jsonl", tmp_path / "hf.1.jsonl"
    assert str(second) in r.stdout
    # after the process exited (atexit ran too), both logs are whole and apart
    assert b"\x00" not in first.read_bytes() and b"\x00" not in second.read_bytes()
    assert [x["step"] for x in read_log(first)[1]] == list(range(5))
    assert [x["step"] for x in read_log(second)[1]] == list(range(8))


# -- item 5: one odd value ---------------------------------------------------------------------
@pytest.mark.parametrize("odd", [
    10 ** 400,
    complex(1, 2),
    "fast",
    torch.tensor(1 + 2j),
    torch.zeros(3).to_sparse(),
    torch.empty((), device="meta"),
    torch.tensor([]),
], ids=["int_10e400", "complex", "text", "complex_tensor", "sparse_tensor", "meta_tensor", "empty"])
def test_one_odd_value_is_dropped_and_the_record_kept(log_path, odd):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    with pytest.warns(MonitorWarning, match="tokens= .* not a real number") as rec:
        with watch(model, opt, log_path) as mon:
            _steps(model, opt, mon, 40, tokens=odd, lr_scale=2.0)
    assert len(_monitor_warnings(rec)) == 1
    _, recs, _ = read_log(log_path)
    assert len(recs) == 40
    assert all("loss" in r and "grad_norm" in r and r["lr_scale"] == 2.0 and "tokens" not in r
               for r in recs)


def test_an_odd_loss_is_dropped_and_the_step_kept(log_path):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y = data()
    with pytest.warns(MonitorWarning, match="loss= .* not a real number"):
        with watch(model, opt, log_path) as mon:
            for _ in range(20):
                loss = F.cross_entropy(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                mon.step(torch.complex(loss.detach(), loss.detach()))
    _, recs, _ = read_log(log_path)
    assert len(recs) == 20 and all("grad_norm" in r and "loss" not in r for r in recs)


# -- item 6: a manual update loop ------------------------------------------------------------
def test_a_manual_update_loop_records_every_call_and_says_why(log_path):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)  # passed, but its step() is never called
    x, y = data()
    with pytest.warns(MonitorWarning, match="no optimizer.step\\(\\) seen in 40 calls"):
        with watch(model, opt, log_path) as mon:
            for _ in range(40):
                loss = F.cross_entropy(model(x), y)
                model.zero_grad()
                loss.backward()
                with torch.no_grad():
                    for p in model.parameters():
                        p -= 0.05 * p.grad
                mon.step(loss)
    _, recs, _ = read_log(log_path)
    assert [r["step"] for r in recs] == list(range(40))
    assert all("loss" in r for r in recs)


def test_a_long_manual_update_loop_gets_gradient_statistics_once_detected(log_path):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y = data()
    with pytest.warns(MonitorWarning, match="no optimizer.step\\(\\) seen in 64 calls"):
        with watch(model, opt, log_path) as mon:
            for _ in range(100):
                loss = F.cross_entropy(model(x), y)
                model.zero_grad()
                loss.backward()
                with torch.no_grad():
                    for p in model.parameters():
                        p -= 0.05 * p.grad
                mon.step(loss)
    _, recs, _ = read_log(log_path)
    assert [r["step"] for r in recs] == list(range(100))
    assert all("grad_norm" in r for r in recs[64:]) and "skipped" not in recs[-1]


# -- item 7: watch() starts whatever it is given ---------------------------------------------------
class DuckOptimizer:
    """Steps like an optimizer, but is not a torch one: no hooks, no param_groups."""

    def __init__(self, params, lr):
        self.params, self.lr = list(params), lr

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        with torch.no_grad():
            for p in self.params:
                p -= self.lr * p.grad


class HalfDuck(DuckOptimizer):
    """Has param_groups, but no step hooks."""

    def __init__(self, params, lr):
        super().__init__(params, lr)
        self.param_groups = [{"params": self.params, "lr": lr}]


def _start(tmp_path, case):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    kw = {}
    if case == "parent_is_a_file":
        (tmp_path / "afile").write_text("x")
        path = tmp_path / "afile" / "run.jsonl"
    elif case == "unwritable":
        path = Path("/proc/self/no_such_dir/run.jsonl")
    elif case == "path_is_a_folder":
        path = tmp_path
    elif case in ("duck_optimizer", "half_duck_optimizer"):
        path = tmp_path / "run.jsonl"
        opt = (DuckOptimizer if case == "duck_optimizer" else HalfDuck)(model.parameters(), 0.05)
    elif case == "hparams_a_string":
        path, kw = tmp_path / "run.jsonl", {"hparams": "x"}
    elif case == "bad_detail":
        path, kw = tmp_path / "run.jsonl", {"detail": "everything"}
    return model, opt, path, kw


@pytest.mark.parametrize("case", ["parent_is_a_file", "unwritable", "path_is_a_folder",
                                  "duck_optimizer", "half_duck_optimizer", "hparams_a_string",
                                  "bad_detail"])
def test_watch_starts_with_one_warning_whatever_it_is_given(tmp_path, case):
    model, opt, path, kw = _start(tmp_path, case)
    x, y = data()
    losses = []
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        with watch(model, opt, path, **kw) as mon:
            for _ in range(30):
                loss = F.cross_entropy(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(loss.item())
                mon.step(loss)
    said = _monitor_warnings(rec)
    assert len(said) == 1, said
    assert losses[-1] < losses[0]  # it trained
    if case in ("parent_is_a_file", "unwritable"):
        assert "nothing will be recorded" in said[0] and str(path) in said[0]
    else:
        where = tmp_path / "lossdoctor.jsonl" if case == "path_is_a_folder" else path
        if case == "path_is_a_folder":
            assert str(where) in said[0]
        _, recs, _ = read_log(where)
        assert [r["step"] for r in recs] == list(range(30))
        assert all("grad_norm" in r for r in recs)


# -- item 8: stop on time, no false warnings, sparse gradients, a full disk, alerts once -------
def test_stop_on_nan_stops_at_the_step_it_appears(log_path):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y = data()
    trained = 0
    with pytest.raises(TrainingStopped) as stop, pytest.warns(LossdoctorAlert):
        with watch(model, opt, log_path, stop_on=("nan_inf",)) as mon:
            for s in range(40):
                loss = F.cross_entropy(model(x), y) * (float("nan") if s == 3 else 1.0)
                opt.zero_grad()
                loss.backward()
                opt.step()
                trained += 1
                mon.step(loss)
    assert trained == 4 and stop.value.alert.step == 3
    _, recs, events = read_log(log_path)
    assert [r["step"] for r in recs] == [0, 1, 2, 3] and events[0]["step"] == 3


def test_frozen_and_foreign_parameters_raise_no_false_warning(log_path):
    model = mlp()
    for p in model[0].parameters():
        p.requires_grad_(False)  # frozen
    extra = nn.Parameter(torch.zeros(3))  # in the optimizer, not in the model, never used
    opt = torch.optim.SGD(list(model.parameters()) + [extra], lr=0.05, weight_decay=1e-3)
    adapter = nn.Parameter(torch.ones(4))
    opt2 = torch.optim.SGD([adapter], lr=0.05, weight_decay=1e-3)  # trains only what the model lacks
    x, y = data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", MonitorWarning)
        with watch(model, opt, log_path, detail="full") as mon:
            _steps(model, opt, mon, 20)
        with watch(model, opt2, log_path.with_name("adapter.jsonl"), detail="full") as mon:
            for _ in range(20):
                loss = F.cross_entropy(model(x) * adapter.sum(), y)
                opt2.zero_grad()
                loss.backward()
                opt2.step()
                mon.step(loss)
    _, recs, _ = read_log(log_path.with_name("adapter.jsonl"))
    assert all("grad_norm" in r and "update_ratio" in r for r in recs)


def test_sparse_gradients_keep_gradient_statistics(log_path):
    torch.manual_seed(0)
    emb, head = nn.Embedding(20, 4, sparse=True), nn.Linear(4, 3)
    model = nn.Sequential(emb, head)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=0.0)
    idx = torch.randint(0, 20, (32,), generator=torch.Generator().manual_seed(0))
    idx[:8] = 5  # repeated indices: an uncoalesced sparse gradient
    y = torch.randint(0, 3, (32,), generator=torch.Generator().manual_seed(1))
    norms = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", MonitorWarning)
        with watch(model, opt, log_path, detail="full") as mon:
            for _ in range(12):
                loss = F.cross_entropy(model(idx), y)
                opt.zero_grad()
                loss.backward()
                norms.append(emb.weight.grad.to_dense().norm().item())
                opt.step()
                mon.step(loss)
    _, recs, _ = read_log(log_path)
    got = [r["grad_norm/0.weight"] for r in recs]
    assert got == pytest.approx(norms, rel=1e-5)
    assert all("grad_norm" in r for r in recs)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_is_said_once_and_the_file_closed():
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        mon = watch(model, opt, "/dev/full", flush_every=5)
        _steps(model, opt, mon, 40)
        mon.close()
    said = _monitor_warnings(rec)
    assert len(said) == 1 and "No space left on device" in said[0], said
    assert mon._writer is None or mon._writer.closed


_ALERT_SCRIPT = """
import torch
from torch.nn import functional as F
import lossdoctor
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(10, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
opt = torch.optim.SGD(model.parameters(), lr=0.05)
x, y = torch.randn(64, 10), torch.randint(0, 4, (64,))
with lossdoctor.watch(model, opt) as mon:
    for s in range(40):
        loss = F.cross_entropy(model(x), y) * (float("nan") if s >= 20 else 1.0)
        opt.zero_grad(); loss.backward(); opt.step()
        mon.step(loss)  # THE USER'S LINE
"""


def test_an_alert_is_printed_once_pointing_at_the_users_line(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(_ALERT_SCRIPT))
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("nan_inf") == 1, r.stderr
    assert "LossdoctorAlert" in r.stderr and "THE USER'S LINE" in r.stderr
    assert "train.py:13" in r.stderr and "live.py" not in r.stderr


def test_the_logger_still_gets_the_alert_when_logging_is_configured(caplog, log_path):
    import logging

    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y = data()
    with caplog.at_level(logging.WARNING, logger="lossdoctor"), pytest.warns(LossdoctorAlert):
        with watch(model, opt, log_path) as mon:
            for s in range(20):
                loss = F.cross_entropy(model(x), y) * (float("nan") if s >= 5 else 1.0)
                opt.zero_grad()
                loss.backward()
                opt.step()
                mon.step(loss)
    assert any("nan_inf" in r.getMessage() for r in caplog.records)
    assert json.loads(log_path.read_text().splitlines()[0])["type"] == "header"
    assert lossdoctor.read(log_path).loss is not None
