/**
 * Reading samples out of the store in steps: the samples of many series in
 * a time range, rolled up into buckets or not, handed over a bounded number
 * at a time, so that an answer of any size can be streamed.
 *
 * @example Rolling samples up into 60-second buckets
 * ```ts
 * import { Query, Store } from "@pulse/metrics";
 * import { deepEqual } from "node:assert/strict";
 *
 * const store = new Store();
 * for (let t = 0; t < 180; t += 30) store.put("palm.cpu", t, t);
 * const rows: [string, number, number][] = [];
 * const query = new Query([store.get("palm.cpu")!], {
 *   step: 60,
 *   aggregation: "avg",
 * });
 * query.read((key, value, timestamp) => rows.push([key, value, timestamp]));
 * deepEqual(rows, [
 *   ["palm.cpu", 15, 0],
 *   ["palm.cpu", 75, 60],
 *   ["palm.cpu", 135, 120],
 * ]);
 * ```
 *
 * @module
 */

import type { Series } from "../store.ts";

/** How the samples of a bucket are rolled up into one value. */
export type Aggregation = "avg" | "min" | "max" | "sum" | "count" | "last";

/** The aggregations, for validating input. */
export const AGGREGATIONS: readonly Aggregation[] = [
  "avg",
  "min",
  "max",
  "sum",
  "count",
  "last",
];

/**
 * Whether `text` names an aggregation: the one check of requests, the client
 * and the command line.
 *
 * @example Usage
 * ```ts
 * import { isAggregation } from "@pulse/metrics";
 * import { equal } from "node:assert/strict";
 *
 * equal(isAggregation("max"), true);
 * equal(isAggregation("median"), false);
 * ```
 *
 * @param text A candidate, such as `"avg"`.
 * @returns Whether it is one of {@linkcode AGGREGATIONS}.
 */
export function isAggregation(text: string): text is Aggregation {
  return (AGGREGATIONS as readonly string[]).includes(text);
}

/** Options of {@linkcode Query}. */
export interface QueryOptions {
  /**
   * The earliest timestamp wanted.
   *
   * @default {-Infinity}
   */
  from?: number;
  /**
   * The latest timestamp wanted.
   *
   * @default {Infinity}
   */
  to?: number;
  /**
   * Bucket width in seconds; buckets start at multiples of it. No roll-up
   * when unset.
   *
   * @default {undefined}
   */
  step?: number;
  /**
   * How a bucket's samples become one value.
   *
   * @default {"avg"}
   */
  aggregation?: Aggregation;
  /**
   * Read only each series' latest sample, if it is within the range.
   *
   * @default {false}
   */
  latest?: boolean;
}

/**
 * The start of the bucket of `step` seconds that holds `timestamp`: the
 * largest multiple of `step` not after it. The arithmetic stays within the
 * safe integers (`Math.floor(timestamp / step)` rounds, and so would adding
 * `step` to a remainder): a bucket that starts before the earliest safe
 * integer is labelled with that integer, which no other bucket can share.
 *
 * @example Usage
 * ```ts
 * import { bucketStart } from "@pulse/metrics";
 * import { equal } from "node:assert/strict";
 *
 * equal(bucketStart(125, 60), 120);
 * equal(bucketStart(-1, 60), -60);
 * equal(bucketStart(5, Number.MAX_SAFE_INTEGER), 0);
 * ```
 *
 * @param timestamp A safe integer.
 * @param step A positive safe integer.
 * @returns The bucket's first second.
 */
export function bucketStart(timestamp: number, step: number): number {
  // `%` of two safe integers is exact; its sign follows the dividend.
  const remainder = timestamp % step;
  if (remainder >= 0) return timestamp - remainder;
  // Here `remainder + step` is between 0 and `step`, and the start may fall
  // before the safe range only for timestamps near its lower end.
  return Math.max(timestamp - (remainder + step), -Number.MAX_SAFE_INTEGER);
}

/** Receives rows: a key, a value and a timestamp. */
export type RowSink = (key: string, value: number, timestamp: number) => void;

// Samples copied out of a series per step, into arrays that every query
// shares: reading is synchronous, and a query keeps nothing in them between
// calls, so one pair serves all instead of 16 KiB of garbage per query.
const READ_STEP = 1024;
const TIMESTAMPS = new Float64Array(READ_STEP);
const VALUES = new Float64Array(READ_STEP);

/**
 * A cursor over the samples of several series. Later puts can neither
 * derail nor repeat it: it resumes after the last timestamp it read.
 */
