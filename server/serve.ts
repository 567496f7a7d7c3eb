/**
 * {@linkcode serve}: the metrics protocol over TCP (or TLS), with a handle
 * shaped like `Deno.serve`'s.
 *
 * @module
 */

import { describe } from "../internal/describe.ts";
import { EventLoopTurns } from "../internal/turns.ts";
import { writeAll } from "../internal/write_all.ts";
import type { Storage } from "../persist/storage.ts";
import { DEFAULT_HOSTNAME, DEFAULT_PORT } from "../protocol/defaults.ts";
import { RequestParser } from "../protocol/request.ts";
import { Store } from "../store.ts";
import { acceptConnections } from "./accept.ts";
import { Counters } from "./counters.ts";
import { DEFAULT_MAX_LINE_LENGTH } from "./lines.ts";
import { RenderCache } from "./render_cache.ts";
import { serveSession, type SessionState } from "./session.ts";

export { DEFAULT_HOSTNAME, DEFAULT_PORT };
/** The default of {@linkcode ServeOptions.maxConnections}. */
export const DEFAULT_MAX_CONNECTIONS = 10_000;
/** The default of {@linkcode ServeOptions.maxOutput}: 8 MiB. */
export const DEFAULT_MAX_OUTPUT = 8 * 1024 * 1024;

/** Options of {@linkcode serve}. */
export interface ServeOptions {
  /**
   * The address to listen on.
   *
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * The port to listen on; 0 picks any free port (see `addr`).
   *
   * @default {8888}
   */
  port?: number;
  /**
   * Aborting it shuts the server down, as {@linkcode Server.shutdown} does.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * The store to serve, in memory only; pass one to share it or to look
   * into it. Leave it out when passing `storage`.
   *
   * @default {new Store()}
   */
  store?: Store;
  /**
   * A data directory opened with {@linkcode openStorage}: its store is
   * served and every change is appended to its log, so that changes are
   * acknowledged by its fsync policy.
   *
   * @default {undefined}
   */
  storage?: Storage;
  /**
   * The longest request line, in bytes; a longer one is discarded as it
   * arrives and answered with an error.
   *
   * @default {65536}
   */
  maxLineLength?: number;
  /**
   * The most connections at once; one more is answered
   * `error\ntoo many connections\n\n` and closed.
   *
   * @default {10000}
   */
  maxConnections?: number;
  /**
   * Milliseconds a connection may go without sending or taking anything
   * before it is closed; 0 for no limit.
   *
   * @default {0}
   */
  idleTimeout?: number;
  /**
   * The most bytes of answers held for a client that does not read them;
   * past it the client is disconnected and the event reported to `onError`.
   *
   * @default {8388608}
   */
  maxOutput?: number;
  /**
   * A secret that every connection must send first, as `auth <token>`.
   *
   * @default {undefined}
   */
  token?: string;
  /**
   * A certificate chain in PEM, to serve over TLS (with `key`).
   *
   * @default {undefined}
   */
  cert?: string;
  /**
   * The certificate's private key in PEM.
   *
   * @default {undefined}
   */
  key?: string;
  /**
   * Seconds samples are kept: older ones are dropped, at start and at least
   * once a minute, from the log too. Kept for ever when unset.
   *
   * @default {undefined}
   */
  retention?: number;
  /**
   * Called once the server listens.
   *
   * @default {undefined}
   */
  onListen?: (addr: Deno.NetAddr) => void;
  /**
   * Called with what went wrong on a single connection; the server goes on.
   * Peers that hang up are not errors.
   *
   * @default {(error) => console.error(`pulse: ${error.message}`)}
   */
  onError?: (error: Error) => void;
}

/** The server's figures, as the `stats` command reports them. */
export type ServerStats = Record<string, number>;

/** A running server, shaped like the handle `Deno.serve` returns. */
export interface Server extends AsyncDisposable {
  /** The address the server listens on, with the port it got. */
  readonly addr: Deno.NetAddr;
  /** Settles once the server has shut down and every connection closed. */
  readonly finished: Promise<void>;
  /**
   * Stops accepting, answers the requests already received, closes every
   * connection and resolves once done. Safe to call more than once.
   */
  shutdown(): Promise<void>;
  /**
   * The server's figures: uptime, connections, commands by kind, errors,
   * series, samples, bytes in and out, the sizes of the log and snapshot,
   * and memory (resident, V8's heap, and buffers outside it).
   *
   * @returns Figures by name.
   */
  stats(): ServerStats;
}

