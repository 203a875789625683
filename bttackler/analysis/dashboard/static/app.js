// bttackler dashboard: one page, hash routes, JSON polled from the local server every 1.5 s.
//   #/                       the runs
//   #/run/KEY                a run: figures and its trials (sortable, filterable)
//   #/run/KEY/trial/ID       a trial: curves with the verdict, per-layer statistics
//   #/compare/KEY,KEY        several runs overlaid
"use strict";

const POLL_MS = 1500;
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
  "#7f7f7f", "#bcbd22", "#17becf"];
const state = { route: null, timer: null, busy: false, charts: {}, sort: { key: "id", asc: true },
  filter: "", stateFilter: "", selected: new Set(), lastRun: null, trialDone: false };

// ------------------------------------------------------------------ helpers
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c != null) node.append(c);
  return node;
}
function fmt(v, digits = 4) {
  if (v === null || v === undefined) return "–";
  if (typeof v !== "number") return String(v);
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(2) : String(+v.toPrecision(digits));
}
function secs(v) { return v === null || v === undefined ? "–" : v.toFixed(1) + " s"; }
async function getJSON(url) {
  const res = await fetch(url, { cache: "no-store" });
  const doc = await res.json();
  if (!res.ok) throw new Error(doc.error || res.statusText);
  return doc;
}
function chartWidth() { return Math.max(320, Math.min(560, (window.innerWidth - 80) / 2)); }
function stamp(text) { document.getElementById("updated").textContent = text; }
function crumbs(parts) {
  const nav = document.getElementById("crumbs");
  nav.replaceChildren();
  parts.forEach(([label, href], i) => {
    if (i) nav.append(el("span", { text: "›" }));
    nav.append(href ? el("a", { href, text: label }) : el("b", { text: label }));
  });
}

// ------------------------------------------------------------------ charts (uPlot)
// A horizontal line at value v of scale "y" (bounds and thresholds), labelled.
function hline(u, v, color, label) {
  if (v === null || v === undefined) return;
  const { min, max } = u.scales.y;
  if (min === undefined || v < min || v > max) return;
  const y = u.valToPos(v, "y", true), ctx = u.ctx;
  ctx.save();
  ctx.strokeStyle = color; ctx.fillStyle = color; ctx.lineWidth = 1.5 * devicePixelRatio;
  ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
  ctx.beginPath(); ctx.moveTo(u.bbox.left, y); ctx.lineTo(u.bbox.left + u.bbox.width, y);
  ctx.stroke();
  ctx.font = `${11 * devicePixelRatio}px sans-serif`;
  ctx.fillText(label, u.bbox.left + u.bbox.width * 0.3, y - 4);
  ctx.restore();
}
// A vertical line at x value v (the verdict's epoch), labelled.
function vline(u, v, color, label) {
  if (v === null || v === undefined) return;
  const x = u.valToPos(v, "x", true), ctx = u.ctx;
  ctx.save();
  ctx.strokeStyle = color; ctx.fillStyle = color; ctx.lineWidth = 2 * devicePixelRatio;
  ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height);
  ctx.stroke();
  ctx.font = `bold ${11 * devicePixelRatio}px sans-serif`;
  ctx.textAlign = x > u.bbox.left + u.bbox.width / 2 ? "right" : "left";
  ctx.fillText(label, x + (ctx.textAlign === "left" ? 4 : -4), u.bbox.top + 12 * devicePixelRatio);
  ctx.restore();
}

