/**
 * Decimal values: most values arrive as short decimals (`23.47`, `1024`,
 * `0.125`), where Gorilla's XOR of their bits does poorly. A chunk whose
 * values are all such decimals keeps them as integers with one decimal
 * exponent: `23.47` is 2347 with exponent -2, and reads back as `2347 / 100`.
 *
 * An exponent is used only where that division (or, for integers ending in
 * zeros, a multiplication) gives back the very double that was put: the
 * encoder checks every value with the decoder's own arithmetic, so the
 * encoding is exact by construction. `-0`, values past 2^50 as integers and
 * doubles that are not short decimals (`0.1 + 0.2`) leave the chunk to
 * another encoding.
 *
 * The integers then go through the cheapest of three transforms, each a
 * column of integers (see _int_column.ts):
 *
 * - **offsets** from the chunk's least integer: noisy values around a level;
 * - **deltas** from the previous integer: random walks, drifting gauges;
 * - **delta-of-deltas**: counters, whose deltas hover around a rate.
 *
 * ```
 * [6 bits: exponent + 22][2 bits: transform]
 * offsets:          [the least integer][column of n offsets]
 * deltas:           [the first integer][column of n - 1 deltas]
 * delta-of-deltas:  [the first integer][the first delta][column of n - 2]
 * ```
 *
 * Integers in the header are a sign bit, a 6-bit width and that many bits.
 *
 * @module
 */

import type { BitReader, BitWriter } from "./_bits.ts";
import { bitLength, IntColumn, readIntColumn } from "./_int_column.ts";

/** The largest magnitude of the integer of a decimal value: 2^50. */
export const MAX_MANTISSA = 2 ** 50;
/** The exponents: 10^22 is the largest power of ten a double holds exactly. */
const MAX_EXPONENT = 22;
const EXPONENT_BITS = 6;
const WIDTH_BITS = 6;
const TRANSFORM_OFFSETS = 0;
const TRANSFORM_DELTAS = 1;
const TRANSFORM_DODS = 2;
// Below 2^29, offsets, deltas and delta-of-deltas zig-zag within 31 bits.
const SMALL = 2 ** 29;

const POWERS = Array.from({ length: MAX_EXPONENT + 1 }, (_, k) => 10 ** k);

/** `mantissa` scaled by 10^-exponent, as the decoder computes it. */
function scale(mantissa: number, exponent: number): number {
  return exponent >= 0
    ? mantissa / POWERS[exponent]
    : mantissa * POWERS[-exponent];
}

/**
 * Whether `mantissa` with `exponent` gives back exactly `value`. The bound
 * of the search is a safe integer: 2e15 is 2000000000000000 with exponent
 * 0 before its zeros are dropped; the final integers are checked against
 * {@linkcode MAX_MANTISSA}.
 */
function exact(mantissa: number, exponent: number, value: number): boolean {
  return Math.abs(mantissa) <= Number.MAX_SAFE_INTEGER &&
    scale(mantissa, exponent) === value;
}

function signedBits(value: number): number {
  return 1 + WIDTH_BITS + bitLength(Math.abs(value));
}

function writeSigned(w: BitWriter, value: number): void {
  const magnitude = Math.abs(value);
  const length = bitLength(magnitude);
  w.bits(value < 0 ? 1 : 0, 1);
  w.bits(length, WIDTH_BITS);
  w.wide(magnitude, length);
}

function readSigned(r: BitReader, limit: number): number {
  const negative = r.bit() === 1;
  const length = r.bits(WIDTH_BITS);
  if (length > 53) throw invalid("an integer's width");
  const magnitude = r.wide(length);
  if (magnitude > limit) throw invalid("an integer");
  return negative ? -magnitude : magnitude;
}

/**
 * Encodes the values of chunks as decimals, when they are: measures first,
 * then writes what it measured last.
 */
export class DecimalEncoder {
  #mantissas: Float64Array;
  #column: Float64Array;
  #packer: IntColumn;
  #exponent = 0;
  #transform = 0;
  #least = 0;
  // The column's first index: 0, 1 or 2, by transform.
  #from = 0;

