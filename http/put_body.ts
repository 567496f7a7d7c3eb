/**
 * Reading the body of `POST /api/put`: lines of `<key> <value> [<timestamp>]`,
 * the batch-write style of InfluxDB's `/write`. The whole body is read and
 * checked before any of it is stored, so that a bad line stores nothing.
 *
 * Keys, values and timestamps follow the protocol's grammar (see
 * docs/PROTOCOL.md): a key is a run of non-whitespace characters, a value a
 * finite decimal number, a timestamp an integer number of Unix seconds.
 *
 * @module
 */

import { isKey } from "../protocol/grammar.ts";

/** The samples of a body, as columns. */
export interface PutBatch {
  /** The series' names. */
  keys: string[];
  /** The values, finite. */
  values: number[];
  /** The timestamps, safe integers. */
  timestamps: number[];
}

/** The first line of a body that cannot be stored, and why. */
export interface PutLineError {
  /** The line's number, from 1. */
  line: number;
  /** The line's text, cut to 200 characters. */
  text: string;
  /** What is wrong with it. */
  reason: string;
}

// The protocol's grammar of values and timestamps.
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const INTEGER = /^[+-]?\d+$/;
const SEPARATORS = /[ \t]+/;
const MAX_SHOWN = 200;

/**
 * Parses a body of put lines. Lines end in `\n` (a `\r` before it is
 * dropped); blank lines are skipped.
 *
 * @param text The body.
 * @param now The timestamp of lines that have none.
 * @returns The samples, or the first line that is not a valid put.
 */
export function parsePutBody(
  text: string,
  now: number,
): PutBatch | PutLineError {
  const batch: PutBatch = { keys: [], values: [], timestamps: [] };
  let start = 0;
  for (let line = 1; start <= text.length; line++) {
    let end = text.indexOf("\n", start);
    if (end === -1) end = text.length;
    const raw = text.slice(start, end);
    start = end + 1;
    const trimmed = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    const tokens = trimmed.trim().split(SEPARATORS);
    if (tokens[0] === "") continue;
    const failure = (reason: string): PutLineError => ({
      line,
      text: trimmed.length > MAX_SHOWN
        ? `${trimmed.slice(0, MAX_SHOWN)}...`
        : trimmed,
      reason,
    });
    if (tokens.length !== 2 && tokens.length !== 3) {
      return failure(
        `expected <key> <value> [<timestamp>], got ${tokens.length} fields`,
      );
    }
    const [key, valueText, timestampText] = tokens;
    if (!isKey(key)) return failure(`invalid key: ${key}`);
    const value = Number(valueText);
    if (!DECIMAL.test(valueText) || !Number.isFinite(value)) {
      return failure(`invalid value: ${valueText} (a finite decimal number)`);
    }
    let timestamp = now;
    if (timestampText !== undefined) {
      timestamp = Number(timestampText);
      if (!INTEGER.test(timestampText) || !Number.isSafeInteger(timestamp)) {
        return failure(
          `invalid timestamp: ${timestampText} (an integer number of Unix seconds)`,
        );
      }
    }
    batch.keys.push(key);
    batch.values.push(value);
    batch.timestamps.push(timestamp);
  }
  return batch;
}