// Draw (or update in place) chart `id` inside `box`. series: [{label, values, ...opts}].
function chart(box, id, title, x, series, opts = {}) {
  const data = [x, ...series.map((s) => s.values)];
  const sig = JSON.stringify([title, series.map((s) => s.label), opts.log, opts.marks]);
  const old = state.charts[id];
  if (old && old.sig === sig && document.body.contains(old.u.root)) {
    old.u.setData(data);
    return old.u;
  }
  if (old) old.u.destroy();
  const wrap = el("div", { class: "chart", "data-chart": id }, el("h3", { text: title }));
  box.append(wrap);
  const u = new uPlot({
    width: opts.width || chartWidth(), height: opts.height || 220,
    scales: { x: { time: false }, y: opts.log ? { distr: 3 } : (opts.yRange ? { range: opts.yRange } : {}) },
    axes: [{ label: opts.xLabel || "", ...(opts.xLabel === "epoch" ? { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500] } : {}) },
      { label: opts.yLabel || "", size: 60 }],
    series: [{ label: opts.xLabel || "x" }, ...series.map((s, i) => ({
      label: s.label, stroke: s.color || COLORS[i % COLORS.length], width: s.width || 1.5,
      spanGaps: true, points: { show: x.length < 40 },
      ...(opts.stepped ? { paths: uPlot.paths.stepped({ align: 1 }) } : {}),
    }))],
    hooks: { draw: [(uu) => (opts.marks || []).forEach((m) =>
      m.axis === "x" ? vline(uu, m.value, m.color, m.label) : hline(uu, m.value, m.color, m.label))] },
  }, data, wrap);
  if (opts.note) wrap.append(el("p", { class: "note", text: opts.note }));
  state.charts[id] = { u, sig };
  return u;
}
function resetCharts() {
  for (const c of Object.values(state.charts)) c.u.destroy();
  state.charts = {};
}
// positive finite values only (log scales), null elsewhere
function positive(vals) { return vals.map((v) => (typeof v === "number" && v > 0 ? v : null)); }

// Figures of `report` (one run or several overlaid): top-10 mean and trials over time.
function timeFigures(box, figures, objective, countLabel) {
  const top = figures.top10_over_time.series, tri = figures.trials_over_time.series;
  const join = (ss) => (ss.length ? uPlot.join(ss.map((s) => [s.points.map((p) => p[0]),
    s.points.map((p) => p[1])])) : [[]]);
  const tj = join(top), cj = join(tri);
  chart(box, "top10", `Top-10 mean ${objective} over time (${countLabel})`, tj[0],
    top.map((s, i) => ({ label: s.run, values: tj[i + 1] || [] })),
    { stepped: true, xLabel: "seconds since the run started", yLabel: objective });
  chart(box, "count", `Trials with a value over time (${countLabel})`, cj[0],
    tri.map((s, i) => ({ label: s.run, values: cj[i + 1] || [] })),
    { stepped: true, xLabel: "seconds since the run started", yLabel: "trials" });
  const term = figures.terminations_by_indicator;
  const max = Math.max(1, ...term.series.flatMap((s) => Object.values(s.counts)));
  const table = el("table", { class: "hbars", "data-chart": "terminations" });
  if (!term.indicators.length) table.append(el("tr", {}, el("td", { class: "muted", text: "no trial terminated yet" })));
  for (const name of term.indicators) {
    term.series.forEach((s, i) => {
      const n = s.counts[name] || 0;
      table.append(el("tr", {}, el("td", { text: i ? "" : name }),
        term.series.length > 1 ? el("td", { class: "muted", text: s.run }) : null,
        el("td", { class: "bar-cell" }, el("i", { style: `width:${(300 * n) / max}px;background:${COLORS[i % COLORS.length]}` })),
        el("td", { class: "num", text: String(n) })));
    });
  }
  const old = box.querySelector('[data-chart="terminations-box"]');
  const wrap = el("div", { class: "chart", "data-chart": "terminations-box" },
    el("h3", { text: "Terminations per indicator" }), table);
  if (old) old.replaceWith(wrap); else box.append(wrap);
}

