/**
 * The version of each put: a hybrid logical clock, so that "the last write
 * wins" has one meaning across front ends. A version is a 64-bit integer,
 *
 * ```
 * milliseconds × 2^20  +  counter × 2^10  +  front end
 * ```
 *
 * - milliseconds: the wall clock, never going back: when the clock steps
 *   back, or a front end has seen a later version, it goes on from the
 *   latest it knows;
 * - counter: 0 to 1023, the puts within one millisecond; past 1023 the
 *   clock moves on a millisecond ahead of the wall clock;
 * - front end: 0 to 1023, this process's number.
 *
 * So every version a front end gives is larger than the one before, and no
 * two front ends with different numbers give the same version. Between
 * front ends, a later put wins when their clocks agree better than the time
 * between the puts. Milliseconds × 2^20 fits 64 bits until the year 2527.
 *
 * @module
 */

const COUNTER_BITS = 10;
const NODE_BITS = 10;
const COUNTER_LIMIT = 2 ** COUNTER_BITS;
/** How many front-end numbers there are. */
export const NODE_COUNT = 2 ** NODE_BITS;
// The low 32 bits hold 12 bits of the milliseconds, the counter and the node.
const MS_LOW = 2 ** (32 - COUNTER_BITS - NODE_BITS);

/** Gives increasing versions. */
export class HybridClock {
  /** The front end's number, from 0 to 1023. */
  readonly node: number;
  /** The high 32 bits of the last version given. */
  high = 0;
  /** The low 32 bits of the last version given. */
  low = 0;
  #ms = 0;
  #counter = 0;
  #now: () => number;

  /**
   * Creates a clock.
   *
   * @param node This front end's number, from 0 to 1023.
   * @param now The wall clock in milliseconds.
   * @throws {RangeError} When the number is out of range.
   */
  constructor(node: number, now: () => number = Date.now) {
    if (!(Number.isInteger(node) && node >= 0 && node < NODE_COUNT)) {
      throw new RangeError(
        `Cannot number a front end ${node}: not an integer from 0 to ${
          NODE_COUNT - 1
        }`,
      );
    }
    this.node = node;
    this.#now = now;
  }

  /** Sets {@linkcode HybridClock.high} and `low` to the next version. */
  tick(): void {
    const now = this.#now();
    if (now > this.#ms) {
      this.#ms = now;
      this.#counter = 0;
    } else if (++this.#counter === COUNTER_LIMIT) {
      this.#ms++;
      this.#counter = 0;
    }
    const ms = this.#ms;
    const high = Math.floor(ms / MS_LOW);
    this.high = high;
    this.low = ((ms - high * MS_LOW) * COUNTER_LIMIT + this.#counter) *
        NODE_COUNT + this.node;
  }

  /**
   * Moves the clock past a version seen elsewhere, such as the largest one
   * stored: versions given from now on are larger.
   *
   * @param version A version.
   */
  observe(version: bigint): void {
    const ms = Number(version >> BigInt(COUNTER_BITS + NODE_BITS));
    if (ms > this.#ms) {
      this.#ms = ms;
      this.#counter = COUNTER_LIMIT - 1;
    }
  }

  /**
   * The last version given.
   *
   * @returns It, as a bigint.
   */
  last(): bigint {
    return (BigInt(this.high) << 32n) | BigInt(this.low);
  }
}
