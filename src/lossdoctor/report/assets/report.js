/* lossdoctor's HTML report: draws the charts from the JSON block #ld-data with uPlot.
 * Text from the logs goes into the page through textContent or onto a canvas, never as markup.
 * Each chart marks itself data-drawn="1" once drawn (the browser tests wait for it). */
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("ld-data").textContent);
  var PX = (window.uPlot && uPlot.pxRatio) || 1;
  var AXIS = 84;          // y-axis width, the same in every chart so the step axes line up
  var LINES = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b",
               "#e377c2", "#7f7f7f", "#bcbd22"];
  var SPAN_FILL = ["rgba(214,39,40,0.14)", "rgba(255,127,14,0.16)", "rgba(148,103,189,0.16)",
                   "rgba(44,160,44,0.14)", "rgba(23,190,207,0.16)", "rgba(140,86,75,0.16)"];
  var SPAN_TEXT = ["#a51c1d", "#b35600", "#6a4a8c", "#1e701e", "#0f7f8a", "#6b4239"];
  var VIRIDIS = [[68, 1, 84], [72, 40, 120], [62, 74, 137], [49, 104, 142], [38, 130, 142],
                 [31, 158, 137], [53, 183, 121], [109, 205, 89], [180, 222, 44], [253, 231, 37]];
  var all = [];

  function fmt(v) {
    if (v === null || v === undefined || !isFinite(v)) { return "–"; }
    var a = Math.abs(v);
    if (a === 0) { return "0"; }
    if (a < 1e-3 || a >= 1e6) { return v.toExponential(2); }
    return String(+v.toPrecision(4));
  }

  function fmtStep(v) {
    if (v === null || v === undefined || !isFinite(v)) { return "–"; }
    return Number.isInteger(v) ? v.toLocaleString("en-US") : String(+v.toPrecision(5));
  }

  function widthOf(el) { return Math.max(320, Math.floor(el.getBoundingClientRect().width)); }

  function color(s, i) {
    if (s.role === "loss") { return "#1f77b4"; }
    if (s.role === "val") { return "#d62728"; }
    if (s.role === "arm") { return LINES[(i + 2) % LINES.length]; }
    return LINES[i % LINES.length];
  }

  function heatColor(t) {
    t = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
    var i = Math.min(VIRIDIS.length - 2, Math.floor(t)), f = t - i;
    var a = VIRIDIS[i], b = VIRIDIS[i + 1];
    return "rgb(" + Math.round(a[0] + f * (b[0] - a[0])) + "," + Math.round(a[1] + f * (b[1] - a[1])) +
      "," + Math.round(a[2] + f * (b[2] - a[2])) + ")";
  }

  function short(name, n) { return name.length <= n ? name : "…" + name.slice(name.length - n + 1); }

  /* Every chart of one run shares its step axis: a zoom in one zooms the others. */
  function Group(run) {
    this.run = run;
    this.charts = [];
    this.busy = false;
  }
  Group.prototype.add = function (u) { this.charts.push(u); };
  Group.prototype.follow = function (u) {
    if (this.busy) { return; }
    this.busy = true;
    var min = u.scales.x.min, max = u.scales.x.max;
    this.charts.forEach(function (o) { if (o !== u) { o.setScale("x", {min: min, max: max}); } });
    this.busy = false;
  };
  Group.prototype.reset = function () {
    var lo = this.run ? this.run.lo : null, hi = this.run ? this.run.hi : null;
    this.charts.forEach(function (o) {
      var a = lo, b = hi;
      if (a === null) { var x = o.data[0]; a = x[0]; b = x[x.length - 1]; }
      o.setScale("x", {min: a, max: b});
    });
  };

  /* Ticks of a log axis: powers of ten (every k-th when the range spans many decades), or
   * 1-2-5 steps when it spans less than a decade; uPlot's own minor ticks crowd a short panel. */
  function logSplits(u, axisIdx, min, max) {
    if (!(min > 0) || !(max > min)) { return [min, max]; }
    var a = Math.floor(Math.log10(min)), b = Math.ceil(Math.log10(max)), out = [];
    var step = Math.max(1, Math.ceil((b - a) / 6));
    for (var e = a; e <= b; e += step) {
      var v = Math.pow(10, e);
      if (v >= min * 0.999 && v <= max * 1.001) { out.push(v); }
    }
    if (out.length >= 2) { return out; }
    out = [];
    for (var e2 = a; e2 <= b; e2++) {
      [1, 2, 5].forEach(function (m) {
        var w = m * Math.pow(10, e2);
        if (w >= min * 0.999 && w <= max * 1.001) { out.push(+w.toPrecision(3)); }
      });
    }
    return out.length ? out : [min, max];
  }

  function baseOpts(el, group, height, unit, extra) {
    var opts = {
      width: widthOf(el),
      height: height,
      scales: {x: {time: false}},
      axes: [
        {label: height >= 250 && unit ? unit + "s" : undefined, size: 32,
         values: function (u, v) { return v.map(fmtStep); }},
        {size: AXIS, values: function (u, v) { return v.map(function (x) { return x === null ? "" : fmt(x); }); }}
      ],
      cursor: {
        drag: {x: true, y: false},
        bind: {dblclick: function () { return function () { return null; }; }},
        sync: group && group.run ? {key: group.run.id, setSeries: false} : undefined
      },
      legend: {live: true},
      hooks: {
        setScale: [function (u, key) {
          if (key !== "x") { return; }
          el.dataset.xmin = String(u.scales.x.min);
          el.dataset.xmax = String(u.scales.x.max);
          if (group) { group.follow(u); }
        }],
        draw: [function (u) { el.dataset.drawn = "1"; }]
      }
    };
    Object.keys(extra || {}).forEach(function (k) { opts[k] = extra[k]; });
    return opts;
  }

  function lineChart(el, spec, group, height, unit, decorate) {
    var series = [{label: unit || "x", value: function (u, v) { return fmtStep(v); }}];
    var data = [spec.x];
    spec.series.forEach(function (s, i) {
      series.push({
        label: s.label,
        stroke: color(s, i),
        width: s.role === "loss" ? 1.5 : 1.2,
        dash: s.dashed ? [6, 4] : undefined,
        spanGaps: true,
        points: {show: s.role === "val" && spec.x.length < 400},
        value: function (u, v) { return fmt(v); }
      });
      data.push(spec.series[i].y);
    });
    var opts = baseOpts(el, group, height, unit);
    opts.series = series;
    opts.scales.y = spec.log ? {distr: 3, log: 10} : {auto: true};
    if (spec.log) { opts.axes[1].splits = logSplits; }
    if (spec.band && spec.log) {  // the band stays in view, so the line reads against it
      opts.scales.y.range = function (u, min, max) {
        return uPlot.rangeLog(Math.min(min, spec.band[0]), Math.max(max, spec.band[1]), 10, true);
      };
    } else if (spec.share) {  // a share from 0: an all-zero line sits on the axis
      opts.scales.y.range = function (u, min, max) { return [0, Math.max(1.15 * max, 0.01)]; };
    }
    if (spec.band) {
      opts.hooks.drawClear = [function (u) { drawBand(u, spec); }];
    }
    if (decorate) { decorate(opts); }
    var u = new uPlot(opts, data, el);
    el.dataset.series = String(spec.series.length);
    return u;
  }

  function drawBand(u, spec) {
    var ctx = u.ctx, b = u.bbox;
    var y0 = u.valToPos(spec.band[1], "y", true), y1 = u.valToPos(spec.band[0], "y", true);
    var top = Math.max(b.top, Math.min(y0, y1)), bot = Math.min(b.top + b.height, Math.max(y0, y1));
    if (bot <= top) { return; }
    ctx.save();
    ctx.fillStyle = "rgba(44,160,44,0.12)";
    ctx.fillRect(b.left, top, b.width, bot - top);
    ctx.fillStyle = "#1e701e";
    ctx.font = (11 * PX) + "px sans-serif";
    ctx.textBaseline = "top";
    ctx.textAlign = "left";
    ctx.fillText(spec.band_label || "", b.left + 4 * PX, top + 2 * PX);
    ctx.restore();
  }

  /* The loss chart: symptom spans behind the lines, labels, marked points and NaN ticks on top. */
  function lossChart(el, run, group, readout) {
    var spans = run.spans || [], marks = run.marks || [];
    function xPos(u, v) { return u.valToPos(v, "x", true); }
    function decorate(opts) {
      opts.hooks.drawClear = [function (u) {
        var ctx = u.ctx, b = u.bbox;
        ctx.save();
        spans.forEach(function (s, k) {
          var a = xPos(u, s.start), z = xPos(u, s.end);
          var l = Math.max(b.left, Math.min(a, z)), r = Math.min(b.left + b.width, Math.max(a, z));
          if (r - l < 3 * PX) { l -= 1.5 * PX; r += 1.5 * PX; }
          if (r < b.left || l > b.left + b.width) { return; }
          ctx.fillStyle = SPAN_FILL[k % SPAN_FILL.length];
          ctx.fillRect(l, b.top, r - l, b.height);
        });
        ctx.restore();
      }];
      opts.hooks.draw.push(function (u) {
        var ctx = u.ctx, b = u.bbox, drawn = 0, shown = 0;
        ctx.save();
        ctx.beginPath();
        ctx.rect(b.left, b.top, b.width, b.height);
        ctx.clip();
        ctx.font = "bold " + (11 * PX) + "px sans-serif";
        ctx.textBaseline = "top";
        ctx.textAlign = "left";
        spans.forEach(function (s, k) {
          var a = Math.max(b.left, Math.min(xPos(u, s.start), xPos(u, s.end)));
          if (a > b.left + b.width) { return; }
          drawn += 1;
          ctx.fillStyle = SPAN_TEXT[k % SPAN_TEXT.length];
          ctx.fillText(s.title, Math.min(a + 4 * PX, b.left + b.width - 140 * PX), b.top + (4 + 14 * k) * PX);
        });
        ctx.font = (11 * PX) + "px sans-serif";
        marks.forEach(function (m) {
          if (m.y === null) { return; }
          var x = xPos(u, m.step), y = u.valToPos(m.y, "y", true);
          if (!isFinite(x) || !isFinite(y)) { return; }
          shown += 1;
          ctx.beginPath();
          ctx.arc(x, y, 5 * PX, 0, 2 * Math.PI);
          ctx.lineWidth = 2 * PX;
          ctx.strokeStyle = "#000";
          ctx.fillStyle = "rgba(255,215,0,0.9)";
          ctx.fill();
          ctx.stroke();
          ctx.fillStyle = "#000";
          ctx.fillText(m.label, x + 8 * PX, y + 4 * PX);  // below-right: the span titles are on top
        });
        ctx.fillStyle = "#d62728";
        (run.nonfinite || []).forEach(function (s) {
          var x = xPos(u, s);
          ctx.fillRect(x - 1 * PX, b.top + b.height - 10 * PX, 2 * PX, 10 * PX);
        });
        ctx.restore();
        el.dataset.spans = String(drawn);
        el.dataset.marks = String(shown);
      });
      opts.hooks.setCursor = [function (u) {
        var i = u.cursor.left;
        if (i === null || i < 0) { readout.textContent = ""; return; }
        var v = u.posToVal(i, "x");
        var hit = spans.filter(function (s) {
          return v >= Math.min(s.start, s.end) && v <= Math.max(s.start, s.end);
        });
        readout.textContent = hit.map(function (s) { return s.title + ": " + s.summary; }).join("  ·  ");
      }];
    }
    return lineChart(el, run.loss, group, 300, run.unit, decorate);
  }

  function heatChart(el, spec, group, unit, readout) {
    var L = spec.layers.length, edges = spec.edges, zmin = spec.zmin, zmax = spec.zmax;
    var span = (zmax !== null && zmin !== null && zmax > zmin) ? zmax - zmin : 1;
    var height = Math.min(520, Math.max(140, 20 * L + 50));
    var opts = baseOpts(el, group, height, unit);
    opts.legend = {show: false};
    opts.series = [{}, {label: spec.title, stroke: "transparent", points: {show: false}}];
    opts.scales.y = {auto: false, range: [0, L]};
    opts.axes[1] = {
      size: AXIS,
      splits: function () { var s = []; for (var i = 0; i < L; i++) { s.push(L - i - 0.5); } return s; },
      values: function (u, splits) {
        return splits.map(function (v) { return short(spec.layers[Math.round(L - 0.5 - v)] || "", 11); });
      },
      grid: {show: false}
    };
    opts.hooks.draw.unshift(function (u) {
      var ctx = u.ctx, b = u.bbox;
      ctx.save();
      ctx.beginPath();
      ctx.rect(b.left, b.top, b.width, b.height);
      ctx.clip();
      for (var i = 0; i < L; i++) {
        var y0 = u.valToPos(L - i, "y", true), y1 = u.valToPos(L - i - 1, "y", true);
        var row = spec.z[i];
        for (var j = 0; j < row.length; j++) {
          if (row[j] === null) { continue; }
          var x0 = u.valToPos(edges[j], "x", true), x1 = u.valToPos(edges[j + 1], "x", true);
          if (x1 < b.left || x0 > b.left + b.width) { continue; }
          ctx.fillStyle = heatColor((row[j] - zmin) / span);
          ctx.fillRect(x0, Math.min(y0, y1), Math.max(1, x1 - x0 + 0.5), Math.abs(y1 - y0));
        }
      }
      ctx.restore();
    });
    opts.hooks.setCursor = [function (u) {
      var l = u.cursor.left, t = u.cursor.top;
      if (l === null || l < 0 || t === null || t < 0) { readout.textContent = ""; return; }
      var x = u.posToVal(l, "x"), yv = u.posToVal(t, "y");
      var i = Math.floor(L - yv), j = -1;
      for (var k = 0; k < edges.length - 1; k++) { if (x >= edges[k] && x <= edges[k + 1]) { j = k; break; } }
      if (i < 0 || i >= L || j < 0) { readout.textContent = ""; return; }
      var z = spec.z[i][j];
      readout.textContent = spec.layers[i] + " · " + (unit || "step") + "s " + fmtStep(Math.round(edges[j])) +
        "–" + fmtStep(Math.round(edges[j + 1])) + " · gradient norm " + (z === null ? "not logged" : fmt(Math.pow(10, z)));
    }];
    var data = [edges, edges.map(function () { return null; })];
    var u = new uPlot(opts, data, el);
    var bar = document.createElement("div");
    bar.className = "ld-colorbar";
    var lo = document.createElement("span"), hi = document.createElement("span"), grad = document.createElement("span");
    lo.textContent = zmin === null ? "" : fmt(Math.pow(10, zmin));
    hi.textContent = zmax === null ? "" : fmt(Math.pow(10, zmax));
    grad.className = "ld-gradient";
    bar.appendChild(lo); bar.appendChild(grad); bar.appendChild(hi);
    el.parentNode.insertBefore(bar, el.nextSibling);
    el.dataset.layers = String(L);
    return u;
  }

  function fail(el, err) {
    console.error("lossdoctor report: a chart could not be drawn:", err);
    var p = document.createElement("p");
    p.className = "ld-warn";
    p.textContent = "This chart could not be drawn: " + err;
    el.appendChild(p);
  }

  function drawRun(run) {
    var section = document.getElementById(run.id);
    if (!section || !run.loss) { return; }
    var group = new Group(run);
    section.querySelectorAll(".ld-chart").forEach(function (el) {
      var which = el.dataset.chart, u = null;
      var readout = el.parentNode.querySelector(".ld-readout");
      try {
        if (which === "loss") {
          u = lossChart(el, run, group, readout);
        } else {
          var spec = run.panels.filter(function (p) { return p.id === which; })[0];
          if (!spec) { return; }
          u = spec.kind === "heat" ? heatChart(el, spec, group, run.unit, readout)
                                   : lineChart(el, spec, group, spec.log ? 150 : 130, run.unit);
        }
      } catch (err) { fail(el, err); return; }
      group.add(u);
      all.push({u: u, el: el});
      u.over.addEventListener("dblclick", function () { group.reset(); });
    });
    group.reset();
  }

  function drawOverlay() {
    var el = document.querySelector(".ld-chart[data-chart=overlay]");
    if (!el || !DATA.overlay) { return; }
    try {
      var spec = DATA.overlay;
      spec.series.forEach(function (s) { s.role = "line"; });
      var group = new Group(null);
      var u = lineChart(el, spec, group, 320, DATA.overlay_unit || "step");
      group.add(u);
      all.push({u: u, el: el});
      u.over.addEventListener("dblclick", function () { group.reset(); });
    } catch (err) { fail(el, err); }
  }

  if (!window.uPlot) {
    console.error("lossdoctor report: the charting library did not load");
    return;
  }
  drawOverlay();
  DATA.runs.forEach(drawRun);
  window.addEventListener("resize", function () {
    all.forEach(function (c) { c.u.setSize({width: widthOf(c.el), height: c.u.height}); });
  });
  document.body.dataset.ready = "1";
})();
