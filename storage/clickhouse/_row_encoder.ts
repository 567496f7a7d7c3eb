/**
 * Samples as ClickHouse's RowBinary, the rows of an insert into the samples
 * table `(key String, ts Int64, value Float64, version UInt64)`: a string is
 * its length as a LEB128 varint and its UTF-8 bytes, numbers are little
 * endian. RowBinary, because ClickHouse 18.16 parses floats in text formats
 * inexactly, while these bytes are the value itself.
 *
 * @module
 */

import type { HybridClock } from "./_hybrid_clock.ts";

const FIRST_CAPACITY = 4096;
const TWO_32 = 2 ** 32;
// Keys this short take at most 127 bytes of UTF-8: one byte of length.
const SHORT_KEY = 42;
const ENCODER = new TextEncoder();

/** A growing buffer of samples in RowBinary. */
export class RowEncoder {
  #bytes: Uint8Array<ArrayBuffer>;
  #view: DataView;
  #length = 0;
  /** How many rows it holds. */
  rows = 0;

  /**
   * Creates an empty encoder.
   *
   * @param capacity The bytes to start with.
   */
  constructor(capacity = FIRST_CAPACITY) {
    this.#bytes = new Uint8Array(capacity);
    this.#view = new DataView(this.#bytes.buffer);
  }

  /** How many bytes it holds. */
  get length(): number {
    return this.#length;
  }

  /**
   * The rows so far: a view of the buffer, valid until the next change.
   *
   * @returns The bytes.
   */
  bytes(): Uint8Array<ArrayBuffer> {
    return this.#bytes.subarray(0, this.#length);
  }

  /**
   * Adds a sample, its version the clock's next.
   *
   * @param key The series' name.
   * @param value A finite number.
   * @param timestamp A safe integer.
   * @param clock Gives the version.
   */
  put(key: string, value: number, timestamp: number, clock: HybridClock): void {
    this.#reserve(key.length * 3 + 5 + 24);
    const bytes = this.#bytes;
    let at = this.#length;
    if (key.length <= SHORT_KEY) {
      const { written } = ENCODER.encodeInto(key, bytes.subarray(at + 1));
      bytes[at] = written;
      at += 1 + written;
    } else {
      const encoded = ENCODER.encode(key);
      at = this.#varint(at, encoded.length);
      bytes.set(encoded, at);
      at += encoded.length;
    }
    const view = this.#view;
    const high = Math.floor(timestamp / TWO_32);
    view.setUint32(at, timestamp - high * TWO_32, true);
    view.setInt32(at + 4, high, true);
    view.setFloat64(at + 8, value, true);
    clock.tick();
    view.setUint32(at + 16, clock.low, true);
    view.setUint32(at + 20, clock.high, true);
    this.#length = at + 24;
    this.rows++;
  }

  /**
   * Adds every row of another encoder.
   *
   * @param other The rows to copy.
   */
  append(other: RowEncoder): void {
    this.#reserve(other.length);
    this.#bytes.set(other.bytes(), this.#length);
    this.#length += other.length;
    this.rows += other.rows;
  }

  /** Forgets every row, keeping the buffer. */
  reset(): void {
    this.#length = 0;
    this.rows = 0;
  }

  #varint(at: number, n: number): number {
    const bytes = this.#bytes;
    while (n >= 0x80) {
      bytes[at++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    bytes[at++] = n;
    return at;
  }

  #reserve(extra: number): void {
    const needed = this.#length + extra;
    if (needed <= this.#bytes.length) return;
    let capacity = this.#bytes.length * 2;
    while (capacity < needed) capacity *= 2;
    const bytes = new Uint8Array(capacity);
    bytes.set(this.#bytes.subarray(0, this.#length));
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer);
  }
}
