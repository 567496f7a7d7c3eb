// @ts-check
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The dashboard's script. `http/_dashboard.ts` inlines it into `index.html`
 * as a classic script, so its top-level names are the page's globals (the
 * Chromium tests read `running` and call `renderList()` and
 * `toLocalInput()`).
 *
 * `deno check .` type-checks it with the DOM's types, which the references
 * above bring in. They reach the whole program, so the server's code sees
 * them too: Deno gives one directory other compiler options only as a
 * workspace member, and `deno publish` leaves a member's files out of the
 * package.
 *
 * @module
 */
"use strict";

/** @type {Record<string, number>} */
const RANGES = { "15m": 900, "1h": 3600, "24h": 86400, "7d": 604800 };
const COLORS = [
  "#2563eb",
  "#dc2626",
  "#16a34a",
  "#d97706",
  "#7c3aed",
  "#0891b2",
  "#db2777",
  "#65a30d",
  "#ea580c",
  "#475569",
];
// Series drawn per chart: more would be unreadable.
const MAX_SERIES = COLORS.length;
const ROW_HEIGHT = 24;
const REFRESH_MS = 5000;
// A chart's height, shared by its panels when it has several, down to a
// panel's least.
const HEIGHT = 240;
const PANEL_HEIGHT = 120;
// Vertical room a value tick needs.
const TICK_SPACING = 40;
// Series of one unit whose largest values differ by more than this factor
// get panels of their own: on one scale the smaller would lie flat along the
// bottom. Panels (small multiples) rather than a second axis: two scales on
// one plot make their lines' crossings look meaningful and stop at two
// scales, while panels keep one unit and one scale each, for any number of
// groups, one above the other on the same time axis.
const MAGNITUDE_RATIO = 10;
const BINARY_PREFIXES = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
const MARGIN = { top: 12, right: 18, bottom: 26, left: 64 };
const TIME_STEPS = [
  1,
  5,
  10,
  30,
  60,
  120,
  300,
  600,
  900,
  1800,
  3600,
  7200,
  10800,
  21600,
  43200,
  86400,
  172800,
  604800,
  2592000,
];
const SVG = "http://www.w3.org/2000/svg";
const TOKEN_KEY = "pulse.token";

/** @typedef {[number, number | null]} Point A time in Unix seconds, a value. */
/** @typedef {{ key: string, points: Point[] }} Series */
/**
 * What `/api/query` answers.
 *
 * @typedef {{ step: number | null, matched: number, series: Series[] }} Query
 */
/**
 * What a series counts, as far as its key tells: bytes, bytes a second,
 * percent, or nothing known.
 *
 * @typedef {"B" | "B/s" | "%" | ""} Unit
 */
/**
 * One small chart of a chart: series of one unit and magnitude.
 *
 * @typedef {object} Panel
 * @property {Unit} unit
 * @property {number[]} indices Its series, as indices in the query's answer.
 */
/**
 * Where a drawn panel puts things, for the pointer.
 *
 * @typedef {object} View
 * @property {number} width The SVG's width in its own units.
 * @property {number} left The plot's left edge.
 * @property {number} right The plot's right edge.
 * @property {(t: number) => number} x A time's horizontal position.
 * @property {(v: number) => number} y A value's vertical position.
 * @property {SVGGElement} cursor The pointer's line and dots.
 * @property {Map<number, SVGCircleElement>} dots The dot of each series drawn,
 * by its index.
 */
/**
 * A chart of one pattern.
 *
 * @typedef {object} Chart
 * @property {string} pattern
 * @property {HTMLElement} element
 * @property {HTMLElement} plots Holds the panels' SVGs.
 * @property {SVGSVGElement[]} svgs One a panel, in order.
 * @property {HTMLElement} meta
 * @property {HTMLElement} error
 * @property {HTMLElement} legend
 * @property {Query | null} data The last answer, or null before the first.
 * @property {Map<string, Point>} latest Each series' latest sample, from
 * `/api/last` alongside `data`.
 * @property {View[]} views One a panel, once drawn.
 * @property {number} from The range of `data`, in Unix seconds.
 * @property {number} to
 */

/**
 * The element of `id`, which the page always has.
 *
 * @param {string} id
 * @returns {HTMLElement}
 */
function $(id) {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`Cannot find #${id}`);
  return element;
}