// ------------------------------------------------------------------ views
async function viewRuns(first) {
  const doc = await getJSON("/api/runs");
  crumbs([["runs", null]]);
  if (first && doc.single_run && doc.runs.length === 1 && !location.hash.startsWith("#/")) {
    location.replace(`#/run/${encodeURIComponent(doc.runs[0].key)}`);
    return;
  }
  const view = document.getElementById("view");
  const rows = doc.runs.map((r) => {
    const box = el("input", { type: "checkbox", "data-key": r.key });
    box.checked = state.selected.has(r.key);
    box.addEventListener("change", () => (box.checked ? state.selected.add(r.key) : state.selected.delete(r.key)));
    const pct = r.progress === null || r.progress === undefined ? null : Math.round(100 * r.progress);
    const st = r.states || {};
    return el("tr", { "data-key": r.key },
      el("td", {}, box),
      el("td", {}, el("a", { href: `#/run/${encodeURIComponent(r.key)}`, text: r.name })),
      el("td", { text: r.task || "" }), el("td", { text: r.method || "" }),
      el("td", { class: "num", text: secs(r.budget) }),
      el("td", {}, el("span", { class: "bar" }, el("i", { style: `width:${pct || 0}%` })), ` ${pct === null ? "–" : pct + "%"}`),
      el("td", { class: `state-${(r.state || "").split(" ")[0]}`, text: r.state, title: r.error || "" }),
      el("td", { class: "num", text: String(r.trials ?? "–") }),
      el("td", { class: "muted", text: Object.entries(st).map(([k, v]) => `${k} ${v}`).join(", ") }),
      el("td", { class: "num", text: fmt(r.best) }));
  });
  const head = el("tr", {}, ...["", "run", "task", "method", "budget", "progress", "state",
    "trials", "by state", "best"].map((h) => el("th", { text: h })));
  const table = el("table", { id: "runs" }, el("thead", {}, head), el("tbody", {}, ...rows));
  const overlay = el("button", { id: "overlay", text: "overlay the selected runs", onclick: () => {
    const keys = [...state.selected];
    if (keys.length) location.hash = `#/compare/${keys.map(encodeURIComponent).join(",")}`;
  } });
  view.replaceChildren(el("h2", { text: `Runs (${doc.runs.length})` }),
    el("p", { class: "muted", text: `from ${doc.targets.join(", ")}; trials counted by their ${doc.count} value` }),
    table, el("div", { class: "tools" }, overlay));
  return true;
}

const TRIAL_COLUMNS = [
  ["id", "trial", "num"], ["state", "state"], ["value", "value", "num"],
  ["best_value", "best", "num"], ["epochs", "epochs", "num"], ["duration", "time (s)", "num"],
  ["indicator", "indicator"], ["rule", "rule (its numbers)", "rule"],
  ["verdict_epoch", "verdict epoch", "num"], ["params", "parameters", "rule"],
];
function cellText(t, key) {
  if (key === "params") return Object.entries(t.params).map(([k, v]) => `${k}=${fmt(v)}`).join(" ");
  const v = t[key];
  return typeof v === "number" ? fmt(v) : v ?? "";
}
function sortedTrials(trials) {
  const { key, asc } = state.sort;
  const f = state.filter.toLowerCase();
  const rows = trials.filter((t) => (!state.stateFilter || t.state === state.stateFilter) &&
    (!f || TRIAL_COLUMNS.some(([k]) => String(cellText(t, k)).toLowerCase().includes(f))));
  rows.sort((a, b) => {
    const x = a[key], y = b[key];
    if (x === y) return a.id - b.id;
    if (x === null || x === undefined) return 1;
    if (y === null || y === undefined) return -1;
    const c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
    return asc ? c : -c;
  });
  return rows;
}
function renderTrials(box, key, trials) {
  const rows = sortedTrials(trials);
  const head = el("tr", {}, ...TRIAL_COLUMNS.map(([k, label]) => el("th", {
    text: label, "data-key": k,
    class: state.sort.key === k ? `sorted ${state.sort.asc ? "asc" : ""}` : "",
    onclick: () => {
      state.sort = { key: k, asc: state.sort.key === k ? !state.sort.asc : true };
      renderTrials(box, key, trials);
    },
  })));
  const body = el("tbody", {}, ...rows.map((t) => el("tr", {
    class: "click", "data-id": String(t.id), "data-state": t.state,
    onclick: () => (location.hash = `#/run/${encodeURIComponent(key)}/trial/${t.id}`),
  }, ...TRIAL_COLUMNS.map(([k, , cls]) => el("td", {
    class: (cls || "") + (k === "state" ? ` state-${t.state}` : ""), text: String(cellText(t, k)),
  })))));
  const table = el("table", { id: "trials" }, el("thead", {}, head), body);
  box.replaceChildren(el("div", { class: "scroll" }, table),
    el("p", { class: "muted", id: "shown", text: `${rows.length} of ${trials.length} trials shown` }));
}

