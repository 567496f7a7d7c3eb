/**
 * How the store's costs grow, measured in-process on the store alone (it is
 * pure, so no socket or scheduler blurs the figures):
 *
 * - put in timestamp order, at 1,000 and 100,000 series: amortised O(1),
 *   the head encoded into a sealed chunk every 128 puts; with counting
 *   values and with realistic host data (realistic.ts);
 * - put out of order (a random earlier second) and replacements: a binary
 *   search over the sealed chunks, then decoding and encoding one chunk of
 *   at most 256 samples;
 * - `get` of n samples rendered to protocol text: linear in n;
 * - encoding and decoding chunks of 128 samples, by kind of data.
 *
 * @module
 */

import { AnswerWriter } from "../protocol/answer_writer.ts";
import { Query } from "../store/query.ts";
import { decodeChunk, encodeChunk, Store } from "../store.ts";
import { HOST_METRICS_COUNT, hostSamples } from "./realistic.ts";
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
    hostDataPuts(series).toFixed(0),
    outOfOrder.toFixed(0),
    replacements.toFixed(0),
  ];
}

/** Nanoseconds per put of realistic host data over `series` series. */
function hostDataPuts(series: number): number {
  const { keys, keyIndexes, values, timestamps } = hostSamples(
    series / HOST_METRICS_COUNT,
    Math.floor(PUTS / series),
    "realistic",
  );
  const store = new Store();
  return nanoseconds(
    values.length,
    (i) => store.put(keys[keyIndexes[i]], values[i], timestamps[i]),
  );
}

/** Encoding and decoding chunks of 128 samples of each kind of data. */
function chunkCosts(): string[][] {
  const n = 128;
  const into = {
    timestamps: new Float64Array(n),
    values: new Float64Array(n),
  };
  return (["realistic", "random", "constant"] as const).map((kind) => {
    const data = hostSamples(10, 100 * n, kind);
    const chunks: { timestamps: Float64Array; values: Float64Array }[] = [];
    for (let key = 0; key < data.keys.length; key++) {
      const samples = data.series(key);
      for (let at = 0; at + n <= samples.values.length; at += n) {
        chunks.push({
          timestamps: samples.timestamps.subarray(at, at + n),
          values: samples.values.subarray(at, at + n),
        });
      }
    }
    let bytes = 0;
    const encoded: Uint8Array[] = [];
    const encode = nanoseconds(chunks.length, (i) => {
      const chunk = encodeChunk(chunks[i], n);
      bytes += chunk.length;
      if (encoded.length < chunks.length) encoded.push(chunk.slice());
    }) / n;
    const decode = nanoseconds(encoded.length, (i) => {
      decodeChunk(encoded[i], into);
    }) / n;
    return [
      kind,
      (bytes / (chunks.length * n)).toFixed(2),
      encode.toFixed(1),
      decode.toFixed(1),
    ];
  });
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
      "ns/put in order, host data",
      "ns/put out of order",
      "ns/replacement",
    ],
    SERIES_COUNTS.map(putCosts),
  );
  const gets = table(
    ["samples returned", "µs per get", "ns per sample"],
    getCosts(),
  );
  const chunks = table(
    ["data", "bytes/sample", "encode ns/sample", "decode ns/sample"],
    chunkCosts(),
  );
  return `${puts}\n\n${gets}\n\nChunks of 128 samples:\n\n${chunks}`;
}

if (import.meta.main) {
  console.log(measureComplexity());
}
