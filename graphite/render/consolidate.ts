/**
 * Consolidation: values rolled up into fewer, as graphite-web does when
 * series of different steps are combined (`normalize`) and when an answer
 * must hold at most `maxDataPoints` points.
 *
 * A group of values becomes one by the series' consolidation function, over
 * its non-null values; it is null when it has none, or fewer than its
 * `xFilesFactor` share. Every function here reads each value once.
 *
 * @module
 */

import type { ConsolidationFunction, TimeSeries } from "./series.ts";

/**
 * Consolidates values in groups of `perPoint`, from `from` on; the last group
 * may be partial.
 *
 * @param values The values; NaN is null.
 * @param perPoint Values per group, at least 1.
 * @param func How a group becomes one value.
 * @param xFilesFactor The least share of non-null values, of `perPoint`.
 * @param from The index of the first value of the first group.
 * @returns The consolidated values.
 */
export function consolidateValues(
  values: Float64Array,
  perPoint: number,
  func: ConsolidationFunction,
  xFilesFactor = 0,
  from = 0,
): Float64Array {
  const count = Math.max(0, Math.ceil((values.length - from) / perPoint));
  const out = new Float64Array(count);
  for (let g = 0; g < count; g++) {
    const first = from + g * perPoint;
    const last = Math.min(values.length, first + perPoint);
    out[g] = consolidateGroup(
      values,
      first,
      last,
      perPoint,
      func,
      xFilesFactor,
    );
  }
  return out;
}

function consolidateGroup(
  values: Float64Array,
  first: number,
  last: number,
  perPoint: number,
  func: ConsolidationFunction,
  xFilesFactor: number,
): number {
  let nonNull = 0;
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  let firstValue = NaN;
  let lastValue = NaN;
  for (let i = first; i < last; i++) {
    const value = values[i];
    if (value !== value) continue;
    if (nonNull === 0) firstValue = value;
    nonNull++;
    sum += value;
    if (value < min) min = value;
    if (value > max) max = value;
    lastValue = value;
  }
  if (nonNull === 0 || nonNull / perPoint < xFilesFactor) return NaN;
  switch (func) {
    case "average":
      return sum / nonNull;
    case "avg_zero":
      // Nulls count as zeros, over the values the group has.
      return sum / (last - first);
    case "sum":
      return sum;
    case "min":
      return min;
    case "max":
      return max;
    case "first":
      return firstValue;
    case "last":
      return lastValue;
  }
}

/**
 * Consolidates a series to at most `maxDataPoints` points over `timeRange`
 * seconds, as graphite-web's JSON answer does: `valuesPerPoint` is the least
 * whole number of values per point that fits, and points are aligned to
 * multiples of their step (`valuesPerPoint × step`), the first at or after
 * the series' start. graphite-web shifts the start by one step less than it
 * drops values; Pulse drops exactly the values before the first point.
 *
 * @param series The series.
 * @param maxDataPoints The most points wanted, at least 1.
 * @param timeRange The span of the whole answer, in seconds.
 * @returns The series, consolidated when it had too many points.
 */
export function consolidateToPoints(
  series: TimeSeries,
  maxDataPoints: number,
  timeRange: number,
): TimeSeries {
  const { step, start, values } = series;
  if (maxDataPoints === 1) {
    return series.with({
      values: consolidateValues(
        values,
        Math.max(1, values.length),
        series.consolidationFunc,
        series.xFilesFactor,
      ),
      step: Math.max(step, series.end - start),
    });
  }
  const points = timeRange / step;
  if (!(maxDataPoints < points)) return series;
  const perPoint = Math.ceil(points / maxDataPoints);
  const pointStep = perPoint * step;
  const first = Math.ceil(start / pointStep) * pointStep;
  const from = Math.ceil((first - start) / step);
  const consolidated = consolidateValues(
    values,
    perPoint,
    series.consolidationFunc,
    series.xFilesFactor,
    from,
  );
  return series.with({
    start: first,
    end: first + consolidated.length * pointStep,
    step: pointStep,
    values: consolidated,
  });
}

/**
 * The least common multiple of two positive integers.
 *
 * @param a A positive integer.
 * @param b Another.
 * @returns Their least common multiple.
 */
export function lcm(a: number, b: number): number {
  let x = a;
  let y = b;
  while (y !== 0) [x, y] = [y, x % y];
  return (a / x) * b;
}

/** Series brought to one step, as graphite-web's `normalize`. */
export interface Normalized {
  /** The series, consolidated to `step`. */
  series: TimeSeries[];
  /** The earliest start. */
  start: number;
  /** The latest end, less what does not fill a step. */
  end: number;
  /** The least common multiple of their steps. */
  step: number;
}

/**
 * Brings series to a common step, their steps' least common multiple: each
 * is consolidated by its own function, from its own start, as graphite-web's
 * `normalize` does. Combining functions then pair values by index.
 *
 * @param series At least one series.
 * @returns The consolidated series, and the span and step they share.
 */
export function normalize(series: readonly TimeSeries[]): Normalized {
  const step = series.reduce((l, s) => lcm(l, s.step), series[0].step);
  const consolidated = series.map((s) =>
    s.step === step ? s : s.with({
      step,
      values: consolidateValues(
        s.values,
        step / s.step,
        s.consolidationFunc,
        s.xFilesFactor,
      ),
    })
  );
  // Loops, not spreads: a list may hold more series than a call has
  // arguments.
  let start = Infinity;
  let end = -Infinity;
  for (const s of series) {
    if (s.start < start) start = s.start;
    if (s.end > end) end = s.end;
  }
  end -= (end - start) % step;
  return { series: consolidated, start, end, step };
}
