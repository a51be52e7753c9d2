"""Fuzzing every reader through the real command: whatever the bytes (and the file's name),
``lossdoctor diagnose`` exits 0, 1 or 2, never with a traceback or an "unexpected" error, prints
no control character a log carried, and stays within a time and memory bound.

The inputs are generated per format (CSV, JSONL, text, trainer_state/Keras JSON, YAML
sidecars, TensorBoard-like records, raw bytes) and as mutations of the shipped example logs.
CI runs a few hundred examples in all; a nightly-sized run takes more through an environment
variable, e.g. ``LOSSDOCTOR_FUZZ_EXAMPLES=1250`` per test (8 tests: 10,000 examples); a failure is
reported as generated (``LOSSDOCTOR_FUZZ_SHRINK=1`` shrinks it first):

    LOSSDOCTOR_FUZZ_EXAMPLES=1250 .venv/bin/python -m pytest -q -p no:cacheprovider tests/fuzz
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import resource
import shutil
import struct
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from lossdoctor import cli

EXAMPLES = int(os.environ.get("LOSSDOCTOR_FUZZ_EXAMPLES", "40"))
# Per example: the command on a file of a few KB takes well under a second; 20 s means a
# blow-up (the backtracking and quadratic cases of issue 11 took minutes).
MAX_SECONDS = 20.0
MAX_RSS_MB = 3000  # peak of the whole test process
EXIT_CODES = {cli.EXIT_HEALTHY, cli.EXIT_SYMPTOMS, cli.EXIT_ERROR} | (
    {cli.EXIT_INCONCLUSIVE} if hasattr(cli, "EXIT_INCONCLUSIVE") else set())
REPO = Path(__file__).resolve().parents[2]
EXAMPLE_FILES = sorted((REPO / "examples").glob("*.*sv")) + sorted((REPO / "examples").glob("*.jsonl"))

# Shrinking a failure to its smallest form can take minutes; LOSSDOCTOR_FUZZ_SHRINK=1 asks for it.
_PHASES = [Phase.explicit, Phase.reuse, Phase.generate] + (
    [Phase.shrink] if os.environ.get("LOSSDOCTOR_FUZZ_SHRINK") else [])
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=os.environ.get("CI") == "true",
                phases=_PHASES, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])
# What a terminal would act on: C0 controls but newline, DEL, C1 controls. The report's own
# colours are off (--no-color, and output is not a terminal).
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")

_WORK = Path(tempfile.mkdtemp(prefix="lossdoctor_fuzz_"))


@pytest.fixture(scope="module", autouse=True)
def _cleanup():
    yield
    shutil.rmtree(_WORK, ignore_errors=True)


def run_cli(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(args)
    return code, out.getvalue(), err.getvalue()


def check_input(files: dict[bytes, bytes], as_json: bool) -> None:
    """Write ``files`` (raw names -> contents) into a fresh folder, diagnose it (the folder,
    or its one file), and check the properties."""
    d = Path(tempfile.mkdtemp(dir=_WORK))
    try:
        for name, content in files.items():
            target = os.path.join(os.fsencode(d), name)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as f:
                f.write(content)
        path = os.fsdecode(os.path.join(os.fsencode(d), next(iter(files)))) if len(files) == 1 else str(d)
        args = ["diagnose", path, "--no-color", "--width", "100"] + (["--json"] if as_json else [])
        t0 = time.perf_counter()
        code, out, err = run_cli(args)
        took = time.perf_counter() - t0
        assert code in EXIT_CODES, (code, err)
        assert "Traceback" not in out + err
        assert "unexpected" not in err, err
        assert not _CONTROL.search(out), repr(_CONTROL.search(out).group())
        assert not _CONTROL.search(err.replace("\n", "")), err
        assert took < MAX_SECONDS, f"{took:.1f} s"
        if as_json:
            doc = json.loads(out)
            for d_ in doc if isinstance(doc, list) else [doc]:
                assert d_["schema"] in ("lossdoctor.diagnosis/1", "lossdoctor.error/1")
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        assert rss_mb < MAX_RSS_MB, f"peak memory {rss_mb:.0f} MB"
    finally:
        shutil.rmtree(d, ignore_errors=True)


# -- building blocks -----------------------------------------------------------------------------
hostile_text = st.sampled_from(["\x1b[2J", "\x1b[31m", "\x1b]8;;http://x\x1b\\", "\x07", "\u202e",
                                "\r", "\x08", "\x00", "\ufeff", "\x9b", "\ud800", "é", "[bold]", "\t"])
words = st.sampled_from(["step", "global_step", "epoch", "loss", "train_loss", "val_loss",
                         "eval_loss", "lr", "learning_rate", "grad_norm", "acc", "loss_step",
                         "grad_norm/fc1.weight", "weight_norm", "update_ratio", "dead_frac", "x",
                         "train/box_loss", "iteration", "", "Loss", "time", "name"])
name = st.one_of(words, st.text(max_size=12), st.builds(lambda a, b: a + b, words, hostile_text))
number = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.integers(min_value=-10 ** 30, max_value=10 ** 30),
    st.sampled_from([1e308, -1e308, 1.7976931348623157e308, 5e-324, 0.0, -0.0, 2.302585]),
)
cell = st.one_of(number.map(repr), number.map(lambda v: f"{v:.6g}" if isinstance(v, float) else str(v)),
                 st.sampled_from(["", "nan", "NaN", "inf", "-inf", "1,5", "1_000", '"3"', "null",
                                  "tensor(0.5)", "0x1f", "1e999", "--", "N/A"]),
                 st.text(max_size=6))
line_end = st.sampled_from(["\n", "\r\n", "\r", "\n\n"])
encoding = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"])


def encode(text: str, enc: str) -> bytes:
    return text.encode(enc, errors="surrogatepass" if enc.startswith("utf") else "replace")


file_name = st.one_of(
    st.sampled_from([b"metrics.csv", b"run.jsonl", b"train.log", b"trainer_state.json",
                     b"history.json", b"results.csv", b"events.out.tfevents.1.host", b"out.txt",
                     b"bad\xffname.csv", b"\x1b[2J.log", b"a b.csv", b"x.tsv", b"noext"]),
    st.binary(min_size=1, max_size=12).filter(lambda b: b"/" not in b and b"\x00" not in b
                                             and b not in (b".", b"..")),
)


@st.composite
def damage(draw, data: bytes) -> bytes:
    """Cut, splice or pad bytes the way crashes and copies do."""
    kind = draw(st.sampled_from(["none", "cut", "nul", "flip", "insert", "duplicate"]))
    if not data or kind == "none":
        return data
    i = draw(st.integers(0, len(data)))
    if kind == "cut":
        return data[:i]
    if kind == "nul":
        return data[:i] + b"\x00" * draw(st.integers(1, 5000)) + data[i:]
    if kind == "flip":
        j = min(i, len(data) - 1)
        return data[:j] + bytes([data[j] ^ draw(st.integers(1, 255))]) + data[j + 1:]
    if kind == "insert":
        return data[:i] + draw(st.binary(max_size=40)) + data[i:]
    return data[:i] + data[:i] + data[i:]


# -- the formats ---------------------------------------------------------------------------------
@st.composite
def csv_files(draw):
    delim = draw(st.sampled_from([",", ";", "\t", " ", "  ", "|"]))
    cols = draw(st.lists(name, min_size=1, max_size=6))
    if draw(st.booleans()):
        cols[0] = "step"
    if draw(st.booleans()) and len(cols) > 1:
        cols[1] = "loss"
    n = draw(st.integers(0, 60))
    rows = [delim.join(cols)]
    for _ in range(n):
        width = draw(st.sampled_from([len(cols), len(cols), len(cols), len(cols) - 1, len(cols) + 1]))
        rows.append(delim.join(draw(st.lists(cell, min_size=max(width, 0), max_size=max(width, 0)))))
    if draw(st.booleans()):
        rows = rows + rows[:1] + rows[1:]  # an appended run with its header again
    text = draw(line_end).join(rows) + draw(st.sampled_from(["", "\n"]))
    return {draw(st.sampled_from([b"metrics.csv", b"results.csv", b"log.tsv", b"data.txt"])):
            draw(damage(encode(text, draw(encoding))))}


json_scalar = st.one_of(number, st.text(max_size=8), st.booleans(), st.none(),
                        st.sampled_from(["NaN", "Infinity", "-Infinity", "1e-3"]))
json_value = st.recursive(json_scalar, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(name, kids, max_size=4)), max_leaves=12)


def dumps(obj) -> str:
    try:
        return json.dumps(obj, allow_nan=True)
    except (ValueError, TypeError):
        return "{}"


@st.composite
def jsonl_files(draw):
    lines = []
    if draw(st.booleans()):
        lines.append(dumps({"type": "header", "schema": "lossdoctor.log/1",
                            "hparams": draw(st.dictionaries(name, json_value, max_size=5)),
                            "model": draw(st.dictionaries(name, json_value, max_size=2))}))
    n = draw(st.integers(0, 60))
    base = draw(st.dictionaries(name, json_value, max_size=4))
    for s in range(n):
        rec = dict(base)
        rec["step"] = draw(st.one_of(st.just(s), number, st.none()))
        rec["loss"] = draw(json_value)
        if draw(st.integers(0, 9)) == 0:
            rec = draw(st.one_of(json_value, st.just({"type": "event", "event": "nan", "step": s})))
        lines.append(dumps(rec))
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, len(lines)))
        lines.insert(i, draw(st.text(max_size=30)))
    text = draw(line_end).join(lines)
    return {draw(st.sampled_from([b"run.jsonl", b"log.ndjson", b"metrics.json"])):
            draw(damage(encode(text, draw(encoding))))}


_TEXT_LINES = st.one_of(
    st.builds(lambda e, v: f"epoch {e} loss: {v}", st.integers(-5, 10 ** 6), cell),
    st.builds(lambda s, v, lr: f"step={s} loss={v} lr={lr}", st.integers(-5, 10 ** 9), cell, cell),
    st.builds(lambda k, n, v: f"{k}/{n} [====>....] - 2s 20ms/step - loss: {v} - val_loss: {v}",
              st.integers(0, 100), st.integers(0, 100), cell),
    st.builds(lambda p, k, n, v: f"{p}%|####    | {k}/{n} [00:01<00:02, loss={v}]",
              st.integers(0, 100), st.integers(0, 100), st.integers(0, 100), cell),
    st.builds(lambda d: str(d), st.dictionaries(words, number, max_size=4)),
    st.builds(lambda a, b: a + b, st.text(max_size=40), hostile_text),
    st.just("Epoch 3/10"), st.just("\x1b[32m100/100\x1b[0m loss: 0.5"),
    st.builds(lambda k, v: f"{k}: {v}", name, cell),
    st.builds(lambda w, n: (w + " ") * n, words, st.integers(1, 400)),
)


@st.composite
def text_files(draw):
    lines = draw(st.lists(_TEXT_LINES, max_size=60))
    sep = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = sep.join(lines)
    return {draw(st.sampled_from([b"train.log", b"output.log", b"stdout.txt", b"run.out"])):
            draw(damage(encode(text, draw(encoding))))}


@st.composite
def json_documents(draw):
    kind = draw(st.sampled_from(["trainer_state", "keras", "other"]))
    if kind == "trainer_state":
        hist = [draw(st.dictionaries(st.sampled_from(["loss", "eval_loss", "learning_rate",
                                                      "grad_norm", "epoch", "step", "train_runtime"]),
                                     json_value, max_size=5)) for _ in range(draw(st.integers(0, 40)))]
        doc = {"log_history": hist, "global_step": draw(json_value), "max_steps": draw(json_value)}
        fname = b"trainer_state.json"
    elif kind == "keras":
        doc = draw(st.dictionaries(name, st.lists(json_value, max_size=40), max_size=4))
        if draw(st.booleans()):
            doc = {"history": doc, "epoch": draw(st.lists(number, max_size=40)), "params": {}}
        fname = b"history.json"
    else:
        doc = draw(json_value)
        fname = draw(st.sampled_from([b"history.json", b"trainer_state.json", b"x.json"]))
    text = json.dumps(doc, indent=draw(st.sampled_from([None, 2])), allow_nan=True, default=str)
    return {fname: draw(damage(encode(text, draw(encoding))))}


_YAML_PIECES = st.sampled_from([
    "lr: 0.1\n", "lr: abc\n", "optimizer: !!python/name:torch.optim.SGD ''\n",
    "a: &a [1, 2, 3]\nb: [*a, *a, *a]\n", "x: !!python/tuple [1, 2]\n", "- 1\n- 2\n",
    "deep: " + "[" * 80 + "]" * 80 + "\n", "key: \"\\e[2J\\a\"\n", "? [1, 2]\n: 3\n",
    "lr: 1e308\n", "lr: .inf\n", "a: &r\n  b: *r\n", "{{{", "weight_decay: 0.5\nnum_classes: 10\n",
    "&x a: 1\n", "lr: [0.1, 0.2]\n", ":\n", "!!binary aGVsbG8=\n", "lr: 0x10\n",
])


@st.composite
def sidecar_folders(draw):
    rows = "step,loss\n" + "".join(f"{s},{2.3 / (1 + s / 20):.4f}\n" for s in range(draw(st.integers(1, 80))))
    yaml_text = "".join(draw(st.lists(_YAML_PIECES, max_size=6)))
    side = draw(st.sampled_from([b"hparams.yaml", b"config.yaml", b"hyp.yaml", b"hparams.json",
                                 b"config.json", b"args.json"]))
    body = yaml_text if side.endswith(b".yaml") else dumps(draw(st.dictionaries(name, json_value, max_size=6)))
    run = draw(st.sampled_from([b"run", b"version_0", b"\x1b[2Jrun", b"r\xff"]))
    return {run + b"/metrics.csv": rows.encode(), run + b"/" + side: draw(damage(body.encode("utf-8", "surrogatepass")))}


@st.composite
def event_files(draw):
    """TFRecord framing around garbage or near-events."""
    out = b""
    for _ in range(draw(st.integers(0, 6))):
        payload = draw(st.one_of(st.binary(max_size=60), st.just(b"\x09\x00\x00\x00\x00\x00\x00\xf0?\x1a\x0dbrain.Event:2")))
        length = struct.pack("<Q", draw(st.sampled_from([len(payload), len(payload) + 1, 2 ** 62, 0])))
        out += length + draw(st.binary(min_size=4, max_size=4)) + payload + draw(st.binary(min_size=4, max_size=4))
    return {draw(st.sampled_from([b"events.out.tfevents.1.host", b"run.bin", b"events.out.tfevents.2"])): out}


@st.composite
def mutated_examples(draw):
    src = draw(st.sampled_from(EXAMPLE_FILES))
    data = src.read_bytes()[: draw(st.integers(200, 20000))]
    for _ in range(draw(st.integers(1, 4))):
        data = draw(damage(data))
    return {draw(file_name) if draw(st.booleans()) else src.name.encode(): data}


@st.composite
def anything(draw):
    files = {}
    for _ in range(draw(st.integers(1, 3))):
        files[draw(file_name)] = draw(st.binary(max_size=3000))
    return files


# -- the properties ------------------------------------------------------------------------------
@FUZZ
@given(csv_files(), st.booleans())
def test_fuzz_csv(files, as_json):
    check_input(files, as_json)


@FUZZ
@given(jsonl_files(), st.booleans())
def test_fuzz_jsonl(files, as_json):
    check_input(files, as_json)


@FUZZ
@given(text_files(), st.booleans())
def test_fuzz_text(files, as_json):
    check_input(files, as_json)


@FUZZ
@given(json_documents(), st.booleans())
def test_fuzz_json_documents(files, as_json):
    check_input(files, as_json)


@FUZZ
@given(sidecar_folders(), st.booleans())
def test_fuzz_sidecars(files, as_json):
    check_input(files, as_json)


@FUZZ
@given(event_files(), st.booleans())
def test_fuzz_event_files(files, as_json):
    check_input(files, as_json)


@FUZZ
@given(mutated_examples(), st.booleans())
def test_fuzz_mutated_examples(files, as_json):
    check_input(files, as_json)


@FUZZ
@given(anything(), st.booleans())
def test_fuzz_any_bytes_and_names(files, as_json):
    check_input(files, as_json)
