/**
 * A restricted reader of Python pickles: only the opcodes that carbon-relay
 * (protocol 2), statsd (protocol 0, written by hand) and pcp2graphite
 * (protocol 0 by default) emit for a list of `(path, (timestamp, value))`,
 * as Python 2 and 3 write them, checked against `pickle.dumps()` and
 * `pickletools.dis()`:
 *
 * - structure: `PROTO` (0 to 2), `MARK`, `STOP`, `EMPTY_LIST`, `LIST`,
 *   `APPEND`, `APPENDS`, `EMPTY_TUPLE`, `TUPLE`, `TUPLE1` to `TUPLE3`;
 * - strings: `STRING`, `BINSTRING`, `SHORT_BINSTRING` (Python 2's `str`,
 *   read as UTF-8), `UNICODE`, `BINUNICODE`;
 * - numbers: `INT`, `BININT`, `BININT1`, `BININT2`, `LONG`, `LONG1`,
 *   `FLOAT`, `BINFLOAT`, and `NONE`, `NEWTRUE`, `NEWFALSE`;
 * - the memo: `PUT`, `BINPUT`, `LONG_BINPUT`, `GET`, `BINGET`,
 *   `LONG_BINGET`.
 *
 * Every other opcode is refused before anything is built from it: above all
 * `GLOBAL` and `REDUCE` (which run code in Python), but also `INST`, `OBJ`,
 * `BUILD`, dictionaries, sets, bytes and the opcodes of protocols 3 to 5.
 * So is a pickle that is malformed: truncated, a stack or mark missing, a
 * memo entry never put, bytes after `STOP`, a string that is not UTF-8.
 *
 * Each opcode reads its arguments once and adds at most one value, so both
 * the time and the memory of a decoding are linear in the pickle's size,
 * which the caller bounds; nothing recurses.
 *
 * @module
 */

import { parseDecimal } from "../protocol/grammar.ts";
import { spellsNonFinite } from "./plaintext.ts";

/** A pickled list; tuples are plain arrays. */
export class PickleList {
  /** The items. */
  readonly items: PickleValue[];

  /** @param items The first items. */
  constructor(items: PickleValue[] = []) {
    this.items = items;
  }
}

/** What a restricted pickle may hold. */
export type PickleValue =
  | number
  | boolean
  | string
  | null
  | readonly PickleValue[]
  | PickleList;

/** The highest protocol read. */
export const MAX_PICKLE_PROTOCOL = 2;

// Opcodes read.
const MARK = 0x28; // (
const STOP = 0x2e; // .
const EMPTY_TUPLE = 0x29; // )
const FLOAT = 0x46; // F
const BINFLOAT = 0x47; // G
const INT = 0x49; // I
const BININT = 0x4a; // J
const BININT1 = 0x4b; // K
const LONG = 0x4c; // L
const BININT2 = 0x4d; // M
const NONE = 0x4e; // N
const STRING = 0x53; // S
const BINSTRING = 0x54; // T
const SHORT_BINSTRING = 0x55; // U
const UNICODE = 0x56; // V
const BINUNICODE = 0x58; // X
const EMPTY_LIST = 0x5d; // ]
const APPEND = 0x61; // a
const APPENDS = 0x65; // e
const GET = 0x67; // g
const BINGET = 0x68; // h
const LONG_BINGET = 0x6a; // j
const LIST = 0x6c; // l
const PUT = 0x70; // p
const BINPUT = 0x71; // q
const LONG_BINPUT = 0x72; // r
const TUPLE = 0x74; // t
const PROTO = 0x80;
const TUPLE1 = 0x85;
const TUPLE2 = 0x86;
const TUPLE3 = 0x87;
const NEWTRUE = 0x88;
const NEWFALSE = 0x89;
const LONG1 = 0x8a;

