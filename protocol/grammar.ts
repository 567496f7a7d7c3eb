/**
 * The grammar of Pulse's lines, in one place: how a line splits into tokens,
 * what a key, a value and a timestamp are. TCP requests, the HTTP put body,
 * the command line and the client all read through it, so the same text is
 * accepted or refused the same way everywhere.
 *
 * - A token is a run of bytes other than spaces and tabs.
 * - A key is a non-empty run of characters with no whitespace at all, valid
 *   UTF-8.
 * - A value is a finite decimal: `[+-]` digits with an optional fraction and
 *   exponent (`10`, `-1.5`, `+2`, `1e3`, `.5`, `5.`); not `nan`, `inf`, hex,
 *   `,` or `_`.
 * - A timestamp is an integer of Unix seconds, `[+-]` digits, within
 *   ±(2^53-1).
 *
 * Byte-level functions read `bytes[start, end)`, the way the server frames
 * lines; the text forms wrap them.
 *
 * @example Usage
 * ```ts
 * import { isKey, parseValueText } from "./grammar.ts";
 * import { equal } from "node:assert/strict";
 *
 * equal(parseValueText("10.6"), 10.6);
 * equal(Number.isNaN(parseValueText("nan")), true);
 * equal(isKey("palm.cpu"), true);
 * equal(isKey("palm cpu"), false);
 * ```
 *
 * @module
 */

const SPACE = 0x20;
const TAB = 0x09;
const PLUS = 0x2b;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const LOWER_E = 0x65;
const UPPER_E = 0x45;

/** The most tokens any line of the protocol has. */
export const MAX_TOKENS = 8;

// Powers of ten that are exact doubles: 1e0 ... 1e22.
const EXACT_POWERS_OF_TEN = Array.from({ length: 23 }, (_, i) => 10 ** i);

/**
 * The tokens of one line, as offsets into its bytes. One object is reused
 * for every line a parser reads: read the tokens before splitting the next.
 */
export class LineTokens {
  /** Token `t` spans `offsets[2t]` to `offsets[2t + 1]`, exclusive. */
  readonly offsets: Int32Array = new Int32Array(2 * (MAX_TOKENS + 1));

  /**
   * Splits `bytes[start, end)` at runs of spaces and tabs. Past
   * `MAX_TOKENS + 1` tokens it stops counting: that many is already too
   * many for any line.
   *
   * @param bytes The bytes holding the line.
   * @param start Where the line starts.
   * @param end Where it ends, exclusive.
   * @returns How many tokens there are.
   */
  split(bytes: Uint8Array, start: number, end: number): number {
    const offsets = this.offsets;
    let count = 0;
    let i = start;
    while (i < end) {
      let c = bytes[i];
      if (c === SPACE || c === TAB) {
        i++;
        continue;
      }
      if (count > MAX_TOKENS) return count;
      offsets[2 * count] = i;
      do {
        i++;
        c = bytes[i];
      } while (i < end && c !== SPACE && c !== TAB);
      offsets[2 * count + 1] = i;
      count++;
    }
    return count;
  }

  /**
   * Whether token `t` spells the ASCII word `word`.
   *
   * @param bytes The bytes the tokens point into.
   * @param t The token's index.
   * @param word An ASCII word.
   * @returns Whether they are equal.
   */
  is(bytes: Uint8Array, t: number, word: string): boolean {
    const start = this.offsets[2 * t];
    if (this.offsets[2 * t + 1] - start !== word.length) return false;
    for (let i = 0; i < word.length; i++) {
      if (bytes[start + i] !== word.charCodeAt(i)) return false;
    }
    return true;
  }
}

/**
 * Parses a decimal number: `[+-]` digits with an optional fraction and
 * exponent (`10`, `-1.5`, `+2`, `1e3`, `.5`, `5.`). Returns `NaN` for anything
 * else, including `nan`, `inf`, hex, `,` and `_`, and for numbers too large to
 * be finite.
 */
export function parseDecimal(
  bytes: Uint8Array,
  start: number,
  end: number,
): number {
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
export function parseTimestamp(
  bytes: Uint8Array,
  start: number,
  end: number,
): number {
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

export function latin1(bytes: Uint8Array, start: number, end: number): string {
  let s = "";
  for (let i = start; i < end; i++) s += String.fromCharCode(bytes[i]);
  return s;
}

const ENCODER = new TextEncoder();

/**
 * Parses a value written as text, by the protocol's grammar.
 *
 * @param text Such as `10.6` or `-1e3`.
 * @returns The number, or `NaN` when the text is not a finite decimal.
 */
export function parseValueText(text: string): number {
  const bytes = ENCODER.encode(text);
  return parseDecimal(bytes, 0, bytes.length);
}

/**
 * Parses a timestamp written as text, by the protocol's grammar.
 *
 * @param text Such as `1501864247`.
 * @returns The timestamp, or `NaN` when the text is not an integer within
 * ±(2^53-1).
 */
export function parseTimestampText(text: string): number {
  const bytes = ENCODER.encode(text);
  return parseTimestamp(bytes, 0, bytes.length);
}

/**
 * Whether `key` can name a series: not empty, and free of the whitespace that
 * separates tokens on the wire.
 *
 * @param key A candidate name.
 * @returns Whether it is valid.
 */
export function isKey(key: string): boolean {
  return key.length > 0 && !/[\s]/.test(key);
}
