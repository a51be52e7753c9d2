"""The ``lossdoctor`` command through its real entry points: ``python -m lossdoctor`` and the
installed console script, on small logs written here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import lossdoctor
from lossdoctor import cli
from lossdoctor.core import CAUSES, SCHEMA, SYMPTOMS, VERDICTS

SCRIPT = (shutil.which("lossdoctor", path=str(Path(sys.executable).parent))
          or shutil.which("lossdoctor"))
ENTRY_POINTS = {
    "module": [sys.executable, "-m", "lossdoctor"],
    "script": [SCRIPT] if SCRIPT else None,
}
TIMEOUT = 60


def _env(**extra: str) -> dict[str, str]:
    # The report's look must not depend on the terminal settings of whoever runs the tests.
    env = {k: v for k, v in os.environ.items()
           if k not in ("FORCE_COLOR", "NO_COLOR", "COLUMNS", "LINES", "TTY_COMPATIBLE",
                        "TTY_INTERACTIVE")}
    env.update(extra)
    return env


def lossdoctor_cmd(*args: str, via: str = "module", env: dict | None = None):
    base = ENTRY_POINTS[via]
    if base is None:
        pytest.fail("the console script 'lossdoctor' is not installed next to this Python")
    return subprocess.run([*base, *map(str, args)], capture_output=True, text=True,
                          timeout=TIMEOUT, env=env or _env(), encoding="utf-8")


# -- logs --------------------------------------------------------------------------------------
def write_csv(path: Path, steps, loss) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = ["step,loss"] + [f"{int(s)},{v:.6g}" for s, v in zip(steps, loss)]
    path.write_text("\n".join(rows) + "\n")
    return path


def healthy_curve(n: int = 2000, seed: int = 0):
    """A textbook run: exponential decay to a floor, small noise."""
    rng = np.random.default_rng(seed)
    steps = np.arange(n)
    return steps, 2.3 * np.exp(-steps / (n / 6)) + 0.1 + rng.normal(0, 0.005, n)


def diverging_curve(n: int = 600, seed: int = 0):
    """Learning rate far too high: the loss falls briefly, then swings with a growing amplitude,
    blows up and ends in NaN (divergence, oscillation and nan_inf all fit)."""
    rng = np.random.default_rng(seed)
    steps = np.arange(n)
    loss = 2.3 * np.exp(-steps / 50) + 0.5
    t = np.clip(steps - 100, 0, None)
    loss = loss * np.exp(t / 60) * (1 + 0.8 * np.abs(np.sin(steps * 1.3))) + rng.normal(0, 0.01, n)
    loss[-40:] = np.nan
    return steps, loss


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("logs")
    empty = d / "empty.csv"
    empty.write_text("")
    binary = d / "weights.bin"
    binary.write_bytes(bytes(range(256)) * 64)
    return {
        "healthy": write_csv(d / "healthy.csv", *healthy_curve()),
        "diverging": write_csv(d / "diverging.csv", *diverging_curve()),
        "two_runs": _two_runs(d / "two_runs"),
        "one_run": write_csv(d / "one_run" / "run_a" / "metrics.csv",
                             *healthy_curve(seed=3)).parent.parent,
        "empty": empty,
        "binary": binary,
        "missing": d / "no_such_log.csv",
    }


def _two_runs(root: Path) -> Path:
    write_csv(root / "run_good" / "metrics.csv", *healthy_curve(seed=1))
    write_csv(root / "run_bad" / "metrics.csv", *diverging_curve(seed=2))
    return root


def _no_traceback(result) -> None:
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout


# -- exit codes --------------------------------------------------------------------------------
@pytest.mark.parametrize("via", ["module", "script"])
def test_healthy_log_exits_0(logs, via):
    r = lossdoctor_cmd("diagnose", logs["healthy"], via=via)
    assert r.returncode == 0, r.stderr + r.stdout
    assert r.stderr == ""  # nothing but the report: no warnings, no debugging output
    assert "healthy.csv" in r.stdout and "Verdict:" in r.stdout and "healthy" in r.stdout


@pytest.mark.parametrize("via", ["module", "script"])
def test_diverging_log_exits_1(logs, via):
    r = lossdoctor_cmd("diagnose", logs["diverging"], via=via)
    assert r.returncode == 1, r.stderr + r.stdout
    _no_traceback(r)
    verdict = next(ln for ln in r.stdout.splitlines() if "Verdict:" in ln)
    assert "healthy" not in verdict


def test_missing_file_exits_2_with_one_line_on_stderr(logs):
    r = lossdoctor_cmd("diagnose", logs["missing"])
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.startswith("lossdoctor: error: ") and "no_such_log.csv" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    _no_traceback(r)


@pytest.mark.parametrize("kind", ["empty", "binary"])
def test_unreadable_input_exits_2(logs, kind):
    r = lossdoctor_cmd("diagnose", logs[kind])
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.startswith("lossdoctor: error: ") and logs[kind].name in r.stderr
    _no_traceback(r)


@pytest.mark.parametrize("kind", ["empty", "binary", "missing"])
def test_unreadable_input_under_json_is_an_error_object_on_stdout(logs, kind):
    # issue 11, item 15: a script reading stdout got nothing at all
    r = lossdoctor_cmd("diagnose", logs[kind], "--json")
    assert r.returncode == 2
    doc = json.loads(r.stdout)
    assert doc["schema"] == "lossdoctor.error/1" and doc["source"] == str(logs[kind])
    assert logs[kind].name in doc["error"] and doc["error"] in r.stderr
    _no_traceback(r)


def test_folder_without_logs_exits_2(tmp_path):
    (tmp_path / "notes.md").write_text("# nothing to see\n")
    r = lossdoctor_cmd("diagnose", tmp_path)
    assert r.returncode == 2 and "error" in r.stderr
    _no_traceback(r)


def test_usage_errors_exit_2():
    assert lossdoctor_cmd().returncode == 2  # no command: help on stderr
    r = lossdoctor_cmd("diagnose")  # no path
    assert r.returncode == 2 and "error" in r.stderr
    assert lossdoctor_cmd("diagnose", "x.csv", "--width", "ten").returncode == 2
    assert lossdoctor_cmd("no-such-command").returncode == 2


def test_version():
    r = lossdoctor_cmd("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"lossdoctor {lossdoctor.__version__}"


# -- JSON --------------------------------------------------------------------------------------
def _check_schema(doc: dict) -> None:
    assert doc["schema"] == SCHEMA == "lossdoctor.diagnosis/1"
    assert {"source", "healthy", "symptoms", "causes"} <= set(doc)
    assert isinstance(doc["healthy"], bool)
    for s in doc["symptoms"]:
        assert {"id", "start", "end", "confidence", "summary"} <= set(s)
        assert s["id"] in SYMPTOMS and 0 <= s["confidence"] <= 1 and s["start"] <= s["end"]
    for c in doc["causes"]:
        assert {"id", "verdict", "score", "evidence", "fix"} <= set(c)
        assert c["id"] in CAUSES and c["verdict"] in VERDICTS and 0 <= c["score"] <= 1
    scores = [c["score"] for c in doc["causes"]]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("via", ["module", "script"])
def test_json_of_one_log_is_one_object_and_nothing_else(logs, via):
    r = lossdoctor_cmd("diagnose", logs["healthy"], "--json", via=via)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)  # the whole of stdout is the document
    assert isinstance(doc, dict)
    _check_schema(doc)
    assert doc["healthy"] is True and doc["symptoms"] == []
    assert doc["source"].endswith("healthy.csv")


def test_json_of_a_faulty_log_agrees_with_the_exit_code(logs):
    r = lossdoctor_cmd("diagnose", logs["diverging"], "--json")
    doc = json.loads(r.stdout)
    _check_schema(doc)
    assert r.returncode == 1 and doc["healthy"] is False and doc["symptoms"]
    assert {s["id"] for s in doc["symptoms"]} & {"divergence", "nan_inf", "oscillation"}


def test_json_of_a_folder_of_two_runs_is_an_array_of_two(logs):
    r = lossdoctor_cmd("diagnose", logs["two_runs"], "--json")
    docs = json.loads(r.stdout)
    assert isinstance(docs, list) and len(docs) == 2
    for doc in docs:
        _check_schema(doc)
    by_run = {Path(d["source"]).parent.name: d for d in docs}
    assert set(by_run) == {"run_good", "run_bad"}
    assert by_run["run_good"]["healthy"] is True and by_run["run_bad"]["healthy"] is False
    assert r.returncode == 1  # symptoms in any run


def test_json_of_a_folder_with_one_run_is_one_object(logs):
    r = lossdoctor_cmd("diagnose", logs["one_run"], "--json")
    assert r.returncode == 0, r.stderr
    assert isinstance(json.loads(r.stdout), dict)


def test_reader_warnings_go_into_the_json_not_the_output(tmp_path):
    # a resumed run: the steps go back from 1000 to 500, which the readers repair and report
    steps, loss = healthy_curve()
    rows = ["step,loss"] + [f"{s},{v:.6g}" for s, v in zip(steps[:1000], loss[:1000])]
    rows += [f"{s},{v:.6g}" for s, v in zip(steps[500:], loss[500:])]
    log = tmp_path / "resumed.csv"
    log.write_text("\n".join(rows) + "\n")
    r = lossdoctor_cmd("diagnose", log, "--json")
    assert r.returncode in (0, 1), r.stderr
    doc = json.loads(r.stdout)
    assert doc.get("warnings"), "the reader's repair should be reported"
    assert r.stderr == ""


# -- the terminal report ----------------------------------------------------------------------
def test_several_runs_render_one_section_each(logs):
    r = lossdoctor_cmd("diagnose", logs["two_runs"])
    assert r.returncode == 1
    assert r.stdout.count("Verdict:") == 2 and "Summary of 2 runs" in r.stdout
    assert "run_good" in r.stdout and "run_bad" in r.stdout


def test_quiet_prints_one_line_per_run(logs):
    r = lossdoctor_cmd("diagnose", logs["two_runs"], "--quiet")
    lines = r.stdout.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 2
    assert any("run_good" in ln and "healthy" in ln for ln in lines)


@pytest.mark.parametrize("width", [80, 120])
def test_report_fits_the_width(logs, width):
    r = lossdoctor_cmd("diagnose", logs["two_runs"], "--width", str(width))
    assert r.stdout and max(len(ln) for ln in r.stdout.splitlines()) <= width


def test_piped_and_no_color_output_is_plain(logs):
    piped = lossdoctor_cmd("diagnose", logs["diverging"])
    assert "\x1b[" not in piped.stdout
    forced = lossdoctor_cmd("diagnose", logs["diverging"], env=_env(FORCE_COLOR="1"))
    assert "\x1b[" in forced.stdout  # colour exists, so the next line tests --no-color
    plain = lossdoctor_cmd("diagnose", logs["diverging"], "--no-color", env=_env(FORCE_COLOR="1"))
    assert "\x1b[" not in plain.stdout and "Verdict:" in plain.stdout


# -- in-process: errors nobody expected, start-up cost ----------------------------------------
def _boom(path):
    raise RuntimeError("the engine tripped\nsecond line")


def test_unexpected_errors_are_one_line_naming_the_file(monkeypatch, capsys):
    monkeypatch.setattr(lossdoctor, "diagnose_all", _boom)
    assert cli.main(["diagnose", "some/run.csv"]) == 2
    err = capsys.readouterr().err
    assert err == ("lossdoctor: error: some/run.csv: unexpected RuntimeError: the engine tripped "
                   "(rerun with --debug for the traceback)\n")


@pytest.mark.parametrize("argv", [["--debug", "diagnose", "r.csv"],
                                  ["diagnose", "r.csv", "--debug"]])
def test_debug_shows_the_traceback(monkeypatch, capsys, argv):
    monkeypatch.setattr(lossdoctor, "diagnose_all", _boom)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "_boom" in err and err.endswith("the engine tripped\n")


def test_log_errors_print_their_message(monkeypatch, capsys):
    def refuse(path):
        raise lossdoctor.LogError(f"{path}: line 3: not a number")

    monkeypatch.setattr(lossdoctor, "diagnose_all", refuse)
    assert cli.main(["diagnose", "r.csv", "--json"]) == 2
    out = capsys.readouterr()
    assert out.err == "lossdoctor: error: r.csv: line 3: not a number\n"
    assert json.loads(out.out)["error"] == "r.csv: line 3: not a number"


def test_json_does_not_import_rich(logs):
    # rich costs ~70 ms of start-up; machines reading --json should not pay it
    code = ("import sys; from lossdoctor.cli import main; rc = main(['diagnose', sys.argv[1], "
            "'--json']); sys.stderr.write(str('rich' in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code, str(logs["healthy"])], capture_output=True,
                       text=True, timeout=TIMEOUT, env=_env())
    assert r.stderr == "False", r.stderr
    assert json.loads(r.stdout)["schema"] == SCHEMA


def test_importing_the_cli_does_not_import_rich():
    code = "import sys; import lossdoctor.cli; print('rich' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=TIMEOUT, env=_env())
    assert r.stdout.strip() == "False", r.stdout + r.stderr


_CLOSED_PIPE = """
import io, sys
from lossdoctor import cli

