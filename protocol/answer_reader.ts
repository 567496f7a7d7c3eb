/**
 * Reading answers, as a client does: where an answer ends, and the sample
 * lines of its data.
 *
 * @module
 */

import { LineTokens, parseDecimal, parseTimestamp } from "./grammar.ts";
import { KeyDecoder } from "./key_decoder.ts";

const NEWLINE = 0x0a;

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

/** A sample line of an answer, in the wire's order: key, value, timestamp. */
export type SampleLine = [key: string, value: number, timestamp: number];

/**
 * Reads the data lines `<key> <value> <timestamp>` of answers, by the
 * protocol's grammar, remembering recent keys so that each is decoded once.
 */
export class SampleLineReader {
  #keys = new KeyDecoder();
  #tokens = new LineTokens();

  /**
   * Parses one data line.
   *
   * @param bytes The bytes holding the line.
   * @param start Where the line starts.
   * @param end Where it ends, without its `\n`.
   * @returns The sample, or `undefined` when the line is malformed.
   */
  read(bytes: Uint8Array, start: number, end: number): SampleLine | undefined {
    if (this.#tokens.split(bytes, start, end) !== 3) return undefined;
    const offsets = this.#tokens.offsets;
    const value = parseDecimal(bytes, offsets[2], offsets[3]);
    const timestamp = parseTimestamp(bytes, offsets[4], offsets[5]);
    if (value !== value || timestamp !== timestamp) return undefined;
    const key = this.#keys.decode(bytes, offsets[0], offsets[1]);
    if (key === undefined) return undefined;
    return [key, value, timestamp];
  }
}
