/**
 * The answers waiting for one client, and the one task that writes them.
 *
 * The session hands over answers without waiting for the socket, so that it
 * can go on with requests already read; it waits (and so stops reading) once
 * the answers held pass the high-water mark, and gives up on a client for
 * whom more than `maxOutput` bytes are held.
 *
 * @module
 */

import { concat } from "../internal/concat.ts";
import { type ByteWriter, writeAll } from "../internal/write_all.ts";

/** Thrown when a client holds more unread answers than allowed. */
export class OutputOverflow extends RangeError {
  /**
   * Creates the error.
   *
   * @param held Bytes of answers held for the client.
   * @param limit The most allowed.
   */
  constructor(held: number, limit: number) {
    super(
      `Cannot hold more answers for the client: ${held} bytes unread, the limit is ${limit}`,
    );
    this.name = "OutputOverflow";
  }
}

/** A client's queue of answers and its writer. */
export class Outbox {
  #writer: ByteWriter;
  #highWater: number;
  #maxOutput: number;
  #queue: Uint8Array[] = [];
  #held = 0;
  #writing: Promise<void> | undefined;
  #error: unknown;
  #waiter: { below: number; done: PromiseWithResolvers<void> } | undefined;

  /**
   * Creates the outbox of one connection.
   *
   * @param writer The connection.
   * @param highWater Held bytes past which the session should wait.
   * @param maxOutput Held bytes past which the client is given up on.
   */
  constructor(writer: ByteWriter, highWater: number, maxOutput: number) {
    this.#writer = writer;
    this.#highWater = highWater;
    this.#maxOutput = maxOutput;
  }

  /** Bytes handed over and not yet written. */
  get held(): number {
    return this.#held;
  }

  /**
   * Queues `bytes`, which the outbox then owns, and has them written.
   *
   * @param bytes Answers.
   * @throws {OutputOverflow} When more than `maxOutput` bytes are held.
   */
  send(bytes: Uint8Array): void {
    if (this.#error !== undefined) throw this.#error;
    this.#queue.push(bytes);
    this.#held += bytes.length;
    if (this.#held > this.#maxOutput) {
      throw new OutputOverflow(this.#held, this.#maxOutput);
    }
    this.#writing ??= this.#write();
  }

  /**
   * Writes `bytes` after what is queued, and settles once all is written.
   * With nothing queued this is one plain write: the common case, kept
   * cheap. `bytes` must stay unchanged until then.
   *
   * @param bytes Answers.
   * @returns A promise that settles once everything is written.
   */
  write(bytes: Uint8Array): Promise<void> {
    if (this.#error !== undefined) return Promise.reject(this.#error);
    if (this.#writing === undefined) return writeAll(this.#writer, bytes);
    this.send(bytes.slice());
    return this.drain(0) ?? Promise.resolve();
  }

  /**
   * Waits until at most `below` bytes are held: by default the high-water
   * mark, 0 to wait for everything to be written.
   *
   * @param below The most bytes that may still be held.
   * @returns `undefined` when there is nothing to wait for, or a promise.
   */
  drain(below: number = this.#highWater): Promise<void> | undefined {
    if (this.#error !== undefined) return Promise.reject(this.#error);
    if (this.#held <= below) return undefined;
    this.#waiter = { below, done: Promise.withResolvers<void>() };
    return this.#waiter.done.promise;
  }

  async #write(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        // Answers queued meanwhile leave together, in one write.
        const bytes = this.#queue.length === 1
          ? this.#queue[0]
          : concat(this.#queue);
        this.#queue = [];
        await writeAll(this.#writer, bytes);
        this.#held -= bytes.length;
        const waiter = this.#waiter;
        if (waiter !== undefined && this.#held <= waiter.below) {
          this.#waiter = undefined;
          waiter.done.resolve();
        }
      }
    } catch (error) {
      this.#error = error;
      this.#waiter?.done.reject(error);
      this.#waiter = undefined;
    } finally {
      this.#writing = undefined;
    }
  }
}