class ClosedPipe(io.TextIOBase):
    encoding = "utf-8"
    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")

make_console = cli._console
def console(args):
    c = make_console(args)
    c.file = ClosedPipe()
    return c

cli._console = console
sys.exit(cli.main(["diagnose", sys.argv[1]]))
"""


@pytest.mark.parametrize("kind,code", [("healthy", 0), ("diverging", 1)])
def test_a_closed_pipe_keeps_the_exit_code(logs, kind, code):
    # `lossdoctor diagnose x | head -1`: rich alone would exit 1 ("symptoms") for any run
    r = subprocess.run([sys.executable, "-c", _CLOSED_PIPE, str(logs[kind])], capture_output=True,
                       text=True, timeout=TIMEOUT, env=_env())
    assert r.returncode == code and r.stderr == "", r.stderr


# -- hostile logs: nothing from a log acts on the terminal (issue 11) --------------------------
ESC_NAME = "\x1b[2J\x1b[32mFAKE"
OSC8 = "\x1b]8;;http://example.invalid/\x1b\\click\x1b]8;;\x1b\\"


def _no_control(text: str) -> None:
    bad = sorted({repr(c) for c in text if (c < " " and c not in "\n") or "\x7f" <= c <= "\x9f"})
    assert not bad, f"control characters reached the terminal: {bad}"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Path:
    """A run folder named with an escape sequence, whose sidecar, column and JSONL header carry
    more of them (a screen clear, a colour, an OSC-8 link, a bell, a bidi override)."""
    root = tmp_path_factory.mktemp("hostile")
    run = root / ESC_NAME
    steps, loss = healthy_curve(600)
    rows = [f"step,loss,acc{OSC8}"] + [f"{s},{v:.5f},0.5" for s, v in zip(steps, loss)]
    run.mkdir()
    (run / "metrics.csv").write_text("\n".join(rows) + "\n")
    (run / "hparams.yaml").write_text(
        'lr: 0.001\noptimizer: "\\e[31mRED\\a"\nnote: "\\u202eevil"\n'
        '"\\e]0;title\\a": 1\n')
    header = {"type": "header", "schema": "lossdoctor.log/1",
              "hparams": {"lr": 0.01, "optimizer": ESC_NAME, ESC_NAME: OSC8}}
    lines = [json.dumps(header)] + [json.dumps({"step": int(s), "loss": float(v)})
                                    for s, v in zip(steps, loss)]
    (root / f"{ESC_NAME}.jsonl").write_text("\n".join(lines) + "\n")
    return root


@pytest.mark.parametrize("extra", [(), ("--no-color",), ("--quiet",)])
def test_escape_sequences_in_names_and_hparams_are_printed_escaped(hostile, extra):
    for env in (_env(), _env(FORCE_COLOR="1")):
        r = lossdoctor_cmd("diagnose", hostile, "--width", "200", *extra, env=env)
        assert r.returncode in (0, 1), r.stderr
        out = r.stdout if "--no-color" in extra or env.get("FORCE_COLOR") is None else \
            _strip_sgr(r.stdout)
        _no_control(out)
        _no_control(r.stderr)
        assert "\\x1b[2J\\x1b[32mFAKE" in out  # shown, escaped: nothing is lost


def _strip_sgr(text: str) -> str:
    """The report's own colours (SGR sequences rich writes), which are not from the log."""
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_escape_sequences_in_error_lines_are_printed_escaped(tmp_path):
    missing = tmp_path / f"{ESC_NAME}.csv"
    r = lossdoctor_cmd("diagnose", missing)
    assert r.returncode == 2
    _no_control(r.stderr)
    assert "\\x1b[2J" in r.stderr
    bad = tmp_path / f"{ESC_NAME}.jsonl"
    bad.write_bytes(b"\x00\x01\x02" * 100)
    r = lossdoctor_cmd("diagnose", bad)
    assert r.returncode == 2 and "\\x1b[2J" in r.stderr
    _no_control(r.stderr)


