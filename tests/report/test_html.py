"""The HTML report as a file: self-contained, escaped, with the panels the log has data for
and the points the detectors used. (What the browser makes of it: test_browser.py.)"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import lossdoctor
from lossdoctor.core import Run, Series
from lossdoctor.report import plots
from lossdoctor.report.decimate import BUCKETS, minmax, nonfinite_steps
from lossdoctor.report.html import render_html, write_html

ROOT = Path(__file__).resolve().parents[2]
EX = ROOT / "examples"


def _data_block(text: str) -> dict:
    m = re.search(r'<script type="application/json" id="ld-data">(.*?)</script>', text, re.S)
    return json.loads(m.group(1))


# -- decimation ----------------------------------------------------------------------------------
def test_minmax_keeps_the_envelope_and_every_spike():
    rng = np.random.default_rng(0)
    steps = np.arange(1_000_000, dtype=float)
    values = 1 + 0.01 * rng.standard_normal(steps.size)
    values[123_457] = 50.0  # a one-step spike
    values[700_001] = -3.0
    s, v = minmax(steps, values)
    assert s.size <= 2 * BUCKETS
    assert np.all(np.diff(s) > 0)  # still in step order
    assert 50.0 in v and -3.0 in v
    assert s[np.argmax(v)] == 123_457 and s[np.argmin(v)] == 700_001
    assert v.max() == values.max() and v.min() == values.min()


def test_minmax_leaves_short_series_alone_and_drops_nan():
    steps = np.arange(10.0)
    values = np.arange(10.0)
    values[4] = np.nan
    s, v = minmax(steps, values)
    assert list(s) == [0, 1, 2, 3, 5, 6, 7, 8, 9]
    bad = np.full(100_000, 1.0)
    bad[50_000:50_010] = np.inf
    assert list(nonfinite_steps(np.arange(100_000.0), bad)) != []


# -- the file --------------------------------------------------------------------------------
def test_self_contained_with_a_policy_that_admits_only_its_own_scripts(tmp_path):
    out = write_html(lossdoctor.diagnose(EX / "jena_lr_low.jsonl"), tmp_path / "r.html")
    text = out.read_text()
    assert not re.search(r'<(script|link|img|iframe)[^>]+(src|href)=', text)  # nothing fetched
    csp = html.unescape(re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', text).group(1))
    assert "default-src 'none'" in csp
    scripts = re.findall(r"<script>(.*?)</script>", text, re.S)
    assert len(scripts) == 2  # the charting library and the report's own
    for body in scripts:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp


HOSTILE = "<script>alert(1)</script>"


def test_every_log_string_is_escaped():
    n = 200
    steps = np.arange(n, dtype=float)
    loss = np.where(steps < 100, 2.3, 2.3 - (steps - 100) / 50)
    run = Run(f"runs/{HOSTILE}.csv", {
        "loss": Series("loss", steps, loss),
        f"grad_norm/{HOSTILE}": Series(f"grad_norm/{HOSTILE}", steps, np.full(n, 0.1)),
        HOSTILE: Series(HOSTILE, steps, steps)},
        hparams={HOSTILE: f"</script>{HOSTILE}", "optimizer": "&amp; <b>"},
        meta={"format": "csv", "step_unit": "step", "name": f"<img src=x onerror=alert(1)>"},
        warnings=(f"warning {HOSTILE}",))
    text = render_html(lossdoctor.diagnose(run))
    assert text.count("<script") == 3 and text.count("</script>") == 3
    assert HOSTILE not in text and "<img" not in text and "&amp; <b>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "&amp;amp; &lt;b&gt;" in text
    data = _data_block(text)  # the JSON block cannot close its script element ...
    assert data["runs"][0]["name"] == "<img src=x onerror=alert(1)>"  # ... and reads back exactly
    heat = next(p for p in data["runs"][0]["panels"] if p["kind"] == "heat")
    assert heat["layers"] == [HOSTILE]


def test_a_loss_only_log_draws_the_curve_and_says_what_to_log():
    dx = lossdoctor.diagnose(EX / "jena_lr_low.csv")
    fig = plots.figure(dx)
    assert fig.panels == ()
    assert {a.title for a in fig.absent} == {p.title for p in plots.PANELS}
    text = render_html(dx)
    assert "Not in this log, so not drawn" in text and "update_ratio" in text
    assert [s["id"] for s in _data_block(text)["runs"][0]["spans"]] == ["plateau_then_drop"]


def test_the_points_the_detectors_used_are_marked():
    dx = lossdoctor.diagnose(EX / "overfit_moons.jsonl")
    over = dx.symptom("overfitting")
    marks = {m.label: m for m in plots.figure(dx).marks}
    vm = marks["validation minimum"]
    assert vm.step == over.details["val_min_step"]
    assert vm.value == pytest.approx(float(np.nanmin(dx.run.get("val_loss").values)))
    dx = lossdoctor.diagnose(EX / "jena_lr_low.jsonl")
    end = plots.figure(dx).marks[0]
    assert end.label == "plateau ends" and end.step == dx.symptom("plateau_then_drop").end


def test_spikes_are_marked_where_the_loss_jumped():
    rng = np.random.default_rng(1)
    n = 3000
    steps = np.arange(n, dtype=float)
    loss = 2.0 * np.exp(-steps / 800) + 0.1 + 0.005 * rng.standard_normal(n)
    at = (700, 1500, 2300)
    for s in at:
        loss[s] += 1.5
    dx = lossdoctor.diagnose(Run("s.csv", {"loss": Series("loss", steps, loss)},
                                 meta={"format": "csv", "step_unit": "step"}))
    sp = dx.symptom("spikes")
    assert sp is not None
    marked = sorted(m.step for m in plots.figure(dx).marks if m.label == "spike")
    assert set(at) <= set(marked)


def test_heat_map_rows_keep_the_logged_order_input_first():
    dx = lossdoctor.diagnose(EX / "vanishing_sigmoid.jsonl")
    heat = next(p for p in plots.figure(dx).panels if isinstance(p, plots.Heat))
    assert list(heat.layers) == list(dx.run.layers("grad_norm"))
    # vanishing gradients: the input side's norms are the smallest
    assert np.nanmean(heat.z[0]) < np.nanmean(heat.z[-1])


def test_verification_arms_are_overlaid_and_stand_beside_their_cause():
    base = lossdoctor.diagnose(EX / "jena_lr_low.jsonl")
    arm_run = lossdoctor.read(EX / "jena_healthy.jsonl")  # a real run at 10x the lr
    arm = {"arm": "lr_x10", "tests": ["lr_too_low"], "change": {"lr_scale": 10.0},
           "outcome": "fixed", "effect": "plateau ended early", "series": arm_run.loss}
    text = render_html(base, verification={base.source: [arm]})
    loss = _data_block(text)["runs"][0]["loss"]
    assert [s["label"] for s in loss["series"]] == ["loss", "val_loss", "rerun lr_x10 (fixed)"]
    row = re.search(r'<tr class="ld-v-likely" data-cause="lr_too_low">(.*?)</tr>', text, re.S).group(1)
    assert "lr_x10</b>: fixed" in row


def test_an_arm_log_is_read_for_its_curve(tmp_path):
    base = lossdoctor.diagnose(EX / "jena_lr_low.csv")
    arm = {"arm": "lr_x10", "tests": ["lr_too_low"], "outcome": "fixed", "effect": "",
           "log": str(EX / "jena_healthy.csv")}
    gone = {"arm": "wd_div10", "tests": ["regularization_too_strong"], "outcome": "no_change",
            "effect": "", "log": str(tmp_path / "gone.jsonl")}
    data = _data_block(render_html(base, verification={base.source: [arm, gone]}))
    labels = [s["label"] for s in data["runs"][0]["loss"]["series"]]
    assert labels == ["loss", "val_loss", "rerun lr_x10 (fixed)"]


def test_several_runs_get_an_overview_linking_each_section(tmp_path):
    dxs = lossdoctor.diagnose_all(EX)
    text = render_html(dxs)
    for i, dx in enumerate(dxs, start=1):
        assert f'<a href="#run-{i}">' in text and f'<section id="run-{i}"' in text
    assert len(_data_block(text)["overlay"]["series"]) == len(dxs)


def test_a_million_steps_are_thinned_for_drawing_only(tmp_path):
    n = 1_000_000
    steps = np.arange(n, dtype=float)
    rng = np.random.default_rng(0)
    loss = 0.1 + 2.2 * np.exp(-steps / 150_000) * np.exp(0.1 * rng.standard_normal(n))
    run = Run("big.csv", {"loss": Series("loss", steps, loss),
                          "lr": Series("lr", steps, 1e-3 * (1 + np.cos(np.pi * steps / n)) / 2 + 1e-6)},
              meta={"format": "csv", "step_unit": "step"})
    dx = lossdoctor.diagnose(run)
    t = time.perf_counter()
    out = write_html(dx, tmp_path / "big.html")
    took = time.perf_counter() - t
    data = _data_block(out.read_text())
    assert len(data["runs"][0]["loss"]["x"]) <= 2 * BUCKETS
    assert out.stat().st_size < 1_000_000
    assert took < 3.0  # the bench measures the whole command; this guards the writer alone
    assert len(dx.run.loss) == n  # the diagnosis kept every point


# -- through the command -------------------------------------------------------------------------
def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "lossdoctor", *args], capture_output=True, text=True,
                          timeout=180, cwd=cwd)


def test_report_command_writes_the_file_and_the_pngs(tmp_path):
    out = tmp_path / "sub" / "r.html"
    res = _cli("report", str(EX / "overfit_moons.jsonl"), "-o", str(out), "--png", str(tmp_path / "png"))
    assert res.returncode == 1, res.stderr  # symptoms found, as diagnose says
    assert out.is_file() and str(out) in res.stdout
    pngs = sorted((tmp_path / "png").glob("*.png"))
    assert len(pngs) == 1 and pngs[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(pngs[0]) in res.stdout
    # the default name, in the working folder; a healthy run exits 0
    res = _cli("report", str(EX / "healthy_adam.csv"), cwd=tmp_path)
    assert res.returncode == 0 and (tmp_path / "report.html").is_file()


def test_diagnose_html_keeps_stdout_json(tmp_path):
    out = tmp_path / "d.html"
    res = _cli("diagnose", str(EX / "jena_lr_low.csv"), "--json", "--html", str(out))
    assert res.returncode == 1
    assert json.loads(res.stdout)["symptoms"][0]["id"] == "plateau_then_drop"
    assert out.is_file() and str(out) in res.stderr


def test_report_usage_errors_exit_2(tmp_path):
    res = _cli("report", "--run", "abc")
    assert res.returncode == 2 and "--mlflow" in res.stderr
    res = _cli("report", str(tmp_path / "nope.csv"))
    assert res.returncode == 2 and "no such file" in res.stderr


def test_multi_run_png_overview(tmp_path):
    from lossdoctor.report.png import write_pngs

    dxs = [lossdoctor.diagnose(EX / "jena_lr_low.csv"), lossdoctor.diagnose(EX / "jena_healthy.csv")]
    paths = write_pngs(dxs, tmp_path)
    assert len(paths) == 3 and paths[0].name == "overview.png"
    assert paths[1].name.endswith("jena_lr_low.csv.png") and paths[2].name.endswith("jena_healthy.csv.png")
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in paths)