// How long shutdown waits for clients that do not read their answers.
const SHUTDOWN_GRACE_MS = 5_000;
// How often retention runs at most: at least once a minute.
const RETENTION_CHECK_MS = 60_000;
const TOO_MANY_CONNECTIONS = new TextEncoder().encode(
  "error\ntoo many connections\n\n",
);

/** A connection and what its session tells the server. */
interface Connection extends SessionState {
  conn: Deno.Conn;
}

function isHangUp(error: unknown): boolean {
  return error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.Interrupted ||
    error instanceof Deno.errors.NotConnected ||
    error instanceof Deno.errors.UnexpectedEof;
}

/**
 * Checks that a limit is a number of at least `min`: 1 for counts and sizes
 * (0 connections or a line of 0 bytes would refuse everything), 0 where 0
 * means "never".
 */
function checkAtLeast(
  name: string,
  value: number | undefined,
  min: number,
): void {
  if (value !== undefined && !(value >= min && Number.isFinite(value))) {
    throw new RangeError(
      `Cannot serve with ${name} ${value}: not a number >= ${min}`,
    );
  }
}

/**
 * Checks the limits of {@linkcode ServeOptions}.
 *
 * @throws {RangeError} When one is out of its range.
 */
function checkLimits(options: ServeOptions): void {
  checkAtLeast("maxLineLength", options.maxLineLength, 1);
  checkAtLeast("maxConnections", options.maxConnections, 1);
  checkAtLeast("idleTimeout", options.idleTimeout, 0);
  checkAtLeast("maxOutput", options.maxOutput, 1);
  if (options.retention !== undefined && !(options.retention > 0)) {
    throw new RangeError(
      `Cannot serve with retention ${options.retention}: not a number > 0`,
    );
  }
}

/**
 * Serves the metrics protocol over TCP (or TLS) until shut down.
 *
 * @example Usage
 * ```ts
 * import { serve } from "@pulse/metrics";
 * import { ok } from "node:assert/strict";
 *
 * const controller = new AbortController();
 * const server = serve({ port: 0, signal: controller.signal });
 * ok(server.addr.port > 0);
 * controller.abort();
 * await server.finished;
 * ```
 *
 * @param options Where to listen, the store, access and limits.
 * @returns The running server.
 * @throws {TypeError} When both `store` and `storage` are given, or only one
 * of `cert` and `key`.
 * @throws {RangeError} When a limit is out of its range: a count or size
 * below 1, a negative idle timeout, or a retention that is not positive.
 * @throws {Deno.errors.AddrInUse} When the port is taken.
 */