/**
 * The input element of `id`.
 *
 * @param {string} id
 * @returns {HTMLInputElement}
 */
function input(id) {
  const element = $(id);
  if (!(element instanceof HTMLInputElement)) {
    throw new TypeError(`Cannot use #${id} as an input`);
  }
  return element;
}

/**
 * The time preset buttons.
 *
 * @returns {HTMLButtonElement[]}
 */
function presets() {
  return [...document.querySelectorAll("button[data-range]")].filter(
    (button) => button instanceof HTMLButtonElement,
  );
}

/** A failure that a token would cure. */
class AuthError extends Error {}

const state = {
  range: "1h",
  from: 0,
  to: 0,
  /** @type {string[]} */
  patterns: [],
};
/** @type {Map<string, Chart>} */
const charts = new Map();
/** @type {string[]} */
let keys = [];
/** @type {string[]} */
let shown = [];
let knownSeries = -1;
/** @type {{ time: number, puts: number } | null} */
let previous = null;
/** @type {ReturnType<typeof setInterval> | undefined} */
let timer = undefined;
let running = false;
let again = false;
let refreshes = 0;

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
    const range = params.get("range") ?? "";
    state.range = Object.hasOwn(RANGES, range) ? range : "1h";
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

/** @returns {[number, number]} The range to show, in Unix seconds. */
function currentRange() {
  if (state.range === "custom") return [state.from, state.to];
  const to = Math.floor(Date.now() / 1000);
  return [to - RANGES[state.range], to];
}

/**
 * Fetches one of Pulse's API paths with the token, if any.
 *
 * @param {string} path
 * @returns {Promise<any>} The JSON answer.
 * @throws {AuthError} When the server wants a token or refused it.
 */
async function api(path) {
  /** @type {Record<string, string>} */
  const headers = {};
  const token = input("token").value;
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

/** @param {unknown} error */
function messageOf(error) {
  return error instanceof Error ? error.message : String(error);
}

/** @param {string} text Nothing hides the notice. */
function showNotice(text) {
  const notice = $("notice");
  notice.textContent = text;
  notice.hidden = text === "";
}

/** @param {number} n */
function formatCount(n) {
  return Math.round(n).toLocaleString("en-US");
}

/** @param {number} v */
function formatNumber(v) {
  const a = Math.abs(v);
  if (a >= 1e9) return String(Number((v / 1e9).toPrecision(3))) + "G";
  if (a >= 1e6) return String(Number((v / 1e6).toPrecision(3))) + "M";
  if (a >= 1e4) return String(Number((v / 1e3).toPrecision(3))) + "k";
  if (a !== 0 && a < 1e-3) return v.toExponential(1);
  return String(Number(v.toPrecision(4)));
}

/** @param {number | null} v */
function formatValue(v) {
  return v === null ? "n/a" : String(Number(v.toPrecision(6)));
}

/**
 * A value exactly: the shortest digits that read back as the same number,
 * the whole part grouped by thousands. Exponent forms (from 1e21, under
 * 1e-6) are left as they are.
 *
 * @param {number | null} v
 */
function formatExact(v) {
  if (v === null) return "n/a";
  const text = String(v);
  const match = /^(-?)(\d+)(\.\d+)?$/.exec(text);
  if (match === null) return text;
  const [, sign, whole, fraction = ""] = match;
  return sign + whole.replace(/\B(?=(\d{3})+$)/g, ",") + fraction;
}

/**
 * The unit of a series, from the host agent's names (README.md): `memory`
 * and `bytes` count bytes, `rx` and `tx` bytes a second, `cpu`, `percent`
 * and a mount under `disk` percent.
 *
 * @param {string} key
 * @returns {Unit}
 */
function unitOf(key) {
  const segments = key.split(".");
  const last = segments[segments.length - 1];
  if (last === "memory" || last === "bytes") return "B";
  if (last === "rx" || last === "tx") return "B/s";
  if (last === "cpu" || last === "percent") return "%";
  return segments[segments.length - 2] === "disk" ? "%" : "";
}

/** @param {Unit} unit What follows a value of `unit`. */
function unitSuffix(unit) {
  return unit === "%" || unit === "" ? unit : " " + unit;
}

/**
 * How an axis of `unit` reaching `largest` labels its values: bytes by
 * binary prefixes, so the labels are the value over `scale`.
 *
 * @param {Unit} unit
 * @param {number} largest The largest absolute value on the axis.
 */
function axisScale(unit, largest) {
  if (unit !== "B" && unit !== "B/s") {
    return { scale: 1, suffix: unitSuffix(unit) };
  }
  let power = 0;
  while (
    power < BINARY_PREFIXES.length - 1 && largest >= 1024 ** (power + 1)
  ) {
    power++;
  }
  return { scale: 1024 ** power, suffix: " " + BINARY_PREFIXES[power] + unit };
}

/** @param {number} step */
function formatStep(step) {
  if (step % 86400 === 0) return step / 86400 + " d";
  if (step % 3600 === 0) return step / 3600 + " h";
  if (step % 60 === 0) return step / 60 + " min";
  return step + " s";
}

/** @param {number} n */
function pad(n) {
  return String(n).padStart(2, "0");
}

/**
 * @param {number} t Unix seconds.
 * @param {number} step The ticks' step: what the label needs to show.
 */
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

/** @param {number} t Unix seconds. */
function formatFullTime(t) {
  const d = new Date(t * 1000);
  return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" +
    pad(d.getDate()) + " " + pad(d.getHours()) + ":" + pad(d.getMinutes()) +
    ":" + pad(d.getSeconds());
}

/** @param {number} t Unix seconds. */
function toLocalInput(t) {
  return formatFullTime(t).slice(0, 16).replace(" ", "T");
}

/**
 * An SVG element.
 *
 * @template {keyof SVGElementTagNameMap} K
 * @param {K} name
 * @param {Record<string, string | number>} attributes
 * @param {string} [text]
 * @returns {SVGElementTagNameMap[K]}
 */
function el(name, attributes, text) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) {
    node.setAttribute(key, String(value));
  }
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * Value ticks: steps of 1, 2 or 5 times a power of ten.
 *
 * @param {number} min
 * @param {number} max
 * @param {number} count
 */
