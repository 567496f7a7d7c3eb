/**
 * Functions that transform each series on its own: arithmetic (`scale`,
 * `offset`, `absolute`), time (`timeShift`), change over time
 * (`derivative`, `nonNegativeDerivative`, `perSecond`, `integral`) and
 * bucketing (`summarize`). A null stays null unless said otherwise.
 *
 * @module
 */

import { pyFormatG } from "../_python.ts";
import { parseInterval } from "../time.ts";
import { type TimeSeries, withTag } from "../series.ts";
import type { Call, GraphiteFunction, Param } from "./_function.ts";
import { aggregateValues, aggregationByName } from "./_aggregate.ts";
import { round6 } from "./_names.ts";

const SERIES_LIST: Param = {
  name: "seriesList",
  type: "seriesList",
  required: true,
};
const COUNTER_BOUNDS: Param[] = [
  { name: "maxValue", type: "float" },
  { name: "minValue", type: "float" },
];

/** A new series per series of the list, given its new name, tag and values. */
async function each(
  call: Call,
  change: (series: TimeSeries) => {
    name: string;
    tag: [string, string];
    values: Float64Array;
  },
): Promise<TimeSeries[]> {
  const out: TimeSeries[] = [];
  for (const series of call.args[0] as TimeSeries[]) {
    const { name, tag, values } = change(series);
    out.push(series.with({ name, values, tags: withTag(series.tags, ...tag) }));
    await call.pause();
  }
  return out;
}

function map(values: Float64Array, f: (value: number) => number): Float64Array {
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f(values[i]);
  return out;
}

/**
 * The increase from `previous` to `value` of a counter, as graphite-web's
 * `_nonNegativeDelta`: a value past the bounds is dropped (and forgets the
 * previous one); a decrease is a wrap past `maxValue`, a reset to
 * `minValue`, or else null.
 */
function counterDelta(
  value: number,
  previous: number,
  maxValue: number | undefined,
  minValue: number | undefined,
): [delta: number, previous: number] {
  if (value === value) {
    if (maxValue !== undefined && value > maxValue) return [NaN, NaN];
    if (minValue !== undefined && value < minValue) return [NaN, NaN];
  }
  if (value !== value || previous !== previous) return [NaN, value];
  if (value >= previous) return [value - previous, value];
  if (maxValue !== undefined) {
    return [maxValue + 1 + value - previous - (minValue ?? 0), value];
  }
  if (minValue !== undefined) return [value - minValue, value];
  return [NaN, value];
}

function counterDeltas(
  values: Float64Array,
  call: Call,
  scale?: number,
): Float64Array {
  const [, maxValue, minValue] = call.args as [
    unknown,
    number | undefined,
    number | undefined,
  ];
  const out = new Float64Array(values.length);
  let previous = NaN;
  for (let i = 0; i < values.length; i++) {
    const [delta, next] = counterDelta(values[i], previous, maxValue, minValue);
    previous = next;
    out[i] = scale === undefined ? delta : round6(delta / scale);
  }
  return out;
}