  /** @param capacity The most samples a chunk holds. */
  constructor(capacity: number) {
    this.#mantissas = new Float64Array(capacity);
    this.#column = new Float64Array(capacity);
    this.#packer = new IntColumn(capacity);
  }

  /**
   * Finds the decimal form of `values` and its cheapest transform.
   *
   * @param values Finite doubles.
   * @param n How many, 1 to the capacity.
   * @returns Its size in bits, or `Infinity` when the values are not all
   * short decimals.
   */
  measure(values: Float64Array, n: number): number {
    const exponent = this.#findExponent(values, n);
    if (exponent === undefined) return Infinity;
    this.#exponent = exponent;
    const m = this.#mantissas;
    let least = m[0];
    for (let i = 1; i < n; i++) if (m[i] < least) least = m[i];
    this.#least = least;
    const transform = n < 3 ? TRANSFORM_OFFSETS : this.#guess(n);
    this.#transform = transform;
    const column = this.#column;
    let header: number;
    let from: number;
    if (transform === TRANSFORM_OFFSETS) {
      header = signedBits(least);
      from = 0;
      for (let i = 0; i < n; i++) column[i] = m[i] - least;
    } else if (transform === TRANSFORM_DELTAS) {
      header = signedBits(m[0]);
      from = 1;
      for (let i = 1; i < n; i++) column[i] = m[i] - m[i - 1];
    } else {
      header = signedBits(m[0]) + signedBits(m[1] - m[0]);
      from = 2;
      for (let i = 2; i < n; i++) {
        column[i] = (m[i] - m[i - 1]) - (m[i - 1] - m[i - 2]);
      }
    }
    this.#from = from;
    return EXPONENT_BITS + 2 + header +
      this.#packer.measure(column, from, n - from);
  }

