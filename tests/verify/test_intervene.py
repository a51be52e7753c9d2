"""The child side: with ``LOSSDOCTOR_VERIFY`` set, ``watch()`` and the Lightning / Hugging Face
callbacks apply the arm's change, log into the arm's folder and end the run after its steps,
cleanly (exit status 0); a change the script cannot take stops it before its first step."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

import lossdoctor  # noqa: E402
from lossdoctor.collect.intervene import ENV  # noqa: E402

HERE = Path(__file__).parent
pytestmark = pytest.mark.slow


def _arm(tmp_path, argv, change, steps, name="arm"):
    d = tmp_path / name
    env = dict(os.environ, **{ENV: json.dumps({"arm": name, "change": change, "dir": str(d), "steps": steps})})
    p = subprocess.run([sys.executable, *argv], env=env, capture_output=True, text=True, cwd=tmp_path,
                       timeout=600)
    status = json.loads((d / "arm.json").read_text()) if (d / "arm.json").exists() else {}
    return p, d, status


def test_watch_takes_the_change_and_stops_after_its_steps(tmp_path):
    p, d, status = _arm(tmp_path, [str(HERE / "tiny_train.py"), "--lr", "0.01", "--log", "mine.jsonl"],
                        {"lr_scale": 10.0}, 37)
    assert p.returncode == 0, p.stderr
    assert "done" not in p.stdout  # the script's code after training did not run
    assert not (tmp_path / "mine.jsonl").exists()  # its path= went to the arm's folder
    run = lossdoctor.read(d / "run.jsonl")
    assert len(run.loss) == 37 and run.get("lr").values[0] == pytest.approx(0.1)
    assert status["stopped"] == "steps" and status["steps"] == 37
    assert status["original_path"] == "mine.jsonl"


def test_a_change_the_script_cannot_take_stops_it_before_training(tmp_path):
    p, d, status = _arm(tmp_path, [str(HERE / "tiny_train.py"), "--log", "mine.jsonl"],
                        {"weight_decay_scale": 0.0}, 50)
    assert p.returncode == 0
    assert status["not_applicable"] == "the optimizer has no weight decay"
    assert not (d / "run.jsonl").exists()


@pytest.mark.frameworks
@pytest.mark.parametrize("fw", ["lightning", "hf"])
def test_the_callbacks_take_the_change_too(tmp_path, fw):
    pytest.importorskip("lightning" if fw == "lightning" else "transformers")
    base = tmp_path / f"{fw}.jsonl"
    subprocess.run([sys.executable, str(HERE / "fw_train.py"), fw, "--log", str(base), "--out", str(tmp_path / "o")],
                   check=True, capture_output=True, timeout=600)
    b = lossdoctor.read(base)
    p, d, status = _arm(tmp_path, [str(HERE / "fw_train.py"), fw, "--log", str(tmp_path / "x.jsonl"),
                                   "--out", str(tmp_path / "o2")], {"lr_scale": 10.0}, 7)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "trained" not in p.stdout
    arm = lossdoctor.read(d / "run.jsonl")
    assert len(arm.loss) == 7 and len(b.loss) > 7
    # every lr the schedule sets is 10x the script's own at the same step
    assert arm.get("lr").values == pytest.approx(10 * b.get("lr").values[:7])
    assert not (tmp_path / "x.jsonl").exists()
