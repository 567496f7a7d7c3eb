/**
 * The bytes every request body in flight may hold together, shared by all
 * of them: a body takes its share before its first byte is read, and gives
 * it back once it is stored or refused. A body that does not fit waits for
 * room, unread, so that the client is held by TCP's flow control rather
 * than by the server's memory; bodies are let in in the order they came, so
 * that a large one is not passed over for ever by small ones.
 *
 * @example Usage
 * ```ts
 * import { BodyBudget } from "./body_budget.ts";
 * import { equal } from "node:assert/strict";
 *
 * const budget = new BodyBudget(100, 1_000);
 * equal(await budget.reserve(60), true);
 * const waiting = budget.reserve(60); // no room until the first is done
 * budget.release(60);
 * equal(await waiting, true);
 * budget.release(60);
 * equal(budget.used, 0);
 * ```
 *
 * @module
 */

interface Waiter {
  bytes: number;
  resolve: (granted: boolean) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** A budget of bytes shared by the request bodies in flight. */
export class BodyBudget {
  /** The most bytes all bodies in flight may hold together. */
  readonly capacity: number;
  #maxWait: number;
  #used = 0;
  #waiting: Waiter[] = [];

  /**
   * Makes a budget.
   *
   * @param capacity The most bytes all bodies may hold together.
   * @param maxWait The longest a body waits for room, in milliseconds.
   */
  constructor(capacity: number, maxWait: number) {
    this.capacity = capacity;
    this.#maxWait = maxWait;
  }

  /** The bytes taken now. */
  get used(): number {
    return this.#used;
  }

  /** How many bodies wait for room now. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * Takes `bytes` of the budget, at once when they fit and no body waits
   * before, else once enough is given back.
   *
   * @param bytes At most the capacity.
   * @returns Whether they were taken (a promise when the body must wait):
   * false when no room came within the longest wait.
   * @throws {RangeError} When `bytes` is more than the capacity: such a
   * body would wait for ever.
   */
  reserve(bytes: number): boolean | Promise<boolean> {
    if (!(bytes >= 0 && bytes <= this.capacity)) {
      throw new RangeError(
        `Cannot reserve ${bytes} bytes of a budget of ${this.capacity}`,
      );
    }
    if (this.#waiting.length === 0 && this.#used + bytes <= this.capacity) {
      this.#used += bytes;
      return true;
    }
    const { promise, resolve } = Promise.withResolvers<boolean>();
    const waiter: Waiter = {
      bytes,
      resolve,
      timer: setTimeout(() => {
        this.#waiting.splice(this.#waiting.indexOf(waiter), 1);
        resolve(false);
        // The first in line is gone: those behind it may fit.
        this.#grant();
      }, this.#maxWait),
    };
    this.#waiting.push(waiter);
    return promise;
  }

  /**
   * Gives back what {@linkcode BodyBudget.reserve} took, letting waiting
   * bodies in.
   *
   * @param bytes What was taken.
   */
  release(bytes: number): void {
    this.#used -= bytes;
    this.#grant();
  }

  /** Lets in the waiting bodies that fit, in order. */
  #grant(): void {
    while (this.#waiting.length > 0) {
      const first = this.#waiting[0];
      if (this.#used + first.bytes > this.capacity) return;
      this.#waiting.shift();
      clearTimeout(first.timer);
      this.#used += first.bytes;
      first.resolve(true);
    }
  }
}
