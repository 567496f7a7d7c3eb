/**
 * Giving other clients a turn during a long render: reading millions of
 * samples, running functions over them and printing the answer each check
 * here between pieces of work, and wait for a turn of the event loop when
 * they have held it for a few milliseconds.
 *
 * @module
 */

import { EventLoopTurns, nextTurn } from "../../internal/turns.ts";

// Milliseconds of work before other requests and connections get a turn.
const SLICE_MS = 10;

/** Paces one request's work. */
export class Pacer implements Disposable {
  #turns = new EventLoopTurns();

  /**
   * Waits for a turn of the event loop when the work has held it too long.
   *
   * @returns A promise only when it must wait.
   */
  pause(): Promise<void> | undefined {
    return this.#turns.overdue(SLICE_MS) ? nextTurn() : undefined;
  }

  /** Stops watching the event loop. */
  [Symbol.dispose](): void {
    this.#turns.close();
  }
}
