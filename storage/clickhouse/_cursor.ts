/**
 * The rows of many series read from ClickHouse as they arrive: series are
 * taken a group at a time (at most `GROUP_KEYS` keys, or `GROUP_BYTES` of
 * them), each group one query whose rows come in the order of the series,
 * and each answer is parsed a chunk at a time. Memory stays bounded
 * whatever the answer's size: a chunk, and the keys of one group.
 *
 * Rows are `(mark UInt8, pos UInt32, ts Int64, value Float64)`: `pos` is
 * the place of the row's key in its group.
 *
 * @module
 */

import type { ExternalTable } from "./_client.ts";
import { keySet } from "./_key_set.ts";
import type { RowReader } from "./_row_reader.ts";
import type { RowSink } from "../../store/query.ts";
import type { MaybePromise, RowCursor, SeriesInfo } from "../storage.ts";

/** The most keys one query reads. */
const GROUP_KEYS = 1000;
/** The most bytes of keys one query reads. */
const GROUP_BYTES = 256 * 1024;
/** Bytes of a row. */
export const SAMPLE_ROW = 21;

/** Starts a query over a set of keys, and gives its answer's rows. */
export type OpenRows = (set: ExternalTable) => Promise<RowReader>;

/** Turns what a read threw into what the cursor throws. */
export type ReadFailure = (error: unknown) => Error;

/** A cursor over the rows ClickHouse answers, a group of series at a time. */
export class ClickHouseCursor implements RowCursor {
  #series: Iterator<SeriesInfo>;
  #open: OpenRows;
  #failure: ReadFailure;
  #keys: string[] = [];
  #reader: RowReader | undefined;
  #closed = false;

  /**
   * Creates a cursor; the first query starts at the first read.
   *
   * @param series The series to read, in order.
   * @param open Runs the query of a group.
   * @param failure Wraps errors.
   */
  constructor(
    series: Iterable<SeriesInfo>,
    open: OpenRows,
    failure: ReadFailure,
  ) {
    this.#series = series[Symbol.iterator]();
    this.#open = open;
    this.#failure = failure;
  }

  /**
   * Hands rows to `sink` until `limit` are read, or all are.
   *
   * @returns Whether every row was read; a promise when rows must arrive
   * first.
   * @throws {Error} When ClickHouse fails, as `failure` makes it.
   */
  read(sink: RowSink, limit: number): MaybePromise<boolean> {
    try {
      return this.#read(sink, limit);
    } catch (error) {
      this.close();
      throw this.#failure(error);
    }
  }

  /** Gives up the rest: cancels the query under way. */
  close(): void {
    this.#closed = true;
    this.#reader?.cancel();
    this.#reader = undefined;
  }

  #read(sink: RowSink, limit: number): MaybePromise<boolean> {
    let n = 0;
    while (true) {
      const reader = this.#reader;
      if (reader === undefined) {
        if (this.#closed || !this.#nextGroup()) return true;
        return this.#then(this.#start(), sink, limit - n);
      }
      const keys = this.#keys;
      const view = reader.view;
      while (n < limit && reader.available >= SAMPLE_ROW && reader.atRow()) {
        const at = reader.at;
        sink(
          keys[view.getUint32(at + 1, true)],
          view.getFloat64(at + 13, true),
          reader.int64(at + 5),
        );
        reader.at = at + SAMPLE_ROW;
        n++;
      }
      if (n >= limit) return false;
      if (!reader.ended) return this.#then(reader.fill(), sink, limit - n);
      if (reader.available > 0) {
        return reader.failure().then((error) => {
          throw error;
        }).catch((error) => this.#fail(error));
      }
      this.#reader = undefined;
    }
  }

  /** Reads on once `waiting` settles. */
  #then(
    waiting: Promise<unknown>,
    sink: RowSink,
    limit: number,
  ): Promise<boolean> {
    return waiting.then(
      () => this.#closed ? true : this.#read(sink, limit),
    ).catch((error) => this.#fail(error));
  }

  #fail(error: unknown): never {
    this.close();
    throw this.#failure(error);
  }

  /** Takes the next group of keys; false when none is left. */
  #nextGroup(): boolean {
    const keys: string[] = [];
    let bytes = 0;
    while (keys.length < GROUP_KEYS && bytes < GROUP_BYTES) {
      const next = this.#series.next();
      if (next.done) break;
      keys.push(next.value.key);
      bytes += next.value.key.length;
    }
    this.#keys = keys;
    return keys.length > 0;
  }

  async #start(): Promise<void> {
    const reader = await this.#open(keySet(this.#keys));
    if (this.#closed) reader.cancel();
    else this.#reader = reader;
  }
}
