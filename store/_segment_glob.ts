/**
 * A glob within one segment of a key: literal characters, `?`, `[...]`
 * classes and `*`, matched without backtracking and without regular
 * expressions.
 *
 * The glob is split at its stars into pieces of fixed length, each character
 * of a piece matching exactly one character (code point) of the name. The
 * first piece must match at the start of the name, the last at its end, and
 * the pieces between are found one after another, each at its leftmost place
 * after the one before: leftmost leaves the most room for the rest, so a
 * match exists exactly when this finds one. A piece is searched with the
 * shift-and algorithm (`_shift_and.ts`): one bit a character of the piece,
 * one machine word per 32 of them.
 *
 * Cost of `test(name)` for a name of n characters: a dot, the literal
 * characters the glob starts and ends with, and the length are checked
 * first; then each character is read once by one piece, so the first and
 * last pieces cost O(their length) and the searches O(n × (w + k)), where w
 * is the longest searched piece's words, ⌈its length / 32⌉, and k how many
 * distinct classes it holds: `steps`, which `Pattern` caps at 64. At worst
 * O(n × the glob's length), never more.
 *
 * @module
 */

import { ANY, ShiftAnd, type Token } from "./_shift_and.ts";

const DOT = 0x2e;
const STAR = 0x2a;

/** A `[...]` class: a bitmap of ASCII, sorted ranges beyond. */
class CharClass {
  readonly source: string;
  #negated: boolean;
  // Four words of 32 bits; a plain array is cheaper to make than a typed one.
  #ascii = [0, 0, 0, 0];
  // Disjoint, sorted [from, to] pairs of code points from 128 on.
  #ranges: number[] = [];

  constructor(source: string) {
    this.source = source;
    let body = source.slice(1, -1);
    this.#negated = body[0] === "!" || body[0] === "^";
    if (this.#negated) body = body.slice(1);
    if (body.length === 0) {
      throw new SyntaxError("Cannot compile the pattern: an empty '[]'");
    }
    const chars = Array.from(body, (c) => c.codePointAt(0)!);
    const ranges: [number, number][] = [];
    for (let i = 0; i < chars.length; i++) {
      // `a-z` is a range, a `-` first or last is itself.
      if (chars[i + 1] === 0x2d && i + 2 < chars.length) {
        if (chars[i] > chars[i + 2]) {
          throw new SyntaxError(
            "Cannot compile the pattern: a bad range in '[]'",
          );
        }
        ranges.push([chars[i], chars[i + 2]]);
        i += 2;
      } else {
        ranges.push([chars[i], chars[i]]);
      }
    }
    for (const [from, to] of ranges) {
      // A word at a time: a class may hold thousands of ranges.
      for (let word = from >>> 5; word <= Math.min(to, 127) >>> 5; word++) {
        const low = Math.max(from - word * 32, 0);
        const high = Math.min(to - word * 32, 31);
        this.#ascii[word] |= (0xffffffff >>> (31 - high + low)) << low;
      }
    }
    if (this.#negated) {
      for (let i = 0; i < 4; i++) this.#ascii[i] = ~this.#ascii[i];
    }
    // A class never matches a dot, negated or not.
    this.#ascii[DOT >>> 5] &= ~(1 << (DOT & 31));
    this.#ranges = mergeRanges(ranges);
  }

  test(c: number): boolean {
    if (c < 128) return (this.#ascii[c >>> 5] & (1 << (c & 31))) !== 0;
    // Binary search for the last range starting at or before c.
    const ranges = this.#ranges;
    let low = 0;
    let high = ranges.length / 2;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (ranges[2 * middle] <= c) low = middle + 1;
      else high = middle;
    }
    const inside = low > 0 && c <= ranges[2 * low - 1];
    return inside !== this.#negated;
  }
}

/** The parts of `ranges` from 128 on, sorted and merged, flattened. */
function mergeRanges(ranges: [number, number][]): number[] {
  const high = ranges
    .filter(([, to]) => to >= 128)
    .map(([from, to]): [number, number] => [Math.max(from, 128), to])
    .sort((a, b) => a[0] - b[0]);
  const merged: number[] = [];
  for (const [from, to] of high) {
    if (merged.length > 0 && from <= merged[merged.length - 1] + 1) {
      merged[merged.length - 1] = Math.max(merged[merged.length - 1], to);
    } else {
      merged.push(from, to);
    }
  }
  return merged;
}

function tokenMatches(token: Token<number>, c: number): boolean {
  if (token === ANY) return true;
  return typeof token === "number" ? token === c : token.test(c);
}

/** Whether `tokens` match `chars[at, at + tokens.length)`. */
function matchesAt(
  tokens: readonly Token<number>[],
  chars: Uint32Array,
  at: number,
): boolean {
  for (let j = 0; j < tokens.length; j++) {
    if (!tokenMatches(tokens[j], chars[at + j])) return false;
  }
  return true;
}

/** A piece between two stars, searched for its leftmost match. */
class Piece {
  readonly length: number;
  readonly steps: number;
  #run: ShiftAnd<number>;

  constructor(tokens: readonly Token<number>[]) {
    this.length = tokens.length;
    this.#run = new ShiftAnd(tokens);
    this.steps = this.#run.steps;
  }