function valueTicks(min, max, count) {
  const raw = (max - min) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ??
    10 * power;
  const low = Math.floor(min / step) * step;
  const high = Math.ceil(max / step) * step;
  const ticks = [];
  for (let v = low; v <= high + step / 2; v += step) {
    ticks.push(Number(v.toPrecision(12)));
  }
  return ticks;
}

/**
 * Time ticks at round local clock times.
 *
 * @param {number} from
 * @param {number} to
 * @param {number} count
 */
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

/**
 * The chart of `pattern`, made on first use.
 *
 * @param {string} pattern
 * @returns {Chart}
 */
function chartFor(pattern) {
  const existing = charts.get(pattern);
  if (existing !== undefined) return existing;
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
  const plots = document.createElement("div");
  plots.className = "plots";
  const error = document.createElement("p");
  error.className = "error";
  error.hidden = true;
  const legend = document.createElement("ul");
  legend.className = "legend";
  element.append(header, plots, error, legend);
  /** @type {Chart} */
  const chart = {
    pattern,
    element,
    plots,
    svgs: [],
    meta,
    error,
    legend,
    data: null,
    latest: new Map(),
    views: [],
    from: 0,
    to: 0,
  };
  charts.set(pattern, chart);
  return chart;
}

/**
 * The SVG of a chart's panel `index`, made on first use. The pointer over
 * any panel shows the values of all of them.
 *
 * @param {Chart} chart
 * @param {number} index
 */
