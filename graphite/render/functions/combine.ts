/**
 * Functions that make series from several, or from nothing: `constantLine`,
 * `sumSeries`, `averageSeries`, `maxSeries`, `minSeries`, `group`,
 * `groupByNode`, `asPercent` and `divideSeries`.
 *
 * Series of different steps are first brought to their steps' least common
 * multiple (graphite-web's `normalize`), then combined step by step.
 *
 * @module
 */

import { normalize } from "../consolidate.ts";
import { TimeSeries } from "../series.ts";
import type { Call, GraphiteFunction } from "./_function.ts";
import {
  aggregateColumns,
  AGGREGATION_NAMES,
  aggregationByName,
} from "./_aggregate.ts";
import { aggKey, commonTags, formatPathExpressions } from "./_names.ts";
import { asPercent } from "./_as_percent.ts";

/**
 * Aggregates series lists into one series named `<label>Series(<paths>)`, as
 * graphite-web's `aggregate`.
 *
 * @param call The call, for its `xFilesFactor` and turns.
 * @param lists The series lists.
 * @param label The aggregation as named, such as `sum` or `average`.
 * @returns One series, or none when the lists are empty.
 */
export async function aggregate(
  call: Call,
  lists: readonly (readonly TimeSeries[])[],
  label: string,
): Promise<TimeSeries[]> {
  const func = aggregationByName(label);
  const series = lists.flat();
  if (series.length === 0) return [];
  const { series: normalized, start, end, step } = normalize(series);
  const values = await aggregateColumns(
    normalized,
    func,
    call.xFilesFactor,
    () => call.pause(),
  );
  const bare = label.endsWith("Series") ? label.slice(0, -6) : label;
  const name = `${bare}Series(${formatPathExpressions(series)})`;
  const tags = commonTags(series, name);
  tags.aggregatedBy = bare;
  return [
    new TimeSeries({
      name,
      tags,
      start,
      end,
      step,
      values,
      xFilesFactor: call.xFilesFactor,
    }),
  ];
}

const SERIES_LISTS = [
  {
    name: "seriesLists",
    type: "seriesList",
    required: true,
    multiple: true,
  },
] as const;

function aggregator(
  name: string,
  label: string,
  aliases: string[],
  what: string,
): GraphiteFunction {
  return {
    name,
    aliases,
    group: "Combine",
    description:
      `Takes one or more series lists and draws the ${what} of their values at each step, ` +
      `skipping nulls; a step where every value is null stays null.\n\n` +
      `  &target=${name}(company.server.*.threads.busy)`,
    params: SERIES_LISTS,
    run: (call) => aggregate(call, call.args[0] as TimeSeries[][], label),
  };
}

// The functions groupByNode takes as a callback, besides aggregations.
const CALLBACKS: Record<string, string> = {
  sumSeries: "sum",
  sum: "sum",
  averageSeries: "average",
  avg: "average",
  maxSeries: "max",
  minSeries: "min",
};

