/**
 * The local backend's appender: one per session or request. It checks each
 * change against retention and the log's health, keeps a run of put lines
 * to log as the client sent them (one copy per run rather than an encoding
 * per put), and hands everything to the backend's one write path.
 *
 * @module
 */

import { nextTurn } from "../internal/turns.ts";
import { LogEncoder } from "../persist/log_encoder.ts";
import type { Pattern } from "../store/pattern.ts";
import type { Series } from "../store/series.ts";
import { matchSeries } from "./_local_querier.ts";
import type { LocalWriter } from "./_local_writer.ts";
import type { SampleBatch } from "./sample_batch.ts";
import type { Appender, MaybePromise } from "./storage.ts";

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;
// Samples of a batch taken before giving other clients a turn.
const BATCH_SLICE = 16_384;

/** Changes from one session or request to a local backend. */
export class LocalAppender implements Appender {
  /** Whether changes wait for their write before they take effect. */
  readonly deferred: boolean;
  #writer: LocalWriter;
  // Whether changes were taken since the last commit: the log's health is
  // checked when a run of changes opens, and a run once open is finished,
  // so that a batch is never refused half-way.
  #open = false;
  // The run of put lines not yet logged: `#run[#runStart, #runEnd)`.
  #run: Uint8Array | undefined;
  #runStart = 0;
  #runEnd = 0;
  #runCount = 0;

  /**
   * Creates an appender writing through `writer`.
   *
   * @param writer The backend's write path.
   */
  constructor(writer: LocalWriter) {
    this.#writer = writer;
    this.deferred = writer.deferred;
  }

  /**
   * Adds a sample: logged (its request line as sent, when given) and
   * applied, or queued for its write when deferred.
   *
   * @returns `undefined` when taken, else why it is refused.
   */
  append(
    key: string,
    value: number,
    timestamp: number,
    line?: Uint8Array,
    start?: number,
    end?: number,
  ): string | undefined {
    const writer = this.#writer;
    if (timestamp < writer.cutoff) return writer.tooOld(timestamp);
    if (!this.#open) {
      const refusal = writer.refusal();
      if (refusal !== undefined) return refusal;
      this.#open = true;
    }
    if (writer.journal !== undefined) {
      if (line !== undefined && this.#extends(line, start!)) {
        this.#runEnd = end!;
        this.#runCount++;
      } else {
        this.#flush();
        if (line !== undefined) {
          this.#run = line;
          this.#runStart = start!;
          this.#runEnd = end!;
          this.#runCount = 1;
        } else {
          writer.journal.put(key, value, timestamp);
        }
      }
    }
    writer.put(key, value, timestamp);
    return undefined;
  }

  /**
   * Adds a batch of samples, all or nothing. Applied at once, it is logged
   * and applied a slice at a time; deferred, it is encoded aside a slice at
   * a time and logged whole.
   *
   * @returns `undefined` when taken, else why none of it is.
   * @throws {TypeError} When changes since the last commit came before it.
   */
  appendBatch(batch: SampleBatch): MaybePromise<string | undefined> {
    if (this.#open) {
      // Its slices let other writers in, whose commits would carry this
      // appender's changes along: they must be committed first.
      throw new TypeError(
        "Cannot append a batch after other changes: commit them first",
      );
    }
    const writer = this.#writer;
    for (let i = 0; i < batch.length; i++) {
      const timestamp = batch.timestamp(i);
      if (timestamp < writer.cutoff) {
        return `sample ${i + 1} (${batch.key(i)}): ${writer.tooOld(timestamp)}`;
      }
    }
    const refusal = writer.refusal();
    if (refusal !== undefined) return refusal;
    this.#open = true;
    if (writer.deferred) return this.#encodeAside(batch);
    if (batch.length <= BATCH_SLICE) {
      this.#applySlice(batch, 0, batch.length);
      return undefined;
    }
    return this.#applyInSlices(batch);
  }

  /**
   * Removes the series a pattern matches.
   *
   * @returns How many were removed, once committed.
   */
  delete(pattern: Pattern): MaybePromise<number> {
    this.#flush();
    const found = matchSeries(this.#writer.store, pattern);
    const keys = (series: Series[]) => series.map((one) => one.key);
    return found instanceof Promise
      ? found.then((series) => this.#writer.delete(keys(series)))
      : this.#writer.delete(keys(found));
  }

  /**
   * Commits the changes since the last commit.
   *
   * @returns `undefined` when nothing is to wait for, else a promise.
   */
  commit(): Promise<void> | undefined {
    this.#flush();
    this.#open = false;
    const done = this.#writer.commit();
    return done === undefined ? undefined : done.then(() => {});
  }

  /**
   * Forgets the run of lines not yet logged. Changes already applied stay;
   * deferred ones are dropped only by a failed write.
   */
  rollback(): void {
    this.#run = undefined;
    this.#runCount = 0;
    this.#open = false;
  }

  /** Whether the line at `start` follows the run, nothing but a newline between. */
  #extends(line: Uint8Array, start: number): boolean {
    if (this.#run !== line || this.#runCount === 0) return false;
    const end = this.#runEnd;
    if (start === end + 1) return line[end] === NEWLINE;
    return start === end + 2 && line[end] === CARRIAGE_RETURN &&
      line[end + 1] === NEWLINE;
  }

  /** Logs the run of lines: before any other change, and before a commit. */
  #flush(): void {
    if (this.#runCount === 0) return;
    this.#writer.journal!.lines(
      this.#run!,
      this.#runStart,
      this.#runEnd,
      this.#runCount,
    );
    this.#run = undefined;
    this.#runCount = 0;
  }

  #applySlice(batch: SampleBatch, from: number, to: number): void {
    const writer = this.#writer;
    const journal = writer.journal;
    for (let i = from; i < to; i++) {
      const key = batch.key(i);
      const value = batch.value(i);
      const timestamp = batch.timestamp(i);
      journal?.put(key, value, timestamp);
      writer.store.put(key, value, timestamp);
    }
  }

  async #applyInSlices(batch: SampleBatch): Promise<undefined> {
    for (let from = 0; from < batch.length; from += BATCH_SLICE) {
      if (from > 0) await nextTurn();
      this.#applySlice(batch, from, Math.min(from + BATCH_SLICE, batch.length));
    }
    return undefined;
  }

  async #encodeAside(batch: SampleBatch): Promise<undefined> {
    const encoder = new LogEncoder();
    for (let from = 0; from < batch.length; from += BATCH_SLICE) {
      if (from > 0) await nextTurn();
      const to = Math.min(from + BATCH_SLICE, batch.length);
      for (let i = from; i < to; i++) {
        encoder.put(batch.key(i), batch.value(i), batch.timestamp(i));
      }
    }
    // One step: the batch's records follow each other in the log, and it is
    // queued in the same place.
    this.#writer.journal!.absorb(encoder);
    this.#writer.batch(batch);
    return undefined;
  }
}