  /**
   * The transform likely to pack smallest, by the sum of the bit lengths of
   * its zig-zagged values, in one pass. Measuring each transform's column
   * in full costs three times as much and finds the same but for ties.
   */
  #guess(n: number): number {
    const m = this.#mantissas;
    let offsets = 0;
    let deltas = 0;
    let dods = 0;
    let previous = m[1] - m[0];
    const least = this.#least;
    for (let i = 2; i < n; i++) {
      const delta = m[i] - m[i - 1];
      const dod = delta - previous;
      const offset = m[i] - least;
      previous = delta;
      // Past 2^29, lengths are taken in doubles; no 32-bit shortcut holds.
      if (
        !(offset < SMALL && delta < SMALL && delta > -SMALL && dod < SMALL &&
          dod > -SMALL)
      ) {
        return this.#guessWide(n);
      }
      offsets += 32 - Math.clz32(offset);
      deltas += 32 - Math.clz32((delta << 1) ^ (delta >> 31));
      dods += 32 - Math.clz32((dod << 1) ^ (dod >> 31));
    }
    if (deltas <= offsets && deltas <= dods) return TRANSFORM_DELTAS;
    return dods < offsets ? TRANSFORM_DODS : TRANSFORM_OFFSETS;
  }

  #guessWide(n: number): number {
    const m = this.#mantissas;
    const least = this.#least;
    let offsets = 0;
    let deltas = 0;
    let dods = 0;
    for (let i = 2; i < n; i++) {
      const delta = m[i] - m[i - 1];
      const dod = delta - (m[i - 1] - m[i - 2]);
      offsets += bitLength(m[i] - least);
      deltas += bitLength(Math.abs(delta)) + 1;
      dods += bitLength(Math.abs(dod)) + 1;
    }
    if (deltas <= offsets && deltas <= dods) return TRANSFORM_DELTAS;
    return dods < offsets ? TRANSFORM_DODS : TRANSFORM_OFFSETS;
  }

  /**
   * The exponent every value fits, with the integers in `#mantissas`, or
   * `undefined`. The least exponent that fits the values found so far is
   * tried first; a larger one fits them too, which the final pass checks.
   */
  #findExponent(values: Float64Array, n: number): number | undefined {
    const m = this.#mantissas;
    let exponent = 0;
    let power = 1;
    // The values before `stale` were scaled by a smaller exponent.
    let stale = 0;
    for (let i = 0; i < n; i++) {
      const value = values[i];
      if (Object.is(value, -0)) return undefined;
      let mantissa = Math.round(value * power);
      while (!exact(mantissa, exponent, value)) {
        if (++exponent > MAX_EXPONENT) return undefined;
        power = POWERS[exponent];
        mantissa = Math.round(value * power);
        stale = i;
      }
      m[i] = mantissa;
    }
    for (let i = 0; i < stale; i++) {
      m[i] = Math.round(values[i] * power);
      if (!exact(m[i], exponent, values[i])) return undefined;
    }
    if (exponent === 0) exponent = this.#dropZeros(n);
    for (let i = 0; i < n; i++) {
      if (Math.abs(m[i]) > MAX_MANTISSA) return undefined;
    }
    return exponent;
  }

  /**
   * Integers that all end in zeros take a negative exponent: 1500000 is 15
   * with exponent 5.
   */
  #dropZeros(n: number): number {
    const m = this.#mantissas;
    let exponent = 0;
    let any = false;
    for (let i = 0; i < n; i++) {
      if (m[i] % 10 !== 0) return 0;
      any ||= m[i] !== 0;
    }
    while (any && exponent > -MAX_EXPONENT) {
      let zeros = true;
      for (let i = 0; i < n; i++) {
        m[i] /= 10;
        zeros &&= m[i] % 10 === 0;
      }
      exponent--;
      if (!zeros) break;
    }
    return exponent;
  }

  /**
   * Writes the values measured last.
   *
   * @param w Where to.
   * @param n How many, as measured.
   */
  write(w: BitWriter, n: number): void {
    w.bits(this.#exponent + MAX_EXPONENT, EXPONENT_BITS);
    w.bits(this.#transform, 2);
    const m = this.#mantissas;
    if (this.#transform === TRANSFORM_OFFSETS) {
      writeSigned(w, this.#least);
    } else {
      writeSigned(w, m[0]);
      if (this.#transform === TRANSFORM_DODS) writeSigned(w, m[1] - m[0]);
    }
    const from = this.#from;
    this.#packer.write(w, this.#column, from, n - from);
  }
}

/**
 * Reads values that {@linkcode DecimalEncoder.write} wrote.
 *
 * @param r Where from.
 * @param out Receives them.
 * @param n How many.
 * @throws {RangeError} When the bits end early.
 * @throws {SyntaxError} When a field is out of range.
 */
export function readDecimals(r: BitReader, out: Float64Array, n: number): void {
  const exponent = r.bits(EXPONENT_BITS) - MAX_EXPONENT;
  if (exponent > MAX_EXPONENT) throw invalid("the exponent");
  const transform = r.bits(2);
  const power = POWERS[Math.abs(exponent)];
  const divide = exponent >= 0;
  if (transform === TRANSFORM_OFFSETS) {
    const least = readSigned(r, MAX_MANTISSA);
    readIntColumn(r, out, 0, n);
    for (let i = 0; i < n; i++) {
      const m = out[i] + least;
      if (!(Math.abs(m) <= MAX_MANTISSA)) throw invalid("an integer");
      out[i] = divide ? m / power : m * power;
    }
    return;
  }
  let m = readSigned(r, MAX_MANTISSA);
  let delta = 0;
  if (transform === TRANSFORM_DODS && n >= 2) {
    delta = readSigned(r, 2 * MAX_MANTISSA);
    readIntColumn(r, out, 2, n - 2);
    out[1] = 0;
  } else if (transform === TRANSFORM_DELTAS) {
    readIntColumn(r, out, 1, n - 1);
  } else {
    throw invalid("the transform");
  }
  const dods = transform === TRANSFORM_DODS;
  out[0] = divide ? m / power : m * power;
  for (let i = 1; i < n; i++) {
    // Checked at each step, so the sums stay exact.
    if (dods) delta += out[i];
    else delta = out[i];
    m += delta;
    if (!(Math.abs(m) <= MAX_MANTISSA && Math.abs(delta) <= 2 * MAX_MANTISSA)) {
      throw invalid("an integer");
    }
    out[i] = divide ? m / power : m * power;
  }
}

function invalid(what: string): SyntaxError {
  return new SyntaxError(
    `Cannot decode a chunk: ${what} of a decimal is out of range`,
  );
}
