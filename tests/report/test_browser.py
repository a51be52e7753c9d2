"""The HTML report in a real headless Chromium: every example log and every real log of
``shared/reallogs`` renders without a console error, every chart draws ink, the symptom spans
and the causes table are there, zooming one chart zooms the run's others, and a page full of
hostile names shows them as text and runs nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import lossdoctor
from lossdoctor.report.html import write_html

from browser_helpers import CHART_STATE_JS, open_report

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p for p in (ROOT / "examples").iterdir() if p.suffix in (".csv", ".jsonl"))
REAL = next((p for p in (ROOT.parent / "shared" / "reallogs", Path("/work/shared/reallogs"))
             if (p / "manifest.json").is_file()), ROOT.parent / "shared" / "reallogs")
REAL_CASES = json.loads((REAL / "manifest.json").read_text()) if REAL.exists() else []


def _check_page(o, dxs) -> list[dict]:
    assert o.errors == [], o.errors
    assert o.dialogs == []
    assert o.requests == [], f"the report fetched {o.requests}: it must be self-contained"
    charts = o.page.evaluate(CHART_STATE_JS)
    assert charts, "no chart on the page"
    for c in charts:
        assert c["drawn"], f"chart {c['chart']} of {c['run']} did not draw"
        assert c["ink"] > 50, f"chart {c['chart']} of {c['run']} drew nothing visible"
    losses = [c for c in charts if c["chart"] == "loss"]
    assert len(losses) == len(dxs)
    for c, dx in zip(losses, dxs):
        assert c["spans"] == len(dx.symptoms)
    n_rows = o.page.locator("table.ld-causes tbody tr").count()
    assert n_rows == sum(len(dx.causes) for dx in dxs)
    assert o.page.locator("li.ld-symptom").count() == sum(len(dx.symptoms) for dx in dxs)
    return charts


@pytest.mark.parametrize("log", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_renders(chromium, tmp_path, log):
    dxs = lossdoctor.diagnose_all(log)
    out = write_html(dxs, tmp_path / "report.html")
    o = open_report(chromium, out)
    try:
        charts = _check_page(o, dxs)
        run = dxs[0].run
        if log.suffix == ".jsonl":  # the monitor's logs hold the internals: their panels drew
            drawn = {c["chart"] for c in charts}
            assert {"lr", "grad_norm", "update_ratio", "grad_layers"} <= drawn
            layers = o.page.locator("[data-chart=grad_layers]").get_attribute("data-layers")
            assert int(layers) == len(run.layers("grad_norm"))
        else:  # loss only: no internals drawn, and the report says what to log
            assert {c["chart"] for c in charts} == {"loss"}
            assert "update_ratio" in o.page.locator(".ld-absent").inner_text()
    finally:
        o.page.close()


@pytest.mark.skipif(not REAL_CASES, reason="shared/reallogs not laid beside the repository")
@pytest.mark.parametrize("case", REAL_CASES, ids=[c["case"] for c in REAL_CASES])
def test_every_real_log_renders(chromium, tmp_path, case):
    dxs = lossdoctor.diagnose_all(REAL / case["path"])
    out = write_html(dxs, tmp_path / "report.html")
    o = open_report(chromium, out)
    try:
        _check_page(o, dxs)
    finally:
        o.page.close()


def test_several_runs_overview_and_overlay(chromium, tmp_path, artifacts):
    dxs = lossdoctor.diagnose_all(ROOT / "examples")
    out = write_html(dxs, tmp_path / "report.html")
    o = open_report(chromium, out)
    try:
        charts = _check_page(o, dxs)
        assert sum(c["chart"] == "overlay" for c in charts) == 1
        rows = o.page.locator("table.ld-overview tbody tr")
        assert rows.count() == len(dxs)
        # each overview row links to its run's section
        href = rows.nth(3).locator("a").get_attribute("href")
        assert o.page.locator(href).locator("h2").inner_text() == dxs[3].run.name
        legend = o.page.locator(".ld-overlay .u-legend").inner_text()
        assert all(dx.run.name in legend for dx in dxs)
        o.page.set_viewport_size({"width": 1280, "height": 1000})
        o.page.locator("#overview").screenshot(path=str(artifacts / "overview_examples.png"))
    finally:
        o.page.close()


def test_zoom_follows_and_hover_shows_the_span(chromium, tmp_path, artifacts):
    dx = lossdoctor.diagnose(ROOT / "examples" / "jena_lr_low.jsonl")
    span = dx.symptom("plateau_then_drop")
    out = write_html(dx, tmp_path / "report.html")
    o = open_report(chromium, out)
    try:
        page = o.page
        page.locator("#run-1").screenshot(path=str(artifacts / "jena_lr_low.png"))
        before = page.evaluate(CHART_STATE_JS)
        over = page.locator("[data-chart=loss] .u-over")
        box = over.bounding_box()
        # hover in the middle of the plateau: the readout names the symptom and its summary
        page.mouse.move(box["x"] + box["width"] * 0.25, box["y"] + box["height"] / 2)
        readout = page.locator(".ld-loss .ld-readout").inner_text()
        assert span.summary in readout
        # drag across the second quarter of the loss chart: every chart of the run zooms to it
        page.mouse.move(box["x"] + box["width"] * 0.25, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2, steps=5)
        page.mouse.up()
        after = page.evaluate(CHART_STATE_JS)
        ranges = {(round(c["xmin"], 6), round(c["xmax"], 6)) for c in after}
        assert len(ranges) == 1, ranges
        (lo, hi), = ranges
        full = before[0]["xmax"] - before[0]["xmin"]
        assert 0.15 * full < hi - lo < 0.35 * full
        # double-click: back to the whole run
        page.mouse.dblclick(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
        reset = page.evaluate(CHART_STATE_JS)
        assert {(c["xmin"], c["xmax"]) for c in reset} == {(before[0]["xmin"], before[0]["xmax"])}
        assert o.errors == []
    finally:
        o.page.close()


def test_overfitting_report_marks_the_validation_minimum(chromium, tmp_path, artifacts):
    dx = lossdoctor.diagnose(ROOT / "examples" / "overfit_moons.jsonl")
    assert dx.symptom("overfitting") is not None
    out = write_html(dx, tmp_path / "report.html")
    o = open_report(chromium, out)
    try:
        charts = _check_page(o, [dx])
        loss = next(c for c in charts if c["chart"] == "loss")
        assert loss["marks"] >= 1
        o.page.locator("#run-1").screenshot(path=str(artifacts / "overfit_moons.png"))
    finally:
        o.page.close()


HOSTILE = "<script>alert(1)</script>"
HOSTILE_DIR = "<img src=x onerror=alert(1)>"


def test_hostile_names_show_as_text_and_run_nothing(chromium, tmp_path):
    run_dir = tmp_path / HOSTILE_DIR
    run_dir.mkdir()
    lines = [f"step,loss,val_loss,grad_norm/{HOSTILE},{HOSTILE}"]
    for i in range(300):
        loss = 2.3 if i < 150 else 2.3 - (i - 150) / 100
        lines.append(f"{i},{loss:.4f},{loss + 0.1:.4f},{0.1 + i / 1000:.4f},{i}")
    (run_dir / "metrics.csv").write_text("\n".join(lines) + "\n")
    (run_dir / "hparams.yaml").write_text(f'optimizer: "{HOSTILE}"\nlr: 0.001\n'
                                          f'"{HOSTILE_DIR}": "</script><b>bold</b>"\n')
    dxs = lossdoctor.diagnose_all(tmp_path)
    out = write_html(dxs, tmp_path / "report.html")
    raw = out.read_text()
    assert raw.count("<script") == 3  # the data block, the charting library, the report's script
    o = open_report(chromium, out)
    try:
        page = o.page
        assert o.dialogs == [], "a script from the log ran"
        assert o.errors == []
        assert page.evaluate("document.querySelectorAll('script').length") == 3
        assert page.evaluate("document.querySelectorAll('img, b:not(td b):not(li b)').length") == 0
        text = page.locator("body").inner_text()
        assert HOSTILE in text and HOSTILE_DIR in text and "</script><b>bold</b>" in text
        assert page.locator("h2").first.inner_text() == dxs[0].run.name
        # the heat map's row label comes from the hostile layer name: it drew, as text
        assert page.locator("[data-chart=grad_layers]").get_attribute("data-drawn") == "1"
    finally:
        o.page.close()
