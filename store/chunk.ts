/**
 * Chunks: runs of samples of one series, values and timestamp offsets as
 * columns in one buffer.
 *
 * @module
 */

// Samples per chunk. Series grow by whole chunks rather than by copying one
// ever larger array: copies leave garbage behind that the allocator keeps
// resident, while fixed chunks cost a few bytes of headers per sample.
export const CHUNK_SIZE = 512;
// A new series starts this small, so that many short series stay cheap.
export const FIRST_CHUNK_SIZE = 4;
// Timestamps are kept as 32-bit offsets from their chunk's base: 12 bytes a
// sample instead of 16. A timestamp too far from a chunk's base starts a
// chunk of its own.
const MAX_OFFSET = 2 ** 31 - 1;
const MIN_OFFSET = -(2 ** 31);

/**
 * One run of samples, values and timestamp offsets as columns in one buffer.
 * Sorted, and every timestamp within 32 bits of `base`.
 */
export class Chunk {
  readonly base: number;
  values: Float64Array;
  offsets: Int32Array;
  length = 0;

  constructor(base: number, capacity: number) {
    this.base = base;
    const buffer = new ArrayBuffer(capacity * 12);
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

  /** A copy with room for `capacity` samples. */
  resized(capacity: number): Chunk {
    const chunk = new Chunk(this.base, capacity);
    chunk.offsets.set(this.offsets.subarray(0, this.length));
    chunk.values.set(this.values.subarray(0, this.length));
    chunk.length = this.length;
    return chunk;
  }

  /** Moves the samples from `index` on into a new chunk and returns it. */
  split(index: number): Chunk {
    const chunk = new Chunk(this.base, CHUNK_SIZE);
    chunk.offsets.set(this.offsets.subarray(index, this.length));
    chunk.values.set(this.values.subarray(index, this.length));
    chunk.length = this.length - index;
    this.length = index;
    return chunk;
  }
}
