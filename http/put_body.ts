/**
 * Reading the body of `POST /api/put` as it arrives: lines of
 * `<key> <value> [<timestamp>]`, the batch-write style of InfluxDB's
 * `/write`. Each chunk's complete lines go straight into a
 * {@linkcode SampleBatch} (columns, each distinct key once) and its bytes
 * are dropped, so a body costs about 20 bytes a sample rather than its text
 * and an object per line; only an unfinished line is kept until its end
 * arrives. Nothing is stored until the whole body has been read, so that a
 * bad line stores nothing.
 *
 * Lines are read by the protocol's grammar (`protocol/grammar.ts`), the
 * one TCP's `put` uses, so the body accepts exactly what TCP accepts: fields
 * split by spaces and tabs, lines by `\n` with a `\r` before it dropped, a
 * key of valid UTF-8 without whitespace, a finite decimal value, a timestamp
 * of integer Unix seconds within ±(2^53-1). The timestamp may be left out:
 * the line is stored at the server's now. Blank lines are skipped.
 *
 * @example Usage
 * ```ts
 * import { PutBodyParser } from "./put_body.ts";
 * import { equal } from "node:assert/strict";
 *
 * const parser = new PutBodyParser(1501864247);
 * const bytes = new TextEncoder().encode("palm.cpu 10.6\npalm.cpu 2 15018");
 * equal(parser.push(bytes.subarray(0, 20)), true);
 * equal(parser.push(bytes.subarray(20)), true);
 * equal(parser.push(new TextEncoder().encode("64248\n")), true);
 * equal(parser.finish(), true);
 * equal(parser.batch.length, 2);
 * equal(parser.batch.timestamp(0), 1501864247);
 * equal(parser.batch.timestamp(1), 1501864248);
 * ```
 *
 * @module
 */

import {
  LineTokens,
  parseDecimal,
  parseTimestamp,
} from "../protocol/grammar.ts";
import { KeyDecoder } from "../protocol/key_decoder.ts";
import { DEFAULT_MAX_LINE_LENGTH } from "../server/lines.ts";
import { SampleBatch } from "../storage/sample_batch.ts";

/**
 * Why a body cannot be stored: its first bad line, or bytes that are not
 * UTF-8 text.
 */
export interface PutBodyError {
  /** The bad line's number, from 1; `undefined` when the body is not UTF-8. */
  line: number | undefined;
  /** The line's text, cut to 200 characters. */
  text: string;
  /** What is wrong with it. */
  reason: string;
}

/** Options of {@linkcode PutBodyParser}. */
export interface PutBodyParserOptions {
  /**
   * The longest line in bytes, without its `\n` and any `\r` before it, as
   * TCP's `--max-line-length`; a longer one is refused as it arrives,
   * never held whole.
   *
   * @default {65536}
   */
  maxLineLength?: number;
  /**
   * Decodes keys, with its cache of recent ones (4 MiB).
   *
   * @default {one decoder shared by every parser, made on first use}
   */
  keys?: KeyDecoder;
}

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;
const MAX_SHOWN = 200;
const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const LENIENT_UTF8 = new TextDecoder("utf-8", { ignoreBOM: true });
const FIELDS = "<key> <value> [<timestamp>]";
let sharedKeys: KeyDecoder | undefined;

/** Turns a put body, chunk by chunk, into a batch of samples. */
export class PutBodyParser {
  /** The samples of the lines read so far. */
  readonly batch: SampleBatch = new SampleBatch();
  /** Why the body cannot be stored, once a bad line was found. */
  error: PutBodyError | undefined;
  #now: number;
  #maxLineLength: number;
  #tokens = new LineTokens();
  #keys: KeyDecoder;
  // Lines read so far.
  #line = 0;
  // The start of a line whose end has not arrived yet: `#carry[0, #carried)`.
  #carry = new Uint8Array(0);
  #carried = 0;

  /**
   * Makes a parser for one body.
   *
   * @param now The timestamp of lines that have none: the server's now,
   * read once per body.
   * @param options The longest line, and the key decoder.
   */
  constructor(now: number, options: PutBodyParserOptions = {}) {
    this.#now = now;
    this.#maxLineLength = options.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH;
    this.#keys = options.keys ?? (sharedKeys ??= new KeyDecoder());
  }