// Parallel coordinates: one axis per parameter, one line per trial with a known outcome,
// coloured by its counted value (dark: worst, yellow: best); a bad trial (a problem verdict,
// recorded or acted on, or failed) is drawn red and dashed, its indicator in its tooltip.
const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  return node;
}
function axisPosition(axis, value) {
  if (value === undefined || value === null) return null;
  if (axis.kind === "choice") {
    const i = axis.values.indexOf(String(value));
    return i < 0 ? null : (axis.values.length === 1 ? 0.5 : i / (axis.values.length - 1));
  }
  const f = axis.kind === "log" ? Math.log10 : (x) => x;
  const lo = f(axis.low), hi = f(axis.high), x = f(Number(value));
  return hi === lo ? 0.5 : Math.min(1, Math.max(0, (x - lo) / (hi - lo)));
}
function valueColor(t) {  // 0 -> dark blue, 1 -> yellow
  const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const x = Math.min(0.9999, Math.max(0, t)) * (stops.length - 1), i = Math.floor(x), f = x - i;
  const c = stops[i].map((v, k) => Math.round(v + f * (stops[i + 1][k] - v)));
  return `rgb(${c.join(",")})`;
}
function renderParallel(box, par) {
  box.replaceChildren();
  if (!par || !par.trials.length) { box.append(el("p", { text: "No trial with a known outcome yet." })); return; }
  const width = Math.max(640, Math.min(1200, window.innerWidth - 60)), height = 260, top = 24, bottom = 40;
  const step = (width - 80) / Math.max(1, par.axes.length - 1), plot = height - top - bottom;
  const values = par.trials.map((t) => t.counted).filter((v) => typeof v === "number");
  const lo = Math.min(...values), hi = Math.max(...values);
  const rank = (v) => (typeof v !== "number" || hi === lo ? 0.5 : (par.mode === "max" ? (v - lo) / (hi - lo) : (hi - v) / (hi - lo)));
  const root = svg("svg", { id: "parallel", width, height, "data-lines": par.trials.length,
    "data-bad": par.trials.filter((t) => t.trouble).length });
  const good = par.trials.filter((t) => !t.trouble), bad = par.trials.filter((t) => t.trouble);
  for (const t of [...good, ...bad]) {  // bad ones on top
    const pts = par.axes.map((a, i) => [40 + i * step, axisPosition(a, t.params[a.name])])
      .filter(([, y]) => y !== null).map(([x, y]) => `${x.toFixed(1)},${(top + (1 - y) * plot).toFixed(1)}`);
    const line = svg("polyline", { points: pts.join(" "), fill: "none", "data-id": t.id,
      stroke: t.trouble ? "#d62728" : valueColor(rank(t.counted)), "stroke-width": t.trouble ? 1 : 1.5,
      "stroke-dasharray": t.trouble ? "4 3" : "", opacity: t.trouble ? 0.55 : 0.85,
      class: t.trouble ? "bad" : "good" });
    const title = svg("title");
    title.textContent = `trial ${t.id}: ${par.objective} ${fmt(t.counted)}` + (t.trouble ? ` · ${t.trouble}` : "");
    line.append(title);
    root.append(line);
  }
  par.axes.forEach((a, i) => {
    const x = 40 + i * step;
    root.append(svg("line", { x1: x, x2: x, y1: top, y2: top + plot, stroke: "#555" }));
    const label = svg("text", { x, y: height - 8, "text-anchor": "middle", "font-size": 11, "font-weight": "bold" });
    label.textContent = a.name;
    root.append(label);
    const ends = a.kind === "choice" ? [a.values[0], a.values[a.values.length - 1]] : [fmt(a.low, 2), fmt(a.high, 2)];
    for (const [y, text] of [[top + plot + 11, ends[0]], [top - 6, ends[1]]]) {
      const tick = svg("text", { x, y, "text-anchor": "middle", "font-size": 9, fill: "#666" });
      tick.textContent = text;
      root.append(tick);
    }
  });
  box.append(root, el("p", { class: "legend", text: `${par.trials.length} trials with a known outcome: ` +
    `colour from worst (dark) to best (yellow) ${par.objective}; red dashed: bad (${bad.length}), ` +
    "its indicator in the tooltip. See `bttackler explain` for the rules." }));
}

