/**
 * Functions that fill nulls: `keepLastValue` and `transformNull`.
 *
 * @module
 */

import { pyFormatG } from "../_python.ts";
import { type TimeSeries, withTag } from "../series.ts";
import type { Call, GraphiteFunction } from "./_function.ts";

/** The null-filling functions. */
export const NULL_FUNCTIONS: readonly GraphiteFunction[] = [
  {
    name: "keepLastValue",
    group: "Transform",
    description:
      "Fills each run of nulls with the last value before it, when the run is " +
      "at most `limit` long (any length by default). Nulls before the first " +
      "value stay.\n\n" +
      "  &target=keepLastValue(Server01.connections.handled)\n" +
      "  &target=keepLastValue(Server01.connections.handled, 10)",
    params: [
      { name: "seriesList", type: "seriesList", required: true },
      { name: "limit", type: "intOrInf", default: Infinity },
    ],
    run: async (call) => {
      const [list, limit = Infinity] = call.args as [TimeSeries[], number?];
      const out: TimeSeries[] = [];
      for (const series of list) {
        out.push(series.with({
          name: `keepLastValue(${series.name})`,
          values: keepLast(series.values, limit),
        }));
        await call.pause();
      }
      return out;
    },
  },
  {
    name: "transformNull",
    group: "Transform",
    description:
      "Replaces nulls by a value, 0 by default. With referenceSeries, only at " +
      "the steps where one of those series has a value.\n\n" +
      "  &target=transformNull(webapp.pages.*.views,-1)",
    params: [
      { name: "seriesList", type: "seriesList", required: true },
      { name: "default", type: "float", default: 0 },
      { name: "referenceSeries", type: "seriesList" },
    ],
    run: (call) => transformNull(call),
  },
];

function keepLast(values: Float64Array, limit: number): Float64Array {
  const out = values.slice();
  let nulls = 0;
  let last = NaN;
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (value !== value) {
      nulls++;
      continue;
    }
    if (nulls > 0 && nulls <= limit && last === last) {
      out.fill(last, i - nulls, i);
    }
    nulls = 0;
    last = value;
  }
  if (nulls > 0 && nulls <= limit && last === last) {
    out.fill(last, values.length - nulls);
  }
  return out;
}

async function transformNull(call: Call): Promise<TimeSeries[]> {
  const [list, fill = 0, reference] = call.args as [
    TimeSeries[],
    number?,
    TimeSeries[]?,
  ];
  const integer = call.nodes[1] === undefined ||
    (call.nodes[1] as { integer?: boolean }).integer === true;
  // Where a reference series has a value, as graphite-web's `defaults`.
  let allowed: Uint8Array | undefined;
  if (reference !== undefined && reference.length > 0) {
    let length = 0;
    for (const series of reference) length = Math.max(length, series.length);
    allowed = new Uint8Array(length);
    for (const series of reference) {
      series.values.forEach((value, i) => {
        if (value === value) allowed![i] = 1;
      });
    }
  }
  const suffix = allowed ? ",referenceSeries" : "";
  const out: TimeSeries[] = [];
  for (const series of list) {
    const length = Math.max(series.length, allowed?.length ?? 0);
    const values = new Float64Array(length).fill(NaN);
    values.set(series.values);
    const ints = new Uint8Array(length);
    for (let i = 0; i < length; i++) {
      if (values[i] === values[i] || (allowed && !allowed[i])) continue;
      values[i] = fill;
      ints[i] = integer ? 1 : 0;
    }
    let tags = withTag(series.tags, "transformNull", call.str(1));
    if (allowed) tags = withTag(tags, "referenceSeries", "1");
    out.push(series.with({
      name: `transformNull(${series.name},${pyFormatG(fill)}${suffix})`,
      tags,
      values,
      integral: integer ? ints : false,
    }));
    await call.pause();
  }
  return out;
}