  /**
   * Reads every complete line of the next chunk of the body, and keeps its
   * unfinished end for the next chunk. The chunk itself is not kept.
   *
   * @param chunk The next bytes of the body.
   * @returns Whether every line so far is valid; once false, see `error`.
   */
  push(chunk: Uint8Array): boolean {
    if (this.error !== undefined) return false;
    let start = 0;
    let newline = chunk.indexOf(NEWLINE);
    if (this.#carried > 0 && newline !== -1) {
      // The carried line ends in this chunk: finish it in the carry.
      if (!this.#keep(chunk, 0, newline)) return false;
      const length = this.#carried;
      this.#carried = 0;
      if (!this.#parseLine(this.#carry, 0, length)) return false;
      start = newline + 1;
      newline = chunk.indexOf(NEWLINE, start);
    }
    while (newline !== -1) {
      if (!this.#parseLine(chunk, start, newline)) return false;
      start = newline + 1;
      newline = chunk.indexOf(NEWLINE, start);
    }
    return this.#keep(chunk, start, chunk.length);
  }

  /**
   * Reads the last line, when the body does not end in a newline.
   *
   * @returns Whether every line is valid; once false, see `error`.
   */
  finish(): boolean {
    if (this.error !== undefined) return false;
    const length = this.#carried;
    this.#carried = 0;
    return length === 0 || this.#parseLine(this.#carry, 0, length);
  }

  /**
   * Adds `bytes[start, end)` to the unfinished line; refuses the line once
   * it is past the limit (one byte more is the `\r` of a `\r\n`).
   */
  #keep(bytes: Uint8Array, start: number, end: number): boolean {
    const length = this.#carried + end - start;
    if (length === this.#carried) return true;
    if (length > this.#maxLineLength + 1) {
      const [line, from, to] = this.#carried > 0
        ? [this.#carry, 0, this.#carried]
        : [bytes, start, end];
      this.#line++;
      return this.#refuse(line, from, to, this.#tooLong(), false);
    }
    if (length > this.#carry.length) {
      const size = Math.max(length, 2 * this.#carry.length, 256);
      const grown = new Uint8Array(Math.min(size, this.#maxLineLength + 1));
      grown.set(this.#carry.subarray(0, this.#carried));
      this.#carry = grown;
    }
    this.#carry.set(bytes.subarray(start, end), this.#carried);
    this.#carried = length;
    return true;
  }

  /** Parses `bytes[start, end)`, a line without its `\n`, into the batch. */
  #parseLine(bytes: Uint8Array, start: number, end: number): boolean {
    this.#line++;
    if (end > start && bytes[end - 1] === CARRIAGE_RETURN) end--;
    if (end - start > this.#maxLineLength) {
      return this.#refuse(bytes, start, end, this.#tooLong(), false);
    }
    const tokens = this.#tokens;
    const count = tokens.split(bytes, start, end);
    if (count === 0) return true;
    const offsets = tokens.offsets;
    if (count !== 2 && count !== 3) {
      const fields = countFields(bytes, start, end);
      return this.#refuse(
        bytes,
        start,
        end,
        `expected ${FIELDS}, got ${fields} fields`,
      );
    }
    const key = this.#keys.decode(bytes, offsets[0], offsets[1]);
    if (key === undefined) {
      return this.#refuse(
        bytes,
        start,
        end,
        `invalid key: ${field(bytes, 0, offsets)}`,
      );
    }
    const value = parseDecimal(bytes, offsets[2], offsets[3]);
    if (value !== value) {
      return this.#refuse(
        bytes,
        start,
        end,
        `invalid value: ${field(bytes, 1, offsets)} (a finite decimal number)`,
      );
    }
    let timestamp = this.#now;
    if (count === 3) {
      timestamp = parseTimestamp(bytes, offsets[4], offsets[5]);
      if (timestamp !== timestamp) {
        return this.#refuse(
          bytes,
          start,
          end,
          `invalid timestamp: ${
            field(bytes, 2, offsets)
          } (an integer number of Unix seconds)`,
        );
      }
    }
    this.batch.add(key, value, timestamp);
    return true;
  }

  #tooLong(): string {
    return `longer than ${this.#maxLineLength} bytes`;
  }

  /**
   * Notes why the current line is refused. A whole line that is not valid
   * UTF-8 is refused as such: the body is not text.
   */
  #refuse(
    bytes: Uint8Array,
    start: number,
    end: number,
    reason: string,
    whole = true,
  ): false {
    if (whole) {
      try {
        STRICT_UTF8.decode(bytes.subarray(start, end));
      } catch {
        this.error = { line: undefined, text: "", reason: "not valid UTF-8" };
        return false;
      }
    }
    // Enough bytes for the characters shown, however wide they are.
    const shown = bytes.subarray(
      start,
      Math.min(end, start + 4 * MAX_SHOWN + 4),
    );
    const text = LENIENT_UTF8.decode(shown);
    this.error = {
      line: this.#line,
      text: end - start > shown.length || text.length > MAX_SHOWN
        ? `${text.slice(0, MAX_SHOWN)}...`
        : text,
      reason,
    };
    return false;
  }
}

/** Field `t` of a line as text, for messages. */
function field(bytes: Uint8Array, t: number, offsets: Int32Array): string {
  return LENIENT_UTF8.decode(
    bytes.subarray(offsets[2 * t], offsets[2 * t + 1]),
  );
}

/**
 * How many fields a line has, every one counted: the grammar's splitter
 * stops past the most any line of the protocol may have.
 */
function countFields(bytes: Uint8Array, start: number, end: number): number {
  let count = 0;
  let inField = false;
  for (let i = start; i < end; i++) {
    const blank = bytes[i] === SPACE || bytes[i] === TAB;
    if (!blank && !inField) count++;
    inField = !blank;
  }
  return count;
}
