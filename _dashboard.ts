/**
 * The dashboard `GET /` serves: one self-contained page, its styles and
 * script inline, with nothing fetched but Pulse's own API. It is kept in a
 * module rather than an HTML file so that it ships inside the package and
 * needs no file access.
 *
 * - A header with the server's samples, series and ingest rate, and a token
 *   field (kept in `localStorage`) for servers that ask for one.
 * - A filterable list of series, virtualized: only the rows in view exist,
 *   so tens of thousands of series scroll smoothly. A click charts one.
 * - A pattern box: each pattern added gets a chart of up to 10 series.
 * - Time presets (15 min, 1 h, 24 h, 7 d) and a custom range.
 * - SVG line charts with time and value axes, a legend with each series'
 *   latest value, and the values under the pointer.
 * - A refresh every 5 s, paused while the tab is hidden.
 *
 * The page's state lives in the URL's hash, so that a view can be
 * bookmarked: `#range=1h&p=palm.*&p=eardrum.*`, or `#from=...&to=...&p=...`
 * for a custom range in Unix seconds. Each chart carries its range and step
 * as `data-from`, `data-to` and `data-step`, and `<body>` counts completed
 * refreshes in `data-refreshes`.
 *
 * @module
 */

/** The dashboard page. */
export const DASHBOARD_HTML: string = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Pulse</title>
<style>
:root {
  --bg: #f6f7f9; --panel: #ffffff; --text: #1f2328; --muted: #656d76;
  --line: #d0d7de; --grid: #eef1f4; --accent: #2563eb; --warn-bg: #fff4e5;
  --warn: #8a4b00; color-scheme: light dark;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0d1117; --panel: #161b22; --text: #e6edf3; --muted: #8d96a0;
    --line: #30363d; --grid: #21262d; --accent: #4c8dff; --warn-bg: #3b2300;
    --warn: #ffc680;
  }
}
* { box-sizing: border-box; }
html, body { height: 100%; margin: 0; }
body {
  font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  background: var(--bg); color: var(--text); overflow: hidden;
  display: grid; grid-template-rows: auto auto minmax(0, 1fr);
}
input, button { font: inherit; color: inherit; }
input {
  background: var(--panel); border: 1px solid var(--line); border-radius: 6px;
  padding: 5px 8px; min-width: 0;
}
button {
  background: var(--panel); border: 1px solid var(--line); border-radius: 6px;
  padding: 5px 10px; cursor: pointer;
}
button:hover { border-color: var(--accent); }
button[aria-pressed="true"] {
  background: var(--accent); border-color: var(--accent); color: #fff;
}
.top {
  display: flex; align-items: center; gap: 28px; padding: 10px 20px;
  background: var(--panel); border-bottom: 1px solid var(--line);
}
.top h1 { font-size: 18px; margin: 0; letter-spacing: 0.02em; }
.figures { display: flex; gap: 22px; margin: 0; }
.figures div { display: flex; gap: 6px; align-items: baseline; }
.figures dt { color: var(--muted); font-size: 12px; }
.figures dd {
  margin: 0; font-weight: 600; font-variant-numeric: tabular-nums;
}
.token {
  margin-left: auto; display: flex; gap: 6px; align-items: center;
  color: var(--muted); font-size: 12px;
}
.token input { width: 160px; }
#notice {
  padding: 8px 20px; background: var(--warn-bg); color: var(--warn);
  border-bottom: 1px solid var(--line);
}
.layout {
  display: grid; grid-template-columns: 290px minmax(0, 1fr); min-height: 0;
}
aside {
  display: flex; flex-direction: column; gap: 8px; padding: 14px;
  background: var(--panel); border-right: 1px solid var(--line); min-height: 0;
}
#count { color: var(--muted); font-size: 12px; }
.list {
  position: relative; overflow-y: auto; flex: 1; min-height: 0;
  border: 1px solid var(--line); border-radius: 6px;
}
.row {
  position: absolute; left: 0; right: 0; height: 24px; line-height: 24px;
  padding: 0 8px; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; cursor: pointer; font-size: 12px;
  font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
}
.row:hover { background: var(--grid); color: var(--accent); }
main { padding: 14px 20px; overflow-y: auto; min-height: 0; }
.toolbar {
  display: flex; flex-wrap: wrap; gap: 10px 18px; align-items: center;
  margin-bottom: 14px;
}
.toolbar form, .presets { display: flex; gap: 6px; align-items: center; }
#pattern { width: 300px; }
.custom { color: var(--muted); font-size: 12px; }
.chart {
  background: var(--panel); border: 1px solid var(--line); border-radius: 8px;
  padding: 10px 14px 12px; margin-bottom: 14px;
}
.chart header { display: flex; align-items: baseline; gap: 10px; }
.chart h2 {
  font-size: 14px; margin: 0;
  font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
}
.chart .meta { color: var(--muted); font-size: 12px; }
.chart .remove {
  margin-left: auto; border: none; background: none; padding: 0 6px;
  font-size: 18px; line-height: 1; color: var(--muted);
}
.chart .error { color: var(--warn); font-size: 13px; margin: 8px 0 0; }
svg.plot { display: block; width: 100%; height: 240px; margin-top: 6px; }
svg.plot text { fill: var(--muted); font-size: 11px; }
.grid { stroke: var(--grid); }
.axis { stroke: var(--line); }
.line { fill: none; stroke-width: 1.6; stroke-linejoin: round; }
.cursor { stroke: var(--muted); stroke-dasharray: 3 3; }
.legend {
  list-style: none; margin: 6px 0 0; padding: 0; display: flex;
  flex-wrap: wrap; gap: 4px 20px; font-size: 12px;
}
.legend .key { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
.swatch {
  display: inline-block; width: 10px; height: 10px; border-radius: 2px;
  margin-right: 6px;
}
.legend .value {
  margin-left: 6px; color: var(--muted); font-variant-numeric: tabular-nums;
}
#empty { color: var(--muted); }
.tip {
  position: fixed; pointer-events: none; z-index: 10; font-size: 12px;
  background: var(--panel); border: 1px solid var(--line); border-radius: 6px;
  padding: 6px 9px; box-shadow: 0 2px 10px rgba(0, 0, 0, 0.15);
  font-variant-numeric: tabular-nums;
}
.tip time { display: block; color: var(--muted); margin-bottom: 3px; }
</style>
</head>
<body data-refreshes="0">
<header class="top">
  <h1>Pulse</h1>
  <dl class="figures">
    <div><dt>samples</dt><dd id="samples">&ndash;</dd></div>
    <div><dt>series</dt><dd id="series">&ndash;</dd></div>
    <div><dt>ingest</dt><dd id="rate">&ndash;</dd></div>
  </dl>
  <label class="token">token
    <input id="token" type="password" autocomplete="off" placeholder="none">
  </label>
</header>
<div id="notice" role="status" hidden></div>
<div class="layout">
  <aside>
    <input id="filter" type="search" placeholder="Filter series" aria-label="Filter series">
    <div id="count"></div>
    <div id="list" class="list" role="listbox" aria-label="Series">
      <div id="spacer"></div><div id="rows"></div>
    </div>
  </aside>
  <main>
    <div class="toolbar">
      <form id="add">
        <input id="pattern" placeholder="palm.* or *.{cpu,memory}" aria-label="Pattern" required>
        <button>Add chart</button>
      </form>
      <div class="presets" role="group" aria-label="Time range">
        <button type="button" data-range="15m">15 min</button>
        <button type="button" data-range="1h">1 h</button>
        <button type="button" data-range="24h">24 h</button>
        <button type="button" data-range="7d">7 d</button>
      </div>
      <form id="custom" class="custom">
        <input id="from" type="datetime-local" aria-label="From">
        to
        <input id="to" type="datetime-local" aria-label="To">
        <button aria-pressed="false">Apply</button>
      </form>
    </div>
    <div id="charts"></div>
    <p id="empty">No charts yet: add a pattern above, or pick a series on the left.</p>
  </main>
</div>
<div id="tip" class="tip" hidden></div>
<script>
"use strict";
const RANGES = { "15m": 900, "1h": 3600, "24h": 86400, "7d": 604800 };
const COLORS = [
  "#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed",
  "#0891b2", "#db2777", "#65a30d", "#ea580c", "#475569",
];
// Series drawn per chart: more would be unreadable.
const MAX_SERIES = COLORS.length;
const ROW_HEIGHT = 24;
const REFRESH_MS = 5000;
const HEIGHT = 240;
const MARGIN = { top: 12, right: 18, bottom: 26, left: 64 };
const TIME_STEPS = [
  1, 5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
  43200, 86400, 172800, 604800, 2592000,
];
const SVG = "http://www.w3.org/2000/svg";
const TOKEN_KEY = "pulse.token";

const $ = (id) => document.getElementById(id);
const state = { range: "1h", from: 0, to: 0, patterns: [] };
const charts = new Map();
let keys = [];
let shown = [];
let knownSeries = -1;
let previous = null;
let timer = undefined;
let running = false;
let again = false;
let refreshes = 0;

class AuthError extends Error {}

function readHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  const from = Number(params.get("from"));
  const to = Number(params.get("to"));
  if (
    params.has("from") && params.has("to") && Number.isSafeInteger(from) &&
    Number.isSafeInteger(to) && from < to
  ) {
    state.range = "custom";
    state.from = from;
    state.to = to;
  } else {
    state.range = RANGES[params.get("range")] ? params.get("range") : "1h";
  }
  state.patterns = [...new Set(params.getAll("p").filter((p) => p !== ""))];
}

