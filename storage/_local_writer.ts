/**
 * The local backend's one write path, shared by its appenders and its
 * retention: every change is logged (with a data directory) and applied to
 * the store, in the same order.
 *
 * - Without a log, or with `--fsync everysec` or `no`, a change is applied
 *   at once; a commit only waits, now and then, for a disk that fell behind.
 * - With `--fsync always` a change is logged at once and applied once the
 *   write that holds it is on disk. A change whose write failed was answered
 *   with an error, so it is dropped: it shows up neither now nor after a
 *   restart.
 *
 * @module
 */

import { describe } from "../internal/describe.ts";
import { nextTurn } from "../internal/turns.ts";
import type { Journal } from "../persist/journal.ts";
import type { Store } from "../store.ts";
import { type Applied, DeferredQueue } from "./_deferred_queue.ts";
import type { SampleBatch } from "./sample_batch.ts";

// Series deleted at once before giving other clients a turn.
const DELETE_SLICE = 4096;

/** Logs and applies changes to one store. */
export class LocalWriter {
  /** The store changes are applied to. */
  readonly store: Store;
  /** The log, with a data directory. */
  readonly journal: Journal | undefined;
  /** Whether changes wait for their write before they are applied. */
  readonly deferred: boolean;
  /**
   * Samples before this timestamp are refused: the start of the retention
   * window, kept current by the backend.
   */
  cutoff = -Infinity;
  #retention: string | undefined;
  #queue = new DeferredQueue();
  // Applying waits for the writes in the order they were committed.
  #applying: Promise<unknown> = Promise.resolve();

  /**
   * Creates the write path of `store`.
   *
   * @param store The store.
   * @param journal Its log, if any.
   * @param options Whether to defer changes to their write, and the
   * retention window as the flag gave it, for messages.
   */
  constructor(
    store: Store,
    journal: Journal | undefined,
    options: { deferred: boolean; retention?: string },
  ) {
    this.store = store;
    this.journal = journal;
    this.deferred = options.deferred;
    this.#retention = options.retention;
  }

  /**
   * Why changes are refused now, while the log cannot be written.
   *
   * @returns The reason, or `undefined` when they are taken.
   */
  refusal(): string | undefined {
    const failure = this.journal?.failure;
    return failure === undefined
      ? undefined
      : `cannot write the log: ${describe(failure)}`;
  }

  /**
   * Why a sample at `timestamp` is refused: it is older than the retention
   * window.
   *
   * @param timestamp A timestamp before {@linkcode LocalWriter.cutoff}.
   * @returns The error message.
   */
  tooOld(timestamp: number): string {
    return `${timestamp} is older than the retention window of ${this.#retention} (samples from ${this.cutoff} on are kept)`;
  }

  /** Applies a put now, or queues it for its write when deferred. */
  put(key: string, value: number, timestamp: number): void {
    if (this.deferred) this.#queue.put(key, value, timestamp);
    else this.store.put(key, value, timestamp);
  }

  /** Queues a batch for its write; only when deferred. */
  batch(batch: SampleBatch): void {
    this.#queue.batch(batch);
  }

  /**
   * Logs and applies (or queues) the deletion of series.
   *
   * @param keys Their names.
   * @returns How many were removed, once committed.
   */
  delete(keys: readonly string[]): number | Promise<number> {
    if (!this.deferred) {
      if (keys.length > DELETE_SLICE) return this.#deleteInSlices(keys);
      return this.#deleteAt(keys, 0, keys.length);
    }
    const positions = keys.map((key) => {
      this.journal!.delete(key);
      return this.#queue.delete(key);
    });
    return this.commit()!.then((applied) => {
      let removed = 0;
      for (const position of positions) {
        if (applied!.deleted.get(position)) removed++;
      }
      return removed;
    });
  }

  #deleteAt(keys: readonly string[], from: number, to: number): number {
    let removed = 0;
    for (let i = from; i < to; i++) {
      this.journal?.delete(keys[i]);
      if (this.store.delete(keys[i])) removed++;
    }
    return removed;
  }

  async #deleteInSlices(keys: readonly string[]): Promise<number> {
    let removed = 0;
    for (let from = 0; from < keys.length; from += DELETE_SLICE) {
      if (from > 0) await nextTurn();
      const to = Math.min(from + DELETE_SLICE, keys.length);
      removed += this.#deleteAt(keys, from, to);
    }
    return removed;
  }

  /**
   * Drops every sample older than `cutoff`, logged as one change.
   *
   * @param cutoff The earliest timestamp kept.
   * @returns How many samples were dropped: at once, or once applied when
   * changes are deferred (0 when the write failed and nothing was).
   */
  trim(cutoff: number): number | Promise<number> {
    this.journal?.trim(cutoff);
    if (!this.deferred) {
      const dropped = this.store.dropBefore(cutoff);
      this.journal?.commit()?.catch(() => {});
      return dropped;
    }
    this.#queue.trim(cutoff);
    return this.commit()!.then((applied) => applied!.dropped, () => 0);
  }

  /**
   * Commits what was logged so far.
   *
   * @returns `undefined` when there is nothing to wait for; else a promise
   * that settles once the changes are durable by the fsync policy and, when
   * deferred, applied (with which deletions removed a series), and that
   * rejects when deferred changes could not be written and were dropped.
   */
  commit(): Promise<Applied | undefined> | undefined {
    const written = this.journal?.commit();
    if (!this.deferred) {
      // Applied already: the promise only asks a writer to let the disk
      // catch up, and the bytes of a failed write are kept and written by
      // the retry, so it never fails.
      return written?.then(() => undefined, () => undefined);
    }
    const mark = this.#queue.end;
    // Seen to at once: the chain may reach it only after it has failed.
    written?.catch(() => {});
    const done = this.#applying.then(() => written).then(
      () => this.#queue.apply(this.store, mark),
      (error) => {
        this.#queue.drop(mark);
        throw error;
      },
    );
    this.#applying = done.catch(() => {});
    return done;
  }
}
