/**
 * Reading path expressions through the storage seam into series, as
 * graphite-web's `fetchData` does from whisper files.
 *
 * - The series a path expression matches come from `querier.series()`,
 *   sorted by name as graphite-web sorts them.
 * - Pulse keeps raw seconds, so each series' step is the smallest step
 *   between its samples in the range. A series with fewer than two samples
 *   there takes its average step over all its samples, else the smallest
 *   step of the other series matched, else 60 s (carbon's default).
 * - Values are placed as whisper places them: the first is at the first
 *   multiple of the step after `from`, the last at the multiple at or before
 *   `until`; steps without a sample are null.
 * - When an answer wants at most `maxDataPoints` points of a series that is
 *   printed as read (through aliases only), it is read rolled up by the
 *   store: buckets of a multiple of its step, aggregated by its
 *   consolidation function where the store has it (avg, sum, min, max,
 *   last).
 * - A request may read at most `maxPoints` samples: what it would read is
 *   estimated from what the series know of themselves (their sample counts
 *   and spans) before any sample is read. The values it makes, nulls
 *   included, are counted as it goes, up to twice that many.
 *
 * @module
 */

import type { Querier, SeriesInfo } from "../../storage/storage.ts";
import { Pattern } from "../../store/pattern.ts";
import type { Aggregation } from "../../store/query.ts";
import type { Pacer } from "./_pacer.ts";
import { compareNames, sortPaced } from "./_sort.ts";
import { type ConsolidationFunction, TimeSeries } from "./series.ts";

/** The default of `maxRenderPoints`: ten million samples a request. */
export const DEFAULT_MAX_RENDER_POINTS = 10_000_000;

// Samples read from a cursor per call.
const READ_STEP = 4096;
// The step of a series with nothing to measure one from.
const DEFAULT_STEP = 60;

/** A range of time, in Unix seconds. */
export interface TimeRange {
  /** The start, exclusive as whisper has it. */
  readonly from: number;
  /** The end, inclusive. */
  readonly until: number;
}

/** A roll-up an answer allows: at most this many points. */
export interface Rollup {
  /** The most points wanted per series. */
  readonly maxDataPoints: number;
  /** How values are consolidated. */
  readonly func: ConsolidationFunction;
}

/** A read a request will make: a path expression over a range. */
export interface PlannedRead {
  /** The path expression. */
  readonly path: string;
  /** The range. */
  readonly range: TimeRange;
}

const AGGREGATIONS: Partial<Record<ConsolidationFunction, Aggregation>> = {
  average: "avg",
  sum: "sum",
  min: "min",
  max: "max",
  last: "last",
};

/** Reads series for one request. */
export class SeriesReader {
  #querier: Querier;
  #maxPoints: number;
  #pacer: Pacer;
  #matches = new Map<string, Promise<SeriesInfo[]>>();
  #reads = new Map<string, Promise<TimeSeries[]>>();
  #made = 0;
  // Shared buffers for one series' samples, grown as needed.
  #timestamps = new Float64Array(READ_STEP);
  #values = new Float64Array(READ_STEP);

  /**
   * Makes a reader.
   *
   * @param querier Where series are read.
   * @param maxPoints The most samples a request may read.
   * @param pacer Gives other clients turns.
   */
  constructor(querier: Querier, maxPoints: number, pacer: Pacer) {
    this.#querier = querier;
    this.#maxPoints = maxPoints;
    this.#pacer = pacer;
  }

  /**
   * Refuses a request that would read too much, before it reads anything.
   *
   * @param reads The reads it will make.
   * @throws {RangeError} When their samples would exceed the limit.
   */
  async check(reads: readonly PlannedRead[]): Promise<void> {
    let total = 0;
    const seen = new Set<string>();
    for (const { path, range } of reads) {
      const key = `${path}\0${range.from}\0${range.until}`;
      if (seen.has(key)) continue;
      seen.add(key);
      for (const info of await this.#match(path)) {
        total += estimateSamples(info, range);
      }
      await this.#pacer.pause();
    }
    if (total > this.#maxPoints) {
      throw new RangeError(
        `Cannot render: the request would read about ${total} samples, more than the ${this.#maxPoints} allowed (--max-render-points); narrow the range or the patterns`,
      );
    }
  }

