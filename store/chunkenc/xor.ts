/**
 * XOR values, as in Gorilla (Pelkonen et al., 2015): for values that are not
 * short decimals. Each value's 64 bits are XORed with the previous value's;
 * the result is mostly zeros at both ends, and only the bits between are
 * written. Every double comes back bit for bit, `-0` and subnormals
 * included.
 *
 * ```
 * first value: 64 bits
 * each next:   0                        the same bits as the previous
 *              10 <bits>                the XOR fits within the previous
 *                                       window of meaningful bits
 *              11 <5: leading zeros> <6: length - 1> <bits>
 *                                       a new window
 * ```
 *
 * Leading zeros are counted up to 31, to fit 5 bits.
 *
 * @module
 */

import type { BitReader, BitWriter } from "./_bits.ts";

const FLOAT = new Float64Array(1);
// Deno runs on little-endian machines only: [0] is the low half. Halves are
// kept as int32 throughout: V8 optimizes for int32, and deoptimizes again
// and again on uint32 values past 2^31.
const HALVES = new Int32Array(FLOAT.buffer);
const MAX_LEADING = 31;

/** Trailing zeros of a non-zero int32, without negating past int32. */
function trailingZeros(x: number): number {
  const low = x & 0xffff;
  if (low !== 0) return 31 - Math.clz32(low & -low);
  const high = (x >> 16) & 0xffff;
  return 47 - Math.clz32(high & -high);
}

/** Writes the low `n` (up to 32) bits of `value`. */
function write32(w: BitWriter, value: number, n: number): void {
  if (n > 24) {
    w.bits(value >>> 24, n - 24);
    w.bits(value & 0xffffff, 24);
  } else {
    w.bits(value, n);
  }
}

function read32(r: BitReader, n: number): number {
  if (n > 24) {
    const high = r.bits(n - 24);
    return (high << 24) | r.bits(24);
  }
  return r.bits(n);
}

/**
 * Encodes values by XOR. {@linkcode XorEncoder.measure} gives the size that
 * {@linkcode XorEncoder.write} then writes.
 */
export class XorEncoder {
  /**
   * The size of `values` encoded.
   *
   * @param values Any doubles.
   * @param n How many, at least 1.
   * @returns Their size in bits.
   */
  measure(values: Float64Array, n: number): number {
    return this.#run(undefined, values, n);
  }

  /**
   * Writes `values`.
   *
   * @param w Where to.
   * @param values Any doubles.
   * @param n How many, at least 1.
   */
  write(w: BitWriter, values: Float64Array, n: number): void {
    this.#run(w, values, n);
  }

  /** Sizes the values, and writes them when given a writer. */
  #run(w: BitWriter | undefined, values: Float64Array, n: number): number {
    FLOAT[0] = values[0];
    let hi = HALVES[1];
    let lo = HALVES[0];
    if (w !== undefined) {
      write32(w, hi, 32);
      write32(w, lo, 32);
    }
    let bits = 64;
    // The window of the last `11`: none yet.
    let leading = -1;
    let trailing = 0;
    for (let i = 1; i < n; i++) {
      FLOAT[0] = values[i];
      const xHi = HALVES[1] ^ hi;
      const xLo = HALVES[0] ^ lo;
      hi = HALVES[1];
      lo = HALVES[0];
      if (xHi === 0 && xLo === 0) {
        bits += 1;
        w?.bits(0, 1);
        continue;
      }
      let lead = xHi !== 0 ? Math.clz32(xHi) : 32 + Math.clz32(xLo);
      if (lead > MAX_LEADING) lead = MAX_LEADING;
      const trail = xLo !== 0 ? trailingZeros(xLo) : 32 + trailingZeros(xHi);
      if (leading >= 0 && lead >= leading && trail >= trailing) {
        const length = 64 - leading - trailing;
        bits += 2 + length;
        if (w !== undefined) {
          w.bits(2, 2);
          writeWindow(w, xHi, xLo, trailing, length);
        }
        continue;
      }
      leading = lead;
      trailing = trail;
      const length = 64 - lead - trail;
      bits += 2 + 5 + 6 + length;
      if (w !== undefined) {
        w.bits(3, 2);
        w.bits(lead, 5);
        w.bits(length - 1, 6);
        writeWindow(w, xHi, xLo, trail, length);
      }
    }
    return bits;
  }
}

/** Writes `length` bits of the 64-bit `hi:lo` from bit `trailing` up. */
function writeWindow(
  w: BitWriter,
  hi: number,
  lo: number,
  trailing: number,
  length: number,
): void {
  let shiftedHi: number;
  let shiftedLo: number;
  if (trailing >= 32) {
    shiftedHi = 0;
    shiftedLo = hi >>> (trailing - 32);
  } else if (trailing === 0) {
    shiftedHi = hi;
    shiftedLo = lo;
  } else {
    shiftedHi = hi >>> trailing;
    shiftedLo = (lo >>> trailing) | (hi << (32 - trailing));
  }
  if (length > 32) {
    write32(w, shiftedHi, length - 32);
    write32(w, shiftedLo, 32);
  } else {
    write32(w, shiftedLo, length);
  }
}

/**
 * Reads values that {@linkcode XorEncoder.write} wrote.
 *
 * @param r Where from.
 * @param out Receives them.
 * @param n How many, at least 1.
 * @throws {RangeError} When the bits end early.
 * @throws {SyntaxError} When a window is impossible or a value not finite.
 */
export function readXor(r: BitReader, out: Float64Array, n: number): void {
  let hi = read32(r, 32);
  let lo = read32(r, 32);
  out[0] = finite(hi, lo);
  let leading = -1;
  let trailing = 0;
  for (let i = 1; i < n; i++) {
    if (r.bit() === 1) {
      if (r.bit() === 1) {
        leading = r.bits(5);
        const length = r.bits(6) + 1;
        trailing = 64 - leading - length;
        if (trailing < 0) throw invalid("a window");
      } else if (leading < 0) {
        throw invalid("a window");
      }
      const length = 64 - leading - trailing;
      let windowHi = 0;
      let windowLo: number;
      if (length > 32) {
        windowHi = read32(r, length - 32);
        windowLo = read32(r, 32);
      } else {
        windowLo = read32(r, length);
      }
      // Shift the window up to its place, by `trailing` bits.
      if (trailing === 0) {
        hi ^= windowHi;
        lo ^= windowLo;
      } else if (trailing >= 32) {
        hi ^= windowLo << (trailing - 32);
      } else {
        hi ^= (windowHi << trailing) | (windowLo >>> (32 - trailing));
        lo ^= windowLo << trailing;
      }
    }
    out[i] = finite(hi, lo);
  }
}

function finite(hi: number, lo: number): number {
  HALVES[1] = hi;
  HALVES[0] = lo;
  const value = FLOAT[0];
  if (!Number.isFinite(value)) throw invalid("a value");
  return value;
}

function invalid(what: string): SyntaxError {
  return new SyntaxError(
    `Cannot decode a chunk: ${what} of its XOR values is impossible`,
  );
}