function writeHash() {
  const params = new URLSearchParams();
  if (state.range === "custom") {
    params.set("from", String(state.from));
    params.set("to", String(state.to));
  } else {
    params.set("range", state.range);
  }
  for (const pattern of state.patterns) params.append("p", pattern);
  const hash = "#" + params.toString();
  if (location.hash !== hash) history.replaceState(null, "", hash);
}

function currentRange() {
  if (state.range === "custom") return [state.from, state.to];
  const to = Math.floor(Date.now() / 1000);
  return [to - RANGES[state.range], to];
}

async function api(path) {
  const headers = {};
  const token = $("token").value;
  if (token !== "") headers.authorization = "Bearer " + token;
  const response = await fetch(path, { headers });
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) {
    throw new AuthError(
      token === ""
        ? "This server needs a token: enter it in the token field above."
        : "The token was refused: check the token field above.",
    );
  }
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function showNotice(text) {
  const notice = $("notice");
  notice.textContent = text;
  notice.hidden = text === "";
}

function formatCount(n) {
  return Math.round(n).toLocaleString("en-US");
}

function formatNumber(v) {
  const a = Math.abs(v);
  if (a >= 1e9) return String(Number((v / 1e9).toPrecision(3))) + "G";
  if (a >= 1e6) return String(Number((v / 1e6).toPrecision(3))) + "M";
  if (a >= 1e4) return String(Number((v / 1e3).toPrecision(3))) + "k";
  if (a !== 0 && a < 1e-3) return v.toExponential(1);
  return String(Number(v.toPrecision(4)));
}

