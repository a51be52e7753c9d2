"""Broken and hostile input for the CSV, JSONL, trainer_state and Keras-history readers: they
keep every good row, warn once per problem naming the line, and never raise anything but
LogError. Property tests: arbitrary bytes, and arbitrary small numeric tables that must come
back value for value."""

from __future__ import annotations

import json
import math
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lossdoctor.core import LogError, Run
from lossdoctor.readers import csv_table, jsonl, keras_history, trainer_state

READERS = (csv_table, jsonl, trainer_state, keras_history)


# -- CSV: damaged files keep their good rows -----------------------------------------------------
# The CSV reader has two paths: pyarrow (which hands ragged rows back for repair) and a line
# reader for what pyarrow refuses. Each case runs on both, forced.

def _fail(*args, **kwargs):
    raise AssertionError("this path must not be taken")


@contextmanager
def _only(path: str):
    other = "_read_lines" if path == "arrow" else "_read_arrow"
    with mock.patch.object(csv_table, other, _fail if path == "arrow" else lambda *a, **k: None):
        yield


@pytest.fixture(params=["arrow", "lines"])
def csv_path(request):
    with _only(request.param):
        yield request.param


def test_ragged_rows(write, csv_path):
    text = "step,loss,acc\n1,1.0,0.1\n2,0.9\n3,0.8,0.3,extra\n4,0.7,0.4\n"
    run = csv_table.read(write("r.csv", text))
    assert run.loss.values.tolist() == [1.0, 0.9, 0.8, 0.7]
    assert run.get("acc").steps.tolist() == [1, 3, 4]  # the short row's missing cell is missing
    (w,) = run.warnings
    assert "2 row(s)" in w and "line 3" in w


def test_truncated_last_line(write, csv_path):
    text = "epoch,loss,val_loss\n0,1.0,1.1\n1,0.9,1.0\n2,0.8"
    run = csv_table.read(write("t.csv", text))
    assert run.loss.values.tolist() == [1.0, 0.9, 0.8]  # the cut line's good cells count too
    assert run.get("val_loss").values.tolist() == [1.1, 1.0]
    (w,) = run.warnings
    assert "line 4" in w


def test_truncated_last_line_of_a_long_log_after_blank_lines(write, csv_path):
    rows = ["step,loss"] + [f"{i},{1.0 / (i + 1)}" for i in range(5000)]
    rows.insert(100, "")  # one blank line shifts rows against lines
    text = "\n".join(rows) + "\n5000,0.0001,"
    run = csv_table.read(write("t.csv", text))
    assert len(run.loss) == 5001 and run.loss.values[-1] == 0.0001
    (w,) = run.warnings
    assert "line 5003" in w


@pytest.mark.parametrize("ragged", [False, True])
def test_text_in_a_numeric_column(write, csv_path, ragged):
    rows = ["step,loss,val_loss"] + [f"{i},{1.0 / (i + 1)},0.5" for i in range(20)]
    rows[6] = "5,oops,0.5"  # line 7
    rows[9] = "8,#N/A,0.5"
    if ragged:
        rows[15] = "14,0.1"
    run = csv_table.read(write("x.csv", "\n".join(rows) + "\n"))
    assert len(run.loss) == 18 and 5 not in run.loss.steps and 8 not in run.loss.steps
    assert len(run.get("val_loss")) == 20 - ragged
    loss_warnings = [w for w in run.warnings if "'loss'" in w]
    assert len(loss_warnings) == 1
    assert "2 cell(s)" in loss_warnings[0] and "line 7" in loss_warnings[0]
    assert "oops" in loss_warnings[0]
    assert len(run.warnings) == 1 + ragged


def test_bad_cell_in_a_ragged_row_is_quoted(write, csv_path):
    run = csv_table.read(write("x.csv", "step,loss,acc\n1,1.0,0.1\n2,bad\n3,0.8,0.3\n"))
    assert run.loss.steps.tolist() == [1, 3]
    assert any("'bad'" in w and "line 3" in w for w in run.warnings)


def test_binary_junk_in_the_middle(write):
    data = b"step,loss\n1,1.0\n2,0.9\n\x00\xff\xfe\x13garbage\x80\n3,0.8\n"
    run = csv_table.read(write("j.csv", data))
    assert run.loss.values.tolist() == [1.0, 0.9, 0.8]
    (w,) = run.warnings
    assert "line 4" in w


def test_junk_line_with_the_right_width(write, csv_path):
    run = csv_table.read(write("j.csv", "step,loss\n1,1.0\n\nn/a,--\n3,0.8\n"))
    assert run.loss.values.tolist() == [1.0, 0.8]
    (w,) = run.warnings
    assert "1 line(s) without any number" in w and "line 4" in w


