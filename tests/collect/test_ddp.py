"""DDP with two CPU processes on gloo: every rank runs the monitor, rank 0 alone writes, the
loss is averaged over ranks, and a stop decided on rank 0 stops every rank at the same step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from collect_helpers import read_log

torch = pytest.importorskip("torch")
if not torch.distributed.is_available():  # pragma: no cover
    pytest.skip("torch.distributed is not available", allow_module_level=True)

WORKER = Path(__file__).with_name("ddp_worker.py")


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ddp")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, str(WORKER), str(out)], capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_rank_zero_writes_the_mean_loss(ddp_run):
    r0 = json.loads((ddp_run / "rank0.json").read_text())
    r1 = json.loads((ddp_run / "rank1.json").read_text())
    text = (ddp_run / "run.jsonl").read_text()
    assert text.count('"type":"header"') == 1  # rank 1 wrote nothing
    header, recs, _ = read_log(ddp_run / "run.jsonl")
    assert header["monitor"]["world_size"] == 2
    assert [r["step"] for r in recs] == list(range(len(r0["losses"])))
    assert r0["losses"] != r1["losses"]  # each rank saw its own batch
    for rec, a, b, g0, g1 in zip(recs, r0["losses"], r1["losses"], r0["gn"], r1["gn"]):
        assert rec["loss"] == pytest.approx((a + b) / 2, rel=1e-6)
        assert g0 == pytest.approx(g1, rel=1e-6)  # identical after DDP's all-reduce
        assert rec["grad_norm"] == pytest.approx(g0, rel=1e-5)
    assert "grad_norm/0.weight" in recs[0]  # DDP's "module." prefix is not part of the name
    assert 0.0 <= recs[0]["dead_frac"] <= 1.0


def test_a_stop_on_rank_zero_stops_every_rank_together(ddp_run):
    r0 = json.loads((ddp_run / "rank0.json").read_text())
    r1 = json.loads((ddp_run / "rank1.json").read_text())
    assert r0["stopped_at"] is not None and r0["stopped_at"] == r1["stopped_at"]
    events = read_log(ddp_run / "stop.jsonl")[2]
    assert events and events[0]["step"] == 3
