/**
 * `consolidateBy`: how a series is rolled up when an answer asks for fewer
 * points than it has (`maxDataPoints`).
 *
 * @module
 */

import {
  CONSOLIDATION_FUNCTIONS,
  type TimeSeries,
  withTag,
} from "../series.ts";
import type { GraphiteFunction } from "./_function.ts";

/** The consolidation functions `consolidateBy` takes. */
const OPTIONS = [
  "sum",
  "average",
  "avg",
  "avg_zero",
  "min",
  "max",
  "first",
  "last",
];

/** The special functions. */
export const SPECIAL_FUNCTIONS: readonly GraphiteFunction[] = [
  {
    name: "consolidateBy",
    group: "Special",
    description:
      "Sets how the series are rolled up when the answer asks for fewer " +
      "points than they have (maxDataPoints): 'average' (the default), " +
      "'sum', 'min', 'max', 'first', 'last', or 'avg_zero' (nulls count as " +
      "zeros).\n\n" +
      "  &target=consolidateBy(Sales.widgets.largeBlue, 'sum')",
    params: [
      { name: "seriesList", type: "seriesList", required: true },
      {
        name: "consolidationFunc",
        type: "string",
        required: true,
        options: OPTIONS,
      },
    ],
    keepsValues: true,
    consolidation: (node) => {
      const arg = node.args[1];
      return arg?.type === "string"
        ? CONSOLIDATION_FUNCTIONS[arg.value as string]
        : undefined;
    },
    run: (call) => {
      const [list, func] = call.args as [TimeSeries[], string];
      return Promise.resolve(list.map((series) =>
        series.with({
          name: `consolidateBy(${series.name},"${func}")`,
          tags: withTag(series.tags, "consolidateBy", func),
          consolidationFunc: CONSOLIDATION_FUNCTIONS[func],
        })
      ));
    },
  },
];