export function serve(options: ServeOptions = {}): Server {
  if (options.store && options.storage) {
    throw new TypeError("Cannot serve both a store and a storage's store");
  }
  if ((options.cert === undefined) !== (options.key === undefined)) {
    throw new TypeError("Cannot serve over TLS without both cert and key");
  }
  checkLimits(options);
  const store = options.storage?.store ?? options.store ?? new Store();
  const journal = options.storage?.journal;
  const maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  const idleTimeout = options.idleTimeout ?? 0;
  const onError = options.onError ??
    ((error: Error) => console.error(`pulse: ${error.message}`));
  const counters = new Counters();
  const turns = new EventLoopTurns();
  const connections = new Set<Connection>();
  const listenOptions = {
    hostname: options.hostname ?? DEFAULT_HOSTNAME,
    port: options.port ?? DEFAULT_PORT,
  };
  const listener: Deno.Listener = options.cert === undefined
    ? Deno.listen(listenOptions)
    : Deno.listenTls({
      ...listenOptions,
      cert: options.cert,
      key: options.key!,
    });
  const addr = listener.addr as Deno.NetAddr;
  let closing = false;
  let shutdownPromise: Promise<void> | undefined;

  const stats = (): ServerStats => {
    const figures: ServerStats = {
      uptime_seconds: Math.floor((Date.now() - counters.started) / 1000),
      connections: connections.size,
      connections_total: counters.connectionsTotal,
      connections_refused: accepting.refused,
    };
    for (const [command, count] of Object.entries(counters.commands)) {
      figures[`commands_${command}`] = count;
    }
    const { series, samples } = store.stats;
    Object.assign(figures, {
      errors: counters.errors,
      series,
      samples,
      bytes_in: counters.bytesIn,
      bytes_out: counters.bytesOut,
    });
    if (options.storage !== undefined) {
      figures.log_bytes = options.storage.sizes.log;
      figures.snapshot_bytes = options.storage.sizes.snapshot;
    }
    const memory = Deno.memoryUsage();
    figures.memory_rss_bytes = memory.rss;
    figures.memory_heap_bytes = memory.heapTotal;
    figures.memory_external_bytes = memory.external;
    return figures;
  };

  const context = {
    store,
    journal,
    parser: new RequestParser(),
    counters,
    renderCache: new RenderCache(),
    turns,
    token: options.token === undefined
      ? undefined
      : new TextEncoder().encode(options.token),
    maxLineLength: options.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH,
    maxOutput: options.maxOutput ?? DEFAULT_MAX_OUTPUT,
    get closing() {
      return closing;
    },
    stats: () => Object.entries(stats()),
  };

  function peer(conn: Deno.Conn): string {
    const remote = conn.remoteAddr as Deno.NetAddr;
    return `${remote.hostname}:${remote.port}`;
  }

  const serveConnection = async (conn: Deno.Conn) => {
    counters.connectionsTotal++;
    const connection: Connection = { conn, idle: true, activity: 0 };
    connections.add(connection);
    try {
      await serveSession(conn, context, connection);
    } catch (error) {
      if (!isHangUp(error)) {
        onError(
          new Error(`Closed ${peer(conn)}: ${describe(error)}`, {
            cause: error,
          }),
        );
      }
    } finally {
      connections.delete(connection);
    }
  };

  const timers: ReturnType<typeof setInterval>[] = [];
  if (idleTimeout > 0) {
    // Each sweep notes every connection's activity; one that stood still
    // for the whole timeout is closed.
    const seen = new Map<Connection, { activity: number; since: number }>();
    timers.push(setInterval(() => {
      const now = Date.now();
      for (const connection of connections) {
        const last = seen.get(connection);
        if (last === undefined || last.activity !== connection.activity) {
          seen.set(connection, { activity: connection.activity, since: now });
        } else if (now - last.since >= idleTimeout) {
          connection.conn.close();
        }
      }
      for (const connection of seen.keys()) {
        if (!connections.has(connection)) seen.delete(connection);
      }
    }, Math.max(10, Math.min(idleTimeout / 4, 1_000))));
  }
  if (options.retention !== undefined) {
    const retention = options.retention;
    const enforce = () => {
      const cutoff = Math.floor(Date.now() / 1000) - retention;
      if (store.dropBefore(cutoff) > 0 && journal !== undefined) {
        journal.trim(cutoff);
        journal.commit()?.catch(() => {});
      }
    };
    enforce();
    timers.push(
      setInterval(enforce, Math.min(RETENTION_CHECK_MS, retention * 100)),
    );
  }

  const accepting = acceptConnections(listener, {
    serve: serveConnection,
    maxConnections,
    refuse: (conn) => writeAll(conn, TOO_MANY_CONNECTIONS),
    onError,
  });

  function shutdown(): Promise<void> {
    shutdownPromise ??= (async () => {
      closing = true;
      options.signal?.removeEventListener("abort", onAbort);
      for (const timer of timers) clearInterval(timer);
      turns.close();
      listener.close();
      for (const connection of connections) {
        if (connection.idle) connection.conn.close();
      }
      // Clients that never read their answers would hold us forever.
      const grace = setTimeout(() => {
        for (const connection of connections) connection.conn.close();
      }, SHUTDOWN_GRACE_MS);
      try {
        await accepting.finished;
      } finally {
        clearTimeout(grace);
      }
    })();
    return shutdownPromise;
  }

  function onAbort() {
    shutdown();
  }
  if (options.signal?.aborted) shutdown();
  else options.signal?.addEventListener("abort", onAbort, { once: true });

  options.onListen?.(addr);
  return {
    addr,
    finished: accepting.finished,
    shutdown,
    stats,
    [Symbol.asyncDispose]: shutdown,
  };
}
