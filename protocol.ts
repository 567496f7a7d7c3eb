/**
 * The Pulse wire protocol: parsing requests and answers from bytes, and
 * formatting them back. The server and the client share this one module, so
 * both read and write exactly the same bytes.
 *
 * A request is one line; an answer is a status line (`ok` or `error`), data
 * lines, and an empty line. See docs/PROTOCOL.md for the whole grammar.
 *
 * @example Printing a value the way the course's Python graders expect
 * ```ts
 * import { formatValue } from "@pulse/metrics";
 * import { deepEqual } from "node:assert/strict";
 *
 * deepEqual(formatValue(10), "10.0");
 * deepEqual(formatValue(1e16), "1e+16");
 * ```
 *
 * @module
 */

import { Pattern } from "./store/pattern.ts";
import { type Aggregation, AGGREGATIONS } from "./store/query.ts";
import { isKey } from "./store.ts";

/** A request as the server understands it. */
export type Request =
  | PutRequest
  | GetRequest
  | PatternRequest
  | QueryRequest
  | AuthRequest
  | SimpleRequest
  | InvalidRequest;

/** `put <key> <value> <timestamp>`: store one sample. */
export interface PutRequest {
  /** The command's name. */
  command: "put";
  /** The series' name. */
  key: string;
  /** The sample's value, a finite number. */
  value: number;
  /** The sample's time in Unix seconds, a safe integer. */
  timestamp: number;
}

/** `get <key>` or `get *`: read a series or all of them. */
export interface GetRequest {
  /** The command's name. */
  command: "get";
  /** The series' name, or `*` for every series. */
  key: string;
}

/**
 * `last <pattern>`, `keys <pattern>` or `delete <pattern>`: the latest
 * sample, the names, or the removal of the matching series.
 */
export interface PatternRequest {
  /** The command's name. */
  command: "last" | "keys" | "delete";
  /** Which series. */
  pattern: Pattern;
}

/** `query <pattern> <from> <to> [<step> <aggregation>]`. */
export interface QueryRequest {
  /** The command's name. */
  command: "query";
  /** Which series. */
  pattern: Pattern;
  /** The earliest timestamp wanted. */
  from: number;
  /** The latest timestamp wanted. */
  to: number;
  /** Bucket width in seconds, for a roll-up. */
  step: number | undefined;
  /** How buckets are rolled up. */
  aggregation: Aggregation | undefined;
}

/** `auth <token>`: log in on a server that asks for a token. */
export interface AuthRequest {
  /** The command's name. */
  command: "auth";
  /** The token's bytes. */
  token: Uint8Array;
}

/** `ping` (a health check) or `stats` (the server's figures). */
export interface SimpleRequest {
  /** The command's name. */
  command: "ping" | "stats";
}

/** A line that is not a valid request, answered by an error. */
export interface InvalidRequest {
  /** Marks the line as invalid. */
  command: "invalid";
  /** What the error answer says. */
  message: string;
}

/** The error message of the course protocol for every bad request. */
export const WRONG_COMMAND = "wrong command";
/** The length of `ok\n\n`, the answer to a `put`. */
export const OK_LENGTH = 4;

const SPACE = 0x20;
const TAB = 0x09;
const NEWLINE = 0x0a;
const PLUS = 0x2b;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const LOWER_E = 0x65;
const UPPER_E = 0x45;

// The most tokens any request has; one more is kept to see that it is too many.
const MAX_TOKENS = 8;
// Token offsets of the line being parsed: [start0, end0, start1, end1, ...].
// Parsing is synchronous, so one scratch array serves every caller.
const TOKENS = new Int32Array(2 * (MAX_TOKENS + 1));

const INVALID: InvalidRequest = { command: "invalid", message: WRONG_COMMAND };
const AUTHENTICATION_REQUIRED: InvalidRequest = {
  command: "invalid",
  message: "authentication required",
};
const PING: SimpleRequest = { command: "ping" };
const STATS: SimpleRequest = { command: "stats" };

function invalid(message: string): InvalidRequest {
  return { command: "invalid", message };
}

// Powers of ten that are exact doubles: 1e0 ... 1e22.
const EXACT_POWERS_OF_TEN = Array.from({ length: 23 }, (_, i) => 10 ** i);