/** The combining functions. */
export const COMBINE_FUNCTIONS: readonly GraphiteFunction[] = [
  {
    name: "constantLine",
    group: "Special",
    description:
      "Takes a number and draws a horizontal line at it across the range, " +
      "as three points: at from, halfway, and until.\n\n" +
      "  &target=constantLine(123.456)",
    params: [{ name: "value", type: "float", required: true }],
    run: (call) => {
      const value = call.args[0] as number;
      const { from, until } = call.range;
      const step = Math.max(1, Math.floor((until - from) / 2));
      const name = call.str(0);
      return Promise.resolve([
        new TimeSeries({
          name,
          pathExpression: `constantLine(${name})`,
          start: from,
          end: until,
          step,
          values: new Float64Array([value, value, value]),
          xFilesFactor: call.xFilesFactor,
          integral: (call.node.args[0] as { integer?: boolean }).integer,
        }),
      ]);
    },
  },
  aggregator("sumSeries", "sum", ["sum"], "sum"),
  aggregator("averageSeries", "average", ["avg"], "average"),
  aggregator("maxSeries", "max", [], "maximum"),
  aggregator("minSeries", "min", [], "minimum"),
  {
    name: "group",
    group: "Combine",
    description:
      "Takes any number of series lists and makes them one, to pass several " +
      "to a function that takes one.\n\n" +
      "  &target=sumSeries(group(a.*.cpu,b.*.cpu))",
    params: [{ name: "seriesLists", type: "seriesList", multiple: true }],
    keepsValues: true,
    run: (call) => Promise.resolve((call.args[0] as TimeSeries[][]).flat()),
  },
  {
    name: "groupByNode",
    group: "Combine",
    description:
      "Takes a series list, a node and a callback, groups the series by that " +
      "node of their names and aggregates each group into one series named " +
      "by the node. The callback is an aggregation (average, sum, min, max, " +
      "...) or sumSeries, averageSeries, minSeries or maxSeries.\n\n" +
      '  &target=groupByNode(ganglia.by-function.*.*.cpu.load5,2,"sumSeries")',
    params: [
      { name: "seriesList", type: "seriesList", required: true },
      { name: "nodeNum", type: "nodeOrTag", required: true },
      {
        name: "callback",
        type: "aggOrSeriesFunc",
        default: "average",
        options: [
          ...new Set([...AGGREGATION_NAMES, ...Object.keys(CALLBACKS)]),
        ].sort(),
      },
    ],
    run: async (call) => {
      const [list, node, callback = "average"] = call.args as [
        TimeSeries[],
        number | string,
        string?,
      ];
      const label = CALLBACKS[callback] ?? callback;
      aggregationByName(label);
      const groups = new Map<string, TimeSeries[]>();
      for (const series of list) {
        const key = aggKey(series, [node]);
        const group = groups.get(key);
        if (group === undefined) groups.set(key, [series]);
        else group.push(series);
      }
      const out: TimeSeries[] = [];
      for (const [key, group] of groups) {
        const [series] = await aggregate(call, [group], label);
        out.push(series.renamed(key));
      }
      return out;
    },
  },
  {
    name: "asPercent",
    aliases: ["pct"],
    group: "Combine",
    description:
      "Draws each series as a percentage of a total: of the sum of the list " +
      "when no total is given, of a number, of one series, or of the series " +
      "of a list of the same length matched by name. With nodes, series and " +
      "totals are matched by those nodes, and a series or total without a " +
      "match gives a series of nulls named with MISSING.\n\n" +
      "  &target=asPercent(Server01.connections.{failed,succeeded}, Server01.connections.attempted)",
    params: [
      { name: "seriesList", type: "seriesList", required: true },
      { name: "total", type: "any" },
      { name: "nodes", type: "nodeOrTag", multiple: true },
    ],
    run: (call) => asPercent(call),
  },
  {
    name: "divideSeries",
    group: "Combine",
    description:
      "Divides each series of the first list by the one series of the second, " +
      "step by step; a null or zero divisor gives null. With no divisor at " +
      "all, every series becomes nulls, named with MISSING.\n\n" +
      "  &target=divideSeries(Series.dividends,Series.divisors)",
    params: [
      { name: "dividendSeriesList", type: "seriesList", required: true },
      { name: "divisorSeries", type: "seriesList", required: true },
    ],
    run: (call) => divideSeries(call),
  },
];

async function divideSeries(call: Call): Promise<TimeSeries[]> {
  const [dividends, divisors] = call.args as [TimeSeries[], TimeSeries[]];
  if (divisors.length === 0) {
    return dividends.map((series) =>
      series.with({
        name: `divideSeries(${series.name},MISSING)`,
        values: new Float64Array(series.length).fill(NaN),
      })
    );
  }
  if (divisors.length > 1) {
    throw new RangeError(
      `Cannot divide: divideSeries' second argument must reference exactly 1 series (got ${divisors.length})`,
    );
  }
  const out: TimeSeries[] = [];
  for (const dividend of dividends) {
    out.push(divide(dividend, divisors[0], call.xFilesFactor));
    await call.pause();
  }
  return out;
}

/** One series divided by another, step by step. */
function divide(
  a: TimeSeries,
  b: TimeSeries,
  xFilesFactor: number,
): TimeSeries {
  const { series: [x, y], start, end, step } = normalize([a, b]);
  const length = Math.max(x.length, y.length);
  const values = new Float64Array(length);
  for (let i = 0; i < length; i++) {
    const divisor = i < y.length ? y.values[i] : NaN;
    values[i] = divisor === 0
      ? NaN
      : (i < x.length ? x.values[i] : NaN) / divisor;
  }
  return new TimeSeries({
    name: `divideSeries(${a.name},${b.name})`,
    start,
    end,
    step,
    values,
    xFilesFactor,
  });
}