async function viewRun(key) {
  const doc = await getJSON(`/api/run?run=${encodeURIComponent(key)}`);
  const s = doc.summary;
  crumbs([["runs", "#/"], [s.name, null]]);
  state.lastRun = doc;
  const view = document.getElementById("view");
  let skel = view.querySelector("#run-page");
  if (!skel || skel.dataset.key !== key) {
    resetCharts();
    const filter = el("input", { id: "filter", type: "search", placeholder: "filter: text in any column" });
    filter.value = state.filter;
    filter.addEventListener("input", () => { state.filter = filter.value; renderTrials(view.querySelector("#trials-box"), key, state.lastRun.trials); });
    const select = el("select", { id: "state-filter" }, ...["", "running", "finished", "terminated",
      "failed", "stopped", "interrupted", "skipped"].map((v) => el("option", { value: v, text: v || "every state" })));
    select.value = state.stateFilter;
    select.addEventListener("change", () => { state.stateFilter = select.value; renderTrials(view.querySelector("#trials-box"), key, state.lastRun.trials); });
    skel = el("div", { id: "run-page" }, el("h2", { id: "run-title" }), el("p", { id: "run-info" }),
      el("div", { class: "charts", id: "run-charts" }),
      el("h3", { text: "Parameters and trouble" }), el("div", { id: "parallel-box" }),
      el("h3", { text: "Trials" }), el("div", { class: "tools" }, filter, select),
      el("div", { id: "trials-box" }));
    skel.dataset.key = key;
    view.replaceChildren(skel);
  }
  skel.querySelector("#run-title").textContent = `${s.name}: ${s.task} · ${s.method}`;
  const pct = s.progress === null ? "" : ` (${Math.round(100 * s.progress)}%)`;
  skel.querySelector("#run-info").textContent = `${s.state} · ${secs(s.elapsed)} of ${secs(s.budget)}${pct} · ` +
    `${s.trials} trials (${Object.entries(s.states).map(([k, v]) => `${k} ${v}`).join(", ")}) · ` +
    `best ${s.objective} ${fmt(s.best)} (${s.mode}, ${doc.count_label}) · diagnosis ${s.diagnosis ? "on" : "off"}` +
    (s.etr ? ` · etr ${s.etr}` : "");
  timeFigures(skel.querySelector("#run-charts"), doc.figures, s.objective, doc.count_label);
  renderParallel(skel.querySelector("#parallel-box"), doc.parallel);
  renderTrials(skel.querySelector("#trials-box"), key, doc.trials);
  return s.state === "running" || s.state === "starting";
}