/** Splits `bytes[start, end)` into tokens in `TOKENS`; returns their count. */
function tokenize(bytes: Uint8Array, start: number, end: number): number {
  let count = 0;
  let i = start;
  while (i < end) {
    let c = bytes[i];
    if (c === SPACE || c === TAB) {
      i++;
      continue;
    }
    if (count > MAX_TOKENS) return count;
    TOKENS[2 * count] = i;
    do {
      i++;
      c = bytes[i];
    } while (i < end && c !== SPACE && c !== TAB);
    TOKENS[2 * count + 1] = i;
    count++;
  }
  return count;
}

/** Whether token `t` spells the ASCII word `word`. */
function tokenIs(bytes: Uint8Array, t: number, word: string): boolean {
  const start = TOKENS[2 * t];
  if (TOKENS[2 * t + 1] - start !== word.length) return false;
  for (let i = 0; i < word.length; i++) {
    if (bytes[start + i] !== word.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * Parses a decimal number: `[+-]` digits with an optional fraction and
 * exponent (`10`, `-1.5`, `+2`, `1e3`, `.5`, `5.`). Returns `NaN` for anything
 * else, including `nan`, `inf`, hex, `,` and `_`, and for numbers too large to
 * be finite.
 */
function parseDecimal(bytes: Uint8Array, start: number, end: number): number {
  let i = start;
  let negative = false;
  if (i < end && (bytes[i] === PLUS || bytes[i] === MINUS)) {
    negative = bytes[i] === MINUS;
    i++;
  }
  let mantissa = 0;
  let digits = 0; // significant digits gathered into `mantissa`
  let scale = 0; // decimal exponent of `mantissa`
  let seen = false; // any digit at all
  let exact = true; // whether `mantissa` holds every digit
  for (; i < end; i++) {
    const c = bytes[i];
    if (c < ZERO || c > NINE) break;
    seen = true;
    if (digits < 15) {
      mantissa = mantissa * 10 + (c - ZERO);
      if (mantissa !== 0) digits++;
    } else {
      scale++;
      if (c !== ZERO) exact = false;
    }
  }
  if (i < end && bytes[i] === DOT) {
    for (i++; i < end; i++) {
      const c = bytes[i];
      if (c < ZERO || c > NINE) break;
      seen = true;
      if (digits < 15) {
        mantissa = mantissa * 10 + (c - ZERO);
        if (mantissa !== 0) digits++;
        scale--;
      } else if (c !== ZERO) {
        exact = false;
      }
    }
  }
  if (!seen) return NaN;
  if (i < end && (bytes[i] === LOWER_E || bytes[i] === UPPER_E)) {
    i++;
    let exponentNegative = false;
    if (i < end && (bytes[i] === PLUS || bytes[i] === MINUS)) {
      exponentNegative = bytes[i] === MINUS;
      i++;
    }
    if (i === end) return NaN;
    let exponent = 0;
    for (; i < end; i++) {
      const c = bytes[i];
      if (c < ZERO || c > NINE) return NaN;
      // Past this any finite mantissa is 0 or infinite; stop growing.
      if (exponent < 100_000) exponent = exponent * 10 + (c - ZERO);
    }
    scale += exponentNegative ? -exponent : exponent;
  }
  if (i !== end) return NaN;
  let value: number;
  if (exact && scale >= -22 && scale <= 22) {
    // Both operands are exact, so one IEEE operation rounds correctly.
    value = scale < 0
      ? mantissa / EXACT_POWERS_OF_TEN[-scale]
      : mantissa * EXACT_POWERS_OF_TEN[scale];
  } else {
    // Rare: let the engine's correctly rounded conversion do it.
    value = Number(latin1(bytes, start, end));
    return Number.isFinite(value) ? value : NaN;
  }
  if (!Number.isFinite(value)) return NaN;
  return negative ? -value : value;
}

/**
 * Parses an integer timestamp (`[+-]` digits, leading zeros allowed) within
 * ±(2^53-1). Returns `NaN` for anything else.
 */
function parseTimestamp(bytes: Uint8Array, start: number, end: number): number {
  let i = start;
  let negative = false;
  if (i < end && (bytes[i] === PLUS || bytes[i] === MINUS)) {
    negative = bytes[i] === MINUS;
    i++;
  }
  if (i === end) return NaN;
  let n = 0;
  for (; i < end; i++) {
    const c = bytes[i];
    if (c < ZERO || c > NINE) return NaN;
    n = n * 10 + (c - ZERO);
    if (n > Number.MAX_SAFE_INTEGER) return NaN;
  }
  return negative ? -n : n;
}

function latin1(bytes: Uint8Array, start: number, end: number): string {
  let s = "";
  for (let i = start; i < end; i++) s += String.fromCharCode(bytes[i]);
  return s;
}

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
// Direct-mapped cache of decoded keys, so that a key's bytes become a string
// once rather than once per request.
const KEY_CACHE_SIZE = 65536;
// A key shorter than this is kept in one slot of this many bytes, a cache
// line: with many keys in turn, a key is recognised by reading that line
// rather than an array, an object and its bytes, each likely cold.
const SLOT_BYTES = 64;

/** Whether `a[aStart, aStart + length)` and `b[bStart, ...)` are equal. */
function sameBytes(
  a: Uint8Array,
  aStart: number,
  b: Uint8Array,
  bStart: number,
  length: number,
): boolean {
  for (let i = 0; i < length; i++) {
    if (a[aStart + i] !== b[bStart + i]) return false;
  }
  return true;
}

/**
 * Turns the bytes of keys into strings, validating UTF-8, and remembers the
 * most recent ones so that a busy series' key is decoded once.
 */
export class KeyDecoder {
  // Slot i's short key: its length + 1 (0 when it holds none), its bytes.
  #short = new Uint8Array(KEY_CACHE_SIZE * SLOT_BYTES);
  #long: (Uint8Array | undefined)[] = new Array(KEY_CACHE_SIZE);
  #strings: string[] = new Array(KEY_CACHE_SIZE);

  /**
   * Decodes `bytes[start, end)`.
   *
   * @param bytes The line's bytes.
   * @param start Where the key starts.
   * @param end Where it ends, exclusive.
   * @returns The key, or `undefined` when the bytes are not valid UTF-8.
   */
  decode(bytes: Uint8Array, start: number, end: number): string | undefined {
    let hash = 0x811c9dc5;
    for (let i = start; i < end; i++) {
      hash = Math.imul(hash ^ bytes[i], 0x01000193);
    }
    const slot = (hash >>> 0) & (KEY_CACHE_SIZE - 1);
    const length = end - start;
    const short = this.#short;
    const at = slot * SLOT_BYTES;
    if (length < SLOT_BYTES) {
      if (
        short[at] === length + 1 &&
        sameBytes(short, at + 1, bytes, start, length)
      ) {
        return this.#strings[slot];
      }
    } else {
      const cached = this.#long[slot];
      if (
        cached !== undefined && cached.length === length &&
        sameBytes(cached, 0, bytes, start, length)
      ) {
        return this.#strings[slot];
      }
    }
    let key: string;
    try {
      key = UTF8.decode(bytes.subarray(start, end));
    } catch {
      return undefined;
    }
    // Tokens never hold spaces or tabs, but other whitespace (a vertical tab,
    // a no-break space) would split the key for peers that split on any.
    if (!isKey(key)) return undefined;
    if (length < SLOT_BYTES) {
      short[at] = length + 1;
      short.set(bytes.subarray(start, end), at + 1);
      this.#long[slot] = undefined;
    } else {
      short[at] = 0;
      this.#long[slot] = bytes.slice(start, end);
    }
    this.#strings[slot] = key;
    return key;
  }
}

/**
 * Turns request lines into requests. Each parser keeps a cache of decoded
 * keys, and reuses one object for every `put` and one for every `get` it
 * returns: read a request before parsing the next line.
 */
export class RequestParser {
  #keys = new KeyDecoder();
  #put: PutRequest = { command: "put", key: "", value: 0.5, timestamp: 0.5 };
  #get: GetRequest = { command: "get", key: "" };

  /**
   * Parses one request line (without its `\n`).
   *
   * @param bytes The bytes holding the line.
   * @param start Where the line starts.
   * @param end Where it ends, exclusive.
   * @returns The request, or `undefined` for a line of only whitespace,
   * which gets no answer.
   */
  parse(bytes: Uint8Array, start: number, end: number): Request | undefined {
    const count = tokenize(bytes, start, end);
    if (count === 0) return undefined;
    if (tokenIs(bytes, 0, "put")) {
      if (count !== 4) return INVALID;
      const value = parseDecimal(bytes, TOKENS[4], TOKENS[5]);
      if (value !== value) return INVALID;
      const timestamp = parseTimestamp(bytes, TOKENS[6], TOKENS[7]);
      if (timestamp !== timestamp) return INVALID;
      const key = this.#keys.decode(bytes, TOKENS[2], TOKENS[3]);
      if (key === undefined) return INVALID;
      // Reused: puts and gets are the hot path, and fresh objects (holding
      // two doubles, for a put) are most of their garbage.
      const put = this.#put;
      put.key = key;
      put.value = value;
      put.timestamp = timestamp;
      return put;
    }
    if (tokenIs(bytes, 0, "get")) {
      if (count !== 2) return INVALID;
      const key = this.#keys.decode(bytes, TOKENS[2], TOKENS[3]);
      if (key === undefined) return INVALID;
      this.#get.key = key;
      return this.#get;
    }
    return this.#parseExtension(bytes, count);
  }

  /**
   * Parses one line from a client that has not logged in yet. Such a line is
   * never parsed further than its first word: nothing but `auth` is run, so
   * an anonymous client cannot make the server decode keys or compile
   * patterns.
   *
   * @param bytes The bytes holding the line.
   * @param start Where the line starts.
   * @param end Where it ends, exclusive.
   * @returns An `auth` request, an error asking to log in, or `undefined`
   * for a blank line.
   */
  parseBeforeAuth(
    bytes: Uint8Array,
    start: number,
    end: number,
  ): Request | undefined {
    const count = tokenize(bytes, start, end);
    if (count === 0) return undefined;
    if (!tokenIs(bytes, 0, "auth")) return AUTHENTICATION_REQUIRED;
    if (count !== 2) return invalid("auth takes a token");
    return { command: "auth", token: bytes.slice(TOKENS[2], TOKENS[3]) };
  }

  /** The commands beyond the course's: their errors say what is wrong. */
  #parseExtension(bytes: Uint8Array, count: number): Request {
    const command = latin1(bytes, TOKENS[0], TOKENS[1]);
    switch (command) {
      case "ping":
        return count === 1 ? PING : INVALID;
      case "stats":
        return count === 1 ? STATS : invalid("stats takes no arguments");
      case "auth":
        if (count !== 2) return invalid("auth takes a token");
        return { command, token: bytes.slice(TOKENS[2], TOKENS[3]) };
      case "last":
      case "keys":
      case "delete": {
        if (count !== 2) return invalid(`${command} takes a key or pattern`);
        const pattern = this.#pattern(bytes, 1);
        return pattern instanceof Pattern ? { command, pattern } : pattern;
      }
      case "query": {
        if (count !== 4 && count !== 6) {
          return invalid(
            "query takes a key or pattern, from and to, and optionally step and aggregation",
          );
        }
        const pattern = this.#pattern(bytes, 1);
        if (!(pattern instanceof Pattern)) return pattern;
        const from = parseTimestamp(bytes, TOKENS[4], TOKENS[5]);
        if (from !== from) return invalid(`invalid from: ${text(bytes, 2)}`);
        const to = parseTimestamp(bytes, TOKENS[6], TOKENS[7]);
        if (to !== to) return invalid(`invalid to: ${text(bytes, 3)}`);
        if (count === 4) {
          return {
            command,
            pattern,
            from,
            to,
            step: undefined,
            aggregation: undefined,
          };
        }
        const step = parseTimestamp(bytes, TOKENS[8], TOKENS[9]);
        if (!(step > 0)) {
          return invalid(
            `invalid step: ${text(bytes, 4)} (a positive number of seconds)`,
          );
        }
        const aggregation = text(bytes, 5) as Aggregation;
        if (!AGGREGATIONS.includes(aggregation)) {
          return invalid(
            `invalid aggregation: ${aggregation} (one of ${
              AGGREGATIONS.join(", ")
            })`,
          );
        }
        return { command, pattern, from, to, step, aggregation };
      }
      default:
        return INVALID;
    }
  }

  #pattern(bytes: Uint8Array, t: number): Pattern | InvalidRequest {
    const source = this.#keys.decode(bytes, TOKENS[2 * t], TOKENS[2 * t + 1]);
    if (source === undefined) return invalid("invalid key: not UTF-8");
    try {
      return new Pattern(source);
    } catch (error) {
      const message = (error as Error).message;
      return invalid(
        `invalid pattern ${source}: ${
          message.slice(message.indexOf(": ") + 2)
        }`,
      );
    }
  }
}

const LENIENT_UTF8 = new TextDecoder();

/** Token `t` as text, for error messages. */
function text(bytes: Uint8Array, t: number): string {
  return LENIENT_UTF8.decode(
    bytes.subarray(TOKENS[2 * t], TOKENS[2 * t + 1]),
  );
}

/**
 * Formats a value the way Python's `str(float)` does: the shortest digits
 * that read back to the same number, in exponent form below 1e-4 and from
 * 1e16 on (with a sign and at least two exponent digits), and always with a
 * fraction or an exponent.
 *
 * @example Usage
 * ```ts
 * import { formatValue } from "@pulse/metrics";
 * import { deepEqual } from "node:assert/strict";
 *
 * deepEqual(formatValue(4200000), "4200000.0");
 * deepEqual(formatValue(0.00001), "1e-05");
 * deepEqual(formatValue(-0), "-0.0");
 * ```
 *
 * @param value A number.
 * @returns Its text, as Python would print it (`inf` and `nan` too).
 */
export function formatValue(value: number): string {
  const magnitude = Math.abs(value);
  if (magnitude >= 1e-4 && magnitude < 1e16) {
    // JavaScript's layout agrees with Python's here but for integers.
    const text = String(value);
    return Number.isInteger(value) ? text + ".0" : text;
  }
  if (magnitude === 0) return Object.is(value, -0) ? "-0.0" : "0.0";
  // Only sums can overflow; print them as Python would.
  if (value !== value) return "nan";
  if (magnitude === Infinity) return value > 0 ? "inf" : "-inf";
  // toExponential() gives the shortest round-trip digits, like repr.
  const text = value.toExponential();
  const e = text.indexOf("e");
  const exponent = text.slice(e + 2);
  return `${text.slice(0, e)}e${text[e + 1]}${
    exponent.length < 2 ? "0" : ""
  }${exponent}`;
}

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

const ENCODER = new TextEncoder();

/** One answer as the client reads it. */
export type Answer =
  | { ok: true; lines: Uint8Array[] }
  | { ok: false; message: string };

/**
 * Finds the end of the first complete answer in `bytes[from, end)`: the
 * first empty line.
 *
 * @param bytes Received bytes.
 * @param from Where the answer starts.
 * @param end How far bytes are filled.
 * @returns The offset just past the answer's final `\n`, or -1 when the
 * answer is not complete yet.
 */
export function findAnswerEnd(
  bytes: Uint8Array,
  from: number,
  end: number,
): number {
  let i = bytes.indexOf(NEWLINE, from);
  while (i !== -1 && i + 1 < end) {
    if (bytes[i + 1] === NEWLINE) return i + 2;
    i = bytes.indexOf(NEWLINE, i + 1);
  }
  return -1;
}

/** A sample line of an answer: `[key, timestamp, value]`. */
export type SampleLine = [key: string, timestamp: number, value: number];

/**
 * Parses a data line `<key> <value> <timestamp>`.
 *
 * @param bytes The bytes holding the line.
 * @param start Where the line starts.
 * @param end Where it ends, without its `\n`.
 * @param keys The decoder that turns key bytes into strings.
 * @returns The sample, or `undefined` when the line is malformed.
 */
export function parseSampleLine(
  bytes: Uint8Array,
  start: number,
  end: number,
  keys: KeyDecoder,
): SampleLine | undefined {
  if (tokenize(bytes, start, end) !== 3) return undefined;
  const value = parseDecimal(bytes, TOKENS[2], TOKENS[3]);
  const timestamp = parseTimestamp(bytes, TOKENS[4], TOKENS[5]);
  if (value !== value || timestamp !== timestamp) return undefined;
  const key = keys.decode(bytes, TOKENS[0], TOKENS[1]);
  if (key === undefined) return undefined;
  return [key, timestamp, value];
}