function formatValue(v) {
  return v === null ? "n/a" : String(Number(v.toPrecision(6)));
}

function formatStep(step) {
  if (step % 86400 === 0) return step / 86400 + " d";
  if (step % 3600 === 0) return step / 3600 + " h";
  if (step % 60 === 0) return step / 60 + " min";
  return step + " s";
}

function pad(n) {
  return String(n).padStart(2, "0");
}

function formatTime(t, step) {
  const d = new Date(t * 1000);
  const clock = pad(d.getHours()) + ":" + pad(d.getMinutes()) +
    (step < 60 ? ":" + pad(d.getSeconds()) : "");
  if (step >= 86400) {
    return d.toLocaleDateString("en-US", { month: "short", day: "numeric" });
  }
  if (d.getHours() === 0 && d.getMinutes() === 0 && step >= 3600) {
    return d.toLocaleDateString("en-US", { month: "short", day: "numeric" });
  }
  return clock;
}

function formatFullTime(t) {
  const d = new Date(t * 1000);
  return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" +
    pad(d.getDate()) + " " + pad(d.getHours()) + ":" + pad(d.getMinutes()) +
    ":" + pad(d.getSeconds());
}

function toLocalInput(t) {
  return formatFullTime(t).slice(0, 16).replace(" ", "T");
}