  /**
   * Finds the leftmost match within `chars[from, to)`.
   *
   * @returns The index just past it, or -1.
   */
  find(chars: Uint32Array, from: number, to: number): number {
    if (state.length < this.#run.words) {
      state = new Uint32Array(this.#run.words);
    }
    state.fill(0, 0, this.#run.words);
    for (let at = from; at < to; at++) {
      if (this.#run.step(state, 0, 0, chars[at])) return at + 1;
    }
    return -1;
  }
}

// The code points of the name being matched, and the state of a search.
// Shared, since a match of a segment never nests in another, and grown to
// the longest seen.
let chars = new Uint32Array(256);
let state = new Uint32Array(8);

/** Decodes `name` into `chars` and returns how many code points it has. */
function decode(name: string): number {
  if (chars.length < name.length) {
    chars = new Uint32Array(2 ** Math.ceil(Math.log2(name.length)));
  }
  let n = 0;
  for (let i = 0; i < name.length; i++) {
    const c = name.codePointAt(i)!;
    if (c > 0xffff) i++;
    chars[n++] = c;
  }
  return n;
}

/**
 * A compiled glob for one segment of a key: it never matches a dot.
 *
 * @example Usage
 * ```ts
 * import { SegmentGlob } from "@pulse/metrics";
 * import { equal } from "node:assert/strict";
 *
 * const glob = new SegmentGlob("host[0-9]*");
 * equal(glob.test("host1"), true);
 * equal(glob.test("hostx"), false);
 * ```
 */
export class SegmentGlob {
  /** The glob's text. */
  readonly source: string;
  /**
   * What matching costs at worst for each character of a name, in steps:
   * the words of its longest run between two stars (one per 32 characters)
   * and the distinct classes in it; at least 1.
   */
  readonly steps: number;
  #first: Token<number>[];
  #middle: Piece[] = [];
  // Undefined without a star: then the first piece is the whole glob.
  #last: Token<number>[] | undefined;
  #minLength: number;
  // The literal characters the glob starts and ends with, checked first.
  #prefix: string;
  #suffix: string;
  // Whether the glob is just `prefix*suffix`, which those checks decide.
  #plain: boolean;

  /**
   * Compiles `source`, reading runs of `*` as one.
   *
   * @param source One segment's glob, such as `host[0-9]*`.
   * @throws {SyntaxError} When a class is unclosed, empty or has a range out
   * of order, or a `]` has no `[`.
   */
  constructor(source: string) {
    this.source = source;
    const pieces = parsePieces(source);
    this.#first = pieces[0];
    this.#last = pieces.length > 1 ? pieces[pieces.length - 1] : undefined;
    for (const tokens of pieces.slice(1, -1)) {
      this.#middle.push(new Piece(tokens));
    }
    this.steps = Math.max(1, ...this.#middle.map((piece) => piece.steps));
    this.#minLength = pieces.reduce((sum, tokens) => sum + tokens.length, 0);
    const last = this.#last ?? [];
    const head = literalLength(this.#first);
    const tail = literalLength(last.toReversed());
    this.#prefix = String.fromCodePoint(
      ...this.#first.slice(0, head) as number[],
    );
    this.#suffix = String.fromCodePoint(
      ...last.slice(last.length - tail) as number[],
    );
    this.#plain = this.#last !== undefined && this.#middle.length === 0 &&
      head === this.#first.length && tail === last.length;
  }

  /**
   * Whether `name` matches the whole glob.
   *
   * @param name One segment of a key.
   * @returns Whether it matches; never when it holds a dot.
   */
  test(name: string): boolean {
    // Neither a star nor `?` nor a class matches a dot, and a literal dot
    // would have split the pattern's segment: a name with one is no match.
    if (
      name.includes(".") || !name.startsWith(this.#prefix) ||
      !name.endsWith(this.#suffix)
    ) {
      return false;
    }
    if (this.#plain) {
      return name.length >= this.#prefix.length + this.#suffix.length;
    }
    const n = decode(name);
    if (n < this.#minLength) return false;
    const last = this.#last;
    if (last === undefined) {
      return n === this.#first.length && matchesAt(this.#first, chars, 0);
    }
    if (!matchesAt(this.#first, chars, 0)) return false;
    const end = n - last.length;
    let at = this.#first.length;
    for (const piece of this.#middle) {
      at = piece.find(chars, at, end);
      if (at === -1) return false;
    }
    return matchesAt(last, chars, end);
  }
}

/** How many of `tokens` are literal characters before the first that is not. */
function literalLength(tokens: readonly Token<number>[]): number {
  const end = tokens.findIndex((token) => typeof token !== "number");
  return end === -1 ? tokens.length : end;
}

/** Splits a glob at its stars into pieces of tokens. */
function parsePieces(source: string): Token<number>[][] {
  const pieces: Token<number>[][] = [[]];
  let afterStar = false;
  for (let i = 0; i < source.length; i++) {
    const c = source.codePointAt(i)!;
    if (c === STAR) {
      if (!afterStar) pieces.push([]);
      afterStar = true;
      continue;
    }
    afterStar = false;
    let token: Token<number> = c;
    if (c === 0x3f) token = ANY;
    else if (c === 0x5b) {
      // The class's first character may be `]`: search past it.
      const close = source.indexOf("]", i + 2);
      if (close === -1) {
        throw new SyntaxError("Cannot compile the pattern: a '[' without ']'");
      }
      token = new CharClass(source.slice(i, close + 1));
      i = close;
    } else if (c === 0x5d) {
      throw new SyntaxError("Cannot compile the pattern: a ']' without '['");
    } else if (c > 0xffff) i++;
    pieces[pieces.length - 1].push(token);
  }
  return pieces;
}