/** The transforming functions. */
export const TRANSFORM_FUNCTIONS: readonly GraphiteFunction[] = [
  {
    name: "scale",
    group: "Transform",
    description:
      "Multiplies every value by a constant.\n\n  &target=scale(Server.instance01.threads.busy,10)",
    params: [SERIES_LIST, { name: "factor", type: "float", required: true }],
    run: (call) => {
      const factor = call.args[1] as number;
      return each(call, (series) => ({
        name: `scale(${series.name},${pyFormatG(factor)})`,
        tag: ["scale", call.str(1)],
        values: map(series.values, (value) => value * factor),
      }));
    },
  },
  {
    name: "offset",
    group: "Transform",
    description:
      "Adds a constant to every value.\n\n  &target=offset(Server.instance01.threads.busy,10)",
    params: [SERIES_LIST, { name: "factor", type: "float", required: true }],
    run: (call) => {
      const factor = call.args[1] as number;
      return each(call, (series) => ({
        name: `offset(${series.name},${pyFormatG(factor)})`,
        tag: ["offset", call.str(1)],
        values: map(series.values, (value) => value + factor),
      }));
    },
  },
  {
    name: "absolute",
    group: "Transform",
    description:
      "Takes the absolute value of every value.\n\n  &target=absolute(Server.instance01.threads.busy)",
    params: [SERIES_LIST],
    run: (call) =>
      each(call, (series) => ({
        name: `absolute(${series.name})`,
        tag: ["absolute", "1"],
        values: map(series.values, Math.abs),
      })),
  },
  {
    name: "timeShift",
    group: "Transform",
    description:
      'Draws the series as they were an interval earlier ("7d", or "+1h" for ' +
      "later; no sign means earlier), over the rendered range: the shifted " +
      "series take the start of the series unshifted and, unless resetEnd " +
      "is false, their end. alignDst has no effect: Pulse shifts by a fixed " +
      "number of seconds.\n\n" +
      '  &target=timeShift(Sales.widgets.largeBlue,"7d")',
    params: [
      SERIES_LIST,
      {
        name: "timeShift",
        type: "interval",
        required: true,
        suggestions: ["1h", "6h", "12h", "1d", "2d", "7d", "14d", "30d"],
      },
      { name: "resetEnd", type: "boolean", default: true },
      { name: "alignDst", type: "boolean", default: false },
    ],
    ranges: (node, range) => {
      const shift = node.args[1];
      if (shift?.type !== "string") return [range];
      const delta = parseInterval(timeShiftText(shift.value as string));
      return [range, { from: range.from + delta, until: range.until + delta }];
    },
    run: async (call) => {
      const [list, text, resetEnd = true] = call.args as [
        TimeSeries[],
        string,
        boolean?,
      ];
      const shift = timeShiftText(text);
      const delta = parseInterval(shift);
      if (list.length === 0) return [];
      const base = list[0];
      const shifted = await call.evaluate(call.nodes[0]!, {
        from: call.range.from + delta,
        until: call.range.until + delta,
      });
      return shifted.map((series) =>
        series.with({
          name: `timeShift(${series.name}, "${shift}")`,
          pathExpression: series.pathExpression,
          tags: withTag(series.tags, "timeShift", shift),
          start: base.start,
          end: resetEnd ? base.end : series.end - series.start + base.start,
        })
      );
    },
  },
  {
    name: "derivative",
    group: "Transform",
    description:
      "Draws the change from each value to the next; after a null, the next " +
      "value's change is null too.\n\n" +
      "  &target=derivative(company.server.application01.ifconfig.TXPackets)",
    params: [SERIES_LIST],
    run: (call) =>
      each(call, (series) => {
        const values = series.values;
        const out = new Float64Array(values.length);
        out[0] = NaN;
        for (let i = 1; i < values.length; i++) {
          out[i] = values[i] - values[i - 1];
        }
        return {
          name: `derivative(${series.name})`,
          tag: ["derivative", "1"],
          values: out,
        };
      }),
  },
  {
    name: "nonNegativeDerivative",
    group: "Transform",
    description:
      "Like derivative, for counters: a decrease gives null, or, with " +
      "maxValue, the increase as if the counter wrapped past maxValue, or, " +
      "with minValue only, as if it was reset to minValue. Values past the " +
      "bounds give null.\n\n" +
      "  &target=nonNegativeDerivative(company.server.application01.ifconfig.TXPackets)",
    params: [SERIES_LIST, ...COUNTER_BOUNDS],
    run: (call) =>
      each(call, (series) => ({
        name: `nonNegativeDerivative(${series.name})`,
        tag: ["nonNegativeDerivative", "1"],
        values: counterDeltas(series.values, call),
      })),
  },
  {
    name: "perSecond",
    group: "Transform",
    description:
      "nonNegativeDerivative divided by the series' step, rounded to six " +
      "decimals: the rate per second of a counter.\n\n" +
      "  &target=perSecond(company.server.application01.ifconfig.TXPackets)",
    params: [SERIES_LIST, ...COUNTER_BOUNDS],
    run: (call) =>
      each(call, (series) => ({
        name: `perSecond(${series.name})`,
        tag: ["perSecond", "1"],
        values: counterDeltas(series.values, call, series.step),
      })),
  },
  {
    name: "integral",
    group: "Transform",
    description:
      "Draws the running total of the values from the start of the range; " +
      "a null stays null and adds nothing.\n\n" +
      "  &target=integral(company.sales.perMinute)",
    params: [SERIES_LIST],
    run: (call) =>
      each(call, (series) => {
        let total = 0;
        return {
          name: `integral(${series.name})`,
          tag: ["integral", "1"],
          values: map(series.values, (value) => {
            if (value !== value) return NaN;
            total += value;
            return total;
          }),
        };
      }),
  },
  {
    name: "summarize",
    group: "Transform",
    description:
      "Rolls the values up into buckets of an interval by an aggregation " +
      "(sum by default): buckets are aligned to multiples of the interval, " +
      "or start at the series' start with alignToFrom. A bucket without a " +
      "non-null value is null.\n\n" +
      '  &target=summarize(counter.errors, "1hour")',
    params: [
      SERIES_LIST,
      {
        name: "intervalString",
        type: "interval",
        required: true,
        suggestions: ["10min", "1h", "1d"],
      },
      { name: "func", type: "aggFunc", default: "sum" },
      { name: "alignToFrom", type: "boolean", default: false },
    ],
    run: (call) => summarize(call),
  },
];

