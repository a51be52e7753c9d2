"""``lossdoctor verify -- python script.py`` through the real entry point, on a real script that
trains under ``lossdoctor.watch``: the verdict, the JSON contract, where files go, and every way
a script can fail (never starts, crashes, never calls watch, hangs, Ctrl-C)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent
SCRIPT = str(HERE / "tiny_train.py")
LOSSDOCTOR = [sys.executable, "-m", "lossdoctor"]
ARM_KEYS = {"arm", "tests", "change", "steps", "outcome", "effect", "log"}
OUTCOMES = {"fixed", "improved", "no_change", "worse", "failed"}


def _verify(tmp_path, *args, script_args=(), cwd=None, timeout=600):
    argv = LOSSDOCTOR + ["verify", "--no-live", "--jobs", "2", *args, "--", sys.executable, SCRIPT, *script_args]
    return subprocess.run(argv, capture_output=True, text=True, cwd=cwd or tmp_path, timeout=timeout)


@pytest.fixture(scope="module")
def low_lr(tmp_path_factory):
    """One verification of a run whose lr is 100x too low, its baseline run by verify itself."""
    cwd = tmp_path_factory.mktemp("user")
    out = cwd / "verify_out"
    p = subprocess.run(LOSSDOCTOR + ["verify", "--json", "--no-live", "--jobs", "2", "--out", str(out), "--",
                                     sys.executable, SCRIPT, "--lr", "3e-4", "--log", "runs/tiny.jsonl"],
                       capture_output=True, text=True, cwd=cwd, timeout=600)
    return cwd, out, p


def test_a_low_lr_is_confirmed_and_its_rivals_ruled_out(low_lr):
    cwd, out, p = low_lr
    assert p.returncode == 1, p.stderr  # symptoms found, as diagnose
    dx = json.loads(p.stdout)
    assert dx["schema"] == "lossdoctor.diagnosis/1"
    verdicts = {c["id"]: c["verdict"] for c in dx["causes"]}
    assert verdicts["lr_too_low"] == "confirmed"
    assert dx["causes"][0]["id"] == "lr_too_low"  # sorted: the confirmed cause first
    arms = dx["verification"]
    assert arms and all(ARM_KEYS <= set(a) and a["outcome"] in OUTCOMES for a in arms)
    lr = next(a for a in arms if a["arm"] == "lr_x10")
    assert lr["outcome"] == "fixed" and lr["change"] == {"lr_scale": 10.0} and lr["tests"] == ["lr_too_low"]
    assert any(e.startswith("rerun lr_x10") for e in dx["causes"][0]["evidence"])


def test_the_arm_really_ran_with_ten_times_the_lr(low_lr):
    import lossdoctor

    cwd, out, p = low_lr
    arm = lossdoctor.read(out / "lr_x10" / "run.jsonl")
    base = lossdoctor.read(out / "baseline" / "run.jsonl")
    assert arm.get("lr").values[0] == pytest.approx(10 * base.get("lr").values[0])
    status = json.loads((out / "lr_x10" / "arm.json").read_text())
    assert status["applied"] and status["stopped"] in ("steps", "target")
    assert len(arm.loss) < len(base.loss)  # ended after its budget, not the script's 400 steps


def test_nothing_is_written_outside_out(low_lr):
    cwd, out, p = low_lr
    # the script's own path= (runs/tiny.jsonl) was redirected into each arm's folder
    assert sorted(x.name for x in cwd.iterdir()) == ["verify_out"]
    assert (out / "verification.json").exists() and (out / "baseline" / "run.jsonl").exists()


def test_the_terminal_table_shows_every_arm(tmp_path, low_lr):
    cwd, out, p = low_lr
    r = subprocess.run(LOSSDOCTOR + ["verify", "--no-live", "--no-color", "--width", "120", "--log",
                                     str(out / "baseline" / "run.jsonl"), "--out", str(tmp_path / "o"), "--arms",
                                     "lr_x10", "--", sys.executable, SCRIPT, "--lr", "3e-4"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert r.returncode == 1, r.stderr
    assert "lr_x10" in r.stdout and "fixed" in r.stdout and "confirmed" in r.stdout
    assert not (tmp_path / "o" / "baseline").exists()  # --log: no baseline run
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("script_args, message", [
    (["--mode", "crash"], "cannot open the data set"),
    (["--mode", "nowatch"], "without calling lossdoctor.watch()"),
])
def test_a_baseline_that_cannot_train_is_exit_2_with_one_line(tmp_path, script_args, message):
    p = _verify(tmp_path, "--out", str(tmp_path / "o"), script_args=script_args)
    assert p.returncode == 2
    assert message in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and p.stderr.startswith("lossdoctor: error: ")


def test_a_command_that_does_not_start_is_exit_2(tmp_path):
    p = subprocess.run(LOSSDOCTOR + ["verify", "--no-live", "--out", str(tmp_path / "o"), "--",
                                     "no-such-trainer", "x.py"], capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 2
    assert "cannot start 'no-such-trainer'" in p.stderr and "Traceback" not in p.stderr


@pytest.fixture(scope="module")
def baseline_log(tmp_path_factory):
    d = tmp_path_factory.mktemp("base")
    subprocess.run([sys.executable, SCRIPT, "--lr", "3e-4", "--log", str(d / "base.jsonl")], check=True,
                   capture_output=True)
    return d / "base.jsonl"


@pytest.mark.parametrize("mode, effect", [("hang", "time limit"), ("crash_late", "CUDA out of memory")])
def test_an_arm_that_hangs_or_crashes_is_failed_not_a_traceback(tmp_path, baseline_log, mode, effect):
    p = _verify(tmp_path, "--json", "--log", str(baseline_log), "--out", str(tmp_path / "o"), "--arms", "lr_x10",
                "--timeout", "25", script_args=["--lr", "3e-4", "--mode", mode])
    assert p.returncode == 1, p.stderr
    arm = json.loads(p.stdout)["verification"][0]
    assert arm["outcome"] == "failed" and effect in arm["effect"]
    assert "Traceback" not in p.stderr


def test_ctrl_c_stops_every_arm_and_keeps_what_finished(tmp_path, baseline_log):
    out = tmp_path / "o"
    argv = LOSSDOCTOR + ["verify", "--no-live", "--jobs", "2", "--log", str(baseline_log), "--out", str(out),
                         "--arms", "lr_x10,reinit,standardize", "--timeout", "300", "--",
                         sys.executable, SCRIPT, "--lr", "3e-4", "--mode", "hang"]
    # a verify that does not end after Ctrl-C is aborted with every thread's traceback on stderr.
    # SIGINT is reset for the child: a suite started in the background by a non-interactive shell
    # ignores SIGINT, and the child would inherit that (Python then installs no Ctrl-C handler)
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
    proc = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    pids = []
    while time.monotonic() < deadline and len(pids) < 2:
        pids = [int(f.read_text()) for f in out.glob("*/pid") if f.read_text().strip()]
        time.sleep(0.3)
    assert len(pids) == 2, "two arms should be running"
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        _, err = proc.communicate(timeout=30)
        pytest.fail(f"verify did not end within 60 s of Ctrl-C; its threads:\n{err[-6000:]}")
    assert proc.returncode == 130
    assert "interrupted" in err and "Traceback" not in err
    time.sleep(0.5)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    # the started arms' folders are there and their logs readable
    import lossdoctor

    for log in out.glob("*/run.jsonl"):
        lossdoctor.read(log)


def test_ctrl_c_while_arms_run_is_raised_between_waits_not_inside_the_pool():
    # a KeyboardInterrupt inside concurrent.futures' locking can leave a future's lock held and
    # the pool's exit waiting for ever: the handler only sets a flag, the loop raises it
    from lossdoctor.verify.engine import _DeferredInterrupt

    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT has a handler of the test runner's")
    reached = False
    with pytest.raises(KeyboardInterrupt):
        with _DeferredInterrupt() as intr:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # not raised here
            reached = True
            intr.check()
    assert reached
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    with pytest.raises(KeyboardInterrupt):  # one after the last check still stops the caller
        with _DeferredInterrupt():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)


def test_batches_in_a_fixed_order_are_confirmed_by_shuffling_the_scripts_dataloader(tmp_path):
    """Two-moons sorted by label and read by a DataLoader without shuffle=True: the loss swings
    with every epoch. The shuffle arm draws a random order inside the child and the swing goes."""
    out = tmp_path / "o"
    argv = LOSSDOCTOR + ["verify", "--json", "--no-live", "--jobs", "1", "--out", str(out), "--arms", "shuffle",
                         "--", sys.executable, "-m", "lossdoctor.scenarios.train", "data_unshuffled",
                         "--out", str(tmp_path / "user"), "--seed", "0"]
    p = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert p.returncode == 1, p.stderr
    dx = json.loads(p.stdout)
    assert [s["id"] for s in dx["symptoms"]][:1] == ["oscillation"]
    arm = next(a for a in dx["verification"] if a["arm"] == "shuffle")
    assert arm["outcome"] == "fixed" and arm["change"] == {"shuffle": True}, arm
    assert {c["id"]: c["verdict"] for c in dx["causes"]}["data_problem"] == "confirmed"
    status = json.loads((out / "shuffle" / "arm.json").read_text())
    assert status["applied"] == ["DataLoaders read in a random order each pass"]