// Names of opcodes refused, for the message.
const REFUSED: Record<number, string> = {
  0x63: "GLOBAL",
  0x93: "STACK_GLOBAL",
  0x52: "REDUCE",
  0x69: "INST",
  0x6f: "OBJ",
  0x62: "BUILD",
  0x81: "NEWOBJ",
  0x92: "NEWOBJ_EX",
  0x50: "PERSID",
  0x51: "BINPERSID",
  0x82: "EXT1",
  0x83: "EXT2",
  0x84: "EXT4",
  0x7d: "EMPTY_DICT",
  0x64: "DICT",
  0x73: "SETITEM",
  0x75: "SETITEMS",
  0x30: "POP",
  0x31: "POP_MARK",
  0x32: "DUP",
  0x8b: "LONG4",
  0x42: "BINBYTES",
  0x43: "SHORT_BINBYTES",
  0x8c: "SHORT_BINUNICODE",
  0x8d: "BINUNICODE8",
  0x8e: "BINBYTES8",
  0x8f: "EMPTY_SET",
  0x90: "ADDITEMS",
  0x91: "FROZENSET",
  0x94: "MEMOIZE",
  0x95: "FRAME",
  0x96: "BYTEARRAY8",
  0x97: "NEXT_BUFFER",
  0x98: "READONLY_BUFFER",
};

const NEWLINE = 0x0a;
const BACKSLASH = 0x5c;
const QUOTE = 0x27;
const DOUBLE_QUOTE = 0x22;
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
// Python's one-character escapes of `STRING`, by the character after `\`.
const ESCAPES: Record<number, number> = {
  0x5c: 0x5c, // \\
  0x27: 0x27, // \'
  0x22: 0x22, // \"
  0x61: 0x07, // \a
  0x62: 0x08, // \b
  0x66: 0x0c, // \f
  0x6e: 0x0a, // \n
  0x72: 0x0d, // \r
  0x74: 0x09, // \t
  0x76: 0x0b, // \v
};

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/**
 * Decodes a pickle made of the opcodes carbon's senders use.
 *
 * @example Usage
 * ```ts
 * import { PickleList, unpickle } from "./_unpickle.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * // pickle.dumps([("a.b", (1501864247, 1.5))], protocol=0)
 * const bytes = new TextEncoder().encode(
 *   "(lp0\n(Va.b\np1\n(I1501864247\nF1.5\ntp2\ntp3\na.",
 * );
 * deepEqual(unpickle(bytes), new PickleList([["a.b", [1501864247, 1.5]]]));
 * ```
 *
 * @param bytes The pickle, without carbon's length prefix.
 * @returns The value it holds.
 * @throws {SyntaxError} When an opcode is not allowed or the pickle is
 * malformed.
 */
export function unpickle(bytes: Uint8Array): PickleValue {
  const unpickler = new Unpickler(bytes);
  unpickler.run(Infinity);
  return unpickler.result;
}

// Python's `()` is one object; so is this, which keeps a run of them cheap.
const EMPTY_TUPLE_VALUE: readonly PickleValue[] = Object.freeze([]);

/**
 * One decoding, a bounded number of opcodes at a time, so that a large
 * pickle can be decoded between turns of the event loop.
 */
export class Unpickler {
  #bytes: Uint8Array;
  #view: DataView;
  #at = 0;
  #stack: PickleValue[] = [];
  // Where each open MARK's frame starts in `#stack`.
  #marks: number[] = [];
  #memo = new Map<number, PickleValue>();
  #result: { value: PickleValue } | undefined;

