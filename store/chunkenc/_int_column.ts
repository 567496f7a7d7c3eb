/**
 * Columns of integers packed into bits, the layer under the timestamp and
 * decimal encodings: delta-of-deltas, deltas or offsets, each column packed
 * the way that takes the fewest bits for it.
 *
 * A column is divided by the greatest common divisor of its values (memory
 * in bytes counts in 1024s), zig-zagged unless no value is negative, and
 * written in one of these layouts:
 *
 * - **zero**: every value is 0; nothing but the header.
 * - **sparse**: the values that are not 0, each after the gap since the last
 *   one (errors, mostly 0; a disk that rarely moves; a timestamp now and then
 *   a second late).
 * - **buckets** (1, 2 or 3): Gorilla's prefix buckets, `0`, `10` and `11`,
 *   with widths fitted to the column, so that small values take few bits and
 *   the widest take what they need.
 *
 * Values must stay within ±2^52, so that every sum and difference the
 * encodings take is exact.
 *
 * @module
 */

import type { BitReader, BitWriter } from "./_bits.ts";

/** The largest magnitude a column holds. */
export const MAX_MAGNITUDE = 2 ** 52;

const LAYOUT_SPARSE = 0;
const WIDTH_BITS = 6;
const MAX_WIDTH = 53;
const TWO_32 = 2 ** 32;
// Values within ±2^30 zig-zag into a non-negative 32-bit integer.
const SMALL = 2 ** 30;

/** The number of bits of a non-negative safe integer; 0 for 0. */
export function bitLength(value: number): number {
  if (value < TWO_32) return 32 - Math.clz32(value);
  return 64 - Math.clz32(Math.floor(value / TWO_32));
}

function gcd(a: number, b: number): number {
  // `%` of doubles is a call into C; of small integers, an instruction.
  while (b !== 0 && (a > 0x3fffffff || b > 0x3fffffff)) {
    const r = a % b;
    a = b;
    b = r;
  }
  if (b === 0) return a;
  a |= 0;
  b |= 0;
  while (b !== 0) {
    const r = a % b;
    a = b;
    b = r;
  }
  return a;
}

/**
 * Measures columns and writes them. {@linkcode IntColumn.measure} fits the
 * layout to a column and returns its size; {@linkcode IntColumn.write}
 * writes the column measured last.
 */
export class IntColumn {
  #divisor = 0;
  #signed = false;
  #histogram = new Int32Array(MAX_WIDTH + 2);
  // The lengths that occur, and how many values are at most each long.
  #lengths = new Int32Array(MAX_WIDTH + 2);
  #atMost = new Int32Array(MAX_WIDTH + 2);
  // The plan measured last: a layout and its widths, reused, as sealing
  // chunks should leave no garbage behind.
  #layout = 0;
  #widths: number[] = [0, 0, 0];
  #maxGap = 0;
  #nonZero = 0;
  #prepared: Float64Array;

  /** @param capacity The most values a column holds. */
  constructor(capacity: number) {
    this.#prepared = new Float64Array(capacity);
  }

  /**
   * Fits a layout to `values[start, start + n)`.
   *
   * @param values Integers within ±2^52.
   * @param start The first.
   * @param n How many.
   * @returns The size of the column in bits, its header included.
   */
  measure(values: Float64Array, start: number, n: number): number {
    const end = start + n;
    this.#count(values, start, end);
    const divisor = this.#divisor;
    if (divisor === 0) return 1;
    // Rare: every value a multiple of something; count them divided.
    if (divisor !== 1) this.#countDivided(values, start, end);
    const header = 1 + 1 +
      (divisor === 1 ? 0 : WIDTH_BITS + bitLength(divisor)) + 1 + 2;
    return header + this.#fit(n);
  }

