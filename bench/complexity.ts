/**
 * How the store's costs grow, measured in-process on the store alone (it is
 * pure, so no socket or scheduler blurs the figures):
 *
 * - put in timestamp order, at 1,000 and 100,000 series: amortised O(1);
 * - put out of order (a random earlier second) and replacements: a binary
 *   search over chunks and within one, then a shift of at most one chunk;
 * - `get` of n samples rendered to protocol text: linear in n.
 *
 * @module
 */

import { AnswerWriter } from "../protocol/answer_writer.ts";
import { Query } from "../store/query.ts";
import { Store } from "../store.ts";
import { rng } from "./random.ts";
import { formatCount, table } from "./report.ts";

const PUTS = 2_000_000;
const SERIES_COUNTS = [1_000, 100_000];
const GET_SIZES = [10, 100, 1_000, 10_000, 100_000];
const START = 1_500_000_000;

/** Nanoseconds per call of `body`, run `count` times. */
function nanoseconds(count: number, body: (i: number) => void): number {
  const started = performance.now();
  for (let i = 0; i < count; i++) body(i);
  return (performance.now() - started) * 1e6 / count;
}

function putCosts(series: number): string[] {
  const keys = Array.from({ length: series }, (_, i) => `host${i}.cpu`);
  const perSeries = Math.floor(PUTS / series);
  const store = new Store();
  const inOrder = nanoseconds(
    perSeries * series,
    (i) => store.put(keys[i % series], i, START + Math.floor(i / series) * 2),
  );
  // Odd seconds, all earlier than the last: each lands between samples.
  const next = rng(1);
  const outOfOrder = nanoseconds(PUTS / 4, () => {
    const key = keys[Math.floor(next() * series)];
    store.put(key, 1, START + 2 * Math.floor(next() * perSeries) + 1);
  });
  const replacements = nanoseconds(PUTS / 4, () => {
    const key = keys[Math.floor(next() * series)];
    store.put(key, 2, START + 2 * Math.floor(next() * perSeries));
  });
  return [
    formatCount(series),
    formatCount(perSeries),
    inOrder.toFixed(0),
    outOfOrder.toFixed(0),
    replacements.toFixed(0),
  ];
}

function getCosts(): string[][] {
  const rows: string[][] = [];
  for (const size of GET_SIZES) {
    const store = new Store();
    for (let i = 0; i < size; i++) store.put("palm.cpu", i * 0.25, START + i);
    const series = store.get("palm.cpu")!;
    const out = new AnswerWriter();
    const sink = (key: string, value: number, timestamp: number) =>
      out.sample(key, value, timestamp);
    const rounds = Math.max(5, Math.floor(2_000_000 / size));
    const perGet = nanoseconds(rounds, () => {
      out.reset();
      new Query([series]).read(sink);
    });
    rows.push([
      formatCount(size),
      (perGet / 1000).toFixed(1),
      (perGet / size).toFixed(0),
    ]);
  }
  return rows;
}

/**
 * Measures the store's costs and returns them as markdown tables.
 *
 * @returns The report section.
 */
export function measureComplexity(): string {
  const puts = table(
    [
      "series",
      "samples each",
      "ns/put in order",
      "ns/put out of order",
      "ns/replacement",
    ],
    SERIES_COUNTS.map(putCosts),
  );
  const gets = table(
    ["samples returned", "µs per get", "ns per sample"],
    getCosts(),
  );
  return `${puts}\n\n${gets}`;
}

if (import.meta.main) {
  console.log(measureComplexity());
}
