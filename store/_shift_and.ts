/**
 * The shift-and algorithm: a bit-parallel simulation of the automaton of a
 * fixed-length run of tokens, each matching exactly one item. It serves two
 * levels: characters of a segment (`a?[bc]` between stars) and segments of a
 * key (`x.*.y` between `**`).
 *
 * A state holds one bit per token, one 32-bit word per 32 tokens: bit j says
 * that the first j + 1 tokens match the items that end at the current one.
 * One step costs O(words + distinct tests): the mask of the item is the
 * tokens that accept anything, those equal to it (a sparse mask per distinct
 * literal, found in a map) and those whose test it passes (one test per
 * distinct test, such as a class). Nothing is ever revisited.
 *
 * @module
 */

/** A token that accepts any item: `?` for a character, a whole segment. */
export const ANY: unique symbol = Symbol("any");

/** A token that accepts items by a test, such as a class `[a-z]`. */
export interface ItemTest<T> {
  /** Its text: equal texts are tested once per item. */
  readonly source: string;
  /** What one test costs, in steps of the caller's measure: 1 by default. */
  readonly steps?: number;
  /** Whether it accepts `item`. */
  test(item: T): boolean;
}

/** A literal item, a test, or {@linkcode ANY}. */
export type Token<T> = T | ItemTest<T> | typeof ANY;

/** A compiled run of tokens, for finding where it matches a sequence. */
export class ShiftAnd<T extends string | number> {
  /** How many tokens, each matching one item. */
  readonly length: number;
  /** How many 32-bit words a state takes. */
  readonly words: number;
  /** What one step costs at worst: its words and its distinct tests. */
  readonly steps: number;
  // Plain arrays, not typed ones: a pattern may compile thousands of runs,
  // and a small typed array costs far more to make.
  #any: number[];
  // Sparse masks, `[word, bits, ...]`, so that they take O(length) memory
  // however many distinct literals there are.
  #literals = new Map<T, number[]>();
  #tests: { test: ItemTest<T>; bits: number[] }[] = [];
  #mask: number[];
  #lastWord: number;
  #lastBit: number;

  /**
   * Compiles `tokens`.
   *
   * @param tokens At least one token.
   */
  constructor(tokens: readonly Token<T>[]) {
    this.length = tokens.length;
    this.words = Math.ceil(tokens.length / 32);
    this.#any = new Array(this.words).fill(0);
    this.#mask = new Array(this.words).fill(0);
    this.#lastWord = (tokens.length - 1) >>> 5;
    this.#lastBit = 1 << ((tokens.length - 1) & 31);
    const tests = new Map<string, number[]>();
    tokens.forEach((token, j) => {
      let bits: number[] | undefined;
      if (token === ANY) {
        this.#any[j >>> 5] |= 1 << (j & 31);
        return;
      } else if (typeof token === "object") {
        bits = tests.get(token.source);
        if (bits === undefined) {
          tests.set(token.source, bits = []);
          this.#tests.push({ test: token, bits });
        }
      } else {
        bits = this.#literals.get(token);
        if (bits === undefined) this.#literals.set(token, bits = []);
      }
      const word = j >>> 5;
      if (bits.length > 0 && bits[bits.length - 2] === word) {
        bits[bits.length - 1] |= 1 << (j & 31);
      } else {
        bits.push(word, 1 << (j & 31));
      }
    });
    this.steps = this.#tests.reduce(
      (sum, { test }) => sum + (test.steps ?? 1),
      this.words,
    );
  }

  /**
   * Advances a state by one item: reads the state at `from` in `states` and
   * writes the next at `to`, which may be the same place.
   *
   * @param states Where states are kept, `words` each.
   * @param from Where the state before `item` starts.
   * @param to Where the state after it goes.
   * @param item The next item of the sequence.
   * @returns Whether the whole run ends at `item`.
   */
  step(states: Uint32Array, from: number, to: number, item: T): boolean {
    const mask = this.#mask;
    const any = this.#any;
    for (let w = 0; w < this.words; w++) mask[w] = any[w];
    const literal = this.#literals.get(item);
    if (literal !== undefined) orBits(mask, literal);
    for (const { test, bits } of this.#tests) {
      if (test.test(item)) orBits(mask, bits);
    }
    let carry = 1;
    for (let w = 0; w < this.words; w++) {
      const before = states[from + w];
      states[to + w] = ((before << 1) | carry) & mask[w];
      carry = before >>> 31;
    }
    return (states[to + this.#lastWord] & this.#lastBit) !== 0;
  }
}

function orBits(mask: number[], bits: readonly number[]): void {
  for (let i = 0; i < bits.length; i += 2) mask[bits[i]] |= bits[i + 1];
}
