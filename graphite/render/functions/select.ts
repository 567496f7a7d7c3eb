/**
 * Functions that choose and order series: `highestAverage`, `highestMax`,
 * `lowestAverage`, `limit` and `sortByMaxima`. A series without a non-null
 * value ranks below every other, as graphite-web ranks it (as -inf).
 * Sorting is stable: equal series keep their order.
 *
 * @module
 */

import { sortPaced } from "../_sort.ts";
import type { TimeSeries } from "../series.ts";
import type { GraphiteFunction, Param } from "./_function.ts";
import { aggregateValues, type AggregationName } from "./_aggregate.ts";

const SERIES_LIST: Param = {
  name: "seriesList",
  type: "seriesList",
  required: true,
};
const N: Param = { name: "n", type: "integer", required: true };

/** The series ordered by an aggregation of their values. */
function sortBy(
  list: readonly TimeSeries[],
  func: AggregationName,
  descending: boolean,
  pause: () => Promise<void> | undefined,
): Promise<TimeSeries[]> {
  const keys = new Map<TimeSeries, number>();
  for (const series of list) {
    const key = aggregateValues(series.values, func);
    keys.set(series, key === key ? key : -Infinity);
  }
  const sign = descending ? -1 : 1;
  return sortPaced(list, (a, b) => {
    const x = keys.get(a)!;
    const y = keys.get(b)!;
    return x === y ? 0 : x < y ? -sign : sign;
  }, pause);
}

/** Python's `list[:n]`: a negative `n` drops from the end. */
function head(list: readonly TimeSeries[], n: number): TimeSeries[] {
  return list.slice(0, n);
}

function ranking(
  name: string,
  func: AggregationName,
  descending: boolean,
  what: string,
): GraphiteFunction {
  return {
    name,
    group: "Filter Series",
    description:
      `Draws only the n series with the ${what} over the range.\n\n` +
      `  &target=${name}(server*.instance*.threads.busy,5)`,
    params: [SERIES_LIST, N],
    run: async (call) => {
      const [list, n] = call.args as [TimeSeries[], number];
      return head(await sortBy(list, func, descending, () => call.pause()), n);
    },
  };
}

/** The choosing and ordering functions. */
export const SELECT_FUNCTIONS: readonly GraphiteFunction[] = [
  ranking("highestAverage", "average", true, "highest average"),
  ranking("highestMax", "max", true, "highest maximum"),
  ranking("lowestAverage", "average", false, "lowest average"),
  {
    name: "limit",
    group: "Filter Series",
    description:
      "Draws only the first n series.\n\n  &target=limit(server*.instance*.memory.free,5)",
    params: [SERIES_LIST, N],
    keepsValues: true,
    run: (call) => {
      const [list, n] = call.args as [TimeSeries[], number];
      return Promise.resolve(head(list, n));
    },
  },
  {
    name: "sortByMaxima",
    group: "Sorting",
    description: "Orders the series by their maximum, highest first.\n\n" +
      "  &target=sortByMaxima(server*.instance*.memory.free)",
    params: [SERIES_LIST],
    run: (call) =>
      sortBy(call.args[0] as TimeSeries[], "max", true, () => call.pause()),
  },
];