export class Query {
  #series: Iterator<Series>;
  #current: Series | undefined;
  #from: number;
  #to: number;
  #step: number | undefined;
  #aggregation: Aggregation;
  #latest: boolean;
  #cursor: number;
  // The bucket being rolled up, and where the next starts.
  #bucket = NaN;
  #bucketEnd = NaN;
  #count = 0;
  #sum = 0;
  #min = 0;
  #max = 0;
  #last = 0;

  /**
   * Starts reading `series`, in their order.
   *
   * @param series The series to read; an iterator may be live.
   * @param options The range and the roll-up.
   * @throws {RangeError} When `step` is not a positive safe integer.
   */
  constructor(series: Iterable<Series>, options: QueryOptions = {}) {
    const step = options.step;
    if (step !== undefined && !(Number.isSafeInteger(step) && step > 0)) {
      throw new RangeError(
        `Cannot query with step ${step}: not a positive integer`,
      );
    }
    this.#series = series[Symbol.iterator]();
    this.#current = this.#series.next().value;
    this.#from = options.from ?? -Infinity;
    this.#to = options.to ?? Infinity;
    this.#step = step;
    this.#aggregation = options.aggregation ?? "avg";
    this.#latest = options.latest ?? false;
    this.#cursor = this.#from;
  }

  /**
   * Hands rows to `sink` until `limit` samples are read or all are.
   *
   * @param sink Receives the rows, series by series, in timestamp order.
   * @param limit About how many samples to read in this call.
   * @returns Whether the query is complete.
   */
  read(sink: RowSink, limit: number = Infinity): boolean {
    let read = 0;
    while (this.#current !== undefined) {
      const series = this.#current;
      if (this.#latest) {
        const last = series.last;
        if (last !== undefined) this.#cursor = Math.max(this.#cursor, last);
      }
      const n = series.read(
        this.#cursor,
        this.#to,
        TIMESTAMPS,
        VALUES,
      );
      if (this.#step === undefined) {
        for (let i = 0; i < n; i++) {
          sink(series.key, VALUES[i], TIMESTAMPS[i]);
        }
      } else {
        this.#rollUp(series.key, n, sink);
      }
      read += n;
      if (n === READ_STEP) {
        this.#cursor = TIMESTAMPS[n - 1] + 1;
      } else {
        if (this.#count > 0) this.#emit(series.key, sink);
        this.#current = this.#series.next().value;
        this.#cursor = this.#from;
      }
      if (read >= limit) return this.#current === undefined;
    }
    return true;
  }

  /** Gives up the rest of the rows. */
  close(): void {
    this.#current = undefined;
  }

  #rollUp(key: string, n: number, sink: RowSink): void {
    const step = this.#step!;
    for (let i = 0; i < n; i++) {
      const timestamp = TIMESTAMPS[i];
      const value = VALUES[i];
      // Timestamps come in order: a new bucket starts only past the end of
      // this one, and `bucketStart()`'s `%` of large numbers is a call into
      // C, a tenth of the cost of a row when taken for each.
      if (!(timestamp < this.#bucketEnd && timestamp >= this.#bucket)) {
        const bucket = bucketStart(timestamp, step);
        // A bucket labelled with the clamped -MAX_SAFE_INTEGER ends before
        // the label's step would reach: there, each sample's start decides.
        this.#bucketEnd = bucket === -Number.MAX_SAFE_INTEGER
          ? bucket
          : bucket + step;
        if (bucket !== this.#bucket) {
          if (this.#count > 0) this.#emit(key, sink);
          this.#bucket = bucket;
          this.#count = 0;
          this.#sum = 0;
          this.#min = value;
          this.#max = value;
        }
      }
      this.#count++;
      this.#sum += value;
      if (value < this.#min) this.#min = value;
      if (value > this.#max) this.#max = value;
      this.#last = value;
    }
  }

  #emit(key: string, sink: RowSink): void {
    let value: number;
    switch (this.#aggregation) {
      case "avg":
        value = this.#sum / this.#count;
        break;
      case "min":
        value = this.#min;
        break;
      case "max":
        value = this.#max;
        break;
      case "sum":
        value = this.#sum;
        break;
      case "count":
        value = this.#count;
        break;
      case "last":
        value = this.#last;
        break;
    }
    sink(key, value, this.#bucket);
    this.#count = 0;
    this.#bucket = NaN;
  }
}