  /**
   * The series a path expression matches over a range.
   *
   * @param path The path expression.
   * @param range The range.
   * @param rollup The roll-up the answer allows, if any.
   * @returns New series, sorted by name.
   * @throws {SyntaxError} When the path expression is no valid pattern.
   * @throws {RangeError} When the values made would exceed the limit.
   */
  read(path: string, range: TimeRange, rollup?: Rollup): Promise<TimeSeries[]> {
    const key = `${path}\0${range.from}\0${range.until}\0${
      rollup ? `${rollup.maxDataPoints}\0${rollup.func}` : ""
    }`;
    let read = this.#reads.get(key);
    if (read === undefined) {
      read = this.#read(path, range, rollup);
      this.#reads.set(key, read);
    }
    return read;
  }

  #match(path: string): Promise<SeriesInfo[]> {
    let match = this.#matches.get(path);
    if (match === undefined) {
      match = (async () => {
        let pattern: Pattern;
        try {
          pattern = new Pattern(path);
        } catch (error) {
          if (!(error instanceof SyntaxError)) throw error;
          throw new SyntaxError(
            `Cannot read the path expression "${path}": ${error.message}`,
          );
        }
        return await sortPaced(
          [...await this.#querier.series(pattern)],
          (a, b) => compareNames(a.key, b.key),
          () => this.#pacer.pause(),
        );
      })();
      this.#matches.set(path, match);
    }
    return match;
  }

  async #read(
    path: string,
    range: TimeRange,
    rollup: Rollup | undefined,
  ): Promise<TimeSeries[]> {
    const infos = await this.#match(path);
    const result: (TimeSeries | undefined)[] = [];
    // Series with too few samples to measure a step wait for the others'.
    const pending: { index: number; info: SeriesInfo; samples: Samples }[] = [];
    let smallest = Infinity;
    for (const info of infos) {
      const rolled = rollup && rolledStep(info, range, rollup);
      if (rolled !== undefined) {
        result.push(
          await this.#readRolledUp(info, path, range, rollup!, rolled),
        );
        continue;
      }
      const samples = await this.#readSamples(info, range);
      const step = smallestStep(samples);
      if (step === undefined) {
        pending.push({ index: result.length, info, samples: samples.copy() });
        result.push(undefined);
        continue;
      }
      smallest = Math.min(smallest, step);
      result.push(this.#place(info.key, path, samples, step, range));
      await this.#pacer.pause();
    }
    for (const { index, info, samples } of pending) {
      const step = averageStep(info) ??
        (smallest === Infinity ? DEFAULT_STEP : smallest);
      result[index] = this.#place(info.key, path, samples, step, range);
    }
    return result as TimeSeries[];
  }

  /** Reads the samples of one series in the range into the shared buffers. */
  async #readSamples(info: SeriesInfo, range: TimeRange): Promise<Samples> {
    const cursor = this.#querier.read([info], {
      from: range.from,
      to: range.until,
    });
    let count = 0;
    const sink = (_key: string, value: number, timestamp: number) => {
      if (count === this.#timestamps.length) this.#grow();
      this.#timestamps[count] = timestamp;
      this.#values[count++] = value;
    };
    try {
      while (true) {
        const done = await cursor.read(sink, READ_STEP);
        if (done) break;
        await this.#pacer.pause();
      }
    } finally {
      cursor.close();
    }
    return new Samples(this.#timestamps, this.#values, count);
  }

  #grow(): void {
    const timestamps = new Float64Array(this.#timestamps.length * 2);
    timestamps.set(this.#timestamps);
    const values = new Float64Array(this.#values.length * 2);
    values.set(this.#values);
    this.#timestamps = timestamps;
    this.#values = values;
  }

  /** Places samples at the steps whisper would hold them at. */
  #place(
    key: string,
    path: string,
    samples: Samples,
    step: number,
    range: TimeRange,
  ): TimeSeries {
    const start = range.from - modulo(range.from, step) + step;
    let end = range.until - modulo(range.until, step) + step;
    if (end === start) end += step;
    const values = this.allocate((end - start) / step);
    const { timestamps } = samples;
    for (let i = 0; i < samples.count; i++) {
      const timestamp = timestamps[i];
      if (timestamp < start || timestamp >= end) continue;
      values[Math.floor((timestamp - start) / step)] = samples.values[i];
    }
    return new TimeSeries({
      name: key,
      pathExpression: path,
      start,
      end,
      step,
      values,
    });
  }

  /** Reads one series rolled up by the store into buckets of `step`. */
  async #readRolledUp(
    info: SeriesInfo,
    path: string,
    range: TimeRange,
    rollup: Rollup,
    step: number,
  ): Promise<TimeSeries> {
    const start = Math.ceil((range.from + 1) / step) * step;
    const count = Math.max(
      0,
      Math.floor(range.until / step) - start / step + 1,
    );
    const values = this.allocate(count);
    const cursor = this.#querier.read([info], {
      from: start,
      to: range.until,
      step,
      aggregation: AGGREGATIONS[rollup.func],
    });
    const sink = (_key: string, value: number, timestamp: number) => {
      values[(timestamp - start) / step] = value;
    };
    try {
      while (!(await cursor.read(sink, READ_STEP))) await this.#pacer.pause();
    } finally {
      cursor.close();
    }
    return new TimeSeries({
      name: info.key,
      pathExpression: path,
      start,
      end: start + count * step,
      step,
      values,
      consolidationFunc: rollup.func,
      rolledUp: true,
    });
  }

  /**
   * Null values for a new series, counted against the request's limit.
   *
   * @param count How many.
   * @returns The values, all NaN.
   * @throws {RangeError} When the request would make more than its limit.
   */
  allocate(count: number): Float64Array {
    this.#made += count;
    // Nulls make values without samples: twice the samples allowed leaves
    // room for gaps, and still bounds the memory of sparse series over a
    // long range.
    const most = 2 * this.#maxPoints;
    if (this.#made > most) {
      throw new RangeError(
        `Cannot render: the request would make more than ${most} values, twice the ${this.#maxPoints} samples allowed (--max-render-points); narrow the range`,
      );
    }
    return new Float64Array(count).fill(NaN);
  }
}

