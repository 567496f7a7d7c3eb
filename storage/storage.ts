/**
 * The storage seam: the one interface through which every front door (TCP
 * sessions, HTTP, the Graphite listeners) writes and reads samples, in the
 * spirit of Prometheus' `storage.Appender` and `storage.Querier`.
 *
 * A backend implements {@linkcode Storage}. The local backend keeps series
 * in this process's memory, with an optional log on disk; a remote one
 * (such as ClickHouse) completes its commits and reads later, over the
 * network. Front doors see no difference but timing:
 *
 * - Writes go through an {@linkcode Appender}, one per session or request.
 *   Appended changes are answered once {@linkcode Appender.commit} says they
 *   are stored; a backend whose appends take effect only at commit (a log
 *   fsynced before each answer, a remote insert) says so with
 *   {@linkcode Appender.deferred}, and a failed commit leaves no trace.
 * - Reads go through a {@linkcode Querier}: it names the series a pattern
 *   matches and hands their samples to a {@linkcode RowCursor} a bounded
 *   number at a time, so answers of any size are streamed.
 *
 * Every method may answer at once or with a promise. The local backend
 * answers at once, so a session's fast path costs no promise per request;
 * a caller awaits only what is a promise.
 *
 * @module
 */

import { describe } from "../internal/describe.ts";
import type { Pattern } from "../store/pattern.ts";
import type { QueryOptions, RowSink } from "../store/query.ts";
import type { SampleBatch } from "./sample_batch.ts";

/** A value now, or a promise of it from a backend that answers later. */
export type MaybePromise<T> = T | Promise<T>;

/**
 * A series as a backend names it: its key, and what is known of its
 * samples. Reading it again gives its samples as they are then.
 */
export interface SeriesInfo {
  /** The series' name. */
  readonly key: string;
  /** Its earliest timestamp, when known (and the series is not empty). */
  readonly first?: number;
  /** Its latest timestamp, when known (and the series is not empty). */
  readonly last?: number;
  /** How many samples it holds, when known. */
  readonly length?: number;
  /**
   * Grows with every change to the series, when the backend tracks it: what
   * was derived from the series (a rendered answer) is current while this
   * stands still.
   */
  readonly version?: number;
}

/** Options of {@linkcode Querier.series}. */
export interface SeriesOptions {
  /**
   * Whether the caller needs each series' `first` and `last` timestamps: a
   * backend that must read them (a remote database) leaves them out
   * otherwise. A backend that knows them gives them either way.
   *
   * @default {false}
   */
  bounds?: boolean;
}

/**
 * The samples of some series, read a bounded number at a time: series by
 * series, each in timestamp order.
 */
export interface RowCursor {
  /**
   * Hands rows to `sink` until about `limit` samples are read or all are.
   *
   * @param sink Receives a key, a value and a timestamp per row.
   * @param limit About how many samples to read in this call.
   * @returns Whether every row was read; a promise when rows must be
   * fetched first.
   */
  read(sink: RowSink, limit: number): MaybePromise<boolean>;
  /** Gives up the rest, freeing what the cursor holds. */
  close(): void;
}

/** Reads a backend's series. */
export interface Querier {
  /**
   * The series named `key`.
   *
   * @param key A series' name.
   * @returns The series, or `undefined` when nothing was put under it.
   */
  get(key: string): MaybePromise<SeriesInfo | undefined>;
  /**
   * The series a pattern matches, or every series, in the order their keys
   * were first put.
   *
   * @param pattern Which series; all of them when `undefined`.
   * @param options Whether their first and last timestamps are needed.
   * @returns The series, possibly a live view that sees series added later.
   */
  series(
    pattern?: Pattern,
    options?: SeriesOptions,
  ): MaybePromise<Iterable<SeriesInfo>>;
  /**
   * Reads the samples of `series`, in their order, within a range and
   * rolled up or not.
   *
   * @param series Series the querier named.
   * @param options The range, the roll-up, or only the latest sample.
   * @returns A cursor over the rows.
   */
  read(series: Iterable<SeriesInfo>, options?: QueryOptions): RowCursor;
}

/**
 * Changes to a backend, from one session or request. Changes are answered
 * only once committed; a failed commit fails every change since the last.
 */
