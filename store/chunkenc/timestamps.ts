/**
 * The timestamps of an encoded chunk: delta-of-delta, as in Gorilla.
 *
 * Collectors send at a fixed step, so the gaps between timestamps are
 * nearly all equal and their differences (delta-of-deltas) nearly all 0. The
 * first timestamp is in the chunk's header; here follow the first gap and
 * the delta-of-deltas of the rest, as a column of integers packed into
 * Gorilla-style buckets whose widths are fitted to the chunk: at whole
 * seconds a chunk of a regular series takes no bit a timestamp, and one
 * whose timestamps now and then come a second late takes a few bits for
 * each of those. Where the gaps are irregular enough that the gaps
 * themselves are smaller than their differences, the column holds the gaps
 * instead, as a flag says.
 *
 * ```
 * [first gap: 6-bit width, then the bits][1 bit: 0 delta-of-deltas, 1 gaps]
 * [the column of the n - 2 later ones (see _int_column.ts)]
 * ```
 *
 * Every timestamp of a chunk lies less than 2^32 seconds after its first,
 * so every gap and difference is exact.
 *
 * @module
 */

import type { BitReader, BitWriter } from "./_bits.ts";
import {
  bitLength,
  IntColumn,
  readIntColumn,
  writeZeros,
} from "./_int_column.ts";

/** How far after its first timestamp a chunk's last may be: 2^32 - 1. */
export const MAX_SPAN = 2 ** 32 - 1;

const WIDTH_BITS = 6;

/** Encodes the timestamps of chunks, with scratch space for the largest. */
export class TimestampEncoder {
  #dods: Float64Array;
  #gaps: Float64Array;
  #dodColumn: IntColumn;
  #gapColumn: IntColumn;

  /** @param capacity The most samples a chunk holds. */
  constructor(capacity: number) {
    this.#dods = new Float64Array(capacity);
    this.#gaps = new Float64Array(capacity);
    this.#dodColumn = new IntColumn(capacity);
    this.#gapColumn = new IntColumn(capacity);
  }

  /**
   * Writes every timestamp but the first.
   *
   * @param w Where to.
   * @param timestamps Strictly increasing, the last less than 2^32 after
   * the first.
   * @param n How many, at most the capacity.
   */
  write(w: BitWriter, timestamps: Float64Array, n: number): void {
    if (n < 2) return;
    const first = timestamps[1] - timestamps[0];
    const dods = this.#dods;
    const gaps = this.#gaps;
    let gap = first;
    let regular = true;
    for (let i = 2; i < n; i++) {
      const next = timestamps[i] - timestamps[i - 1];
      dods[i - 2] = next - gap;
      gaps[i - 2] = next;
      regular &&= next === gap;
      gap = next;
    }
    const length = bitLength(first);
    w.bits(length, WIDTH_BITS);
    w.wide(first, length);
    if (regular) {
      // The usual: one step all along; the column of zeros is a bit.
      w.bits(0, 1);
      writeZeros(w);
      return;
    }
    const byDod = this.#dodColumn.measure(dods, 0, n - 2);
    // Gaps can beat delta-of-deltas only where those take bits: an equal
    // gap takes at least one bit, a delta-of-delta of 0 as little as none.
    const byGap = byDod <= n
      ? Infinity
      : this.#gapColumn.measure(gaps, 0, n - 2);
    if (byDod <= byGap) {
      w.bits(0, 1);
      this.#dodColumn.write(w, dods, 0, n - 2);
    } else {
      w.bits(1, 1);
      this.#gapColumn.write(w, gaps, 0, n - 2);
    }
  }
}

/**
 * Reads the timestamps that {@linkcode TimestampEncoder.write} wrote.
 *
 * @param r Where from.
 * @param out Receives them; `out[0]` already holds the first.
 * @param n How many in all.
 * @throws {RangeError} When the bits end early.
 * @throws {SyntaxError} When they are not increasing, or span more than
 * 2^32 - 1 seconds.
 */
export function readTimestamps(
  r: BitReader,
  out: Float64Array,
  n: number,
): void {
  if (n < 2) return;
  const width = r.bits(WIDTH_BITS);
  if (width > 32) throw invalid();
  let gap = r.wide(width);
  const byGap = r.bit() === 1;
  readIntColumn(r, out, 2, n - 2);
  const first = out[0];
  let timestamp = first + gap;
  out[1] = timestamp;
  if (gap < 1 || gap > MAX_SPAN) throw invalid();
  for (let i = 2; i < n; i++) {
    gap = byGap ? out[i] : gap + out[i];
    timestamp += gap;
    // Each step checked, so the sums stay small and exact.
    if (gap < 1 || timestamp - first > MAX_SPAN) throw invalid();
    out[i] = timestamp;
  }
}

function invalid(): SyntaxError {
  return new SyntaxError(
    "Cannot decode a chunk: its timestamps are not increasing within 2^32 seconds",
  );
}