async function viewTrial(key, id) {
  const d = await getJSON(`/api/trial?run=${encodeURIComponent(key)}&trial=${id}`);
  const t = d.trial;
  crumbs([["runs", "#/"], [d.run, `#/run/${encodeURIComponent(key)}`], [`trial ${t.id}`, null]]);
  const view = document.getElementById("view");
  let page = view.querySelector("#trial-page");
  if (!page || page.dataset.id !== `${key}/${id}`) {
    resetCharts();
    page = el("div", { id: "trial-page" }, el("h2", { id: "trial-title" }), el("div", { id: "verdict" }),
      el("p", { id: "trial-info", class: "muted" }), el("div", { class: "charts", id: "trial-charts" }),
      el("div", { id: "nonfinite" }));
    page.dataset.id = `${key}/${id}`;
    view.replaceChildren(page);
  }
  page.querySelector("#trial-title").textContent = `Trial ${t.id} of ${d.run}`;
  const v = d.verdict;
  const box = page.querySelector("#verdict");
  box.className = v ? "verdict" : "verdict none";
  box.replaceChildren();
  if (v) {
    box.append(el("b", { text: `${t.state}: ${v.indicator}` }), ` at epoch ${v.epoch} — ${v.rule}`);
    const nums = Object.entries(v.values || {}).map(([k, x]) => `${k} ${fmt(x)}`).join(", ");
    if (nums) box.append(el("div", { class: "muted", text: `trigger values: ${nums}` }));
  } else {
    box.append(el("b", { text: t.state }), t.reason ? ` — ${t.reason}` : " — no verdict");
  }
  page.querySelector("#trial-info").textContent = `value ${fmt(t.value)} · best ${fmt(t.best_value)} · ` +
    `${t.epochs} epochs of ${d.max_epochs ?? "?"} · ${secs(t.duration)} · ` +
    Object.entries(t.params).map(([k, x]) => `${k}=${fmt(x)}`).join(" ");
  const charts = page.querySelector("#trial-charts");
  const marks = v ? [{ axis: "x", value: v.epoch, color: "#b35900", label: `${v.indicator} verdict` }] : [];
  const curves = Object.entries(d.curves);
  const losses = curves.filter(([k]) => k !== d.objective);
  const obj = curves.filter(([k]) => k === d.objective);
  chart(charts, "losses", `Losses per epoch`, d.epochs,
    losses.map(([k, vals]) => ({ label: k, values: vals })),
    { xLabel: "epoch", yLabel: "loss", marks });
  chart(charts, "objective", `${d.objective} per epoch (${d.mode})`, d.epochs,
    obj.map(([k, vals]) => ({ label: k, values: vals, color: "#2ca02c" })),
    { xLabel: "epoch", yLabel: d.objective, marks });
  const g = d.grad_abs_mean;
  chart(charts, "grad", "Mean |gradient| per layer", d.epochs,
    g.layers.map((name, i) => ({ label: `layer ${name}`, values: positive(g.series[i]) })),
    { log: true, xLabel: "epoch", yLabel: "mean |grad|", marks,
      note: g.layers.length ? "log scale; a layer at 0 is left out" : "no gradient statistics recorded" });
  const th = d.thresholds, r = d.grad_ratios;
  const bounds = [];
  if (th.EAG) bounds.push({ axis: "y", value: th.EAG.upper_bound, color: "#d62728", label: `EAG bound ${fmt(th.EAG.upper_bound)}` });
  if (th.ERG) bounds.push({ axis: "y", value: th.ERG.lower_bound, color: "#9467bd", label: `ERG bound ${fmt(th.ERG.lower_bound)}` });
  const ratioSeries = r.layers.map((name, i) => ({ label: name, values: positive(r.series[i]) }));
  ratioSeries.push({ label: "median (judged)", values: positive(r.median), color: "#000", width: 2.5 });
  const ratioChart = chart(charts, "ratios", "Adjacent-layer gradient ratios (input side / output side)", d.epochs,
    ratioSeries, { log: true, xLabel: "epoch", yLabel: "ratio", marks: [...marks, ...bounds],
      note: `EAG fires above ${fmt(th.EAG && th.EAG.upper_bound)}, ERG below ${fmt(th.ERG && th.ERG.lower_bound)} (the median, early stage; this run's config.toml)` });
  // keep both bounds in view on the log scale
  const lo = Math.min(th.ERG ? th.ERG.lower_bound / 2 : 1, ...positive(r.median).filter((x) => x !== null));
  const hi = Math.max(th.EAG ? th.EAG.upper_bound * 2 : 1, ...ratioSeries.flatMap((s) => s.values).filter((x) => x !== null));
  ratioChart.setScale("y", { min: lo, max: hi });
  ratioChart.root.closest(".chart").dataset.bounds = JSON.stringify({ EAG: th.EAG && th.EAG.upper_bound, ERG: th.ERG && th.ERG.lower_bound });
  const a = d.inactivity;
  const lar = th.LAR ? [{ axis: "y", value: th.LAR.threshold, color: "#d62728", label: `LAR threshold ${fmt(th.LAR.threshold)}` }] : [];
  const actChart = chart(charts, "inactive", `Activation ${a.measure} per layer`, d.epochs,
    a.layers.map((name, i) => ({ label: `layer ${name}`, values: a.series[i] })),
    { yRange: [0, 1.05], xLabel: "epoch", yLabel: a.measure, marks: [...marks, ...lar],
      note: th.LAR ? `LAR fires when a layer stays above ${fmt(th.LAR.threshold)} for ${th.LAR.consecutive_epochs} epochs` : "" });
  actChart.root.closest(".chart").dataset.threshold = String(th.LAR ? th.LAR.threshold : "");
  const nf = page.querySelector("#nonfinite");
  nf.replaceChildren();
  if (d.nonfinite.length) {
    nf.append(el("h3", { text: "Non-finite gradients seen mid-epoch" }),
      el("table", {}, el("tr", {}, ...["epoch", "batch", "layer", "NaN", "Inf"].map((h) => el("th", { text: h }))),
        ...d.nonfinite.slice(0, 50).map((e) => el("tr", {}, ...[e.epoch, e.batch, e.layer, e.nan, e.inf].map((x) => el("td", { text: fmt(x) }))))));
  }
  return t.state === "running";
}

