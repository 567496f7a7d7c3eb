/**
 * A batch of samples to be stored all or nothing, held as columns: a number
 * per sample for its key, value and timestamp, and each distinct key once.
 * A body of millions of lines then costs about 20 bytes a sample rather
 * than an object per line. The columns grow by blocks of 16,384 samples
 * rather than by copying ever larger arrays, so that a large batch never
 * holds its old copies too: its memory stays about 20 bytes a sample.
 *
 * @example Usage
 * ```ts
 * import { SampleBatch } from "./sample_batch.ts";
 * import { equal } from "node:assert/strict";
 *
 * const batch = new SampleBatch();
 * batch.add("palm.cpu", 10.6, 1501864247);
 * batch.add("palm.cpu", 2.0, 1501864248);
 * equal(batch.length, 2);
 * equal(batch.key(1), "palm.cpu");
 * equal(batch.keys.length, 1);
 * ```
 *
 * @module
 */

const FIRST_CAPACITY = 1024;
// Samples per block, past the first: a power of two, so that a sample's
// block and place in it are a shift and a mask.
const BLOCK_SHIFT = 14;
const BLOCK_SIZE = 1 << BLOCK_SHIFT;
const BLOCK_MASK = BLOCK_SIZE - 1;

/** One block of the columns: values, timestamps and key ids in one buffer. */
class Block {
  readonly values: Float64Array;
  readonly timestamps: Float64Array;
  readonly keyOf: Int32Array;

  constructor(capacity: number) {
    const buffer = new ArrayBuffer(capacity * 20);
    this.values = new Float64Array(buffer, 0, capacity);
    this.timestamps = new Float64Array(buffer, capacity * 8, capacity);
    this.keyOf = new Int32Array(buffer, capacity * 16, capacity);
  }

  /** A copy of the first `length` samples, in a block of `capacity`. */
  grown(capacity: number, length: number): Block {
    const block = new Block(capacity);
    block.values.set(this.values.subarray(0, length));
    block.timestamps.set(this.timestamps.subarray(0, length));
    block.keyOf.set(this.keyOf.subarray(0, length));
    return block;
  }
}

/** Samples by column, in the order they were added. */
export class SampleBatch {
  /** The distinct keys, in the order they first came. */
  readonly keys: string[] = [];
  #ids = new Map<string, number>();
  // The first block grows by doubling up to BLOCK_SIZE; the others have
  // that size from the start.
  #blocks: Block[] = [new Block(FIRST_CAPACITY)];
  #length = 0;

  /** How many samples the batch holds. */
  get length(): number {
    return this.#length;
  }

  /**
   * Adds a sample.
   *
   * @param key The series' name, a valid key.
   * @param value A finite number.
   * @param timestamp Unix seconds, a safe integer.
   */
  add(key: string, value: number, timestamp: number): void {
    let id = this.#ids.get(key);
    if (id === undefined) {
      id = this.keys.length;
      this.keys.push(key);
      this.#ids.set(key, id);
    }
    const i = this.#length++;
    const at = i & BLOCK_MASK;
    let block = this.#blocks[i >>> BLOCK_SHIFT];
    if (block === undefined) {
      block = new Block(BLOCK_SIZE);
      this.#blocks.push(block);
    } else if (at === block.keyOf.length) {
      block = block.grown(2 * at, at);
      this.#blocks[0] = block;
    }
    block.keyOf[at] = id;
    block.values[at] = value;
    block.timestamps[at] = timestamp;
  }

  /**
   * The key of sample `i`.
   *
   * @param i The sample's index.
   * @returns Its key.
   */
  key(i: number): string {
    return this.keys[this.#blocks[i >>> BLOCK_SHIFT].keyOf[i & BLOCK_MASK]];
  }

  /**
   * The value of sample `i`.
   *
   * @param i The sample's index.
   * @returns Its value.
   */
  value(i: number): number {
    return this.#blocks[i >>> BLOCK_SHIFT].values[i & BLOCK_MASK];
  }

  /**
   * The timestamp of sample `i`.
   *
   * @param i The sample's index.
   * @returns Its timestamp.
   */
  timestamp(i: number): number {
    return this.#blocks[i >>> BLOCK_SHIFT].timestamps[i & BLOCK_MASK];
  }
}