function el(name, attributes, text) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) {
    node.setAttribute(key, String(value));
  }
  if (text !== undefined) node.textContent = text;
  return node;
}

// Value ticks: steps of 1, 2 or 5 times a power of ten.
function valueTicks(min, max, count) {
  const raw = (max - min) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const low = Math.floor(min / step) * step;
  const high = Math.ceil(max / step) * step;
  const ticks = [];
  for (let v = low; v <= high + step / 2; v += step) {
    ticks.push(Number(v.toPrecision(12)));
  }
  return ticks;
}

// Time ticks at round local clock times.
function timeTicks(from, to, count) {
  const span = to - from;
  const step = TIME_STEPS.find((s) => span / s <= count) ||
    2592000 * Math.ceil(span / count / 2592000);
  const offset = -new Date(from * 1000).getTimezoneOffset() * 60;
  const ticks = [];
  for (
    let t = Math.ceil((from + offset) / step) * step - offset;
    t <= to;
    t += step
  ) {
    ticks.push(t);
  }
  return { step, ticks };
}

function chartFor(pattern) {
  let chart = charts.get(pattern);
  if (chart !== undefined) return chart;
  const element = document.createElement("article");
  element.className = "chart";
  element.dataset.pattern = pattern;
  const header = document.createElement("header");
  const title = document.createElement("h2");
  title.textContent = pattern;
  const meta = document.createElement("span");
  meta.className = "meta";
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "remove";
  remove.title = "Remove this chart";
  remove.setAttribute("aria-label", "Remove the chart of " + pattern);
  remove.textContent = "\u00d7";
  remove.addEventListener("click", () => removePattern(pattern));
  header.append(title, meta, remove);
  const svg = el("svg", { class: "plot", role: "img" });
  svg.setAttribute("aria-label", "Chart of " + pattern);
  const error = document.createElement("p");
  error.className = "error";
  error.hidden = true;
  const legend = document.createElement("ul");
  legend.className = "legend";
  element.append(header, svg, error, legend);
  chart = { pattern, element, svg, meta, error, legend, data: null, view: null };
  svg.addEventListener("pointermove", (event) => hover(chart, event));
  svg.addEventListener("pointerleave", () => unhover(chart));
  charts.set(pattern, chart);
  return chart;
}

function syncCharts() {
  const container = $("charts");
  for (const [pattern, chart] of charts) {
    if (!state.patterns.includes(pattern)) {
      chart.element.remove();
      charts.delete(pattern);
    }
  }
  for (const pattern of state.patterns) {
    container.append(chartFor(pattern).element);
  }
  $("empty").hidden = state.patterns.length > 0;
}

