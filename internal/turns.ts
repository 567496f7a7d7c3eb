/**
 * Telling whether the event loop has gone too long without a turn, so that
 * a busy connection can give way to the others.
 *
 * In Deno a read whose bytes are already there completes without a turn of
 * the event loop, and so does a write the socket takes at once. A client
 * that keeps its connection busy would then be served chunk after chunk
 * while no other socket is polled. `setImmediate` and `MessageChannel` do
 * not poll sockets either (measured on Deno 2.9.6); a timer does. So a
 * timer marks each turn, and a session that sees none for a few
 * milliseconds waits for one.
 *
 * @module
 */

/**
 * Watches the event loop's turns with one timer at a time. It reads the clock
 * once per chunk a session handles: `Date.now()`, as its milliseconds are
 * fine enough for slices of a few and it costs half of `performance.now()`
 * (42 ns against 95 ns here, a percent of a round trip).
 */
export class EventLoopTurns {
  #last = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #tick = () => {
    this.#last = Date.now();
    this.#timer = undefined;
  };

  /**
   * Whether the event loop has gone more than `ms` without a turn.
   *
   * @param ms The longest a session may hold the loop.
   * @returns Whether the caller should wait for a turn.
   */
  overdue(ms: number): boolean {
    if (this.#timer === undefined) {
      // A turn came since the last check (the timer fired), or nothing was
      // watched: count from now, and mark the next turn.
      if (this.#closed) return false;
      this.#last = Date.now();
      this.#timer = setTimeout(this.#tick, 0);
      return false;
    }
    return Date.now() - this.#last > ms;
  }

  /** Stops watching. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/**
 * Waits for a turn of the event loop, in which every socket is polled.
 *
 * @returns A promise that settles on the next turn.
 */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
