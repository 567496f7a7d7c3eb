/**
 * Changes logged but not yet applied, in the order the log holds them: with
 * `--fsync always` a change takes effect only once the write that holds it
 * is on disk, so that a change answered with an error leaves no trace, and
 * changes are applied in the log's order, so that a restore rebuilds the
 * same store.
 *
 * @module
 */

import { nextTurn } from "../internal/turns.ts";
import type { Store } from "../store.ts";
import type { SampleBatch } from "./sample_batch.ts";

const PUT = 0;
const DELETE = 1;
const TRIM = 2;
const BATCH = 3;
// Samples of a batch applied before giving other clients a turn.
const BATCH_SLICE = 16_384;

/**
 * What applying changes found: which deletions removed a series, and how
 * many samples retention dropped.
 */
export interface Applied {
  /** Series removed by deletions, by their position in the queue. */
  deleted: Map<number, boolean>;
  /** Samples dropped by the trims applied. */
  dropped: number;
}

/** Changes waiting for their write, as columns. */
export class DeferredQueue {
  #kinds: number[] = [];
  #keys: (string | undefined)[] = [];
  #numbers: number[] = [];
  #timestamps: number[] = [];
  #batches = new Map<number, SampleBatch>();
  // Positions count from the start; `#base` is that of index 0, and the
  // changes before index `#head` are done.
  #base = 0;
  #head = 0;

  /** The position after the last change queued. */
  get end(): number {
    return this.#base + this.#kinds.length;
  }

  /** Queues a put. */
  put(key: string, value: number, timestamp: number): void {
    this.#push(PUT, key, value, timestamp);
  }

  /**
   * Queues the deletion of a series.
   *
   * @returns Its position, to look up whether it removed anything.
   */
  delete(key: string): number {
    const position = this.end;
    this.#push(DELETE, key, 0, 0);
    return position;
  }

  /** Queues the dropping of samples older than `cutoff`. */
  trim(cutoff: number): void {
    this.#push(TRIM, undefined, cutoff, 0);
  }

  /** Queues a batch of samples, applied whole. */
  batch(batch: SampleBatch): void {
    this.#batches.set(this.end, batch);
    this.#push(BATCH, undefined, 0, 0);
  }

  /**
   * Applies the changes before position `mark` to `store`, in order. Large
   * batches are applied a slice at a time, with turns between.
   *
   * @returns Which deletions removed a series and how many samples trims
   * dropped; a promise when slices wait.
   */
  apply(store: Store, mark: number): Applied | Promise<Applied> {
    return this.#applyOn(store, mark, { deleted: new Map(), dropped: 0 });
  }

  /** Forgets the changes before position `mark`: their write failed. */
  drop(mark: number): void {
    while (this.#base + this.#head < mark) {
      this.#batches.delete(this.#base + this.#head);
      this.#next();
    }
  }

  #applyOn(
    store: Store,
    mark: number,
    applied: Applied,
  ): Applied | Promise<Applied> {
    while (this.#base + this.#head < mark) {
      const i = this.#head;
      const position = this.#base + i;
      const key = this.#keys[i];
      switch (this.#kinds[i]) {
        case PUT:
          store.put(key!, this.#numbers[i], this.#timestamps[i]);
          break;
        case DELETE:
          applied.deleted.set(position, store.delete(key!));
          break;
        case TRIM:
          applied.dropped += store.dropBefore(this.#numbers[i]);
          break;
        case BATCH: {
          const batch = this.#batches.get(position)!;
          this.#batches.delete(position);
          if (batch.length > BATCH_SLICE) {
            this.#next();
            return applyBatch(store, batch).then(() =>
              this.#applyOn(store, mark, applied)
            );
          }
          applyBatchSlice(store, batch, 0, batch.length);
        }
      }
      this.#next();
    }
    return applied;
  }

  #push(kind: number, key: string | undefined, n: number, t: number): void {
    this.#kinds.push(kind);
    this.#keys.push(key);
    this.#numbers.push(n);
    this.#timestamps.push(t);
  }

  #next(): void {
    this.#keys[this.#head] = undefined;
    this.#head++;
    // Shifting arrays costs their length: empty them once all is done, or
    // cut the spent half at once.
    if (this.#head === this.#kinds.length) {
      this.#kinds.length = 0;
      this.#keys.length = 0;
      this.#numbers.length = 0;
      this.#timestamps.length = 0;
      this.#base += this.#head;
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#kinds.length) {
      const head = this.#head;
      this.#kinds.splice(0, head);
      this.#keys.splice(0, head);
      this.#numbers.splice(0, head);
      this.#timestamps.splice(0, head);
      this.#base += head;
      this.#head = 0;
    }
  }
}

function applyBatchSlice(
  store: Store,
  batch: SampleBatch,
  from: number,
  to: number,
): void {
  for (let i = from; i < to; i++) {
    store.put(batch.key(i), batch.value(i), batch.timestamp(i));
  }
}

async function applyBatch(store: Store, batch: SampleBatch): Promise<void> {
  for (let from = 0; from < batch.length; from += BATCH_SLICE) {
    applyBatchSlice(
      store,
      batch,
      from,
      Math.min(from + BATCH_SLICE, batch.length),
    );
    await nextTurn();
  }
}
