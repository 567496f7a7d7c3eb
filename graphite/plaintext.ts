/**
 * Graphite's plaintext protocol, read from bytes by carbon's rules: a line
 * is `<path> <value> <timestamp>`, its fields separated by runs of spaces or
 * tabs.
 *
 * - The path is a Pulse key: valid UTF-8 without whitespace. Graphite tags
 *   (`name;tag=value`) are part of it, kept as sent.
 * - The value is a decimal number (`10`, `-1.5`, `1e3`, `.5`). Python's
 *   spellings of what is not a finite number (`nan`, `inf`, `-Infinity`, in
 *   any case) and decimals too large for a double are not stored: carbon
 *   drops `nan`, Pulse stores finite numbers only.
 * - The timestamp is Unix seconds, an integer or a decimal truncated toward
 *   zero (`1501864247.9` is `1501864247`); one that truncates to `-1` means
 *   the time of arrival, as in carbon.
 *
 * @example Usage
 * ```ts
 * import { GraphiteLineParser, LINE_SAMPLE } from "./plaintext.ts";
 * import { equal } from "node:assert/strict";
 *
 * const parser = new GraphiteLineParser();
 * const line = new TextEncoder().encode("palm.cpu 10.6 1501864247.5");
 * equal(parser.parse(line, 0, line.length, 1700000000), LINE_SAMPLE);
 * equal(parser.key, "palm.cpu");
 * equal(parser.value, 10.6);
 * equal(parser.timestamp, 1501864247);
 * ```
 *
 * @module
 */

import {
  latin1,
  LineTokens,
  parseDecimal,
  parseTimestamp,
} from "../protocol/grammar.ts";
import { KeyDecoder } from "../protocol/key_decoder.ts";

/** The longest plaintext line carbon takes, in bytes before its `\n`. */
export const MAX_GRAPHITE_LINE_LENGTH = 16 * 1024;

/** {@linkcode GraphiteLineParser.parse}: a sample, in the parser's fields. */
export const LINE_SAMPLE = 0;
/** {@linkcode GraphiteLineParser.parse}: a line of spaces and tabs or none. */
export const LINE_BLANK = 1;
/** {@linkcode GraphiteLineParser.parse}: a well-formed line whose value is
 * not a finite number, dropped. */
export const LINE_NON_FINITE = 2;
/** {@linkcode GraphiteLineParser.parse}: a malformed line; `problem` says
 * why. */
export const LINE_BAD = 3;

/** What {@linkcode GraphiteLineParser.parse} found in a line. */
export type LineKind =
  | typeof LINE_SAMPLE
  | typeof LINE_BLANK
  | typeof LINE_NON_FINITE
  | typeof LINE_BAD;

const PLUS = 0x2b;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const LOWER_E = 0x65;
const UPPER_E = 0x45;
const TO_LOWER = 0x20;

/** Whether `bytes[at, ...)` spells the lowercase ASCII `word`, in any case. */
function spells(bytes: Uint8Array, at: number, end: number, word: string) {
  if (end - at !== word.length) return false;
  for (let i = 0; i < word.length; i++) {
    if ((bytes[at + i] | TO_LOWER) !== word.charCodeAt(i)) return false;
  }
  return true;
}

/** Whether every byte is a digit, a sign, a dot or an exponent's `e`. */
function decimalShaped(bytes: Uint8Array, start: number, end: number) {
  for (let i = start; i < end; i++) {
    const c = bytes[i];
    if (
      !(c >= ZERO && c <= NINE) && c !== DOT && c !== PLUS && c !== MINUS &&
      c !== LOWER_E && c !== UPPER_E
    ) {
      return false;
    }
  }
  return true;
}

/**
 * Whether `bytes[start, end)` is what Python's `float()` reads as a NaN or an
 * infinity: `nan`, `inf` or `infinity` in any case with an optional sign, or
 * a decimal beyond the largest double (`1e999`).
 *
 * @param bytes The bytes holding the token.
 * @param start Where it starts.
 * @param end Where it ends, exclusive.
 * @returns Whether it spells a number that is not finite.
 */
