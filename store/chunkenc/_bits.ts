/**
 * Bit streams: the writer that chunk encodings pack their fields into, most
 * significant bit first, and the reader that takes them out again, refusing
 * to read past its end.
 *
 * Fields of up to 24 bits go through 32-bit integer arithmetic; wider ones,
 * up to 53 bits (a safe integer), are split into 24-bit parts.
 *
 * @module
 */

const PART = 24;
const PART_SCALE = 2 ** PART;

/** Packs fields of bits into bytes, most significant bit first. */
export class BitWriter {
  #bytes: Uint8Array;
  #at = 0;
  // Bits written but not yet a whole byte: `#fill` of them, in `#acc`.
  #acc = 0;
  #fill = 0;

  /** @param capacity Bytes to start with; the buffer grows as needed. */
  constructor(capacity = 4096) {
    this.#bytes = new Uint8Array(capacity);
  }

  /** Forgets everything written. */
  reset(): void {
    this.#at = 0;
    this.#acc = 0;
    this.#fill = 0;
  }

  /** Bits written so far. */
  get bitLength(): number {
    return this.#at * 8 + this.#fill;
  }

  /**
   * Writes a whole byte; only at a byte boundary.
   *
   * @param value 0 to 255.
   */
  byte(value: number): void {
    this.#reserve(1);
    this.#bytes[this.#at++] = value;
  }