function panelSvg(chart, index) {
  const existing = chart.svgs[index];
  if (existing !== undefined) return existing;
  const svg = el("svg", { class: "plot", role: "img" });
  svg.setAttribute("aria-label", "Chart of " + chart.pattern);
  svg.addEventListener("pointermove", (event) => hover(chart, index, event));
  svg.addEventListener("pointerleave", () => unhover(chart));
  chart.svgs[index] = svg;
  return svg;
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

/**
 * The lowest and highest values of `series`, apart if they are one.
 *
 * @param {Series[]} series
 * @returns {[number, number]}
 */
function valueRange(series) {
  let min = Infinity;
  let max = -Infinity;
  for (const { points } of series) {
    for (const [, v] of points) {
      if (v === null) continue;
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  if (min === Infinity) return [0, 1];
  if (min === max) {
    const margin = Math.abs(min) * 0.1 || 1;
    return [min - margin, max + margin];
  }
  return [min, max];
}

/**
 * The largest absolute value of `series`, or null without any.
 *
 * @param {Series} series
 */
function magnitude(series) {
  /** @type {number | null} */
  let largest = null;
  for (const [, v] of series.points) {
    if (v !== null) largest = Math.max(largest ?? 0, Math.abs(v));
  }
  return largest;
}

/**
 * Splits `series` into panels: one a unit, and within a unit one a range of
 * magnitudes (`MAGNITUDE_RATIO`). Series with no value or only zeros fit any
 * scale, so they join the unit's last panel. Panels, and the series within
 * them, keep the order of the answer.
 *
 * @param {Series[]} series
 * @returns {Panel[]}
 */
function panelsOf(series) {
  /** @type {Map<Unit, number[]>} */
  const byUnit = new Map();
  series.forEach((one, i) => {
    const unit = unitOf(one.key);
    byUnit.set(unit, [...byUnit.get(unit) ?? [], i]);
  });
  /** @type {Panel[]} */
  const panels = [];
  for (const [unit, indices] of byUnit) {
    const sized = indices.map((i) => ({ i, size: magnitude(series[i]) || 0 }))
      .sort((a, b) => b.size - a.size);
    /** @type {{ largest: number, indices: number[] }[]} */
    const groups = [];
    for (const { i, size } of sized) {
      const last = groups[groups.length - 1];
      if (
        last !== undefined &&
        (size === 0 || size * MAGNITUDE_RATIO >= last.largest)
      ) {
        last.indices.push(i);
      } else {
        groups.push({ largest: size, indices: [i] });
      }
    }
    for (const group of groups) {
      panels.push({ unit, indices: group.indices.sort((a, b) => a - b) });
    }
  }
  return panels.sort((a, b) => a.indices[0] - b.indices[0]);
}

/**
 * Draws each panel of `chart`'s data, and a word in the first when there is
 * nothing to draw.
 *
 * @param {Chart} chart
 */
function renderChart(chart) {
  const { data } = chart;
  if (data === null) return;
  /** @type {Panel[]} */
  const panels = data.series.length === 0
    ? [{ unit: "", indices: [] }]
    : panelsOf(data.series);
  const height = Math.max(PANEL_HEIGHT, Math.round(HEIGHT / panels.length));
  const svgs = panels.map((_, i) => panelSvg(chart, i));
  chart.svgs.length = panels.length;
  const current = chart.plots.children;
  if (
    svgs.length !== current.length || svgs.some((svg, i) => current[i] !== svg)
  ) {
    chart.plots.replaceChildren(...svgs);
  }
  chart.views = panels.map((panel, i) =>
    renderPanel(chart, svgs[i], panel, height)
  );
  let message = "";
  if (data.matched === 0) message = "No series match this pattern";
  else if (data.series.every((series) => series.points.length === 0)) {
    message = "No samples in this range";
  }
  if (message !== "") {
    const { left, right } = chart.views[0];
    svgs[0].append(el("text", {
      class: "message",
      x: (left + right) / 2,
      y: (height - MARGIN.bottom + MARGIN.top) / 2,
      "text-anchor": "middle",
    }, message));
  }
}

/**
 * Draws one panel: its grid and axes, in its unit, and its series.
 *
 * @param {Chart} chart
 * @param {SVGSVGElement} svg
 * @param {Panel} panel
 * @param {number} height
 * @returns {View}
 */
function renderPanel(chart, svg, panel, height) {
  const width = Math.max(320, Math.round(svg.getBoundingClientRect().width));
  svg.setAttribute("viewBox", "0 0 " + width + " " + height);
  svg.style.height = height + "px";
  svg.dataset.unit = panel.unit;
  const [left, right] = [MARGIN.left, width - MARGIN.right];
  const [top, bottom] = [MARGIN.top, height - MARGIN.bottom];
  const all = chart.data?.series ?? [];
  const [low, high] = valueRange(panel.indices.map((i) => all[i]));
  const { scale, suffix } = axisScale(
    panel.unit,
    Math.max(Math.abs(low), Math.abs(high)),
  );
  const count = Math.max(2, Math.floor((bottom - top) / TICK_SPACING));
  const ticks = valueTicks(low / scale, high / scale, count);
  const min = ticks[0] * scale;
  const max = ticks[ticks.length - 1] * scale;
  const { from, to } = chart;
  /** @param {number} t */
  const x = (t) => left + (t - from) / (to - from) * (right - left);
  /** @param {number} v */
  const y = (v) => bottom - (v - min) / (max - min) * (bottom - top);
  /** @type {SVGElement[]} */
  const nodes = [];
  for (const tick of ticks) {
    const py = y(tick * scale).toFixed(1);
    nodes.push(
      el("line", { class: "grid", x1: left, x2: right, y1: py, y2: py }),
      el("text", {
        x: left - 8,
        y: py,
        "text-anchor": "end",
        "dominant-baseline": "middle",
      }, formatNumber(tick) + suffix),
    );
  }
  const time = timeTicks(
    from,
    to,
    Math.max(2, Math.floor((right - left) / 90)),
  );
  for (const t of time.ticks) {
    const px = x(t).toFixed(1);
    nodes.push(
      el("line", { class: "grid", x1: px, x2: px, y1: top, y2: bottom }),
      el(
        "text",
        { x: px, y: bottom + 17, "text-anchor": "middle" },
        formatTime(t, time.step),
      ),
    );
  }
  nodes.push(
    el("line", { class: "axis", x1: left, x2: right, y1: bottom, y2: bottom }),
    el("line", { class: "axis", x1: left, x2: left, y1: top, y2: bottom }),
  );
  const cursor = el("g", { visibility: "hidden" });
  cursor.append(
    el("line", { class: "cursor", x1: 0, x2: 0, y1: top, y2: bottom }),
  );
  /** @type {Map<number, SVGCircleElement>} */
  const dots = new Map();
  for (const i of panel.indices) {
    const color = COLORS[i % COLORS.length];
    nodes.push(...seriesNodes(all[i], color, x, y));
    const dot = el("circle", { r: 3.5, fill: color, visibility: "hidden" });
    dots.set(i, dot);
    cursor.append(dot);
  }
  nodes.push(cursor);
  svg.replaceChildren(...nodes);
  return { width, left, right, x, y, cursor, dots };
}

/**
 * The line of one series, and a dot if it is a single sample.
 *
 * @param {Series} series
 * @param {string} color
 * @param {(t: number) => number} x
 * @param {(v: number) => number} y
 * @returns {SVGElement[]}
 */
function seriesNodes(series, color, x, y) {
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
  const [t, v] = series.points[0] ?? [0, null];
  if (series.points.length !== 1 || v === null) return [path];
  return [path, el("circle", { cx: x(t), cy: y(v), r: 3, fill: color })];
}

/**
 * The sample the legend shows of `series`: its latest, if that lies in the
 * last step drawn, since a rolled-up line ends on an average; else the
 * line's last point (a range in the past, newer samples after it).
 *
 * @param {Chart} chart
 * @param {Series} series
 * @returns {Point | undefined}
 */
function legendPoint(chart, series) {
  const last = series.points[series.points.length - 1];
  const latest = chart.latest.get(series.key);
  if (last === undefined || latest === undefined) return last;
  return last[0] <= latest[0] && latest[0] <= chart.to ? latest : last;
}

/** @param {Chart} chart */
function renderLegend(chart) {
  const { data, legend } = chart;
  if (data === null) return;
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
    const last = legendPoint(chart, series);
    value.textContent = last === undefined ? "no data" : formatExact(last[1]);
    item.append(swatch, key, value);
    if (last !== undefined && last[1] !== null) {
      const unit = document.createElement("span");
      unit.className = "unit";
      unit.textContent = unitSuffix(unitOf(series.key));
      item.append(unit);
    }
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

/**
 * The sample of `points` nearest to `t`, or undefined if there is none.
 *
 * @param {Point[]} points In time order.
 * @param {number} t
 */
function nearestPoint(points, t) {
  if (points.length === 0) return undefined;
  let low = 0;
  let high = points.length - 1;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (points[mid][0] < t) low = mid + 1;
    else high = mid;
  }
  if (low > 0 && t - points[low - 1][0] < points[low][0] - t) low--;
  return points[low];
}

/**
 * Shows the sample of each series nearest to the pointer's time, over
 * panel `index`, in every panel of `chart`.
 *
 * @param {Chart} chart
 * @param {number} index
 * @param {PointerEvent} event
 */
function hover(chart, index, event) {
  const { data } = chart;
  const view = chart.views[index];
  if (data === null || view === undefined) return;
  const rect = chart.svgs[index].getBoundingClientRect();
  const px = (event.clientX - rect.left) * view.width / rect.width;
  if (px < view.left || px > view.right) return unhover(chart);
  const t = chart.from + (px - view.left) / (view.right - view.left) *
      (chart.to - chart.from);
  const found = data.series.map((series) => nearestPoint(series.points, t));
  /** @type {number | null} */
  let nearest = null;
  for (const point of found) {
    if (
      point !== undefined &&
      (nearest === null || Math.abs(point[0] - t) < Math.abs(nearest - t))
    ) {
      nearest = point[0];
    }
  }
  if (nearest === null) return unhover(chart);
  for (const panel of chart.views) {
    const line = panel.cursor.querySelector("line");
    line?.setAttribute("x1", px.toFixed(1));
    line?.setAttribute("x2", px.toFixed(1));
    for (const [i, dot] of panel.dots) {
      const [pt, pv] = found[i] ?? [0, null];
      dot.setAttribute("visibility", pv === null ? "hidden" : "visible");
      if (pv === null) continue;
      dot.setAttribute("cx", panel.x(pt).toFixed(1));
      dot.setAttribute("cy", panel.y(pv).toFixed(1));
    }
    panel.cursor.setAttribute("visibility", "visible");
  }
  showTip(event, nearest, data.series, found);
}

/**
 * Shows the pointer's time and the value of each series there.
 *
 * @param {PointerEvent} event
 * @param {number} time
 * @param {Series[]} series
 * @param {(Point | undefined)[]} found The sample of each series shown.
 */
function showTip(event, time, series, found) {
  const tip = $("tip");
  const when = document.createElement("time");
  when.textContent = formatFullTime(time);
  const rows = [];
  for (const [i, point] of found.entries()) {
    if (point === undefined) continue;
    const row = document.createElement("div");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = COLORS[i % COLORS.length];
    row.append(swatch, series[i].key + "  " + formatValue(point[1]));
    rows.push(row);
  }
  tip.replaceChildren(when, ...rows);
  tip.hidden = false;
  const x = Math.min(event.clientX + 14, innerWidth - tip.offsetWidth - 8);
  const y = Math.min(event.clientY + 14, innerHeight - tip.offsetHeight - 8);
  tip.style.left = x + "px";
  tip.style.top = y + "px";
}

/** @param {Chart} chart */
function unhover(chart) {
  for (const view of chart.views) {
    view.cursor.setAttribute("visibility", "hidden");
  }
  $("tip").hidden = true;
}

/**
 * @param {Chart} chart
 * @param {number} from
 * @param {number} to
 */
async function refreshChart(chart, from, to) {
  const query = new URLSearchParams({
    match: chart.pattern,
    from: String(from),
    to: String(to),
    limit: String(MAX_SERIES),
  });
  const last = new URLSearchParams({
    match: chart.pattern,
    limit: String(MAX_SERIES),
  });
  try {
    /** @type {[Query, Query]} */
    const [data, latest] = await Promise.all([
      api("/api/query?" + query),
      api("/api/last?" + last),
    ]);
    chart.data = data;
    chart.latest = new Map();
    for (const { key, points } of latest.series) {
      if (points[0] !== undefined) chart.latest.set(key, points[0]);
    }
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
    chart.error.textContent = messageOf(error);
    chart.error.hidden = false;
  }
}

/** The ClickHouse backend's inserts at the last refresh. */
let previousInserts = { inserts: 0, rows: 0, seconds: 0, errors: 0 };

/**
 * Shows, with the ClickHouse backend, its batches since the last refresh:
 * rows per insert, insert latency and failed inserts.
 *
 * @param {Record<string, number>} stats The server's figures.
 */
function showInserts(stats) {
  if (stats.clickhouse_inserts_total === undefined) return;
  const now = {
    inserts: stats.clickhouse_inserts_total,
    rows: stats.clickhouse_insert_rows_total,
    seconds: stats.clickhouse_insert_seconds_total,
    errors: stats.clickhouse_insert_errors_total,
  };
  const inserts = now.inserts - previousInserts.inserts;
  const errors = now.errors - previousInserts.errors;
  const batch = inserts > 0
    ? formatNumber((now.rows - previousInserts.rows) / inserts) + " rows, " +
      formatNumber((now.seconds - previousInserts.seconds) / inserts * 1000) +
      " ms"
    : "idle";
  $("inserts").textContent = batch +
    (errors > 0 ? ", " + formatCount(errors) + " failed" : "");
  $("clickhouse").hidden = false;
  previousInserts = now;
}

async function refreshStats() {
  const stats = await api("/api/stats");
  $("samples").textContent = formatCount(stats.samples);
  $("series").textContent = formatCount(stats.series);
  const puts = (stats.commands_put || 0) + (stats.http_samples_put || 0);
  const now = performance.now();
  if (previous !== null && now > previous.time) {
    const rate = Math.max(
      0,
      (puts - previous.puts) * 1000 / (now - previous.time),
    );
    $("rate").textContent = formatNumber(rate) + "/s";
  }
  previous = { time: now, puts };
  showInserts(stats);
  if (stats.series !== knownSeries) {
    /** @type {{ series: { key: string }[] }} */
    const body = await api("/api/keys");
    keys = body.series.map((series) => series.key);
    knownSeries = stats.series;
    applyFilter(false);
  }
}

async function refreshOnce() {
  const [from, to] = currentRange();
  for (const button of presets()) {
    button.setAttribute(
      "aria-pressed",
      String(button.dataset.range === state.range),
    );
  }
  $("custom").querySelector("button")?.setAttribute(
    "aria-pressed",
    String(state.range === "custom"),
  );
  for (const field of [input("from"), input("to")]) {
    if (document.activeElement !== field) {
      field.value = toLocalInput(field.id === "from" ? from : to);
    }
  }
  await Promise.all([
    refreshStats(),
    ...state.patterns.map((pattern) =>
      refreshChart(chartFor(pattern), from, to)
    ),
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
        showNotice(messageOf(error));
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

/** @param {boolean} reset Whether to scroll the list back to its top. */
function applyFilter(reset) {
  const query = input("filter").value.trim().toLowerCase();
  shown = query === ""
    ? keys
    : keys.filter((key) => key.toLowerCase().includes(query));
  if (reset) $("list").scrollTop = 0;
  $("count").textContent = query === ""
    ? formatCount(keys.length) + " series"
    : formatCount(shown.length) + " of " + formatCount(keys.length) +
      " series";
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
  /** @type {Map<string, HTMLElement>} */
  const existing = new Map();
  for (const row of container.children) {
    if (row instanceof HTMLElement) existing.set(row.dataset.key ?? "", row);
  }
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

/** @param {string} pattern */
function addPattern(pattern) {
  pattern = pattern.trim();
  if (pattern === "" || state.patterns.includes(pattern)) return;
  state.patterns.push(pattern);
  writeHash();
  syncCharts();
  refresh();
}

/** @param {string} pattern */
function removePattern(pattern) {
  state.patterns = state.patterns.filter((p) => p !== pattern);
  writeHash();
  syncCharts();
}

/** @param {string} range A preset's name, or `custom`. */
function setRange(range) {
  state.range = range;
  writeHash();
  refresh();
}

$("add").addEventListener("submit", (event) => {
  event.preventDefault();
  addPattern(input("pattern").value);
  input("pattern").value = "";
});
for (const button of presets()) {
  button.addEventListener("click", () => setRange(button.dataset.range ?? ""));
}
$("custom").addEventListener("submit", (event) => {
  event.preventDefault();
  const from = Math.floor(new Date(input("from").value).getTime() / 1000);
  const to = Math.floor(new Date(input("to").value).getTime() / 1000);
  if (!(from < to)) {
    showNotice("Pick a start before the end of the range.");
    return;
  }
  state.from = from;
  state.to = to;
  input("from").blur();
  input("to").blur();
  setRange("custom");
});
input("filter").addEventListener("input", () => applyFilter(true));
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
  const row = event.target instanceof Element
    ? event.target.closest(".row")
    : null;
  if (row instanceof HTMLElement) addPattern(row.dataset.key ?? "");
});
input("token").value = localStorage.getItem(TOKEN_KEY) || "";
input("token").addEventListener("change", () => {
  localStorage.setItem(TOKEN_KEY, input("token").value);
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
