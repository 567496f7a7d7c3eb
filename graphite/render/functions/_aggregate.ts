/**
 * graphite-web's aggregation functions (`aggfuncs.py`), over the values of
 * one series or across series step by step: nulls are skipped, and a result
 * with no non-null value to work from is null.
 *
 * Across series the work goes series by series, not step by step, so that it
 * reads each value once and can give other clients a turn between series.
 *
 * @module
 */

import type { TimeSeries } from "../series.ts";

/** The aggregations, by graphite-web's names. */
export type AggregationName =
  | "average"
  | "avg_zero"
  | "sum"
  | "min"
  | "max"
  | "diff"
  | "stddev"
  | "count"
  | "range"
  | "multiply"
  | "last";

const NAMES: Record<string, AggregationName> = {
  average: "average",
  avg: "average",
  avg_zero: "avg_zero",
  sum: "sum",
  total: "sum",
  min: "min",
  max: "max",
  diff: "diff",
  stddev: "stddev",
  count: "count",
  range: "range",
  rangeOf: "range",
  multiply: "multiply",
  last: "last",
  current: "last",
};

/** Every name an aggregation may be given by, for `/functions`. */
export const AGGREGATION_NAMES: readonly string[] = Object.keys(NAMES);

/**
 * The aggregation a name stands for; graphite-web also takes the deprecated
 * `sumSeries` form.
 *
 * @param name Such as `avg` or `sumSeries`.
 * @returns The aggregation.
 * @throws {RangeError} When there is none by that name.
 */
export function aggregationByName(name: string): AggregationName {
  const bare = name.endsWith("Series") ? name.slice(0, -6) : name;
  const found = Object.hasOwn(NAMES, bare) ? NAMES[bare] : undefined;
  if (found === undefined) {
    throw new RangeError(
      `Cannot aggregate by "${name}": use one of ${
        AGGREGATION_NAMES.join(", ")
      }`,
    );
  }
  return found;
}

/**
 * Aggregates `values[from, to)` of one series; nulls are NaN.
 *
 * @param values The values.
 * @param func The aggregation.
 * @param from The first index.
 * @param to The end index, exclusive.
 * @returns The result, NaN for null.
 */
export function aggregateValues(
  values: Float64Array,
  func: AggregationName,
  from = 0,
  to = values.length,
): number {
  let count = 0;
  let sum = 0;
  let diff = 0;
  let product = 1;
  let anyNull = false;
  let min = Infinity;
  let max = -Infinity;
  let last = NaN;
  for (let i = from; i < to; i++) {
    const value = values[i];
    if (value !== value) {
      anyNull = true;
      continue;
    }
    diff = count === 0 ? value : diff - value;
    count++;
    sum += value;
    product *= value;
    if (value < min) min = value;
    if (value > max) max = value;
    last = value;
  }
  if (func === "count") return count;
  if (func === "avg_zero") return to > from ? sum / (to - from) : NaN;
  if (count === 0) return NaN;
  switch (func) {
    case "average":
      return sum / count;
    case "sum":
      return sum;
    case "min":
      return min;
    case "max":
      return max;
    case "diff":
      return diff;
    case "range":
      return max - min;
    case "multiply":
      return anyNull ? NaN : product;
    case "last":
      return last;
    case "stddev": {
      const mean = sum / count;
      let squares = 0;
      for (let i = from; i < to; i++) {
        const value = values[i];
        if (value === value) squares += (value - mean) * (value - mean);
      }
      return Math.sqrt(squares / count);
    }
  }
}

/**
 * Aggregates series step by step, as graphite-web's `aggregate` over rows
 * of `zip_longest`: a step past a series' end is null for it, and a step
 * with fewer non-null values than `xFilesFactor` of the series is null.
 *
 * @param series Series of one step, aligned by index.
 * @param func The aggregation.
 * @param xFilesFactor The least share of non-null values.
 * @param pause Gives other clients a turn.
 * @returns The values, as long as the longest series.
 */
export async function aggregateColumns(
  series: readonly TimeSeries[],
  func: AggregationName,
  xFilesFactor: number,
  pause: () => Promise<void> | undefined,
): Promise<Float64Array> {
  let length = 0;
  for (const s of series) length = Math.max(length, s.length);
  const count = new Float64Array(length);
  const acc = new Float64Array(length).fill(initial(func));
  const extra = func === "range"
    ? new Float64Array(length).fill(-Infinity)
    : undefined;
  const nulls = func === "multiply" ? new Uint8Array(length) : undefined;
  for (const s of series) {
    accumulate(s.values, func, count, acc, extra, nulls);
    await pause();
  }
  if (func === "stddev") {
    // A second pass sums the squared deviations from each step's mean.
    const mean = acc.map((sum, i) => sum / count[i]);
    acc.fill(0);
    for (const s of series) {
      const values = s.values;
      for (let i = 0; i < values.length; i++) {
        const d = values[i] - mean[i];
        if (d === d) acc[i] += d * d;
      }
      await pause();
    }
  }
  const out = new Float64Array(length);
  const rows = series.length;
  for (let i = 0; i < length; i++) {
    const n = count[i];
    if (n === 0 || n / rows < xFilesFactor) {
      out[i] = NaN;
      continue;
    }
    out[i] = finish(func, acc[i], n, rows, extra?.[i], nulls?.[i]);
  }
  return out;
}

function initial(func: AggregationName): number {
  if (func === "min") return Infinity;
  if (func === "max") return -Infinity;
  if (func === "multiply") return 1;
  if (func === "last") return NaN;
  return func === "range" ? Infinity : 0;
}

/** Adds one series' values into the per-step accumulators. */
function accumulate(
  values: Float64Array,
  func: AggregationName,
  count: Float64Array,
  acc: Float64Array,
  extra: Float64Array | undefined,
  nulls: Uint8Array | undefined,
): void {
  const n = values.length;
  switch (func) {
    case "sum":
    case "average":
    case "avg_zero":
    case "count":
    case "stddev":
      for (let i = 0; i < n; i++) {
        const value = values[i];
        if (value === value) {
          acc[i] += value;
          count[i]++;
        }
      }
      break;
    case "multiply":
      for (let i = 0; i < n; i++) {
        const value = values[i];
        if (value === value) {
          acc[i] *= value;
          count[i]++;
        } else nulls![i] = 1;
      }
      // A step past this series' end is null for it, too.
      for (let i = n; i < acc.length; i++) nulls![i] = 1;
      break;
    default:
      for (let i = 0; i < n; i++) {
        const value = values[i];
        if (value !== value) continue;
        if (func === "min") acc[i] = value < acc[i] ? value : acc[i];
        else if (func === "max") acc[i] = value > acc[i] ? value : acc[i];
        else if (func === "last") acc[i] = value;
        else if (func === "diff") {
          acc[i] = count[i] === 0 ? value : acc[i] - value;
        } else {
          acc[i] = value < acc[i] ? value : acc[i];
          extra![i] = value > extra![i] ? value : extra![i];
        }
        count[i]++;
      }
  }
}

function finish(
  func: AggregationName,
  acc: number,
  count: number,
  rows: number,
  extra: number | undefined,
  anyNull: number | undefined,
): number {
  switch (func) {
    case "average":
      return acc / count;
    case "avg_zero":
      return acc / rows;
    case "count":
      return count;
    case "stddev":
      return Math.sqrt(acc / count);
    case "range":
      return extra! - acc;
    case "multiply":
      return anyNull ? NaN : acc;
    default:
      return acc;
  }
}