@pytest.mark.parametrize("data", [bytes(range(256)) * 8, b"\x00" * 100,
                                  b"\x89PNG\r\n\x1a\n" + bytes(500)])
def test_binary_files_are_refused(write, data):
    p = write("b.csv", data)
    assert csv_table.sniff(p, data) == 0.0
    with pytest.raises(LogError) as exc:
        csv_table.read(p)
    assert str(p) in str(exc.value)


def test_bom_crlf_and_blank_lines(write, csv_path):
    data = b"\xef\xbb\xbf\r\nstep,loss\r\n\r\n1,1.0\r\n\r\n2,0.5\r\n\r\n"
    run = csv_table.read(write("b.csv", data))
    assert run.loss.steps.tolist() == [1, 2] and run.warnings == ()


def test_two_megabyte_header_line(write):
    n = 10_000  # long per-layer names: 10k columns of ~200 characters
    layers = [f"grad_norm/{'encoder.block.' * 13}{i:06d}.weight" for i in range(n)]
    names = ["step", "loss"] + layers
    header = ",".join(names)
    assert len(header) > 2_000_000
    rows = [",".join([str(s), str(1.0 / (s + 1))] + ["0.5"] * n) for s in range(3)]
    p = write("wide.csv", header + "\n" + "\n".join(rows) + "\n")
    assert csv_table.sniff(p, p.read_bytes()[:65536]) > 0.2
    run = csv_table.read(p)
    assert run.loss.values.tolist() == [1.0, 0.5, 1 / 3]
    assert len(run.layers("grad_norm")) == n


def test_two_megabyte_column_name(write):
    p = write("n.csv", f'step,loss,"{"x" * 2_000_000}"\n1,0.5,1\n2,0.4,2\n3,0.3\n')
    run = csv_table.read(p)
    assert run.loss.values.tolist() == [0.5, 0.4, 0.3]


def test_duplicate_column_names(write, csv_path):
    text = "step,loss,loss,acc,acc\n1,1.0,2.0,0.1,0.2\n2,0.5,1.5,0.3,0.4\n"
    run = csv_table.read(write("d.csv", text))
    assert run.loss.values.tolist() == [1.0, 0.5]
    assert run.get("loss.2").values.tolist() == [2.0, 1.5]
    assert run.get("acc.2").values.tolist() == [0.2, 0.4]


@pytest.mark.parametrize("ragged", [False, True])
def test_nan_and_inf_spellings(write, csv_path, ragged):
    text = "step,loss\n1,nan\n2,NaN\n3,inf\n4,-inf\n5,Infinity\n6,-Infinity\n7,1e400\n8,0.5\n"
    if ragged:
        text += "9,0.4,extra\n"
    v = csv_table.read(write("n.csv", text)).loss.values
    assert np.isnan(v[:2]).all()
    assert v[2:7].tolist() == [math.inf, -math.inf, math.inf, -math.inf, math.inf]
    assert v[7] == 0.5


def test_repeated_header_of_appended_runs(write, csv_path):
    text = "epoch,loss\n0,1.0\n1,0.9\nepoch,loss\n0,1.1\n1,0.8\n2,0.7\n"
    run = csv_table.read(write("a.csv", text))
    assert run.loss.values.tolist() == [1.1, 0.8, 0.7]  # the later run wins on repeated epochs
    assert any("repeated" in w for w in run.warnings)


def test_rows_without_a_step_are_skipped_with_their_line(write, csv_path):
    run = csv_table.read(write("s.csv", "step,loss\n1,1.0\n,0.9\n3,0.8\n"))
    assert run.loss.steps.tolist() == [1, 3]
    assert any("line 3" in w for w in run.warnings)


# -- JSON formats --------------------------------------------------------------------------------

def test_jsonl_deeply_nested_line(write):
    bad = "[" * 100_000 + "]" * 100_000
    text = ('{"step": 1, "loss": 1.0}\n' + bad
            + '\n{"step": 2, "loss": 0.5}\n{"step": 3, "loss": 0.4}\n')
    run = jsonl.read(write("n.jsonl", text))
    assert run.loss.values.tolist() == [1.0, 0.5, 0.4]
    (w,) = run.warnings
    assert "line 2" in w


def test_jsonl_two_objects_on_one_line(write):
    run = jsonl.read(write("t.jsonl", '{"loss": 1}, {"loss": 2}\n{"loss": 3}\n{"loss": 4}\n'))
    assert run.loss.values.tolist() == [3, 4]
    assert "line 1" in run.warnings[0]


