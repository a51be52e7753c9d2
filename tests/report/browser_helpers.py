"""Opening a report in the browser and reading what its charts drew."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

@dataclass
class Opened:
    page: object
    errors: list = field(default_factory=list)
    dialogs: list = field(default_factory=list)
    requests: list = field(default_factory=list)


def open_report(ctx, path: Path, timeout_ms: int = 15000) -> Opened:
    """Open a report and wait for its script to finish; console errors, page errors, dialogs
    (alert) and requests other than the file itself are collected."""
    page = ctx.new_page()
    o = Opened(page)
    page.on("console", lambda m: o.errors.append(f"console.{m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: o.errors.append(f"pageerror: {e}"))
    page.on("dialog", lambda d: (o.dialogs.append(d.message), d.dismiss()))
    url = Path(path).resolve().as_uri()
    page.on("request", lambda r: o.requests.append(r.url) if r.url != url else None)
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", timeout=timeout_ms, state="attached")
    return o


#: For each chart of the page: its name, whether it drew, how many of its canvas pixels are
#: not background (a blank canvas has none), and the spans and marks the loss chart drew.
CHART_STATE_JS = """() => Array.from(document.querySelectorAll('.ld-chart')).map(el => {
  const c = el.querySelector('canvas');
  let ink = 0;
  if (c && c.width && c.height) {
    // read through a copy made for reading, not the chart's own canvas (no readback warning)
    const copy = document.createElement('canvas');
    copy.width = c.width; copy.height = c.height;
    const cx = copy.getContext('2d', {willReadFrequently: true});
    cx.drawImage(c, 0, 0);
    const d = cx.getImageData(0, 0, c.width, c.height).data;
    for (let i = 3; i < d.length; i += 16) { if (d[i] > 0) ink++; }
  }
  return {chart: el.dataset.chart, run: el.dataset.run || '', drawn: el.dataset.drawn === '1',
          ink: ink, spans: el.dataset.spans === undefined ? null : +el.dataset.spans,
          marks: el.dataset.marks === undefined ? null : +el.dataset.marks,
          xmin: el.dataset.xmin === undefined ? null : +el.dataset.xmin,
          xmax: el.dataset.xmax === undefined ? null : +el.dataset.xmax};
})"""
