/**
 * Closing connections that neither send nor take anything for a while,
 * without reading a clock per request: a connection's session bumps an
 * activity counter, and a sweep now and then notes every counter; one that
 * stood still for the whole timeout is closed.
 *
 * @module
 */

/** What the sweep watches of a connection. */
export interface Watched {
  /** The connection, closed when it stood still too long. */
  readonly conn: { close(): void };
  /** Grows whenever the client sends bytes or takes answers. */
  readonly activity: number;
}

/**
 * Sweeps `connections` until stopped, closing those idle for `idleTimeout`.
 *
 * @example Usage
 * ```ts
 * import { sweepIdle, type Watched } from "./idle_sweep.ts";
 *
 * const connections = new Set<Watched>();
 * const stop = sweepIdle(connections, { idleTimeout: 30_000 });
 * stop();
 * ```
 *
 * @param connections The live set of connections; it may change meanwhile.
 * @param options The timeout in milliseconds, and what to do before one is
 * closed for it.
 * @returns A function that stops the sweeping.
 */
export function sweepIdle<T extends Watched>(
  connections: Iterable<T> & { has(connection: T): boolean },
  options: { idleTimeout: number; onIdle?: (connection: T) => void },
): () => void {
  const { idleTimeout } = options;
  const seen = new Map<T, { activity: number; since: number }>();
  const timer = setInterval(() => {
    const now = Date.now();
    for (const connection of connections) {
      const last = seen.get(connection);
      if (last === undefined || last.activity !== connection.activity) {
        seen.set(connection, { activity: connection.activity, since: now });
      } else if (now - last.since >= idleTimeout) {
        options.onIdle?.(connection);
        connection.conn.close();
      }
    }
    for (const connection of seen.keys()) {
      if (!connections.has(connection)) seen.delete(connection);
    }
  }, Math.max(10, Math.min(idleTimeout / 4, 1_000)));
  return () => clearInterval(timer);
}