export interface Appender {
  /**
   * Whether changes take effect only when committed, and so may still
   * fail then. A session waits for the commit of its changes before it
   * reads, so that it sees them, and turns their answers into errors when
   * the commit fails. `false` for a backend that applies a change at once.
   */
  readonly deferred: boolean;
  /**
   * Adds a sample. The bytes of the request line it came from may be given,
   * so that a log can keep them as sent; they must stay unchanged until the
   * next commit.
   *
   * @param key The series' name, a valid key.
   * @param value A finite number.
   * @param timestamp Unix seconds, a safe integer.
   * @param line The bytes holding the request line, if any.
   * @param start Where the line starts in `line`.
   * @param end Where it ends, exclusive, without its newline.
   * @returns `undefined` when the sample is taken, else why it is refused
   * (outside the retention window, a log that cannot be written).
   */
  append(
    key: string,
    value: number,
    timestamp: number,
    line?: Uint8Array,
    start?: number,
    end?: number,
  ): string | undefined;
  /**
   * Adds a batch of samples, all or nothing: either every sample is taken,
   * or none is and the reason is given. A large batch may be taken a slice
   * at a time, letting other clients in between.
   *
   * @param batch The samples; the appender reads them until the commit.
   * @returns `undefined` when every sample is taken, else why none is; a
   * promise when the batch is taken in slices.
   */
  appendBatch(batch: SampleBatch): MaybePromise<string | undefined>;
  /**
   * Removes the series a pattern matches. Earlier changes of this appender
   * must be committed first.
   *
   * @param pattern Which series.
   * @returns How many series were removed, or why it failed, once the
   * removal is committed.
   */
  delete(pattern: Pattern): MaybePromise<number>;
  /**
   * Makes the changes since the last commit durable (by the backend's
   * policy) and, when deferred, visible.
   *
   * @returns `undefined` when they already are, else a promise that
   * settles once they are and rejects when they could not be stored.
   */
  commit(): Promise<void> | undefined;
  /** Forgets the changes since the last commit, where they are deferred. */
  rollback(): void;
}

/**
 * What a backend throws, or rejects with, when it cannot do what was asked
 * for a reason of its own (a remote database that is down or too slow),
 * rather than because of the request. Its message says it all, and is what
 * the client is answered: front doors answer other errors of a write as
 * `cannot write the log: ...`.
 *
 * @example Usage
 * ```ts
 * import { failureMessage, StorageError } from "./storage.ts";
 * import { equal } from "node:assert/strict";
 *
 * const error = new StorageError("Cannot store in ClickHouse: no answer");
 * equal(failureMessage(error), "cannot store in ClickHouse: no answer");
 * equal(failureMessage(new Error("No space left")), "cannot write the log: no space left");
 * ```
 */
export class StorageError extends Error {
  /**
   * Creates the error.
   *
   * @param message The whole reason, such as `Cannot store in ClickHouse:
   * no answer within 10s`.
   * @param options The cause.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StorageError";
  }
}

/**
 * The error answer for a change or read that failed: a
 * {@linkcode StorageError}'s own message, else the log's.
 *
 * @param error What the backend threw or rejected with.
 * @returns The message, lower-cased at its start as answers are.
 */
export function failureMessage(error: unknown): string {
  return error instanceof StorageError
    ? describe(error)
    : `cannot write the log: ${describe(error)}`;
}

/**
 * A consistent snapshot of a backend's samples: a file in the format of a
 * data directory's `snapshot.pulse`, read as it is sent.
 */
export interface StorageSnapshot {
  /** Its size in bytes. */
  readonly size: number;
  /** Its bytes; cancelling the stream frees what it holds. */
  readonly stream: ReadableStream<Uint8Array>;
}

/** A backend's figures, by name, for `stats` and `/metrics`. */
export type StorageStats = Record<string, number>;

/** A storage backend: where samples are kept. */
export interface Storage extends AsyncDisposable {
  /** What the backend is, for the figures: `memory`, `local`, ... */
  readonly backend: string;
  /**
   * Starts a run of changes: one appender per session or request.
   *
   * @returns A new appender.
   */
  appender(): Appender;
  /** Reads. */
  readonly querier: Querier;
  /**
   * The backend's figures: series, samples, sizes on disk.
   *
   * @returns Figures by name.
   */
  stats(): StorageStats;
  /**
   * Writes a snapshot of everything and cuts the log, for a backend that
   * keeps both (the `compact` command). A backend without it answers that
   * command with an error.
   *
   * @returns A promise that settles once the snapshot is written and the
   * log cut, and rejects when that cannot be done.
   */
  compact?(): Promise<void>;
  /**
   * Takes a consistent snapshot of every sample, while serving goes on: a
   * file that restores on its own, as the `snapshot.pulse` of an empty data
   * directory, to the store as it stood at one moment after the call. It
   * holds every change committed before the call, and maybe some after.
   * Optional: a backend that cannot take one leaves it out.
   *
   * @returns The snapshot, to be read or cancelled.
   * @throws {Deno.errors.NotSupported} When this instance of the backend
   * cannot take one.
   */
  snapshot?(): Promise<StorageSnapshot>;
  /**
   * Stops: waits for what is under way, makes everything committed durable
   * and frees the backend's resources. Safe to call more than once.
   */
  close(): Promise<void>;
}
