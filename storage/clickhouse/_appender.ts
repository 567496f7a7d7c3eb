/**
 * The ClickHouse backend's appender, one per session or request. Its puts
 * are encoded as they come, each with the next version of the front end's
 * clock, and held until the commit hands them to the shared batch: the
 * commit settles when the insert holding them does, so a put is answered
 * `ok` only once ClickHouse has it.
 *
 * @module
 */

import { nextTurn } from "../../internal/turns.ts";
import type { Pattern } from "../../store/pattern.ts";
import type { SampleBatch } from "../sample_batch.ts";
import type { Appender, MaybePromise } from "../storage.ts";
import type { HybridClock } from "./_hybrid_clock.ts";
import type { Inserter } from "./_inserter.ts";
import { RowEncoder } from "./_row_encoder.ts";

// Samples of a batch encoded before giving other clients a turn.
const BATCH_SLICE = 16_384;
// An appender's buffer past this is dropped after its commit rather than kept.
const KEEP_BYTES = 64 * 1024;

/** What the appenders of one backend share. */
export interface AppenderContext {
  /** Gives each put its version. */
  readonly clock: HybridClock;
  /** Sends rows to ClickHouse. */
  readonly inserter: Inserter;
  /** Samples before this timestamp are refused (retention). */
  readonly cutoff: number;
  /**
   * Why a sample is refused for its age.
   *
   * @param timestamp A timestamp before the cutoff.
   * @returns The message.
   */
  tooOld(timestamp: number): string;
  /**
   * Removes the series a pattern matches.
   *
   * @param pattern Which series.
   * @returns How many were removed.
   */
  delete(pattern: Pattern): Promise<number>;
}

/** Changes from one session or request to ClickHouse. */
export class ClickHouseAppender implements Appender {
  /** Changes take effect once ClickHouse has taken their insert. */
  readonly deferred = true;
  #context: AppenderContext;
  #rows = new RowEncoder(1024);
  // A batch goes in an insert of its own, all or nothing.
  #alone = false;

  /**
   * Creates an appender.
   *
   * @param context What the backend's appenders share.
   */
  constructor(context: AppenderContext) {
    this.#context = context;
  }

  /**
   * Adds a sample, to be sent at the commit.
   *
   * @returns `undefined` when taken, else why it is refused.
   */
  append(key: string, value: number, timestamp: number): string | undefined {
    const context = this.#context;
    if (timestamp < context.cutoff) return context.tooOld(timestamp);
    const refusal = context.inserter.refusal();
    if (refusal !== undefined) return refusal;
    this.#rows.put(key, value, timestamp, context.clock);
    return undefined;
  }

  /**
   * Adds a batch, sent at the commit as one insert of its own.
   *
   * @returns `undefined` when taken, else why none of it is; a promise when
   * it is encoded in slices.
   * @throws {TypeError} When changes since the last commit came before it.
   */
  appendBatch(batch: SampleBatch): MaybePromise<string | undefined> {
    if (this.#rows.rows > 0) {
      throw new TypeError(
        "Cannot append a batch after other changes: commit them first",
      );
    }
    const context = this.#context;
    for (let i = 0; i < batch.length; i++) {
      const timestamp = batch.timestamp(i);
      if (timestamp < context.cutoff) {
        return `sample ${i + 1} (${batch.key(i)}): ${
          context.tooOld(timestamp)
        }`;
      }
    }
    const refusal = context.inserter.refusal();
    if (refusal !== undefined) return refusal;
    this.#alone = true;
    if (batch.length <= BATCH_SLICE) {
      this.#encode(batch, 0, batch.length);
      return undefined;
    }
    return this.#encodeInSlices(batch);
  }

  /**
   * Removes the series a pattern matches.
   *
   * @returns How many were removed, once ClickHouse has removed them.
   */
  delete(pattern: Pattern): Promise<number> {
    return this.#context.delete(pattern);
  }

  /**
   * Sends the changes since the last commit.
   *
   * @returns `undefined` when there are none, else a promise that settles
   * once ClickHouse has them, and rejects when it has not taken them.
   */
  commit(): Promise<void> | undefined {
    const rows = this.#rows;
    if (rows.rows === 0) return undefined;
    const inserter = this.#context.inserter;
    let done: Promise<void>;
    if (this.#alone) {
      done = inserter.alone(rows);
      this.#rows = new RowEncoder(1024);
      this.#alone = false;
    } else {
      done = inserter.add(rows);
      if (rows.length > KEEP_BYTES) this.#rows = new RowEncoder(1024);
      else rows.reset();
    }
    return done;
  }

  /** Forgets the changes since the last commit. */
  rollback(): void {
    this.#rows.reset();
    this.#alone = false;
  }

  #encode(batch: SampleBatch, from: number, to: number): void {
    const clock = this.#context.clock;
    for (let i = from; i < to; i++) {
      this.#rows.put(batch.key(i), batch.value(i), batch.timestamp(i), clock);
    }
  }

  async #encodeInSlices(batch: SampleBatch): Promise<undefined> {
    for (let from = 0; from < batch.length; from += BATCH_SLICE) {
      if (from > 0) await nextTurn();
      this.#encode(batch, from, Math.min(from + BATCH_SLICE, batch.length));
    }
    return undefined;
  }
}
