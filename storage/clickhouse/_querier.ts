/**
 * Reads from ClickHouse, with SQL doing the work it can do exactly:
 *
 * - a second's value is `argMax(value, version)` over its rows, so the last
 *   write wins whether merges have run or not;
 * - `keys` come from the keys table in first-put order (`max(rank)`, the
 *   smallest version), matched against the pattern here, after ClickHouse
 *   has kept only the keys that start with the pattern's literal prefixes;
 * - the latest sample of each series (`argMax(value, (ts, version))`), and
 *   roll-ups, are SQL. Sums and
 *   averages add a bucket's values in timestamp order
 *   (`arraySum(arraySort(...))`), and `min` and `max` keep the first of
 *   equal values (0 and -0), as the built-in store does, so that every
 *   answer is the same to the last bit.
 *
 * @module
 */

import { nextTurn } from "../../internal/turns.ts";
import type { Pattern } from "../../store/pattern.ts";
import type { QueryOptions } from "../../store/query.ts";
import type { SeriesInfo, SeriesOptions } from "../storage.ts";
import { StorageError } from "../storage.ts";
import type { ClickHouseClient, ExternalTable, Settings } from "./_client.ts";
import { ClickHouseCursor } from "./_cursor.ts";
import { IN_KEY_SET, KEY_SET, keySet } from "./_key_set.ts";
import { literalPrefixes } from "./_prefixes.ts";
import { RowReader } from "./_row_reader.ts";
import type { Layout } from "./_schema.ts";
import { integer, quote } from "./_sql.ts";

// Work on a long list of keys gives other clients a turn this often.
const SLICE_MS = 4;
// Reads that pass these spill to disk in ClickHouse rather than fail.
const READ_SETTINGS: Settings = {
  max_bytes_before_external_group_by: 512 * 1024 * 1024,
  max_bytes_before_external_sort: 512 * 1024 * 1024,
};
// A row of bounds: mark, pos, first, last.
const BOUNDS_ROW = 21;
// A row of `get`: mark, count, first, last.
const GET_ROW = 25;

/** A series as ClickHouse names it. */
interface ClickHouseSeries extends SeriesInfo {
  readonly first: number;
  readonly last: number;
}

/** Reads samples from ClickHouse. */
export class ClickHouseQuerier {
  #client: ClickHouseClient;
  #layout: Layout;
  #onError: () => void;

  /**
   * Creates the querier of one backend.
   *
   * @param client The connection.
   * @param layout Where the tables are.
   * @param onError Counts failed reads.
   */
  constructor(client: ClickHouseClient, layout: Layout, onError: () => void) {
    this.#client = client;
    this.#layout = layout;
    this.#onError = onError;
  }

