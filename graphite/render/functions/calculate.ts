/**
 * `movingAverage`: the average of the values before each point, over a
 * number of points or an interval, as graphite-web's `movingWindow`.
 *
 * @module
 */

import { parseInterval } from "../time.ts";
import { type TimeSeries, withTag } from "../series.ts";
import type { Call, GraphiteFunction } from "./_function.ts";

/** The calculating functions. */
export const CALCULATE_FUNCTIONS: readonly GraphiteFunction[] = [
  {
    name: "movingAverage",
    group: "Calculate",
    description:
      "Draws, at each point, the average of the non-null values of the window " +
      "before it: a number of points, or an interval such as '5min'. The " +
      "series are read from that much earlier, so the first point has a full " +
      "window. A window with fewer non-null values than xFilesFactor of it, or " +
      "none, gives null.\n\n" +
      "  &target=movingAverage(Server.instance01.threads.busy,10)\n" +
      "  &target=movingAverage(Server.instance*.threads.idle,'5min')",
    params: [
      { name: "seriesList", type: "seriesList", required: true, lazy: true },
      {
        name: "windowSize",
        type: "intOrInterval",
        required: true,
        suggestions: [5, 7, 10, "1min", "5min", "10min", "30min", "1hour"],
      },
      { name: "xFilesFactor", type: "float" },
    ],
    ranges: (node, range) => {
      const window = node.args[1];
      if (window?.type !== "string") return [range];
      const seconds = Math.abs(parseInterval(window.value as string));
      return [{ from: range.from - seconds, until: range.until }];
    },
    run: (call) => movingAverage(call),
  },
];

async function movingAverage(call: Call): Promise<TimeSeries[]> {
  const [, windowSize, xFilesFactor] = call.args as [
    unknown,
    number | string,
    number?,
  ];
  const node = call.nodes[0]!;
  let seconds: number;
  if (typeof windowSize === "string") {
    seconds = Math.abs(parseInterval(windowSize));
  } else {
    if (!(windowSize > 0)) {
      throw new RangeError(
        `Cannot average over ${windowSize} points: use a positive number`,
      );
    }
    // A window of points: as long as the points of the coarsest series.
    const list = await call.evaluate(node, call.range);
    if (list.length === 0) return [];
    let step = 0;
    for (const series of list) step = Math.max(step, series.step);
    seconds = step * windowSize;
  }
  const preview = await call.evaluate(node, {
    from: call.range.from - seconds,
    until: call.range.until,
  });
  const out: TimeSeries[] = [];
  for (const series of preview) {
    const points = typeof windowSize === "string"
      ? Math.floor(seconds / series.step)
      : windowSize;
    const name = typeof windowSize === "string"
      ? `movingAverage(${series.name},"${windowSize}")`
      : `movingAverage(${series.name},${windowSize})`;
    out.push(series.with({
      name,
      tags: withTag(series.tags, "movingAverage", String(windowSize)),
      start: series.start + seconds,
      values: windowAverages(
        series.values,
        points,
        xFilesFactor ?? series.xFilesFactor,
      ),
    }));
    await call.pause();
  }
  return out;
}

/**
 * The average of the `points` values before each index from `points` on.
 * The window's sum is kept as it slides, with the rounding error of each
 * addition and removal kept beside it (Neumaier's summation), so that a
 * large value leaving the window takes nothing of the small ones with it.
 */
function windowAverages(
  values: Float64Array,
  points: number,
  xFilesFactor: number,
): Float64Array {
  const out = new Float64Array(
    Math.max(0, values.length - Math.max(points, 0)),
  );
  if (points <= 0) return out.fill(NaN);
  let sum = 0;
  let error = 0;
  let count = 0;
  const add = (value: number) => {
    const total = sum + value;
    error += Math.abs(sum) >= Math.abs(value)
      ? (sum - total) + value
      : (value - total) + sum;
    sum = total;
  };
  for (let i = 0; i < values.length; i++) {
    if (i >= points) {
      const enough = count > 0 && count / points >= xFilesFactor;
      out[i - points] = enough ? (sum + error) / count : NaN;
      const leaving = values[i - points];
      if (leaving === leaving) {
        add(-leaving);
        count--;
        if (count === 0) sum = error = 0;
      }
    }
    const value = values[i];
    if (value === value) {
      add(value);
      count++;
    }
  }
  return out;
}
