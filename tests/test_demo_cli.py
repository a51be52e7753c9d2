"""The ``demo`` and ``scenarios`` subcommands, through the real entry point."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lossdoctor.report.demo import QUIZ, RUNS

JENA = ("jena_regularization", "jena_lr_low", "jena_local_minimum", "jena_lr_high")
FAST_SCENARIO = "healthy_cosine"  # a small healthy run: trains in about a second


def _cli(*args: str, cwd=None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lossdoctor", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd)


def test_scenarios_list_names_every_jena_run():
    res = _cli("scenarios", "list", "--width", "100")
    assert res.returncode == 0, res.stderr
    for name in JENA:
        assert name in res.stdout
    assert "regularization_too_strong" in res.stdout and "plateau_then_drop" in res.stdout


@pytest.mark.slow
def test_scenarios_run_writes_logs_that_diagnose_reads(tmp_path):
    out = tmp_path / "out"
    res = _cli("scenarios", "run", FAST_SCENARIO, "--out", str(out), "--format", "csv,jsonl")
    assert res.returncode == 0, res.stderr
    files = [out / f"{FAST_SCENARIO}.csv", out / f"{FAST_SCENARIO}.jsonl"]
    for f in files:
        assert f.is_file()
        assert str(f) in res.stdout  # the written paths are printed
        dx = _cli("diagnose", str(f), "-q")
        assert dx.returncode in (0, 1), dx.stderr  # read and diagnosed, not refused (2)
        assert "error" not in dx.stderr


def test_scenarios_run_unknown_name_exits_2_naming_the_known_ones(tmp_path):
    res = _cli("scenarios", "run", "nope", "--out", str(tmp_path))
    assert res.returncode == 2
    assert "nope" in res.stderr and "jena_lr_low" in res.stderr
    assert "Traceback" not in res.stderr
    assert not any(tmp_path.iterdir())


def test_scenarios_run_unknown_format_exits_2(tmp_path):
    res = _cli("scenarios", "run", FAST_SCENARIO, "--out", str(tmp_path), "--format", "xls")
    assert res.returncode == 2 and "xls" in res.stderr


def test_quiz_options_are_the_four_jena_causes():
    from lossdoctor.scenarios import SCENARIOS

    assert RUNS == JENA
    assert [c for c, _ in QUIZ] == [SCENARIOS[n].cause for n in JENA]
    assert [fits for _, fits in QUIZ] == [True, True, True, False]


@pytest.mark.slow
def test_demo_plain_answers_the_quiz(tmp_path):
    out = tmp_path / "demo"
    res = _cli("demo", "--no-live", "--out", str(out), "--width", "80", timeout=900)
    assert res.returncode == 0, res.stderr
    text = res.stdout
    # the quiz table fits 80 columns: one line per option, no verdict cut or wrapped
    rows = [line for line in text.splitlines()
            if line.startswith(tuple(c for c, _ in QUIZ)) and line.split()[1:2] in (["yes"], ["no"])]
    assert len(rows) == len(QUIZ) and all(len(r.rstrip()) <= 80 and "…" not in r for r in rows)
    assert all(r.split()[2] in ("possible", "ruled") for r in rows)
    for cause, _ in QUIZ:
        assert cause in text
    assert "From the curve alone, lr_too_high is ruled out" in text
    for name in JENA:
        assert (out / f"{name}.jsonl").is_file()
    assert str(out) in text
    # it ends by verifying the three plateau runs: each one's own cause confirmed by a rerun, the
    # other two ruled out, a too-high lr ruled out by the curve alone
    import json

    for i, name in enumerate(JENA[:3]):
        dx = json.loads((out / "verify" / name / "verification.json").read_text())
        verdicts = {c["id"]: c["verdict"] for c in dx["causes"]}
        plateau = [c for c, fits in QUIZ if fits]
        assert verdicts[plateau[i]] == "confirmed", (name, verdicts)
        assert all(verdicts[c] == "ruled_out" for c in plateau if c != plateau[i]), (name, verdicts)
        assert verdicts["lr_too_high"] == "ruled_out"
    after = text.split("Confirming each cause by experiment", 1)[1]
    verdict_rows = [line.split() for line in after.splitlines() if line.startswith(("lr_too_low ", "stuck_plateau "))]
    assert [r[1:] for r in verdict_rows] == [["ruled", "out", "confirmed", "ruled", "out"],
                                             ["ruled", "out", "ruled", "out", "confirmed"]]
    assert (out / "report.html").is_file() and str(out / "report.html") in text  # and its path printed
    # the live alerts are shown by the demo itself, not also warned and logged on stderr
    assert "LossdoctorAlert" not in res.stderr and "lossdoctor alert" not in res.stderr