async function viewCompare(keys) {
  const qs = keys.map((k) => `run=${encodeURIComponent(k)}`).join("&");
  const doc = await getJSON(`/api/compare?${qs}`);
  crumbs([["runs", "#/"], [`${keys.length} runs overlaid`, null]]);
  const view = document.getElementById("view");
  let page = view.querySelector("#compare-page");
  if (!page || page.dataset.keys !== keys.join(",")) {
    resetCharts();
    page = el("div", { id: "compare-page" }, el("h2", { text: "Runs overlaid" }), el("div", { id: "compare-info" }),
      el("div", { class: "charts", id: "compare-charts" }));
    page.dataset.keys = keys.join(",");
    view.replaceChildren(page);
  }
  page.querySelector("#compare-info").replaceChildren(el("p", { class: "muted", text: doc.runs.map((r) =>
    `${r.name}: ${r.task} · ${r.method} · ${r.state} · ${r.trials} trials · best ${fmt(r.best)}`).join("  |  ") }));
  timeFigures(page.querySelector("#compare-charts"), doc.figures, doc.runs[0] ? doc.runs[0].objective : "objective", doc.count_label);
  return doc.runs.some((r) => r.state === "running");
}

// ------------------------------------------------------------------ routing and polling
function parseRoute() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "run" && parts[2] === "trial") return { view: "trial", key: parts[1], id: +parts[3] };
  if (parts[0] === "run") return { view: "run", key: parts[1] };
  if (parts[0] === "compare") return { view: "compare", keys: parts.slice(1).join("/").split(",") };
  return { view: "runs" };
}
async function refresh(first) {
  if (state.busy) return;
  state.busy = true;
  const r = parseRoute();
  try {
    if (r.view === "trial") await viewTrial(r.key, r.id);
    else if (r.view === "run") await viewRun(r.key);
    else if (r.view === "compare") await viewCompare(r.keys);
    else await viewRuns(first);
    stamp(`updated ${new Date().toLocaleTimeString()}`);
    document.body.dataset.loaded = JSON.stringify(r);
    // navigation start -> first view drawn (HTML, scripts, JSON, table, charts): the benchmark
    if (window.firstViewMs === undefined) window.firstViewMs = performance.now();
  } catch (err) {
    stamp(`error: ${err.message}`);
    document.querySelectorAll("#view > p.error").forEach((n) => n.remove());
    document.getElementById("view").prepend(el("p", { class: "error", text: `error: ${err.message}` }));
  } finally {
    state.busy = false;
  }
}
window.addEventListener("hashchange", () => { resetCharts(); document.getElementById("view").replaceChildren(); refresh(false); });
refresh(true);
state.timer = setInterval(() => refresh(false), POLL_MS);