@pytest.mark.parametrize("mod,text", [
    (trainer_state, '{"log_history": [{"loss": 1.0, "step": 1}, {"loss": 0.9, "st'),
    (keras_history, '{"loss": [1.0, 0.9, 0.8], "val_loss": [1.1, '),
])
def test_cut_off_json_documents_are_refused_with_the_line(write, mod, text):
    p = write("x.json", text)
    with pytest.raises(LogError, match=r"not valid JSON at line 1 \(cut off\?\)") as exc:
        mod.read(p)
    assert str(p) in str(exc.value)


@pytest.mark.parametrize("mod", READERS, ids=lambda m: m.FORMAT)
def test_deeply_nested_json(write, mod):
    deep = '{"loss": ' + "[" * 100_000 + "]" * 100_000 + "}\n"
    p = write("deep.json", deep)
    assert mod.sniff(p, deep.encode()[:65536]) == 0.0
    with pytest.raises(LogError):
        mod.read(p)


def test_integers_beyond_float_range(write):
    huge = "1" + "0" * 400
    run = jsonl.read(write("h.jsonl", f'{{"step": 1, "loss": {huge}}}\n'
                                      f'{{"step": 2, "loss": -{huge}}}\n'
                                      f'{{"step": 3, "loss": 1, "x": {{"y": {huge}}}}}\n'))
    assert run.loss.values.tolist() == [math.inf, -math.inf, 1.0]
    assert run.get("x/y").values.tolist() == [math.inf]
    entries = f'{{"loss": {huge}, "step": 1}}, {{"loss": 1, "step": {huge}}}'
    run = trainer_state.read(write("trainer_state.json", f'{{"log_history": [{entries}]}}'))
    assert run.loss.values.tolist() == [math.inf]
    run = keras_history.read(write("h.json", f'{{"loss": [{huge}, 1]}}'))
    assert run.loss.values.tolist() == [math.inf, 1.0]


def test_trainer_state_ignores_junk_entries(write):
    state = {"log_history": [None, 3, {"loss": 1.0, "step": 1}, {"loss": [1, 2], "step": 2},
                             {"loss": True, "step": 3}, {"loss": 0.5, "step": "4"},
                             {"loss": 0.25, "step": 5}]}
    run = trainer_state.read(write("trainer_state.json", json.dumps(state)))
    assert run.loss.steps.tolist() == [1, 5]


@pytest.mark.parametrize("mod", READERS, ids=lambda m: m.FORMAT)
def test_directory_and_missing_file(tmp_path, mod):
    for p in (tmp_path, tmp_path / "missing.log"):
        with pytest.raises(LogError):
            mod.read(p)


# -- properties ----------------------------------------------------------------------------------

_LOGLIKE = st.text(alphabet=',;\t \n\r"0123456789.-+eEnaifNIy{}[]:lostepch_/#', max_size=400)
_ANY = st.one_of(st.binary(max_size=3000), _LOGLIKE.map(str.encode),
                 st.text(max_size=300).map(lambda s: s.encode("utf-8", "surrogatepass")))


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("prop")


@pytest.mark.parametrize("mod", READERS, ids=lambda m: m.FORMAT)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_ANY, suffix=st.sampled_from([".csv", ".jsonl", ".json", ".log", ""]))
def test_arbitrary_bytes_only_raise_logerror(scratch, mod, data, suffix):
    p = scratch / f"{mod.FORMAT}{suffix}"
    p.write_bytes(data)
    score = mod.sniff(p, data[:65536])
    assert 0.0 <= score <= 1.0
    try:
        run = mod.read(p)
    except LogError as exc:
        assert str(p) in str(exc)
    else:
        assert isinstance(run, Run)
        for s in run.series.values():
            assert s.steps.shape == s.values.shape and np.all(np.diff(s.steps) > 0)


_VALUE = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True, width=64))


@st.composite
def _tables(draw):
    ncols = draw(st.integers(1, 4))
    nrows = draw(st.integers(1, 25))
    steps = sorted(draw(st.sets(st.integers(0, 10**6), min_size=nrows, max_size=nrows)))
    cols = [draw(st.lists(_VALUE, min_size=nrows, max_size=nrows)) for _ in range(ncols)]
    return steps, cols


def _expect(run, name, steps, col):
    pairs = [(s, v) for s, v in zip(steps, col) if v is not None]
    got = run.get(name)
    if not pairs:
        assert got is None
        return
    assert got.steps.tolist() == [s for s, _ in pairs]
    want = np.array([v for _, v in pairs])
    assert np.array_equal(got.values, want, equal_nan=True)


