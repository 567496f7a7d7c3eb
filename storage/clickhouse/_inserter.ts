/**
 * Group commit into ClickHouse: the rows every connection commits join one
 * batch, sent as one RowBinary insert once it holds `batchRows` rows or its
 * first rows have waited `batchMs`. A commit settles when the insert holding
 * its rows does: resolved once ClickHouse has taken the insert (on a
 * cluster, once every shard has), rejected otherwise.
 *
 * At most `maxInFlight` inserts run at once; meanwhile the next batch grows,
 * so batches get larger as ClickHouse gets slower. Past `maxPendingRows`
 * rows waiting or in flight, new rows are refused at once, which bounds the
 * memory a slow or absent ClickHouse can cost.
 *
 * @module
 */

import { StorageError } from "../storage.ts";
import type { ClickHouseClient, Settings } from "./_client.ts";
import { RowEncoder } from "./_row_encoder.ts";

/** Options of an {@linkcode Inserter}. */
export interface InserterOptions {
  /** The table rows go to. */
  table: string;
  /** Settings of every insert. */
  settings: Settings;
  /** Rows that make a batch go at once. */
  batchRows: number;
  /** Milliseconds a batch waits for more rows at most. */
  batchMs: number;
  /** Inserts running at once at most. */
  maxInFlight: number;
  /** Rows waiting or in flight past which rows are refused. */
  maxPendingRows: number;
  /** Hears about failed inserts, and recovery. */
  onLog: (message: string) => void;
}

/** The figures of an {@linkcode Inserter}. */
export interface InserterFigures {
  /** Inserts that succeeded. */
  inserts: number;
  /** Rows in them. */
  rows: number;
  /** Inserts that failed. */
  errors: number;
  /** Rows in them: answered with errors. */
  failedRows: number;
  /** Seconds spent in inserts, summed. */
  seconds: number;
  /** Rows of the last insert. */
  lastRows: number;
  /** Seconds of the last insert. */
  lastSeconds: number;
  /** Rows of the largest insert. */
  maxRows: number;
}

interface Batch {
  rows: RowEncoder;
  done: PromiseWithResolvers<void>;
  due: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
}

// Failures logged at most this often while ClickHouse stays down.
const LOG_EVERY_MS = 10_000;

/** One table's batches, shared by every appender of a backend. */
export class Inserter {
  /** What was inserted and how long it took. */
  readonly figures: InserterFigures = {
    inserts: 0,
    rows: 0,
    errors: 0,
    failedRows: 0,
    seconds: 0,
    lastRows: 0,
    lastSeconds: 0,
    maxRows: 0,
  };
  #client: ClickHouseClient;
  #options: InserterOptions;
  #current: Batch | undefined;
  #inFlight = new Set<Promise<void>>();
  #pending = 0;
  #failing = 0;
  #loggedAt = -Infinity;

  /**
   * Creates the inserter of one table.
   *
   * @param client Where to insert.
   * @param options The table, the batch sizes and the limits.
   */
  constructor(client: ClickHouseClient, options: InserterOptions) {
    this.#client = client;
    this.#options = options;
  }

  /** Rows waiting for an insert or in one. */
  get pending(): number {
    return this.#pending;
  }

  /** Inserts running now. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /**
   * Why new rows are refused now: too many are waiting.
   *
   * @returns The reason, or `undefined` when rows are taken.
   */
  refusal(): string | undefined {
    if (this.#pending < this.#options.maxPendingRows) return undefined;
    return `cannot store in ClickHouse: ${this.#pending} rows are waiting for it already`;
  }

  /**
   * Adds rows to the current batch.
   *
   * @param rows The rows, copied.
   * @returns A promise that settles with the insert holding them.
   */
  add(rows: RowEncoder): Promise<void> {
    let batch = this.#current;
    if (batch === undefined) {
      batch = this.#current = newBatch(new RowEncoder(64 * 1024));
      batch.timer = setTimeout(() => {
        batch!.timer = undefined;
        batch!.due = true;
        this.#flush();
      }, this.#options.batchMs);
    }
    batch.rows.append(rows);
    this.#pending += rows.rows;
    if (batch.rows.rows >= this.#options.batchRows) {
      batch.due = true;
      this.#flush();
    }
    return batch.done.promise;
  }

  /**
   * Inserts rows on their own, all or nothing, at once.
   *
   * @param rows The rows, which the inserter keeps.
   * @returns A promise that settles with the insert.
   */
  alone(rows: RowEncoder): Promise<void> {
    const batch = newBatch(rows);
    this.#pending += rows.rows;
    this.#send(batch);
    return batch.done.promise;
  }

  /**
   * Sends the batch that is waiting, and waits for every insert.
   *
   * @returns A promise that settles once no insert runs.
   */
  async drain(): Promise<void> {
    const batch = this.#current;
    if (batch !== undefined) {
      clearTimeout(batch.timer);
      this.#current = undefined;
      this.#send(batch);
    }
    while (this.#inFlight.size > 0) {
      await Promise.allSettled(this.#inFlight);
    }
  }

  /** Sends the current batch when it is due and an insert may start. */
  #flush(): void {
    const batch = this.#current;
    if (
      batch === undefined || !batch.due ||
      this.#inFlight.size >= this.#options.maxInFlight
    ) {
      return;
    }
    clearTimeout(batch.timer);
    this.#current = undefined;
    this.#send(batch);
  }

  #send(batch: Batch): void {
    const rows = batch.rows.rows;
    const started = performance.now();
    const settings = {
      ...this.#options.settings,
      // One block, so that the insert is one part: all or nothing.
      max_insert_block_size: Math.max(rows, 1_048_576),
    };
    const insert = this.#client.insert(
      this.#options.table,
      batch.rows.bytes(),
      { settings },
    ).then(
      () => {
        this.#succeeded(rows, (performance.now() - started) / 1000);
        batch.done.resolve();
      },
      (error: Error) => {
        this.#failed(rows, error);
        batch.done.reject(
          new StorageError(`Cannot store in ClickHouse: ${error.message}`, {
            cause: error,
          }),
        );
      },
    ).finally(() => {
      this.#pending -= rows;
      this.#inFlight.delete(insert);
      this.#flush();
    });
    this.#inFlight.add(insert);
  }

  #succeeded(rows: number, seconds: number): void {
    const figures = this.figures;
    figures.inserts++;
    figures.rows += rows;
    figures.seconds += seconds;
    figures.lastRows = rows;
    figures.lastSeconds = seconds;
    figures.maxRows = Math.max(figures.maxRows, rows);
    if (this.#failing > 0) {
      this.#options.onLog(
        `pulse: clickhouse: inserts succeed again, after ${this.#failing} failed`,
      );
      this.#failing = 0;
      this.#loggedAt = -Infinity;
    }
  }

  #failed(rows: number, error: Error): void {
    this.figures.errors++;
    this.figures.failedRows += rows;
    this.#failing++;
    const now = Date.now();
    if (now - this.#loggedAt >= LOG_EVERY_MS) {
      this.#loggedAt = now;
      this.#options.onLog(
        `pulse: clickhouse: an insert of ${rows} rows failed (${this.#failing} in a row): ${error.message}`,
      );
    }
  }
}

function newBatch(rows: RowEncoder): Batch {
  const done = Promise.withResolvers<void>();
  // Each appender awaits its commit; the batch's own promise may go unseen.
  done.promise.catch(() => {});
  return { rows, done, due: false, timer: undefined };
}