/** A shift without a sign goes back in time. */
function timeShiftText(text: string): string {
  return /^\d/.test(text) ? `-${text}` : text;
}

async function summarize(call: Call): Promise<TimeSeries[]> {
  const [list, text, funcName = "sum", alignToFrom = false] = call.args as [
    TimeSeries[],
    string,
    string?,
    boolean?,
  ];
  const interval = parseInterval(text);
  if (interval <= 0) {
    throw new RangeError(
      `Cannot summarize by "${text}": the interval must be positive`,
    );
  }
  const func = aggregationByName(funcName);
  const out: TimeSeries[] = [];
  for (const series of list) {
    let start = series.start;
    let end = series.end;
    if (!alignToFrom) {
      start -= ((start % interval) + interval) % interval;
      end = end - (((end % interval) + interval) % interval) + interval;
    }
    const values = call.allocate(
      Math.max(0, Math.ceil((end - start) / interval)),
    );
    const aligned = bucket(series, values, func, interval, start);
    const suffix = alignToFrom ? ", true" : "";
    let tags = withTag(series.tags, "summarize", text);
    tags = withTag(tags, "summarizeFunction", funcName);
    out.push(series.with({
      name: `summarize(${series.name}, "${text}", "${funcName}"${suffix})`,
      tags,
      start,
      end: alignToFrom ? aligned : end,
      step: interval,
      values,
    }));
    await call.pause();
  }
  return out;
}

/**
 * Fills `out` with the buckets of a series, as graphite-web's
 * `_summarizeValues`: a bucket takes the values from its start to the next
 * bucket's, and is null unless one of them is non-null.
 *
 * @returns The end of the last bucket.
 */
function bucket(
  series: TimeSeries,
  out: Float64Array,
  func: ReturnType<typeof aggregationByName>,
  interval: number,
  start: number,
): number {
  const { values, step } = series;
  const stamps = Math.max(0, Math.ceil((series.end - series.start) / step));
  const count = Math.min(stamps, values.length);
  const perBucket = interval / step;
  let i = 0;
  let at = start;
  for (let b = 0; b < out.length; b++, at += interval) {
    let first = i;
    let nonNull = 0;
    while (i < count && series.start + i * step < at + interval) {
      const stamp = series.start + i * step;
      if (stamp <= at) first = i;
      if (stamp >= at && values[i] === values[i]) nonNull++;
      i++;
    }
    const enough = nonNull > 0 && perBucket > 0 &&
      nonNull / perBucket >= series.xFilesFactor;
    out[b] = enough ? aggregateValues(values, func, first, i) : NaN;
  }
  return at;
}