/** Samples of one series: timestamps and values, `count` of them. */
class Samples {
  constructor(
    readonly timestamps: Float64Array,
    readonly values: Float64Array,
    readonly count: number,
  ) {}

  /** A copy that outlives the shared buffers. */
  copy(): Samples {
    return new Samples(
      this.timestamps.slice(0, this.count),
      this.values.slice(0, this.count),
      this.count,
    );
  }
}

function modulo(x: number, step: number): number {
  return ((x % step) + step) % step;
}

/** The smallest step between samples, or `undefined` with fewer than two. */
function smallestStep(samples: Samples): number | undefined {
  let smallest = Infinity;
  const { timestamps } = samples;
  for (let i = 1; i < samples.count; i++) {
    const step = timestamps[i] - timestamps[i - 1];
    if (step < smallest) smallest = step;
  }
  return smallest === Infinity ? undefined : smallest;
}

/** A series' average step over all its samples, when it knows them. */
function averageStep(info: SeriesInfo): number | undefined {
  const { first, last, length } = info;
  if (first === undefined || last === undefined || !length || length < 2) {
    return undefined;
  }
  return Math.max(1, Math.round((last - first) / (length - 1)));
}

/**
 * About how many samples of a series are in a range: all of them when it
 * lies within, else its share of the range, assuming samples are evenly
 * spread; one a second at most when the series knows nothing of itself.
 *
 * @param info The series.
 * @param range The range.
 * @returns The estimate.
 */
export function estimateSamples(info: SeriesInfo, range: TimeRange): number {
  const { first, last, length } = info;
  if (first === undefined || last === undefined || length === undefined) {
    return range.until - range.from + 1;
  }
  if (length === 0 || last < range.from || first > range.until) return 0;
  if (first >= range.from && last <= range.until) return length;
  const overlap = Math.min(range.until, last) - Math.max(range.from, first) + 1;
  const span = last - first + 1;
  return Math.min(length, overlap, Math.ceil(length * overlap / span) + 1);
}

/**
 * The step to read a series rolled up at, when the roll-up pays: the answer
 * would otherwise hold more than `maxDataPoints` of its samples, the store
 * has the consolidation function, and the series knows its average step.
 */
function rolledStep(
  info: SeriesInfo,
  range: TimeRange,
  rollup: Rollup,
): number | undefined {
  const step = averageStep(info);
  // One point is every value, labelled with the series' start, as
  // graphite-web has it: the store's buckets cannot do that.
  if (
    step === undefined || AGGREGATIONS[rollup.func] === undefined ||
    rollup.maxDataPoints === 1
  ) {
    return undefined;
  }
  if (estimateSamples(info, range) <= rollup.maxDataPoints) return undefined;
  const points = (range.until - range.from) / step;
  if (!(rollup.maxDataPoints < points)) return undefined;
  return Math.ceil(points / rollup.maxDataPoints) * step;
}