function renderChart(chart) {
  const { svg, data } = chart;
  if (data === null) return;
  const width = Math.max(320, Math.round(svg.getBoundingClientRect().width));
  svg.setAttribute("viewBox", "0 0 " + width + " " + HEIGHT);
  const left = MARGIN.left;
  const right = width - MARGIN.right;
  const top = MARGIN.top;
  const bottom = HEIGHT - MARGIN.bottom;
  const { from, to } = chart;
  let min = Infinity;
  let max = -Infinity;
  for (const series of data.series) {
    for (const [, v] of series.points) {
      if (v === null) continue;
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  if (min === Infinity) {
    min = 0;
    max = 1;
  } else if (min === max) {
    const margin = Math.abs(min) * 0.1 || 1;
    min -= margin;
    max += margin;
  }
  const ticks = valueTicks(min, max, 5);
  min = ticks[0];
  max = ticks[ticks.length - 1];
  const x = (t) => left + (t - from) / (to - from) * (right - left);
  const y = (v) => bottom - (v - min) / (max - min) * (bottom - top);
  const nodes = [];
  for (const v of ticks) {
    const py = y(v).toFixed(1);
    nodes.push(el("line", { class: "grid", x1: left, x2: right, y1: py, y2: py }));
    nodes.push(el("text", {
      x: left - 8, y: py, "text-anchor": "end", "dominant-baseline": "middle",
    }, formatNumber(v)));
  }
  const time = timeTicks(from, to, Math.max(2, Math.floor((right - left) / 90)));
  for (const t of time.ticks) {
    const px = x(t).toFixed(1);
    nodes.push(el("line", { class: "grid", x1: px, x2: px, y1: top, y2: bottom }));
    nodes.push(el("text", {
      x: px, y: bottom + 17, "text-anchor": "middle",
    }, formatTime(t, time.step)));
  }
  nodes.push(el("line", { class: "axis", x1: left, x2: right, y1: bottom, y2: bottom }));
  nodes.push(el("line", { class: "axis", x1: left, x2: left, y1: top, y2: bottom }));
  data.series.forEach((series, i) => {
    const color = COLORS[i % COLORS.length];
    let d = "";
    let pen = "M";
    for (const [t, v] of series.points) {
      if (v === null) {
        pen = "M";
        continue;
      }
      d += pen + x(t).toFixed(1) + " " + y(v).toFixed(1) + " ";
      pen = "L";
    }
    const path = el("path", { class: "line", d: d.trim(), stroke: color });
    path.dataset.key = series.key;
    nodes.push(path);
    if (series.points.length === 1 && series.points[0][1] !== null) {
      const [t, v] = series.points[0];
      nodes.push(el("circle", { cx: x(t), cy: y(v), r: 3, fill: color }));
    }
  });
  if (data.series.every((series) => series.points.length === 0)) {
    nodes.push(el("text", {
      x: (left + right) / 2, y: (top + bottom) / 2, "text-anchor": "middle",
    }, "No samples in this range"));
  }
  const cursor = el("g", { visibility: "hidden" });
  cursor.append(el("line", { class: "cursor", x1: 0, x2: 0, y1: top, y2: bottom }));
  data.series.forEach((_, i) => {
    cursor.append(el("circle", { r: 3.5, fill: COLORS[i % COLORS.length] }));
  });
  nodes.push(cursor);
  svg.replaceChildren(...nodes);
  chart.view = { width, left, right, x, y, cursor };
}

function renderLegend(chart) {
  const { data, legend } = chart;
  const items = data.series.map((series, i) => {
    const item = document.createElement("li");
    item.dataset.key = series.key;
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = COLORS[i % COLORS.length];
    const key = document.createElement("span");
    key.className = "key";
    key.textContent = series.key;
    const value = document.createElement("span");
    value.className = "value";
    const last = series.points[series.points.length - 1];
    value.textContent = last === undefined ? "no data" : formatValue(last[1]);
    item.append(swatch, key, value);
    return item;
  });
  if (data.matched > data.series.length) {
    const more = document.createElement("li");
    more.className = "more";
    more.textContent = "+" + formatCount(data.matched - data.series.length) +
      " more series: narrow the pattern to see them";
    items.push(more);
  }
  legend.replaceChildren(...items);
}

// The sample of each series nearest to the pointer's time.
function hover(chart, event) {
  const { data, view } = chart;
  if (data === null || view === null) return;
  const rect = chart.svg.getBoundingClientRect();
  const px = (event.clientX - rect.left) * view.width / rect.width;
  if (px < view.left || px > view.right) return unhover(chart);
  const t = chart.from + (px - view.left) / (view.right - view.left) *
    (chart.to - chart.from);
  const rows = [];
  let nearest = null;
  const dots = view.cursor.querySelectorAll("circle");
  data.series.forEach((series, i) => {
    const points = series.points;
    dots[i].setAttribute("visibility", "hidden");
    if (points.length === 0) return;
    let low = 0;
    let high = points.length - 1;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (points[mid][0] < t) low = mid + 1;
      else high = mid;
    }
    if (low > 0 && t - points[low - 1][0] < points[low][0] - t) low--;
    const [pt, pv] = points[low];
    if (nearest === null || Math.abs(pt - t) < Math.abs(nearest - t)) nearest = pt;
    rows.push([series.key, COLORS[i % COLORS.length], pv]);
    if (pv !== null) {
      dots[i].setAttribute("cx", view.x(pt).toFixed(1));
      dots[i].setAttribute("cy", view.y(pv).toFixed(1));
      dots[i].setAttribute("visibility", "visible");
    }
  });
  if (nearest === null) return unhover(chart);
  const line = view.cursor.querySelector("line");
  line.setAttribute("x1", px.toFixed(1));
  line.setAttribute("x2", px.toFixed(1));
  view.cursor.setAttribute("visibility", "visible");
  const tip = $("tip");
  const when = document.createElement("time");
  when.textContent = formatFullTime(nearest);
  tip.replaceChildren(when, ...rows.map(([key, color, value]) => {
    const row = document.createElement("div");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = color;
    row.append(swatch, key + "  " + formatValue(value));
    return row;
  }));
  tip.hidden = false;
  const x = Math.min(event.clientX + 14, innerWidth - tip.offsetWidth - 8);
  const y = Math.min(event.clientY + 14, innerHeight - tip.offsetHeight - 8);
  tip.style.left = x + "px";
  tip.style.top = y + "px";
}

function unhover(chart) {
  if (chart.view !== null) chart.view.cursor.setAttribute("visibility", "hidden");
  $("tip").hidden = true;
}

async function refreshChart(chart, from, to) {
  const query = new URLSearchParams({
    match: chart.pattern,
    from: String(from),
    to: String(to),
    limit: String(MAX_SERIES),
  });
  try {
    const data = await api("/api/query?" + query);
    chart.data = data;
    chart.from = from;
    chart.to = to;
    chart.element.dataset.from = String(from);
    chart.element.dataset.to = String(to);
    chart.element.dataset.step = data.step === null ? "" : String(data.step);
    chart.meta.textContent = formatCount(data.matched) + " series \u00b7 " +
      (data.step === null ? "every sample" : formatStep(data.step) + " steps");
    chart.error.hidden = true;
    renderChart(chart);
    renderLegend(chart);
  } catch (error) {
    if (error instanceof AuthError) throw error;
    chart.error.textContent = error.message;
    chart.error.hidden = false;
  }
}

async function refreshStats() {
  const stats = await api("/api/stats");
  $("samples").textContent = formatCount(stats.samples);
  $("series").textContent = formatCount(stats.series);
  const puts = (stats.commands_put || 0) + (stats.http_samples_put || 0);
  const now = performance.now();
  if (previous !== null && now > previous.time) {
    const rate = Math.max(0, (puts - previous.puts) * 1000 / (now - previous.time));
    $("rate").textContent = formatNumber(rate) + "/s";
  }
  previous = { time: now, puts };
  if (stats.series !== knownSeries) {
    const body = await api("/api/keys");
    keys = body.series.map((series) => series.key);
    knownSeries = stats.series;
    applyFilter(false);
  }
}

async function refreshOnce() {
  const [from, to] = currentRange();
  for (const button of document.querySelectorAll("[data-range]")) {
    button.setAttribute("aria-pressed", String(button.dataset.range === state.range));
  }
  $("custom").querySelector("button").setAttribute(
    "aria-pressed",
    String(state.range === "custom"),
  );
  for (const input of [$("from"), $("to")]) {
    if (document.activeElement !== input) {
      input.value = toLocalInput(input.id === "from" ? from : to);
    }
  }
  await Promise.all([
    refreshStats(),
    ...state.patterns.map((pattern) => refreshChart(chartFor(pattern), from, to)),
  ]);
}

async function refresh() {
  if (running) {
    again = true;
    return;
  }
  running = true;
  try {
    do {
      again = false;
      try {
        await refreshOnce();
        showNotice("");
      } catch (error) {
        showNotice(error.message);
      }
    } while (again);
  } finally {
    running = false;
    document.body.dataset.refreshes = String(++refreshes);
  }
}

function schedule() {
  clearInterval(timer);
  timer = document.hidden ? undefined : setInterval(refresh, REFRESH_MS);
}

function applyFilter(reset) {
  const query = $("filter").value.trim().toLowerCase();
  shown = query === ""
    ? keys
    : keys.filter((key) => key.toLowerCase().includes(query));
  if (reset) $("list").scrollTop = 0;
  $("count").textContent = query === ""
    ? formatCount(keys.length) + " series"
    : formatCount(shown.length) + " of " + formatCount(keys.length) + " series";
  renderList();
}

// Only the rows in view, and a few around them, are in the document. A row
// still in view keeps its node: a click whose press and release straddle a
// re-render (a scroll, a refreshed list) must land on the same element.
function renderList() {
  const list = $("list");
  const container = $("rows");
  $("spacer").style.height = shown.length * ROW_HEIGHT + "px";
  const first = Math.max(0, Math.floor(list.scrollTop / ROW_HEIGHT) - 10);
  const last = Math.min(
    shown.length,
    Math.ceil((list.scrollTop + list.clientHeight) / ROW_HEIGHT) + 10,
  );
  const existing = new Map();
  for (const row of container.children) existing.set(row.dataset.key, row);
  const rows = [];
  for (let i = first; i < last; i++) {
    let row = existing.get(shown[i]);
    if (row === undefined) {
      row = document.createElement("div");
      row.className = "row";
      row.setAttribute("role", "option");
      row.textContent = shown[i];
      row.title = shown[i];
      row.dataset.key = shown[i];
    }
    row.style.top = i * ROW_HEIGHT + "px";
    rows.push(row);
  }
  const current = container.children;
  const same = rows.length === current.length &&
    rows.every((row, i) => current[i] === row);
  if (!same) container.replaceChildren(...rows);
}

function addPattern(pattern) {
  pattern = pattern.trim();
  if (pattern === "" || state.patterns.includes(pattern)) return;
  state.patterns.push(pattern);
  writeHash();
  syncCharts();
  refresh();
}

function removePattern(pattern) {
  state.patterns = state.patterns.filter((p) => p !== pattern);
  writeHash();
  syncCharts();
}

function setRange(range) {
  state.range = range;
  writeHash();
  refresh();
}

$("add").addEventListener("submit", (event) => {
  event.preventDefault();
  addPattern($("pattern").value);
  $("pattern").value = "";
});
for (const button of document.querySelectorAll("[data-range]")) {
  button.addEventListener("click", () => setRange(button.dataset.range));
}
$("custom").addEventListener("submit", (event) => {
  event.preventDefault();
  const from = Math.floor(new Date($("from").value).getTime() / 1000);
  const to = Math.floor(new Date($("to").value).getTime() / 1000);
  if (!(from < to)) {
    showNotice("Pick a start before the end of the range.");
    return;
  }
  state.from = from;
  state.to = to;
  $("from").blur();
  $("to").blur();
  setRange("custom");
});
$("filter").addEventListener("input", () => applyFilter(true));
let scrolling = false;
$("list").addEventListener("scroll", () => {
  if (scrolling) return;
  scrolling = true;
  requestAnimationFrame(() => {
    scrolling = false;
    renderList();
  });
});
$("list").addEventListener("click", (event) => {
  const row = event.target.closest(".row");
  if (row !== null) addPattern(row.dataset.key);
});
$("token").value = localStorage.getItem(TOKEN_KEY) || "";
$("token").addEventListener("change", () => {
  localStorage.setItem(TOKEN_KEY, $("token").value);
  knownSeries = -1;
  refresh();
});
addEventListener("hashchange", () => {
  readHash();
  syncCharts();
  refresh();
});
let resizing = false;
addEventListener("resize", () => {
  if (resizing) return;
  resizing = true;
  requestAnimationFrame(() => {
    resizing = false;
    for (const chart of charts.values()) renderChart(chart);
    renderList();
  });
});
document.addEventListener("visibilitychange", () => {
  schedule();
  if (!document.hidden) refresh();
});

readHash();
writeHash();
syncCharts();
applyFilter(false);
refresh();
schedule();
</script>
</body>
</html>
`;