export function spellsNonFinite(
  bytes: Uint8Array,
  start: number,
  end: number,
): boolean {
  let at = start;
  if (at < end && (bytes[at] === PLUS || bytes[at] === MINUS)) at++;
  if (
    spells(bytes, at, end, "nan") || spells(bytes, at, end, "inf") ||
    spells(bytes, at, end, "infinity")
  ) {
    return true;
  }
  if (!decimalShaped(bytes, start, end)) return false;
  const value = Number(latin1(bytes, start, end));
  return value === Infinity || value === -Infinity;
}

/**
 * Reads a Graphite value: a finite decimal, or a spelling of a number that
 * is not finite.
 *
 * @param bytes The bytes holding the token.
 * @param start Where it starts.
 * @param end Where it ends, exclusive.
 * @returns The number; `Infinity` for any spelling of a NaN or an infinity;
 * `NaN` when it is not a number at all.
 */
export function parseGraphiteValue(
  bytes: Uint8Array,
  start: number,
  end: number,
): number {
  const value = parseDecimal(bytes, start, end);
  if (value === value) return value;
  return spellsNonFinite(bytes, start, end) ? Infinity : NaN;
}

/**
 * Reads a Graphite timestamp: Unix seconds, an integer or a decimal
 * truncated toward zero; one that truncates to -1 is `now`.
 *
 * @param bytes The bytes holding the token.
 * @param start Where it starts.
 * @param end Where it ends, exclusive.
 * @param now The time of arrival, in Unix seconds.
 * @returns The timestamp, a safe integer, or `NaN` when it is none.
 */
export function parseGraphiteTimestamp(
  bytes: Uint8Array,
  start: number,
  end: number,
  now: number,
): number {
  let timestamp = parseTimestamp(bytes, start, end);
  if (timestamp !== timestamp) {
    timestamp = Math.trunc(parseDecimal(bytes, start, end));
    if (!Number.isSafeInteger(timestamp)) return NaN;
  }
  // `+ 0` makes -0 (from `-0` or `-0.5`) plain 0.
  return timestamp === -1 ? now : timestamp + 0;
}

/**
 * Reads Graphite plaintext lines, one at a time, into its fields. One parser
 * may serve many connections: read its fields before parsing the next line.
 * It keeps the keys it decoded lately, so that a busy path is decoded once.
 */
export class GraphiteLineParser {
  /** The path of the last sample or non-finite line. */
  key = "";
  /** The value of the last sample. */
  value = 0;
  /** The timestamp of the last sample, in Unix seconds. */
  timestamp = 0;
  /** Why the last bad line is bad. */
  problem = "";
  #tokens = new LineTokens();
  #keys = new KeyDecoder();

  /**
   * Reads the line `bytes[start, end)`, its `\n` and any `\r` left out.
   *
   * @param bytes The bytes holding the line.
   * @param start Where it starts.
   * @param end Where it ends, exclusive.
   * @param now The time of arrival, in Unix seconds, for a timestamp of -1.
   * @returns What the line is; its fields are in the parser.
   */
  parse(bytes: Uint8Array, start: number, end: number, now: number): LineKind {
    const tokens = this.#tokens;
    const count = tokens.split(bytes, start, end);
    if (count === 0) return LINE_BLANK;
    if (count !== 3) return this.#bad("expected <path> <value> <timestamp>");
    const offsets = tokens.offsets;
    const key = this.#keys.decode(bytes, offsets[0], offsets[1]);
    if (key === undefined) {
      return this.#bad("the path is not UTF-8 without whitespace");
    }
    const timestamp = parseGraphiteTimestamp(
      bytes,
      offsets[4],
      offsets[5],
      now,
    );
    if (timestamp !== timestamp) {
      return this.#bad("the timestamp is not a number of seconds");
    }
    const value = parseGraphiteValue(bytes, offsets[2], offsets[3]);
    if (value !== value) return this.#bad("the value is not a number");
    this.key = key;
    if (value === Infinity) return LINE_NON_FINITE;
    this.value = value;
    this.timestamp = timestamp;
    return LINE_SAMPLE;
  }

  #bad(problem: string): LineKind {
    this.problem = problem;
    return LINE_BAD;
  }
}