def _names(ncols):
    return ["loss"] + [f"metric_{i}" for i in range(1, ncols)]


@settings(max_examples=120, deadline=None)
@given(table=_tables(), delim=st.sampled_from([",", "\t", ";"]), crlf=st.booleans(),
       ragged=st.booleans(), path=st.sampled_from(["arrow", "lines"]))
def test_csv_round_trip(scratch, table, delim, crlf, ragged, path):
    steps, cols = table
    names = _names(len(cols))
    end = "\r\n" if crlf else "\n"
    lines = [delim.join(["step"] + names)]
    for i, s in enumerate(steps):
        lines.append(delim.join([str(s)] + ["" if c[i] is None else repr(c[i]) for c in cols]))
    if ragged:  # an extra cell on one line: pyarrow hands the row back for repair
        lines.append(delim.join([str(steps[-1] + 1)] + [""] * len(cols) + ["1"]))
    p = scratch / "table.csv"
    p.write_text(end.join(lines) + end, encoding="utf-8", newline="")
    try:
        with _only(path):
            run = csv_table.read(p)
    except LogError as exc:  # only when no cell holds a number
        assert "no numeric" in str(exc) or "header only" in str(exc)
        return
    for name, col in zip(names, cols):
        _expect(run, name, steps, col)


@settings(max_examples=120, deadline=None)
@given(table=_tables(), truncate=st.booleans())
def test_jsonl_round_trip(scratch, table, truncate):
    steps, cols = table
    names = _names(len(cols))
    lines = []
    for i, s in enumerate(steps):
        rec = {"step": s}
        rec.update({n: c[i] for n, c in zip(names, cols) if c[i] is not None})
        lines.append(json.dumps(rec))
    text = "\n".join(lines) + "\n"
    if truncate:
        text += '{"step": 99999999, "loss": 1.'
    p = scratch / "table.jsonl"
    p.write_text(text, encoding="utf-8")
    if all(c[i] is None for c in cols for i in range(len(steps))):
        with pytest.raises(LogError):
            jsonl.read(p)
        return
    run = jsonl.read(p)
    for name, col in zip(names, cols):
        _expect(run, name, steps, col)
    assert any("cut off" in w for w in run.warnings) == truncate


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
    | st.sampled_from(["nan", "-inf", "1e-3", "step", "loss", 10**400, -(10**400)]),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["step", "loss", "val_loss", "epoch", "type", "lr", "x",
                                     "log_history", "history", "global_step", "train"]), inner,
                    max_size=5),
    max_leaves=20)


@pytest.mark.parametrize("mod", READERS, ids=lambda m: m.FORMAT)
@settings(max_examples=150, deadline=None)
@given(docs=st.lists(_JSON, min_size=1, max_size=6), one_doc=st.booleans())
def test_arbitrary_json_only_raises_logerror(scratch, mod, docs, one_doc):
    text = json.dumps(docs[0]) if one_doc else "\n".join(json.dumps(d) for d in docs)
    p = scratch / f"{mod.FORMAT}.json"
    p.write_text(text, encoding="utf-8")
    assert 0.0 <= mod.sniff(p, text.encode()[:65536]) <= 1.0
    try:
        run = mod.read(p)
    except LogError as exc:
        assert str(p) in str(exc)
    else:
        for s in run.series.values():
            assert s.steps.shape == s.values.shape and np.all(np.diff(s.steps) > 0)


def test_non_finite_steps_are_dropped(write):
    state = {"log_history": [{"loss": 1.0, "step": float("nan")}, {"loss": 0.5, "step": 2},
                             {"loss": 0.4, "step": float("inf")}]}
    run = trainer_state.read(write("trainer_state.json", json.dumps(state)))
    assert run.loss.steps.tolist() == [2]
    run = jsonl.read(write("s.jsonl", '{"step": NaN, "loss": 1}\n{"step": 3, "loss": 2}\n'))
    assert run.loss.steps.tolist() == [3]
    run = keras_history.read(write("h.json", '{"loss": [1, 2], "epoch": [NaN, 1]}'))
    assert run.loss.steps.tolist() == [0, 1]  # a broken epoch list falls back to indices


def test_component_losses_of_opposite_infinities_sum_to_nan(write):
    """Found by the property test above: a 'loss' and a 'val_loss' part that are +inf and -inf."""
    run = jsonl.read(write("inf.jsonl", json.dumps({"val_loss": {"loss": 10 ** 400, "val_loss": "-inf"}}) + "\n"))
    assert all(s.values.shape == s.steps.shape for s in run.series.values())
