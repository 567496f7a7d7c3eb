/**
 * The raw chunk: the open head of a series, values and timestamp offsets as
 * columns in one buffer, where an append is two stores and an out-of-order
 * insert a shift. Once full it is sealed into an encoded chunk, and its
 * buffer takes the next samples.
 *
 * @module
 */

import {
  type ChunkAppender,
  Encoding,
  type SampleColumns,
} from "./chunkenc.ts";

// Timestamps are kept as 32-bit offsets from the chunk's base: 12 bytes a
// sample instead of 16. A timestamp too far from the base does not fit.
const MAX_OFFSET = 2 ** 31 - 1;
const MIN_OFFSET = -(2 ** 31);

/** Bytes a raw sample takes: a float64 value and a 32-bit offset. */
export const RAW_SAMPLE_BYTES = 12;

/**
 * A run of samples as raw columns, sorted, every timestamp within 32 bits of
 * `base`.
 */
export class RawChunk implements ChunkAppender {
  readonly encoding = Encoding.Raw;
  /** The timestamp that offsets count from. */
  base: number;
  /** The values. */
  values: Float64Array;
  /** The timestamps, as offsets from `base`. */
  offsets: Int32Array;
  length = 0;

  /**
   * @param base The timestamp that offsets count from.
   * @param capacity How many samples it has room for.
   */
  constructor(base: number, capacity: number) {
    this.base = base;
    const buffer = new ArrayBuffer(capacity * RAW_SAMPLE_BYTES);
    this.values = new Float64Array(buffer, 0, capacity);
    this.offsets = new Int32Array(buffer, capacity * 8, capacity);
  }

  get capacity(): number {
    return this.values.length;
  }

  get first(): number {
    return this.base + this.offsets[0];
  }

  get last(): number {
    return this.base + this.offsets[this.length - 1];
  }

  /** Whether `timestamp` can be kept in this chunk. */
  fits(timestamp: number): boolean {
    const offset = timestamp - this.base;
    return offset >= MIN_OFFSET && offset <= MAX_OFFSET;
  }

  /** The timestamp at `index`. */
  timestamp(index: number): number {
    return this.base + this.offsets[index];
  }

  /** The index of the first timestamp >= `timestamp`, or `length`. */
  lowerBound(timestamp: number): number {
    const offset = timestamp - this.base;
    const offsets = this.offsets;
    let low = 0;
    let high = this.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (offsets[mid] < offset) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  /** The index of the first timestamp > `timestamp`, or `length`. */
  upperBound(timestamp: number): number {
    const offset = timestamp - this.base;
    const offsets = this.offsets;
    let low = 0;
    let high = this.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (offsets[mid] <= offset) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  /** Adds a sample after the last; it must fit and there must be room. */
  append(timestamp: number, value: number): void {
    this.offsets[this.length] = timestamp - this.base;
    this.values[this.length] = value;
    this.length++;
  }

  /** Inserts at `index`, shifting later samples; there must be room. */
  insert(index: number, timestamp: number, value: number): void {
    const { offsets, values } = this;
    offsets.copyWithin(index + 1, index, this.length);
    values.copyWithin(index + 1, index, this.length);
    offsets[index] = timestamp - this.base;
    values[index] = value;
    this.length++;
  }

  /** Removes the first `count` samples. */
  dropFirst(count: number): void {
    this.offsets.copyWithin(0, count, this.length);
    this.values.copyWithin(0, count, this.length);
    this.length -= count;
  }

  /** Empties the chunk, its offsets to count from `base` from now on. */
  clear(base: number): void {
    this.base = base;
    this.length = 0;
  }

  /** A copy with room for `capacity` samples. */
  resized(capacity: number): RawChunk {
    const chunk = new RawChunk(this.base, capacity);
    chunk.offsets.set(this.offsets.subarray(0, this.length));
    chunk.values.set(this.values.subarray(0, this.length));
    chunk.length = this.length;
    return chunk;
  }

  read(into: SampleColumns): number {
    const { timestamps, values } = into;
    for (let i = 0; i < this.length; i++) {
      timestamps[i] = this.base + this.offsets[i];
    }
    values.set(this.values.subarray(0, this.length));
    return this.length;
  }
}