  /**
   * The series named `key`, with its first and last timestamps.
   *
   * @returns The series, or `undefined` when it holds no sample.
   */
  async get(key: string): Promise<SeriesInfo | undefined> {
    const reader = await this.#stream(
      `SELECT toUInt8(1), count(), min(ts), max(ts) FROM ${this.#layout.samples} WHERE key = ${
        quote(key)
      }`,
    );
    const rows = await this.#collect(reader, GET_ROW, (at) => ({
      count: reader.int64(at + 1),
      first: reader.int64(at + 9),
      last: reader.int64(at + 17),
    }));
    const found = rows[0];
    return found === undefined || found.count === 0
      ? undefined
      : { key, first: found.first, last: found.last };
  }

  /**
   * The series a pattern matches, or every series, in first-put order; with
   * their first and last timestamps when asked (a query of their own).
   *
   * @returns The series.
   */
  async series(
    pattern?: Pattern,
    options: SeriesOptions = {},
  ): Promise<SeriesInfo[]> {
    const keys = await this.keys(pattern);
    if (!options.bounds) return keys.map((key) => ({ key }));
    if (keys.length === 0) return [];
    const reader = await this.#stream(
      `SELECT toUInt8(1), pos, first, last FROM (SELECT key, min(ts) AS first, max(ts) AS last FROM ${this.#layout.samples} WHERE ${IN_KEY_SET} GROUP BY key) ANY INNER JOIN ${KEY_SET} USING key`,
      keySet(keys),
    );
    const found: (ClickHouseSeries | undefined)[] = new Array(keys.length);
    await this.#collect(reader, BOUNDS_ROW, (at) => {
      const pos = reader.view.getUint32(at + 1, true);
      found[pos] = {
        key: keys[pos],
        first: reader.int64(at + 5),
        last: reader.int64(at + 13),
      };
    });
    // A key whose samples are all gone names no series.
    return found.filter((series) => series !== undefined);
  }

  /**
   * The keys a pattern matches, or every key, in first-put order.
   *
   * @param pattern Which keys; all when `undefined`.
   * @returns The keys.
   */
  async keys(pattern?: Pattern): Promise<string[]> {
    const prefixes = pattern === undefined ? [] : literalPrefixes(pattern);
    const where = prefixes.length === 0
      ? ""
      : ` WHERE ${
        prefixes.map((prefix) =>
          pattern!.literal
            ? `key = ${quote(prefix)}`
            : `startsWith(key, ${quote(prefix)})`
        ).join(" OR ")
      }`;
    const reader = await this.#stream(
      `SELECT toUInt8(1), key FROM ${this.#layout.keys}${where} GROUP BY key ORDER BY max(rank) DESC`,
    );
    const keys: string[] = [];
    let slice = performance.now();
    try {
      while (true) {
        while (reader.atRow()) {
          const head = reader.stringHead(reader.at + 1);
          const end = head === undefined ? Infinity : head[1] + head[0];
          if (end > reader.bytes.length) break;
          const key = reader.text(head![1], end);
          reader.at = end;
          if (pattern === undefined || pattern.test(key)) keys.push(key);
        }
        if (reader.ended) break;
        if (performance.now() - slice > SLICE_MS) {
          await nextTurn();
          slice = performance.now();
        }
        await reader.fill();
      }
      if (reader.available > 0) throw await reader.failure();
    } catch (error) {
      reader.cancel();
      throw this.failure(error);
    }
    return keys;
  }

  /**
   * Reads the samples of `series`, in their order.
   *
   * @param series Series this querier named.
   * @param options The range, the roll-up, or only the latest sample.
   * @returns A cursor that fetches rows as they are read.
   * @throws {RangeError} When `step` is not a positive safe integer.
   */
  read(
    series: Iterable<SeriesInfo>,
    options: QueryOptions = {},
  ): ClickHouseCursor {
    const step = options.step;
    if (step !== undefined && !(Number.isSafeInteger(step) && step > 0)) {
      throw new RangeError(
        `Cannot query with step ${step}: not a positive integer`,
      );
    }
    const sql = this.#readSql(options);
    return new ClickHouseCursor(
      series,
      (set) => this.#stream(sql, set),
      (error) => this.failure(error),
    );
  }

  /**
   * A read's error as the error to answer.
   *
   * @param error What failed.
   * @returns A {@linkcode StorageError}.
   */
  failure(error: unknown): StorageError {
    if (error instanceof StorageError) return error;
    this.#onError();
    return new StorageError(
      `Cannot read from ClickHouse: ${(error as Error).message}`,
      { cause: error },
    );
  }

  /** The query of a read, over the key set. */
  #readSql(options: QueryOptions): string {
    const samples = this.#layout.samples;
    // The range's bounds, on a column of timestamps.
    const within = (column: string) => {
      const bounds: string[] = [];
      if (options.from !== undefined && options.from > -Infinity) {
        bounds.push(`${column} >= ${integer(options.from)}`);
      }
      if (options.to !== undefined && options.to < Infinity) {
        bounds.push(`${column} <= ${integer(options.to)}`);
      }
      return bounds;
    };
    if (options.latest) {
      // Each series' largest timestamp, and the value its last write gave.
      const latest =
        `SELECT key, max(ts) AS last, argMax(value, (ts, version)) AS v FROM ${samples} WHERE ${IN_KEY_SET} GROUP BY key`;
      return `SELECT toUInt8(1), pos, last, v FROM (${latest}) ANY INNER JOIN ${KEY_SET} USING key WHERE ${
        ["1", ...within("last")].join(" AND ")
      } ORDER BY pos`;
    }
    // Each second's value: that of its last write.
    const values =
      `SELECT key, ts, argMax(value, version) AS v FROM ${samples} WHERE ${
        [IN_KEY_SET, ...within("ts")].join(" AND ")
      } GROUP BY key, ts`;
    if (options.step === undefined) {
      return `SELECT toUInt8(1), pos, ts, v FROM (${values}) ANY INNER JOIN ${KEY_SET} USING key ORDER BY pos, ts`;
    }
    const step = `toInt64(${integer(options.step)})`;
    // The largest multiple of the step not after ts, as bucketStart() has it.
    const bucket = `greatest(ts - ((ts % ${step}) + ${step}) % ${step}, ${
      integer(-Number.MAX_SAFE_INTEGER)
    })`;
    const rollUp = `SELECT key, ${bucket} AS bucket, ${
      aggregate(options.aggregation ?? "avg")
    } AS value FROM (${values}) GROUP BY key, bucket`;
    return `SELECT toUInt8(1), pos, bucket, value FROM (${rollUp}) ANY INNER JOIN ${KEY_SET} USING key ORDER BY pos, bucket`;
  }

  /** Starts a query, its answer in RowBinary to be read as it comes. */
  async #stream(sql: string, external?: ExternalTable): Promise<RowReader> {
    try {
      const answer = await this.#client.open(
        `${sql} FORMAT RowBinary`,
        undefined,
        { settings: READ_SETTINGS, external },
      );
      return new RowReader(answer.body, {
        abort: answer.abort,
        timeout: answer.timeout,
        failure: (error) => this.#client.failure(error, answer.timeout),
      });
    } catch (error) {
      throw this.failure(error);
    }
  }

  /** Reads every row of a small answer of fixed-size rows. */
  async #collect<T>(
    reader: RowReader,
    size: number,
    row: (at: number) => T,
  ): Promise<T[]> {
    const rows: T[] = [];
    try {
      while (true) {
        while (reader.available >= size && reader.atRow()) {
          rows.push(row(reader.at));
          reader.at += size;
        }
        if (reader.ended) break;
        await reader.fill();
      }
      if (reader.available > 0) throw await reader.failure();
    } catch (error) {
      reader.cancel();
      throw this.failure(error);
    }
    return rows;
  }
}

/** A roll-up's value of a bucket, from its rows `(ts, v)`. */
function aggregate(aggregation: string): string {
  // The bucket's values in timestamp order.
  const values = "arrayMap(p -> p.2, arraySort(groupArray((ts, v))))";
  switch (aggregation) {
    case "count":
      return "toFloat64(count())";
    case "last":
      return "argMax(v, ts)";
    case "min":
    case "max":
      // Of equal values the first counts, as in the built-in store: only 0
      // and -0 differ while equal, so a 0 is the earliest of the zeros.
      return `if(${aggregation}(v) = 0, argMinIf(v, ts, v = 0), ${aggregation}(v))`;
    case "sum":
      return `arraySum(${values})`;
    default:
      return `arraySum(${values}) / count()`;
  }
}