def test_billion_laughs_sidecar_is_refused_fast_and_the_log_still_read(tmp_path):
    run = tmp_path / "run"
    write_csv(run / "metrics.csv", *healthy_curve(600))
    lol = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    prev = "a"
    for c in "bcdefghij":  # 9 levels: 9**10 strings once expanded
        lol += f"{c}: &{c} [" + ",".join([f"*{prev}"] * 9) + "]\n"
        prev = c
    (run / "hparams.yaml").write_text(lol + "lr: 0.1\n")
    assert len(lol) < 1500
    import time

    t0 = time.perf_counter()
    r = lossdoctor_cmd("diagnose", run, "--width", "120")
    assert time.perf_counter() - t0 < 20
    assert r.returncode == 0, r.stderr
    assert "billion laughs" in r.stdout and "hparams.yaml" in r.stdout


def test_a_sidecar_past_the_size_bound_is_skipped_with_a_warning(tmp_path):
    from lossdoctor.readers import hparams

    run = tmp_path / "run"
    write_csv(run / "metrics.csv", *healthy_curve(600))
    (run / "hparams.yaml").write_text("lr: 0.1\n" + "# padding\n" * (hparams.MAX_SIDECAR_BYTES // 10 + 1))
    got = lossdoctor.read(run)
    assert "lr" not in got.hparams
    assert any("hyper-parameters not read" in w and "MB" in w for w in got.warnings)


def test_a_huge_shared_hparam_value_is_cut_before_it_is_formatted():
    # aliases below the node bound can still make str() of a value enormous; the header cuts
    # it while building it
    from lossdoctor.report.safe import short

    v: list = ["x" * 10]
    for _ in range(40):
        v = [v, v]  # str(v) would be 2**40 * 10 characters
    import time

    t0 = time.perf_counter()
    s = short(v, 24)
    assert time.perf_counter() - t0 < 0.5 and len(s) == 24 and s.endswith("…")
    assert short(10 ** 5000, 24).startswith("<an integer")


# -- scripting (issue 11, item 15) -------------------------------------------------------------
def test_several_paths_as_a_shell_glob_gives_them_one_report_each(logs, tmp_path):
    a = write_csv(tmp_path / "a.csv", *healthy_curve(seed=4))
    b = write_csv(tmp_path / "b.csv", *diverging_curve(seed=5))
    r = lossdoctor_cmd("diagnose", a, b, "--quiet")
    assert r.returncode == 1, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 2 and "a.csv: " in lines[0] and "b.csv: " in lines[1]
    docs = json.loads(lossdoctor_cmd("diagnose", a, b, "--json").stdout)
    assert [Path(d["source"]).name for d in docs] == ["a.csv", "b.csv"]


def test_jsonl_is_one_object_per_line_for_one_run_or_many(logs, tmp_path):
    one = lossdoctor_cmd("diagnose", logs["healthy"], "--jsonl")
    assert one.returncode == 0
    assert [json.loads(ln)["healthy"] for ln in one.stdout.splitlines()] == [True]
    many = lossdoctor_cmd("diagnose", logs["two_runs"], logs["missing"], "--jsonl")
    assert many.returncode == 2  # an unreadable input outweighs the rest
    docs = [json.loads(ln) for ln in many.stdout.splitlines()]
    assert [d["schema"] for d in docs] == [SCHEMA, SCHEMA, "lossdoctor.error/1"]
    assert "no_such_log.csv" in docs[2]["error"] and "no_such_log.csv" in many.stderr
    assert lossdoctor_cmd("diagnose", logs["healthy"], "--json", "--jsonl").returncode == 2


def test_json_keeps_empty_lists_and_says_the_unit_of_spans(logs, tmp_path):
    doc = json.loads(lossdoctor_cmd("diagnose", logs["healthy"], "--json").stdout)
    assert doc["warnings"] == [] and doc["missing_evidence"] == []
    keras = tmp_path / "history.csv"
    keras.write_text("epoch,loss,val_loss\n" + "".join(
        f"{e},{2.0 / (e + 1):.4f},{1.0 + 0.05 * e:.4f}\n" for e in range(60)))
    doc = json.loads(lossdoctor_cmd("diagnose", keras, "--json").stdout)
    assert doc["step_unit"] == "epoch"
    assert doc["symptoms"] and all(s["unit"] == "epoch" for s in doc["symptoms"])


def test_a_folder_lists_what_it_skipped(tmp_path):
    write_csv(tmp_path / "run.csv", *healthy_curve(600))
    (tmp_path / "run.jsonl").write_text("".join(
        json.dumps({"step": int(s), "loss": float(v)}) + "\n" for s, v in zip(*healthy_curve(600))))
    os.symlink(tmp_path / "gone.csv", tmp_path / "link.csv")
    doc = json.loads(lossdoctor_cmd("diagnose", tmp_path, "--json").stdout)
    text = " ".join(doc["warnings"])
    assert "run.csv: the same run as run.jsonl" in text
    assert "link.csv: a broken symbolic link" in text


# -- arguments and messages (issue 11, item 13) ------------------------------------------------
def test_a_huge_width_is_refused_at_once(logs):
    r = lossdoctor_cmd("diagnose", logs["healthy"], "--width", "1000000000")
    assert r.returncode == 2 and "between 40 and 1000" in r.stderr


def test_a_seed_beyond_the_generators_is_a_usage_error(tmp_path):
    r = lossdoctor_cmd("scenarios", "run", "jena_lr_low", "--out", tmp_path,
                       "--seed", "99999999999999999999")
    assert r.returncode == 2 and "--seed" in r.stderr and "unexpected" not in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_scenarios_run_refuses_a_file_as_out_before_training(tmp_path):
    out = tmp_path / "a_file"
    out.write_text("x")
    import time

    t0 = time.perf_counter()
    r = lossdoctor_cmd("scenarios", "run", "jena_lr_low", "--out", out)
    assert r.returncode == 2 and "is not a folder" in r.stderr
    assert time.perf_counter() - t0 < 15  # no training first


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_fifo_is_named_as_one(tmp_path):
    fifo = tmp_path / "pipe.log"
    os.mkfifo(fifo)
    r = lossdoctor_cmd("diagnose", fifo)
    assert r.returncode == 2 and "named pipe" in r.stderr and "folder" in r.stderr
    assert "no training logs found" not in r.stderr


def test_one_point_is_one_loss_point(tmp_path):
    p = tmp_path / "one.csv"
    p.write_text("step,loss\n0,2.3\n")
    r = lossdoctor_cmd("diagnose", p)
    assert "1 loss point " in r.stdout and "1 loss points" not in r.stdout


def _bound_by_permissions(args: list[str]) -> list[str]:
    """The command so that file permissions apply to it: as root, without the capabilities
    that override them (root reads any file otherwise)."""
    if os.geteuid() != 0:
        return args
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", *args]


@pytest.mark.skipif(not hasattr(os, "geteuid") or (os.geteuid() == 0 and not shutil.which("setpriv")),
                    reason="as root, needs setpriv to make permissions apply")
def test_permission_problems_are_named(tmp_path):
    root = tmp_path / "runs"
    write_csv(root / "open" / "metrics.csv", *healthy_curve(600))
    write_csv(root / "closed" / "metrics.csv", *healthy_curve(600))
    write_csv(root / "secret.csv", *healthy_curve(600))
    (root / "closed").chmod(0)
    (root / "secret.csv").chmod(0)
    try:
        cmd = _bound_by_permissions([*ENTRY_POINTS["module"], "diagnose", str(root), "--json"])
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env=_env())
        assert r.returncode == 0, r.stderr
        docs = json.loads(r.stdout)
        docs = docs if isinstance(docs, list) else [docs]
        text = " ".join(w for d in docs for w in d["warnings"])
        assert "closed: this folder cannot be read (Permission denied)" in text
        assert "secret.csv: cannot be opened (Permission denied)" in text
        cmd = _bound_by_permissions([*ENTRY_POINTS["module"], "diagnose", str(root / "secret.csv")])
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env=_env())
        assert r.returncode == 2 and "Permission denied" in r.stderr
    finally:
        (root / "closed").chmod(0o755)