  /**
   * Writes a non-negative safe integer as a varint, 7 bits a byte; only at a
   * byte boundary.
   *
   * @param value A non-negative safe integer.
   */
  varint(value: number): void {
    this.#reserve(8);
    while (value >= 0x80) {
      this.#bytes[this.#at++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    this.#bytes[this.#at++] = value;
  }

  /**
   * Writes a safe integer as a varint; only at a byte boundary. The first
   * byte holds a sign bit and six bits of the magnitude, so that small
   * negatives stay short and no intermediate passes 2^53.
   *
   * @param value A safe integer.
   */
  signed(value: number): void {
    const negative = value < 0;
    const magnitude = negative ? -value - 1 : value;
    const rest = Math.floor(magnitude / 0x40);
    this.byte(
      ((magnitude % 0x40) * 2 + (negative ? 1 : 0)) | (rest > 0 ? 0x80 : 0),
    );
    if (rest > 0) this.varint(rest);
  }

  /**
   * Writes the low `n` bits of `value`.
   *
   * @param value A non-negative integer below 2^n.
   * @param n 0 to 24.
   */
  bits(value: number, n: number): void {
    let acc = (this.#acc << n) | value;
    let fill = this.#fill + n;
    if (fill >= 8) {
      this.#reserve(4);
      const bytes = this.#bytes;
      do {
        fill -= 8;
        bytes[this.#at++] = acc >>> fill;
      } while (fill >= 8);
      acc &= (1 << fill) - 1;
    }
    this.#acc = acc;
    this.#fill = fill;
  }

  /**
   * Writes `n` bits of a non-negative safe integer, wider than
   * {@linkcode BitWriter.bits} takes.
   *
   * @param value A non-negative integer below 2^n.
   * @param n 0 to 53.
   */
  wide(value: number, n: number): void {
    if (n <= PART) {
      this.bits(value, n);
      return;
    }
    const low = value % PART_SCALE;
    this.wide((value - low) / PART_SCALE, n - PART);
    this.bits(low, PART);
  }

  /**
   * Writes values in Gorilla-style buckets (see _int_column.ts): with one
   * width, each value in it; with two, `0` and the low width or `1` and the
   * widest; with three, `0` low, `10` middle or `11` widest. The stream's
   * state stays in locals throughout, which is most of a column's cost.
   *
   * @param values Non-negative integers, each within the widest width.
   * @param n How many, from the first.
   * @param widths One to three widths, increasing, each at most 24.
   */
  buckets(values: Float64Array, n: number, widths: number[]): void {
    const count = widths.length;
    const low = widths[0];
    const middle = count === 3 ? widths[1] : widths[count - 1];
    const widest = widths[count - 1];
    const lowLimit = 1 << low;
    const middleLimit = 1 << middle;
    this.#reserve(Math.ceil(n * (2 + widest) / 8) + 4);
    const bytes = this.#bytes;
    let acc = this.#acc;
    let fill = this.#fill;
    let at = this.#at;
    for (let i = 0; i < n; i++) {
      const value = values[i];
      let prefix = 0;
      let prefixWidth = 0;
      let width = widest;
      if (count === 1) {
        // No prefix.
      } else if (value < lowLimit) {
        prefixWidth = 1;
        width = low;
      } else if (count === 2) {
        prefix = 1;
        prefixWidth = 1;
      } else if (value < middleLimit) {
        prefix = 2;
        prefixWidth = 2;
        width = middle;
      } else {
        prefix = 3;
        prefixWidth = 2;
      }
      acc = (acc << prefixWidth) | prefix;
      fill += prefixWidth;
      if (fill + width > 31) {
        // At most 9 bits pending and 24 to come: make room first.
        while (fill >= 8) {
          fill -= 8;
          bytes[at++] = acc >>> fill;
        }
        acc &= ~(-1 << fill);
      }
      acc = (acc << width) | value;
      fill += width;
      while (fill >= 8) {
        fill -= 8;
        bytes[at++] = acc >>> fill;
      }
      acc &= ~(-1 << fill);
    }
    this.#acc = acc;
    this.#fill = fill;
    this.#at = at;
  }

  /** Pads with zero bits up to a byte boundary. */
  align(): void {
    if (this.#fill > 0) this.bits(0, 8 - this.#fill);
  }

  /**
   * The bytes written, after padding to a byte boundary: a view that the
   * next write may change.
   *
   * @returns A view of them.
   */
  finish(): Uint8Array {
    this.align();
    return this.#bytes.subarray(0, this.#at);
  }

  #reserve(extra: number): void {
    if (this.#at + extra <= this.#bytes.length) return;
    const grown = new Uint8Array(Math.max(this.#bytes.length * 2, 64));
    grown.set(this.#bytes.subarray(0, this.#at));
    this.#bytes = grown;
  }
}

/**
 * Reads fields of bits from a range of bytes. Reading past its end throws a
 * `RangeError`, so a damaged chunk can never make a decoder read beyond it
 * or loop for ever.
 */
export class BitReader {
  #bytes: Uint8Array = new Uint8Array(0);
  #at = 0;
  #end = 0;
  #acc = 0;
  #fill = 0;

  /**
   * Starts reading `bytes[start, end)` from its first bit.
   *
   * @param bytes Holds the range.
   * @param start Its first byte.
   * @param end Just past its last byte.
   */
  reset(bytes: Uint8Array, start: number, end: number): void {
    this.#bytes = bytes;
    this.#at = start;
    this.#end = end;
    this.#acc = 0;
    this.#fill = 0;
  }

  /**
   * Reads a byte; only at a byte boundary.
   *
   * @returns 0 to 255.
   * @throws {RangeError} At the end.
   */
  byte(): number {
    if (this.#at >= this.#end) throw ended();
    return this.#bytes[this.#at++];
  }

  /**
   * Reads a varint of at most 8 bytes; only at a byte boundary.
   *
   * @returns A non-negative safe integer.
   * @throws {RangeError} At the end, or when it is longer.
   */
  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.byte();
      value += (b & 0x7f) * scale;
      if (b < 0x80) return value;
      scale *= 0x80;
    }
    throw new RangeError("Cannot decode a chunk: a varint is too long");
  }

  /**
   * Reads a safe integer that {@linkcode BitWriter.signed} wrote.
   *
   * @returns A safe integer.
   * @throws {RangeError} At the end, when it is too long, or past 2^53.
   */
  signed(): number {
    const first = this.byte();
    const rest = first >= 0x80 ? this.varint() : 0;
    const magnitude = rest * 0x40 + ((first & 0x7f) >>> 1);
    const value = (first & 1) === 1 ? -magnitude - 1 : magnitude;
    if (!Number.isSafeInteger(value)) {
      throw new RangeError("Cannot decode a chunk: an integer is too large");
    }
    return value;
  }

  /**
   * Reads `n` bits.
   *
   * @param n 0 to 24.
   * @returns A non-negative integer below 2^n.
   * @throws {RangeError} Past the end.
   */
  bits(n: number): number {
    let acc = this.#acc;
    let fill = this.#fill;
    while (fill < n) {
      if (this.#at >= this.#end) throw ended();
      acc = (acc << 8) | this.#bytes[this.#at++];
      fill += 8;
    }
    fill -= n;
    this.#fill = fill;
    this.#acc = acc & ((1 << fill) - 1);
    return acc >>> fill;
  }

  /**
   * Reads one bit.
   *
   * @returns 0 or 1.
   * @throws {RangeError} Past the end.
   */
  bit(): number {
    if (this.#fill === 0) {
      if (this.#at >= this.#end) throw ended();
      this.#acc = this.#bytes[this.#at++];
      this.#fill = 8;
    }
    const fill = --this.#fill;
    const bit = this.#acc >>> fill;
    this.#acc &= (1 << fill) - 1;
    return bit;
  }

  /**
   * Reads `n` bits, wider than {@linkcode BitReader.bits} takes.
   *
   * @param n 0 to 53.
   * @returns A non-negative integer below 2^n.
   * @throws {RangeError} Past the end.
   */
  wide(n: number): number {
    if (n <= PART) return this.bits(n);
    const high = this.wide(n - PART);
    return high * PART_SCALE + this.bits(PART);
  }

  /**
   * Reads values that {@linkcode BitWriter.buckets} wrote, with the
   * stream's state in locals throughout.
   *
   * @param out Receives them.
   * @param start Where the first goes.
   * @param end Just past where the last goes.
   * @param widths One to three widths, increasing, each at most 24.
   * @param unzigzag Whether to turn values back from zig-zag.
   * @throws {RangeError} Past the end.
   */
  buckets(
    out: Float64Array,
    start: number,
    end: number,
    widths: number[],
    unzigzag: boolean,
  ): void {
    const count = widths.length;
    const low = widths[0];
    const middle = count === 3 ? widths[1] : widths[count - 1];
    const widest = widths[count - 1];
    const bytes = this.#bytes;
    const stop = this.#end;
    let acc = this.#acc;
    let fill = this.#fill;
    let at = this.#at;
    for (let i = start; i < end; i++) {
      // Bits above `fill` in `acc` are spent ones: every read masks them.
      while (fill <= 23 && at < stop) {
        acc = (acc << 8) | bytes[at++];
        fill += 8;
      }
      let width = widest;
      if (count > 1) {
        if (fill < 2 && (fill === 0 || ((acc >>> (fill - 1)) & 1) === 1)) {
          throw ended();
        }
        fill--;
        if (((acc >>> fill) & 1) === 0) width = low;
        else if (count === 3) {
          fill--;
          if (((acc >>> fill) & 1) === 0) width = middle;
        }
      }
      if (fill < width) {
        while (fill <= 23 && at < stop) {
          acc = (acc << 8) | bytes[at++];
          fill += 8;
        }
        if (fill < width) throw ended();
      }
      fill -= width;
      const u = (acc >>> fill) & ~(-1 << width);
      out[i] = unzigzag ? (u >>> 1) ^ -(u & 1) : u;
    }
    this.#acc = acc & ~(-1 << fill);
    this.#fill = fill;
    this.#at = at;
  }

  /**
   * Checks that the stream ends here: only zero padding is left in the byte
   * under way, and no byte after it.
   *
   * @throws {SyntaxError} When anything is left.
   */
  end(): void {
    if (this.#acc !== 0 || this.#at !== this.#end) {
      throw new SyntaxError(
        "Cannot decode a chunk: bytes are left after its samples",
      );
    }
  }
}

function ended(): RangeError {
  return new RangeError("Cannot decode a chunk: it ends early");
}