  /** @param bytes The pickle, without carbon's length prefix. */
  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  }

  /**
   * The value the pickle holds, once {@linkcode Unpickler.run} said it is
   * done.
   *
   * @throws {TypeError} When the decoding is not done.
   */
  get result(): PickleValue {
    if (this.#result === undefined) {
      throw new TypeError("Cannot take the result of an unfinished decoding");
    }
    return this.#result.value;
  }

  /**
   * Decodes up to `steps` opcodes.
   *
   * @param steps How many opcodes at most.
   * @returns Whether the decoding is done.
   * @throws {SyntaxError} When an opcode is not allowed or the pickle is
   * malformed.
   */
  run(steps: number): boolean {
    if (this.#result !== undefined) return true;
    const bytes = this.#bytes;
    for (let step = 0; step < steps; step++) {
      if (this.#at >= bytes.length) throw this.#error("no STOP");
      const op = bytes[this.#at++];
      if (op === STOP) {
        this.#result = { value: this.#stop() };
        return true;
      }
      if (!this.#value(op) && !this.#structure(op) && !this.#memory(op)) {
        this.#at--;
        const name = REFUSED[op];
        throw this.#error(
          name === undefined
            ? `unknown opcode 0x${op.toString(16).padStart(2, "0")}`
            : `opcode ${name} is not allowed`,
        );
      }
    }
    return false;
  }

  /** Pushes a string, number or constant; false when `op` is none. */
  #value(op: number): boolean {
    const view = this.#view;
    switch (op) {
      case BINUNICODE:
        this.#push(this.#utf8(this.#take(view.getUint32(this.#skip(4), true))));
        return true;
      case SHORT_BINSTRING:
        this.#push(this.#utf8(this.#take(this.#bytes[this.#skip(1)])));
        return true;
      case BINSTRING:
        this.#push(
          this.#utf8(
            this.#take(this.#length(view.getInt32(this.#skip(4), true))),
          ),
        );
        return true;
      case STRING:
        this.#push(this.#quoted());
        return true;
      case UNICODE:
        this.#push(this.#rawUnicodeEscape());
        return true;
      case BININT1:
        this.#push(this.#bytes[this.#skip(1)]);
        return true;
      case BININT2:
        this.#push(view.getUint16(this.#skip(2), true));
        return true;
      case BININT:
        this.#push(view.getInt32(this.#skip(4), true));
        return true;
      case BINFLOAT:
        this.#push(view.getFloat64(this.#skip(8), false));
        return true;
      case INT:
        this.#push(this.#int());
        return true;
      case LONG:
        this.#push(this.#long());
        return true;
      case LONG1:
        this.#push(this.#long1());
        return true;
      case FLOAT:
        this.#push(this.#float());
        return true;
      case NONE:
        this.#push(null);
        return true;
      case NEWTRUE:
      case NEWFALSE:
        this.#push(op === NEWTRUE);
        return true;
    }
    return false;
  }

  /** Builds lists and tuples; false when `op` does none of it. */
  #structure(op: number): boolean {
    switch (op) {
      case MARK:
        this.#marks.push(this.#stack.length);
        return true;
      case EMPTY_LIST:
        this.#push(new PickleList());
        return true;
      case LIST:
        this.#push(new PickleList(this.#popMark()));
        return true;
      case APPEND: {
        const item = this.#pop();
        this.#list().items.push(item);
        return true;
      }
      case APPENDS: {
        const items = this.#popMark();
        const list = this.#list();
        for (const item of items) list.items.push(item);
        return true;
      }
      case EMPTY_TUPLE:
        this.#push(EMPTY_TUPLE_VALUE);
        return true;
      case TUPLE:
        this.#push(this.#popMark());
        return true;
      case TUPLE1:
      case TUPLE2:
      case TUPLE3:
        this.#push(this.#popItems(op - TUPLE1 + 1));
        return true;
      case PROTO: {
        const version = this.#bytes[this.#skip(1)];
        if (version > MAX_PICKLE_PROTOCOL) {
          this.#at -= 2;
          throw this.#error(
            `protocol ${version} is not allowed (0 to ${MAX_PICKLE_PROTOCOL} are)`,
          );
        }
        return true;
      }
    }
    return false;
  }

  /** Puts to and gets from the memo; false when `op` does neither. */
  #memory(op: number): boolean {
    const view = this.#view;
    switch (op) {
      case PUT:
        this.#memo.set(this.#decimalLine("a memo index"), this.#top());
        return true;
      case BINPUT:
        this.#memo.set(this.#bytes[this.#skip(1)], this.#top());
        return true;
      case LONG_BINPUT:
        this.#memo.set(view.getUint32(this.#skip(4), true), this.#top());
        return true;
      case GET:
        this.#push(this.#recall(this.#decimalLine("a memo index")));
        return true;
      case BINGET:
        this.#push(this.#recall(this.#bytes[this.#skip(1)]));
        return true;
      case LONG_BINGET:
        this.#push(this.#recall(view.getUint32(this.#skip(4), true)));
        return true;
    }
    return false;
  }

  #stop(): PickleValue {
    if (this.#marks.length > 0) throw this.#error("a MARK is left open");
    if (this.#stack.length !== 1) {
      throw this.#error(`STOP with ${this.#stack.length} values on the stack`);
    }
    if (this.#at !== this.#bytes.length) throw this.#error("bytes after STOP");
    return this.#stack[0];
  }

  #error(what: string): SyntaxError {
    return new SyntaxError(`Cannot unpickle: ${what} at byte ${this.#at}`);
  }

  /** Skips `n` bytes of arguments; returns where they start. */
  #skip(n: number): number {
    const at = this.#at;
    if (at + n > this.#bytes.length) throw this.#error("a truncated argument");
    this.#at = at + n;
    return at;
  }

  #take(n: number): Uint8Array {
    const at = this.#skip(n);
    return this.#bytes.subarray(at, at + n);
  }

  #length(n: number): number {
    if (n < 0) throw this.#error("a negative length");
    return n;
  }

  /** The argument line of a text opcode, without its `\n`. */
  #line(): [start: number, end: number] {
    const start = this.#at;
    const newline = this.#bytes.indexOf(NEWLINE, start);
    if (newline < 0) throw this.#error("a line without its end");
    this.#at = newline + 1;
    return [start, newline];
  }

  #push(value: PickleValue): void {
    this.#stack.push(value);
  }

  /** Where the innermost MARK's frame starts: values below are out of reach. */
  #base(): number {
    const marks = this.#marks;
    return marks.length === 0 ? 0 : marks[marks.length - 1];
  }

  #top(): PickleValue {
    if (this.#stack.length <= this.#base()) throw this.#error("an empty stack");
    return this.#stack[this.#stack.length - 1];
  }

  #pop(): PickleValue {
    const value = this.#top();
    this.#stack.length--;
    return value;
  }

  #popItems(n: number): PickleValue[] {
    const stack = this.#stack;
    if (stack.length - this.#base() < n) throw this.#error("an empty stack");
    return stack.splice(stack.length - n, n);
  }

  #popMark(): PickleValue[] {
    const mark = this.#marks.pop();
    if (mark === undefined) throw this.#error("no MARK");
    return this.#stack.splice(mark);
  }

  #list(): PickleList {
    const list = this.#top();
    if (!(list instanceof PickleList)) {
      throw this.#error("appending to something other than a list");
    }
    return list;
  }

  #recall(index: number): PickleValue {
    const value = this.#memo.get(index);
    if (value === undefined) throw this.#error(`memo ${index} was never put`);
    return value;
  }

  #utf8(bytes: Uint8Array): string {
    try {
      return UTF8.decode(bytes);
    } catch {
      throw this.#error("a string that is not UTF-8");
    }
  }

  /** A line of `[+-]digits`, as a number (rounded past 2^53, as float()). */
  #integerLine(what: string): number {
    const [start, end] = this.#line();
    return this.#integer(start, end, what);
  }

  #integer(start: number, end: number, what: string): number {
    const bytes = this.#bytes;
    let i = start;
    if (i < end && (bytes[i] === 0x2b || bytes[i] === 0x2d)) i++;
    if (i === end) throw this.#error(`${what} that is not an integer`);
    for (; i < end; i++) {
      if (bytes[i] < 0x30 || bytes[i] > 0x39) {
        throw this.#error(`${what} that is not an integer`);
      }
    }
    // The digits are checked: the engine's conversion rounds correctly.
    let text = "";
    for (let j = start; j < end; j++) text += String.fromCharCode(bytes[j]);
    return Number(text);
  }

  #decimalLine(what: string): number {
    const index = this.#integerLine(what);
    if (!(index >= 0)) throw this.#error(`${what} below 0`);
    return index;
  }

  /** `INT`: an integer, or `01`/`00` for True and False (protocol 0). */
  #int(): number | boolean {
    const [start, end] = this.#line();
    const bytes = this.#bytes;
    if (end - start === 2 && bytes[start] === 0x30) {
      if (bytes[start + 1] === 0x31) return true;
      if (bytes[start + 1] === 0x30) return false;
    }
    return this.#integer(start, end, "an INT");
  }

  /** `LONG`: digits, with Python 2's trailing `L`. */
  #long(): number {
    const [start, end] = this.#line();
    const last = end > start && this.#bytes[end - 1] === 0x4c ? end - 1 : end;
    return this.#integer(start, last, "a LONG");
  }

  /** `LONG1`: a little-endian two's complement integer of n bytes. */
  #long1(): number {
    const n = this.#bytes[this.#skip(1)];
    const bytes = this.#take(n);
    let value = 0;
    for (let i = n - 1; i >= 0; i--) value = value * 256 + bytes[i];
    if (n > 0 && bytes[n - 1] >= 0x80) value -= 256 ** n;
    return value;
  }

  /** `FLOAT`: a decimal as Python's repr() writes it, `nan` and `inf` too. */
  #float(): number {
    const [start, end] = this.#line();
    const bytes = this.#bytes;
    const value = parseDecimal(bytes, start, end);
    if (value === value) return value;
    if (!spellsNonFinite(bytes, start, end)) {
      throw this.#error("a FLOAT that is not a number");
    }
    let text = "";
    for (let i = start; i < end; i++) text += String.fromCharCode(bytes[i]);
    text = text.toLowerCase();
    if (text.endsWith("nan")) return NaN;
    return text.startsWith("-") ? -Infinity : Infinity;
  }

  /** `STRING`: a quoted line with Python's backslash escapes. */
  #quoted(): string {
    const [start, end] = this.#line();
    const bytes = this.#bytes;
    const quote = bytes[start];
    if (
      end - start < 2 || (quote !== QUOTE && quote !== DOUBLE_QUOTE) ||
      bytes[end - 1] !== quote
    ) {
      throw this.#error("a STRING that is not quoted");
    }
    const out = new Uint8Array(end - start);
    let length = 0;
    for (let i = start + 1; i < end - 1; i++) {
      const c = bytes[i];
      if (c !== BACKSLASH) {
        out[length++] = c;
        continue;
      }
      if (++i === end - 1) throw this.#error("a STRING ending in \\");
      const next = bytes[i];
      const escaped = ESCAPES[next];
      if (escaped !== undefined) {
        out[length++] = escaped;
      } else if (next === 0x78) { // \xhh
        const high = hexDigit(bytes[i + 1]);
        const low = i + 2 < end - 1 ? hexDigit(bytes[i + 2]) : -1;
        if (high < 0 || low < 0) throw this.#error("a bad \\x escape");
        out[length++] = high * 16 + low;
        i += 2;
      } else if (next >= 0x30 && next <= 0x37) { // \ooo
        let code = next - 0x30;
        for (let k = 0; k < 2 && i + 1 < end - 1; k++) {
          const digit = bytes[i + 1] - 0x30;
          if (digit < 0 || digit > 7) break;
          code = code * 8 + digit;
          i++;
        }
        out[length++] = code & 0xff;
      } else { // kept as written, as Python does
        out[length++] = BACKSLASH;
        out[length++] = next;
      }
    }
    return this.#utf8(out.subarray(0, length));
  }

  /**
   * `UNICODE`: Python's raw-unicode-escape, bytes as code points up to
   * U+00FF and `\uXXXX` or `\UXXXXXXXX` for the rest.
   */
  #rawUnicodeEscape(): string {
    const [start, end] = this.#line();
    const bytes = this.#bytes;
    let text = "";
    for (let i = start; i < end; i++) {
      const c = bytes[i];
      const next = i + 1 < end ? bytes[i + 1] : 0;
      if (c !== BACKSLASH || (next !== 0x75 && next !== 0x55)) {
        text += String.fromCharCode(c);
        continue;
      }
      const digits = next === 0x75 ? 4 : 8;
      if (i + 2 + digits > end) throw this.#error("a truncated \\u escape");
      let code = 0;
      for (let k = 0; k < digits; k++) {
        const digit = hexDigit(bytes[i + 2 + k]);
        if (digit < 0) throw this.#error("a bad \\u escape");
        code = code * 16 + digit;
      }
      if (code > 0x10ffff) throw this.#error("a \\U escape past U+10FFFF");
      text += String.fromCodePoint(code);
      i += 1 + digits;
    }
    return text;
  }
}
