/**
 * `asPercent`, as graphite-web computes it: `(value / total) × 100` step by
 * step, null where the value is null or the total null or zero.
 *
 * @module
 */

import { compareNames, sortPaced } from "../_sort.ts";
import { normalize } from "../consolidate.ts";
import { TimeSeries } from "../series.ts";
import type { Call } from "./_function.ts";
import { aggregateColumns } from "./_aggregate.ts";
import { aggKey, formatPathExpressions } from "./_names.ts";

type Total = TimeSeries[] | number | undefined;

/**
 * Runs `asPercent(seriesList, total, *nodes)`.
 *
 * @param call The call.
 * @returns The percentages.
 * @throws {RangeError} When the total does not fit the list.
 */
export async function asPercent(call: Call): Promise<TimeSeries[]> {
  const [list, total, nodes = []] = call.args as [
    TimeSeries[],
    Total,
    (number | string)[]?,
  ];
  if (list.length === 0) return [];
  if (nodes.length > 0) return await byNodes(call, list, total, nodes);
  if (Array.isArray(total) && total.length === list.length) {
    const byName = (a: TimeSeries, b: TimeSeries) =>
      compareNames(a.name, b.name);
    const pause = () => call.pause();
    const totals = await sortPaced(total, byName, pause);
    const out: TimeSeries[] = [];
    for (const series of await sortPaced(list, byName, pause)) {
      out.push(
        percentOf(series, totals[out.length], undefined, call.xFilesFactor),
      );
      await pause();
    }
    return out;
  }
  if (Array.isArray(total) && total.length !== 1) {
    throw new RangeError(
      "Cannot compute asPercent: its second argument must be missing, a number, reference exactly 1 series or reference as many series as the first argument",
    );
  }
  let series: readonly TimeSeries[];
  let totalValues: Float64Array;
  let totalText: string;
  if (total === undefined) {
    series = normalize(list).series;
    totalValues = await sumOf(call, series);
    totalText = `sumSeries(${formatPathExpressions(list)})`;
  } else if (typeof total === "number") {
    series = normalize(list).series;
    totalValues = new Float64Array(series[0].length).fill(total);
    totalText = call.str(1);
  } else {
    const normalized = normalize([...list, total[0]]).series;
    series = normalized.slice(0, -1);
    totalValues = normalized.at(-1)!.values;
    totalText = total[0].name;
  }
  return series.map((s) =>
    new TimeSeries({
      name: `asPercent(${s.name},${totalText})`,
      start: s.start,
      end: s.end,
      step: s.step,
      values: percentValues(s.values, totalValues),
      xFilesFactor: call.xFilesFactor,
    })
  );
}

/** `(value / total) × 100`, over the longer of the two. */
function percentValues(
  values: Float64Array,
  totals: Float64Array,
): Float64Array {
  const length = Math.max(values.length, totals.length);
  const out = new Float64Array(length);
  for (let i = 0; i < length; i++) {
    const total = i < totals.length ? totals[i] : NaN;
    const value = i < values.length ? values[i] : NaN;
    out[i] = total === 0 ? NaN : (value / total) * 100;
  }
  return out;
}

/** A series as a percentage of another, at their common step. */
function percentOf(
  series: TimeSeries,
  total: TimeSeries | undefined,
  missing: "series" | "total" | undefined,
  xFilesFactor: number,
): TimeSeries {
  if (total === undefined || missing !== undefined) {
    const only = (missing === "series" ? total : series)!;
    const name = missing === "series"
      ? `asPercent(MISSING,${only.name})`
      : `asPercent(${only.name},MISSING)`;
    return new TimeSeries({
      name,
      start: only.start,
      end: only.end,
      step: only.step,
      values: new Float64Array(only.length).fill(NaN),
      xFilesFactor,
    });
  }
  const { series: [x, y], start, end, step } = normalize([series, total]);
  return new TimeSeries({
    name: `asPercent(${series.name},${total.name})`,
    start,
    end,
    step,
    values: percentValues(x.values, y.values),
    xFilesFactor,
  });
}

/** The step-by-step sum of series, null where all are null. */
function sumOf(
  call: Call,
  series: readonly TimeSeries[],
): Promise<Float64Array> {
  return aggregateColumns(series, "sum", 0, () => call.pause());
}

/** A group's total: its one series, or the sum of its series. */
async function groupTotal(
  call: Call,
  group: TimeSeries[],
): Promise<TimeSeries> {
  if (group.length === 1) return group[0];
  const { series, start, end, step } = normalize(group);
  return new TimeSeries({
    name: `sumSeries(${formatPathExpressions(group)})`,
    start,
    end,
    step,
    values: await sumOf(call, series),
    xFilesFactor: call.xFilesFactor,
  });
}

/** Series matched with totals by the nodes of their names. */
async function byNodes(
  call: Call,
  list: TimeSeries[],
  total: Total,
  nodes: (number | string)[],
): Promise<TimeSeries[]> {
  if (typeof total === "number") {
    throw new RangeError(
      "Cannot compute asPercent: with nodes, its total must be None or a series list",
    );
  }
  // Keys in the order first met, series' before totals'.
  const keys = new Set<string>();
  const groups = new Map<string, TimeSeries[]>();
  const add = (map: Map<string, TimeSeries[]>, series: TimeSeries) => {
    const key = aggKey(series, nodes);
    keys.add(key);
    const group = map.get(key);
    if (group === undefined) map.set(key, [series]);
    else group.push(series);
  };
  for (const series of list) add(groups, series);
  const totalGroups = new Map<string, TimeSeries[]>();
  for (const series of total ?? []) add(totalGroups, series);
  const totals = new Map<string, TimeSeries>();
  for (const [key, group] of total === undefined ? groups : totalGroups) {
    totals.set(key, await groupTotal(call, group));
  }
  const out: TimeSeries[] = [];
  for (const key of keys) {
    const group = groups.get(key);
    const sum = totals.get(key);
    if (group === undefined) {
      out.push(percentOf(sum!, sum, "series", call.xFilesFactor));
      continue;
    }
    for (const series of group) {
      const missing = sum === undefined ? "total" : undefined;
      out.push(percentOf(series, sum, missing, call.xFilesFactor));
    }
    await call.pause();
  }
  return out;
}
