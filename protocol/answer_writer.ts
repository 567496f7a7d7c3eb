/**
 * Writing answers: status lines, data lines and sample lines, into one
 * growable buffer, so that all answers to one chunk of requests leave in
 * one write.
 *
 * @module
 */

import { formatValue } from "./format_value.ts";

/** The length of `ok\n\n`, the answer to a `put`. */
export const OK_LENGTH = 4;

const SPACE = 0x20;
const NEWLINE = 0x0a;
const MINUS = 0x2d;
const ZERO = 0x30;
const ENCODER = new TextEncoder();

/**
 * A growable byte buffer that answers are written into, so that all answers
 * to one chunk of requests leave in one write.
 */
export class AnswerWriter {
  #buffer: Uint8Array;
  #length = 0;
  #key = "";
  #keyBytes = new Uint8Array(0);

  /**
   * Creates an empty writer.
   *
   * @param capacity The buffer's first size in bytes; it grows as needed.
   */
  constructor(capacity = 4096) {
    this.#buffer = new Uint8Array(capacity);
  }

  /** How many bytes are written. */
  get length(): number {
    return this.#length;
  }

  /** The bytes written so far, a view that the next write may change. */
  bytes(): Uint8Array {
    return this.#buffer.subarray(0, this.#length);
  }

  /** Forgets what was written, keeping the buffer. */
  reset(): void {
    this.#length = 0;
  }

  /** Writes `ok\n\n` ({@linkcode OK_LENGTH} bytes), the whole answer to a `put`. */
  ok(): void {
    this.#reserve(OK_LENGTH);
    const b = this.#buffer;
    const n = this.#length;
    b[n] = 0x6f; // o
    b[n + 1] = 0x6b; // k
    b[n + 2] = NEWLINE;
    b[n + 3] = NEWLINE;
    this.#length = n + OK_LENGTH;
  }

  /**
   * Writes the whole answer `error\n<message>\n\n`.
   *
   * @param message What went wrong, one line.
   */
  error(message: string): void {
    this.#text(`error\n${message}\n\n`);
  }

  /**
   * Writes bytes as they are: text rendered earlier.
   *
   * @param bytes Whole lines.
   */
  raw(bytes: Uint8Array): void {
    this.#append(bytes);
  }

  /** Writes `ok\n`, the status line of an answer with data lines. */
  begin(): void {
    this.#text("ok\n");
  }

  /**
   * Writes one data line of text.
   *
   * @param line The line without its `\n`.
   */
  line(line: string): void {
    this.#text(line);
    this.#byte(NEWLINE);
  }

  /**
   * Writes the data line `<key> <value> <timestamp>\n`.
   *
   * @param key The series' name.
   * @param value The sample's value.
   * @param timestamp The sample's time.
   */
  sample(key: string, value: number, timestamp: number): void {
    if (key !== this.#key) {
      this.#key = key;
      this.#keyBytes = ENCODER.encode(key);
    }
    const keyBytes = this.#keyBytes;
    // key, two spaces, a newline, at most 24 bytes of value and 17 of time.
    this.#reserve(keyBytes.length + 44);
    this.#buffer.set(keyBytes, this.#length);
    this.#length += keyBytes.length;
    this.#buffer[this.#length++] = SPACE;
    if (Number.isInteger(value) && Math.abs(value) < 1e15 && value !== 0) {
      this.#integer(value);
      this.#ascii(".0");
    } else {
      this.#ascii(formatValue(value));
    }
    this.#buffer[this.#length++] = SPACE;
    this.#integer(timestamp);
    this.#buffer[this.#length++] = NEWLINE;
  }

  /**
   * Replaces answers with `error\n<message>\n\n`: for changes that turned
   * out not to be stored.
   *
   * @param ranges Flat triples in increasing order: where a run of answers
   * starts, where it ends, and how many answers it holds.
   * @param message What went wrong, one line.
   */
  failAt(ranges: readonly number[], message: string): void {
    const written = this.bytes().slice();
    this.reset();
    let from = 0;
    for (let i = 0; i < ranges.length; i += 3) {
      this.#append(written.subarray(from, ranges[i]));
      for (let n = 0; n < ranges[i + 2]; n++) this.error(message);
      from = ranges[i + 1];
    }
    this.#append(written.subarray(from));
  }

  /**
   * Takes what was written: a copy of the bytes, and the writer is empty.
   *
   * @returns The bytes written so far.
   */
  take(): Uint8Array {
    const bytes = this.bytes().slice();
    this.reset();
    return bytes;
  }

  /** Writes the empty line that ends an answer with data lines. */
  end(): void {
    this.#reserve(1);
    this.#byte(NEWLINE);
  }

  #append(bytes: Uint8Array): void {
    this.#reserve(bytes.length);
    this.#buffer.set(bytes, this.#length);
    this.#length += bytes.length;
  }

  #byte(b: number): void {
    this.#reserve(1);
    this.#buffer[this.#length++] = b;
  }

  /** Writes a safe integer's digits; room must be reserved. */
  #integer(n: number): void {
    const b = this.#buffer;
    if (n < 0) {
      b[this.#length++] = MINUS;
      n = -n;
    }
    let digits = 1;
    for (let p = 10; p <= n && digits < 16; p *= 10) digits++;
    let i = this.#length + digits;
    this.#length = i;
    do {
      const q = Math.floor(n / 10);
      b[--i] = ZERO + (n - q * 10);
      n = q;
    } while (n > 0);
  }

  /** Writes an ASCII string; room must be reserved. */
  #ascii(text: string): void {
    const b = this.#buffer;
    let n = this.#length;
    for (let i = 0; i < text.length; i++) b[n++] = text.charCodeAt(i);
    this.#length = n;
  }

  #text(text: string): void {
    this.#reserve(text.length * 3);
    this.#length += ENCODER.encodeInto(
      text,
      this.#buffer.subarray(this.#length),
    ).written;
  }

  #reserve(extra: number): void {
    const needed = this.#length + extra;
    if (needed <= this.#buffer.length) return;
    let capacity = this.#buffer.length * 2;
    while (capacity < needed) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.#buffer.subarray(0, this.#length));
    this.#buffer = grown;
  }
}
