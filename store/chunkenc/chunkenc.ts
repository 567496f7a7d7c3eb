/**
 * Chunk encodings, in the spirit of Prometheus tsdb's `chunkenc`: an
 * encoding enum, the interfaces every chunk shares, and encoding and
 * decoding of sealed chunks.
 *
 * A series keeps its newest samples in a raw chunk (raw.ts), where appends
 * and out-of-order inserts are cheap, and seals it into an encoded chunk
 * once it is full. An encoded chunk is a run of bytes:
 *
 * ```
 * [1 byte: encoding][varint: samples][signed varint: first timestamp]
 * [bits: the other timestamps (timestamps.ts)]
 * [bits: the values (decimal.ts or xor.ts)][zero bits to a whole byte]
 * ```
 *
 * {@linkcode encodeChunk} measures the values in every encoding that can
 * hold them and keeps the smallest. {@linkcode decodeChunk} checks every
 * field: a damaged chunk throws a `RangeError` or `SyntaxError` whose
 * message starts "Cannot decode", and never makes it read out of bounds or
 * loop for ever. See docs/STORAGE.md for the format.
 *
 * @example Round-tripping samples
 * ```ts
 * import { decodeChunk, Encoding, encodeChunk } from "@pulse/metrics";
 * import { deepEqual, equal } from "node:assert/strict";
 *
 * const timestamps = Float64Array.of(1700000000, 1700000010, 1700000020);
 * const values = Float64Array.of(23.4, 23.5, 23.1);
 * const bytes = encodeChunk({ timestamps, values }, 3).slice();
 * equal(bytes[0], Encoding.Decimal);
 * const into = { timestamps: new Float64Array(3), values: new Float64Array(3) };
 * equal(decodeChunk(bytes, into), 3);
 * deepEqual(into, { timestamps, values });
 * ```
 *
 * @module
 */

import { BitReader, BitWriter } from "./_bits.ts";
import { DecimalEncoder, readDecimals } from "./decimal.ts";
import { readTimestamps, TimestampEncoder } from "./timestamps.ts";
import { readXor, XorEncoder } from "./xor.ts";

/** The encodings of a chunk. */
export const Encoding = {
  /** Raw columns: the open chunk of a series, in memory only. */
  Raw: 0,
  /** Delta-of-delta timestamps, decimal values (decimal.ts). */
  Decimal: 1,
  /** Delta-of-delta timestamps, XOR values (xor.ts). */
  Xor: 2,
} as const;

/** One of {@linkcode Encoding}. */
export type Encoding = typeof Encoding[keyof typeof Encoding];

/** The names of the encodings, by number: for figures and reports. */
export const ENCODING_NAMES: readonly string[] = ["raw", "decimal", "xor"];

/** The most samples an encoded chunk holds. */
export const MAX_CHUNK_SAMPLES = 1024;

/** Samples as two columns. */
export interface SampleColumns {
  /** Timestamps, strictly increasing. */
  timestamps: Float64Array;
  /** Values, one per timestamp. */
  values: Float64Array;
}

/** A run of samples of one series, in any encoding. */
export interface Chunk {
  /** How its samples are kept. */
  readonly encoding: Encoding;
  /** How many samples it holds. */
  readonly length: number;
  /** Its earliest timestamp. */
  readonly first: number;
  /**
   * Copies every sample into `into`, in order: the iterator of the chunk,
   * in bulk (a call per sample costs more in JavaScript than the decoding).
   *
   * @param into Columns with room for {@linkcode Chunk.length} samples.
   * @returns How many samples were copied.
   */
  read(into: SampleColumns): number;
}

/** A chunk that takes samples at its end. */
export interface ChunkAppender extends Chunk {
  /** How many samples it has room for. */
  readonly capacity: number;
  /**
   * Adds a sample after the last.
   *
   * @param timestamp Later than the last.
   * @param value A finite number.
   */
  append(timestamp: number, value: number): void;
}

/** Options of {@linkcode encodeChunk}. */
export interface EncodeOptions {
  /**
   * The encoding of the values, instead of the smallest that holds them.
   * Refused with a `TypeError` when it cannot hold them.
   *
   * @default {undefined}
   */
  encoding?: typeof Encoding.Decimal | typeof Encoding.Xor;
}

const writer = new BitWriter(MAX_CHUNK_SAMPLES * 16);
const reader = new BitReader();
const timestampEncoder = new TimestampEncoder(MAX_CHUNK_SAMPLES);
const decimalEncoder = new DecimalEncoder(MAX_CHUNK_SAMPLES);
const xorEncoder = new XorEncoder();