  /**
   * One pass: the divisor, the signedness, the gaps between non-zeros, and
   * the histogram of bit lengths as if zig-zagged. Values within ±2^30 (the
   * usual) take 32-bit integer arithmetic; a wider one sends the column to
   * the slower pass of doubles.
   */
  #count(values: Float64Array, start: number, end: number): void {
    const histogram = this.#histogram;
    histogram.fill(0);
    let divisor = 0;
    let signs = 0;
    let last = start - 1;
    let maxGap = 0;
    let zeros = 0;
    for (let i = start; i < end; i++) {
      const x = values[i];
      // Columns of delta-of-deltas are mostly zeros: they cost a compare.
      if (x === 0) {
        zeros++;
        continue;
      }
      if (!(x >= -SMALL && x < SMALL)) {
        this.#countWide(values, start, end);
        return;
      }
      const xi = x | 0;
      signs |= xi;
      histogram[32 - Math.clz32((xi << 1) ^ (xi >> 31))]++;
      if (divisor !== 1) divisor = gcd(xi < 0 ? -xi : xi, divisor);
      if (i - last > maxGap) maxGap = i - last;
      last = i;
    }
    histogram[0] = zeros;
    this.#finishCount(divisor, signs < 0, maxGap, end - start);
  }

  /**
   * {@linkcode IntColumn.#count} in doubles, for values past ±2^30. A
   * value's zig-zagged length is one more than the length of `x` (or of
   * `-x - 1` when negative).
   */
  #countWide(values: Float64Array, start: number, end: number): void {
    const histogram = this.#histogram;
    histogram.fill(0);
    let divisor = 0;
    let negative = false;
    let last = start - 1;
    let maxGap = 0;
    for (let i = start; i < end; i++) {
      const x = values[i];
      if (x === 0) {
        histogram[0]++;
        continue;
      }
      histogram[1 + bitLength(x < 0 ? -x - 1 : x)]++;
      if (x < 0) negative = true;
      if (divisor !== 1) divisor = gcd(x < 0 ? -x : x, divisor);
      if (i - last > maxGap) maxGap = i - last;
      last = i;
    }
    this.#finishCount(divisor, negative, maxGap, end - start);
  }

  /** Unsigned, a length is one less than zig-zagged: shifts them down. */
  #finishCount(
    divisor: number,
    negative: boolean,
    maxGap: number,
    n: number,
  ): void {
    const histogram = this.#histogram;
    if (!negative) {
      for (let length = 1; length <= MAX_WIDTH; length++) {
        histogram[length] = histogram[length + 1];
      }
    }
    this.#divisor = divisor;
    this.#signed = negative;
    this.#maxGap = maxGap;
    this.#nonZero = n - histogram[0];
  }

  /** The histogram again, of the values divided by the divisor. */
  #countDivided(values: Float64Array, start: number, end: number): void {
    const histogram = this.#histogram;
    histogram.fill(0);
    const divisor = this.#divisor;
    const signed = this.#signed;
    for (let i = start; i < end; i++) {
      histogram[bitLength(zigzag(values[i] / divisor, signed))]++;
    }
  }

  /**
   * The cheapest layout for the histogram, sparse or 1 to 3 buckets: kept
   * as the plan, its size returned. A bucket's best width is one of the
   * lengths that occur, so only those are tried.
   */
  #fit(n: number): number {
    const histogram = this.#histogram;
    const lengths = this.#lengths;
    const atMost = this.#atMost;
    let distinct = 0;
    let cumulative = 0;
    for (let length = 0; length <= MAX_WIDTH; length++) {
      if (histogram[length] === 0) continue;
      cumulative += histogram[length];
      lengths[distinct] = length;
      atMost[distinct++] = cumulative;
    }
    const top = distinct - 1;
    const widest = lengths[top];
    let bits = WIDTH_BITS + n * widest;
    let layout = 1;
    let low = widest;
    let middle = widest;
    const gapWidth = bitLength(this.#maxGap - 1);
    const sparse = 2 * WIDTH_BITS + bitLength(n) +
      this.#nonZero * (gapWidth + widest);
    if (sparse < bits) {
      bits = sparse;
      layout = LAYOUT_SPARSE;
      low = gapWidth;
    }
    for (let a = 0; a < top; a++) {
      const two = 2 * WIDTH_BITS + n + atMost[a] * lengths[a] +
        (n - atMost[a]) * widest;
      if (two < bits) {
        bits = two;
        layout = 2;
        low = lengths[a];
      }
      for (let b = a + 1; b < top; b++) {
        const three = 3 * WIDTH_BITS + atMost[a] * (1 + lengths[a]) +
          (atMost[b] - atMost[a]) * (2 + lengths[b]) +
          (n - atMost[b]) * (2 + widest);
        if (three < bits) {
          bits = three;
          layout = 3;
          low = lengths[a];
          middle = lengths[b];
        }
      }
    }
    this.#layout = layout;
    const widths = this.#widths;
    widths.length = layout === 1 ? 1 : layout === 3 ? 3 : 2;
    widths[0] = layout === 1 ? widest : low;
    if (layout === 3) widths[1] = middle;
    widths[widths.length - 1] = widest;
    return bits;
  }

  /**
   * Writes `values[start, start + n)`, the column measured last.
   *
   * @param w Where to.
   * @param values The same values as measured.
   * @param start The first.
   * @param n How many.
   */
  write(w: BitWriter, values: Float64Array, start: number, n: number): void {
    const divisor = this.#divisor;
    if (divisor === 0) {
      writeZeros(w);
      return;
    }
    w.bits(0, 1);
    if (divisor === 1) {
      w.bits(1, 1);
    } else {
      w.bits(0, 1);
      const length = bitLength(divisor);
      w.bits(length, WIDTH_BITS);
      w.wide(divisor, length);
    }
    w.bits(this.#signed ? 1 : 0, 1);
    const layout = this.#layout;
    const widths = this.#widths;
    w.bits(layout, 2);
    for (const width of widths) w.bits(width, WIDTH_BITS);
    if (layout === LAYOUT_SPARSE) {
      w.wide(this.#nonZero, bitLength(n));
      writeSparse(w, values, start, n, this);
    } else {
      prepare(values, start, n, this, this.#prepared);
      writeBuckets(w, this.#prepared, n, widths);
    }
  }

  /** The divisor, signedness and widths, for the writers below. */
  get divisor(): number {
    return this.#divisor;
  }

  get signed(): boolean {
    return this.#signed;
  }

  get widths(): number[] {
    return this.#widths;
  }
}

/**
 * Writes a column of zeros, as {@linkcode IntColumn.write} would.
 *
 * @param w Where to.
 */
export function writeZeros(w: BitWriter): void {
  w.bits(1, 1);
}

function zigzag(x: number, signed: boolean): number {
  return signed ? (x < 0 ? -2 * x - 1 : 2 * x) : x;
}

/**
 * The column's values as written: divided and zig-zagged, into `out`, in
 * 32-bit arithmetic when they fit 30 bits (the usual).
 */
function prepare(
  values: Float64Array,
  start: number,
  n: number,
  column: IntColumn,
  out: Float64Array,
): void {
  const { divisor, signed, widths } = column;
  const small = widths[widths.length - 1] <= 30;
  for (let i = 0; i < n; i++) {
    const x = divisor === 1 ? values[start + i] : values[start + i] / divisor;
    if (small) {
      const xi = x | 0;
      out[i] = signed ? (xi << 1) ^ (xi >> 31) : xi;
    } else {
      out[i] = zigzag(x, signed);
    }
  }
}

function writeSparse(
  w: BitWriter,
  values: Float64Array,
  start: number,
  n: number,
  column: IntColumn,
): void {
  const { divisor, signed, widths } = column;
  const gapWidth = widths[0];
  const width = widths[1];
  let last = start - 1;
  for (let i = start; i < start + n; i++) {
    const x = values[i];
    if (x === 0) continue;
    w.wide(i - last - 1, gapWidth);
    w.wide(zigzag(x / divisor, signed), width);
    last = i;
  }
}

function writeBuckets(
  w: BitWriter,
  u: Float64Array,
  n: number,
  widths: number[],
): void {
  const buckets = widths.length;
  const low = widths[0];
  const middle = widths[1] ?? 0;
  const widest = widths[buckets - 1];
  if (widest <= 24) {
    w.buckets(u, n, widths);
    return;
  }
  if (buckets === 1) {
    for (let i = 0; i < n; i++) w.wide(u[i], widest);
    return;
  }
  // `length <= low` is `u < 2^low`, compared without counting bits.
  const lowLimit = 2 ** low;
  const middleLimit = 2 ** middle;
  for (let i = 0; i < n; i++) {
    const value = u[i];
    if (value < lowLimit) {
      w.wide(value, low + 1);
    } else if (buckets === 2) {
      w.bits(1, 1);
      w.wide(value, widest);
    } else if (value < middleLimit) {
      w.bits(2, 2);
      w.wide(value, middle);
    } else {
      w.bits(3, 2);
      w.wide(value, widest);
    }
  }
}

const WIDTHS: number[] = [0, 0, 0];

/**
 * Reads a column written by {@linkcode IntColumn.write}.
 *
 * @param r Where from.
 * @param out Receives the values.
 * @param start Where the first goes.
 * @param n How many there are.
 * @throws {RangeError} When the column ends early.
 * @throws {SyntaxError} When its header is impossible.
 */
export function readIntColumn(
  r: BitReader,
  out: Float64Array,
  start: number,
  n: number,
): void {
  const end = start + n;
  if (r.bit() === 1) {
    out.fill(0, start, end);
    return;
  }
  let divisor = 1;
  if (r.bit() === 0) {
    const length = readWidth(r, MAX_WIDTH - 1);
    divisor = r.wide(length);
    if (divisor < 2) throw invalid("a column's divisor");
  }
  const signed = r.bit() === 1;
  const layout = r.bits(2);
  // Zig-zagged, 53 bits hold ±2^52; plain, 52 bits hold 2^52 - 1.
  const widest = signed ? MAX_WIDTH : MAX_WIDTH - 1;
  // Decoding is synchronous: one array of widths serves every column.
  const widths = WIDTHS;
  widths.length = layout === LAYOUT_SPARSE ? 2 : layout;
  for (let i = 0; i < widths.length; i++) widths[i] = readWidth(r, widest);
  if (layout === LAYOUT_SPARSE) {
    readSparse(r, out, start, n, widths);
    if (divisor === 1 && !signed) return;
    // The zeros stay zeros: only the values read need finishing.
    for (let i = start; i < end; i++) {
      if (out[i] !== 0) out[i] = finish(out[i], signed, divisor);
    }
    return;
  }
  // The usual column, small and not divided, is finished as it is read.
  const small = widths[widths.length - 1] <= 31;
  const inline = divisor === 1 && (!signed || small);
  readBuckets(r, out, start, end, widths, inline && signed);
  if (inline) return;
  for (let i = start; i < end; i++) out[i] = finish(out[i], signed, divisor);
}

/** A value as written, zig-zagged and divided, made whole again. */
function finish(u: number, signed: boolean, divisor: number): number {
  let x = u;
  if (signed) {
    const half = Math.floor(u / 2);
    x = u - 2 * half === 1 ? -half - 1 : half;
  }
  x *= divisor;
  if (!(Math.abs(x) <= MAX_MAGNITUDE)) throw invalid("a column's value");
  return x;
}

function readWidth(r: BitReader, widest: number): number {
  const width = r.bits(WIDTH_BITS);
  if (width > widest) throw invalid("a column's width");
  return width;
}

function readSparse(
  r: BitReader,
  out: Float64Array,
  start: number,
  n: number,
  widths: number[],
): void {
  const gapWidth = widths[0];
  const width = widths[1];
  const nonZero = r.wide(bitLength(n));
  out.fill(0, start, start + n);
  let at = start - 1;
  for (let k = 0; k < nonZero; k++) {
    at += r.wide(gapWidth) + 1;
    if (at >= start + n) throw invalid("a sparse column's gap");
    const u = r.wide(width);
    if (u === 0) throw invalid("a sparse column's value");
    out[at] = u;
  }
}

/**
 * Reads the values of buckets; with `unzigzag`, values of at most 31 bits
 * are also turned back from zig-zag, in 32-bit arithmetic.
 */
function readBuckets(
  r: BitReader,
  out: Float64Array,
  start: number,
  end: number,
  widths: number[],
  unzigzag: boolean,
): void {
  const buckets = widths.length;
  const low = widths[0];
  const middle = buckets === 3 ? widths[1] : widths[buckets - 1];
  const widest = widths[buckets - 1];
  if (widest <= 24) {
    r.buckets(out, start, end, widths, unzigzag);
    return;
  }
  for (let i = start; i < end; i++) {
    let u: number;
    if (buckets === 1) u = r.wide(widest);
    else if (r.bit() === 0) u = r.wide(low);
    else if (buckets === 2 || r.bit() === 0) u = r.wide(middle);
    else u = r.wide(widest);
    out[i] = unzigzag ? (u >>> 1) ^ -(u & 1) : u;
  }
}

function invalid(what: string): SyntaxError {
  return new SyntaxError(`Cannot decode a chunk: ${what} is out of range`);
}