/**
 * Encodes samples into a sealed chunk, in the smallest encoding that holds
 * them exactly.
 *
 * @param samples Timestamps strictly increasing, the last less than 2^32
 * after the first; finite values.
 * @param n How many, 1 to {@linkcode MAX_CHUNK_SAMPLES}.
 * @param options An encoding to use instead.
 * @returns The chunk's bytes: a view that the next call overwrites.
 * @throws {TypeError} When the encoding asked for cannot hold the values.
 */
export function encodeChunk(
  samples: SampleColumns,
  n: number,
  options: EncodeOptions = {},
): Uint8Array {
  const { timestamps, values } = samples;
  let encoding: Encoding = Encoding.Xor;
  if (options.encoding !== Encoding.Xor) {
    const decimal = decimalEncoder.measure(values, n);
    if (options.encoding === Encoding.Decimal) {
      if (decimal === Infinity) {
        throw new TypeError("Cannot encode the values as decimals");
      }
      encoding = Encoding.Decimal;
    } else if (decimal <= xorEncoder.measure(values, n)) {
      encoding = Encoding.Decimal;
    }
  }
  const w = writer;
  w.reset();
  w.byte(encoding);
  w.varint(n);
  w.signed(timestamps[0]);
  timestampEncoder.write(w, timestamps, n);
  if (encoding === Encoding.Decimal) decimalEncoder.write(w, n);
  else xorEncoder.write(w, values, n);
  return w.finish();
}

/**
 * Decodes a sealed chunk, checking every field.
 *
 * @param bytes Exactly the chunk.
 * @param into Columns with room for {@linkcode MAX_CHUNK_SAMPLES} samples,
 * or at least as many as the chunk holds.
 * @returns How many samples it holds.
 * @throws {RangeError} When it ends early or the columns are too short.
 * @throws {SyntaxError} When a field is impossible, or bytes are left over.
 */
export function decodeChunk(
  bytes: Uint8Array,
  into: SampleColumns,
): number {
  const r = reader;
  r.reset(bytes, 0, bytes.length);
  const encoding = r.byte();
  if (encoding !== Encoding.Decimal && encoding !== Encoding.Xor) {
    throw new SyntaxError(`Cannot decode a chunk of encoding ${encoding}`);
  }
  const n = r.varint();
  if (n < 1 || n > MAX_CHUNK_SAMPLES) {
    throw new RangeError(`Cannot decode a chunk of ${n} samples`);
  }
  const { timestamps, values } = into;
  if (timestamps.length < n || values.length < n) {
    throw new RangeError(
      `Cannot decode a chunk of ${n} samples into room for fewer`,
    );
  }
  timestamps[0] = r.signed();
  readTimestamps(r, timestamps, n);
  if (encoding === Encoding.Decimal) readDecimals(r, values, n);
  else readXor(r, values, n);
  r.end();
  return n;
}

/**
 * A sealed chunk, as bytes: checked once when made, then read as often as
 * wanted.
 */
export class EncodedChunk implements Chunk {
  /** The chunk's bytes. */
  readonly bytes: Uint8Array;
  readonly encoding: Encoding;
  readonly length: number;
  readonly first: number;
  /** Its latest timestamp. */
  readonly last: number;

  /**
   * Checks a chunk by decoding it whole.
   *
   * @param bytes Exactly the chunk; kept, not copied.
   * @param scratch Columns to decode into, with room for
   * {@linkcode MAX_CHUNK_SAMPLES}; they then hold its samples.
   * @throws {RangeError} When it cannot be decoded (see
   * {@linkcode decodeChunk}).
   * @throws {SyntaxError} When it cannot be decoded.
   */
  constructor(bytes: Uint8Array, scratch: SampleColumns) {
    this.length = decodeChunk(bytes, scratch);
    this.bytes = bytes;
    this.encoding = bytes[0] as Encoding;
    this.first = scratch.timestamps[0];
    this.last = scratch.timestamps[this.length - 1];
  }

  read(into: SampleColumns): number {
    return decodeChunk(this.bytes, into);
  }
}

/**
 * The number of samples of the chunk at `offset`, from its header.
 *
 * @param bytes Holds a chunk that was checked.
 * @param offset Where it starts.
 * @returns How many samples it holds.
 */
export function chunkLength(bytes: Uint8Array, offset: number): number {
  reader.reset(bytes, offset + 1, bytes.length);
  return reader.varint();
}

/**
 * The first timestamp of the chunk at `offset`, from its header.
 *
 * @param bytes Holds a chunk that was checked.
 * @param offset Where it starts.
 * @returns Its earliest timestamp.
 */
export function chunkFirst(bytes: Uint8Array, offset: number): number {
  reader.reset(bytes, offset + 1, bytes.length);
  reader.varint();
  return reader.signed();
}
