/**
 * The Pulse server: {@linkcode serve} for use as a library, and the command
 * line when run as `deno run -A server.ts`.
 *
 * Each connection reads chunks, frames every complete line of a chunk at
 * once, runs the requests against the shared store in order, and writes all
 * of their answers in one write. Large answers are streamed in pieces, each
 * written before the next is built, so a client that does not read stops
 * being read from and cannot make the server buffer without bound.
 *
 * @example Serving on a free port and talking to it
 * ```ts
 * import { Client, serve } from "@pulse/metrics";
 * import { deepEqual } from "node:assert/strict";
 *
 * await using server = serve({ port: 0 });
 * await using client = new Client(server.addr.hostname, server.addr.port);
 * await client.put("palm.cpu", 0.5, 1150864247);
 * deepEqual(await client.get("palm.cpu"), {
 *   "palm.cpu": [[1150864247, 0.5]],
 * });
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { describe } from "./internal/describe.ts";
import { DEFAULT_MAX_LINE_LENGTH } from "./server/lines.ts";
import { RenderCache } from "./server/render_cache.ts";
import { serveSession, type SessionState } from "./server/session.ts";
import { Counters } from "./server/counters.ts";
import { EventLoopTurns } from "./internal/turns.ts";
import { parseDuration, parseSize } from "./internal/units.ts";
import { writeAll } from "./internal/write_all.ts";
import { acceptConnections, descriptorLimit } from "./server/accept.ts";
import { DEFAULT_HTTP_HOSTNAME, DEFAULT_HTTP_PORT, serveHttp } from "./http.ts";
import { FSYNC_POLICIES, type FsyncPolicy } from "./persist/journal.ts";
import { openStorage, type Storage } from "./persist/storage.ts";
import { RequestParser } from "./protocol/request.ts";
import { Store } from "./store.ts";

/** The course's address: where the server listens unless told otherwise. */
export const DEFAULT_HOSTNAME = "127.0.0.1";
/** The course's port. */
export const DEFAULT_PORT = 8888;
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

// Descriptors a server needs besides its connections: logs, the snapshot,
// the lock, the listeners, Deno's own.
const RESERVED_DESCRIPTORS = 64;
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

/**
 * Options of {@linkcode runServer}: those of {@linkcode serve}, storage, and
 * the HTTP server's address.
 */
export interface RunServerOptions extends
  Omit<
    ServeOptions,
    "hostname" | "port" | "store" | "storage" | "signal" | "onListen"
  > {
  /**
   * The data directory; samples are kept in memory only when unset, as the
   * course's server does.
   *
   * @default {undefined}
   */
  data?: string;
  /**
   * When the log is fsynced, with a data directory.
   *
   * @default {"everysec"}
   */
  fsync?: FsyncPolicy;
  /**
   * The log size in bytes past which it is compacted into a snapshot, once
   * it also holds as many changes as the snapshot holds samples.
   *
   * @default {67108864}
   */
  compactBytes?: number;
  /**
   * Where {@linkcode serveHttp} serves the HTTP API and the dashboard, with
   * the same store, token and TLS; `false` for no HTTP. When the default
   * port is taken the server warns and goes on without HTTP, while an
   * address given must be free.
   *
   * @default {{ hostname: "127.0.0.1", port: 8889 }}
   */
  http?: { hostname?: string; port?: number } | false;
  /**
   * Host names the HTTP server answers to besides IP addresses and
   * `localhost`, as `serveHttp()`'s `hosts`.
   *
   * @default {[]}
   */
  httpHosts?: string[];
}

function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "::1" ||
    hostname.startsWith("127.");
}

/**
 * Runs the server the way the course does, `run_server("127.0.0.1", 8888)`:
 * it prints where it listens and serves until SIGINT or SIGTERM, then
 * answers what it received, writes and fsyncs its log, and returns. The
 * HTTP API and dashboard run alongside, on `127.0.0.1:8889` unless told
 * otherwise.
 *
 * @example Usage
 * ```ts ignore
 * import { runServer } from "@pulse/metrics";
 *
 * await runServer("127.0.0.1", 8888, { data: "./data" });
 * ```
 *
 * @param hostname The address to listen on.
 * @param port The port to listen on.
 * @param options The data directory, its fsync policy, access and limits.
 * @returns A promise that settles once the server has shut down.
 * @throws {Deno.errors.AddrInUse} When the port, or an HTTP port given, is
 * taken.
 * @throws {Deno.errors.AlreadyExists} When another server uses the data
 * directory.
 */
export async function runServer(
  hostname: string = DEFAULT_HOSTNAME,
  port: number = DEFAULT_PORT,
  options: RunServerOptions = {},
): Promise<void> {
  const { data, fsync, compactBytes, http, httpHosts, ...serveOptions } =
    options;
  const controller = new AbortController();
  const stop = () => controller.abort();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const signal of signals) Deno.addSignalListener(signal, stop);
  let storage: Storage | undefined;
  try {
    if (data !== undefined) {
      storage = await openStorage(data, { fsync, compactBytes });
    }
    const httpAddress = http === false ? undefined : {
      hostname: http?.hostname ?? DEFAULT_HTTP_HOSTNAME,
      port: http?.port ?? DEFAULT_HTTP_PORT,
    };
    for (const host of [hostname, httpAddress?.hostname]) {
      if (
        host !== undefined && !isLoopback(host) && options.token === undefined
      ) {
        console.error(
          `pulse: warning: listening on ${host} without a token: anyone who can reach this port can read and write every series (set --token or PULSE_TOKEN)`,
        );
      }
    }
    const descriptors = descriptorLimit();
    const maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    if (
      descriptors !== undefined &&
      descriptors < maxConnections + RESERVED_DESCRIPTORS
    ) {
      console.error(
        `pulse: warning: the descriptor limit (ulimit -n ${descriptors}) is below --max-connections ${maxConnections} plus ${RESERVED_DESCRIPTORS} for files: past it connections are refused (raise it, or lower --max-connections)`,
      );
    }
    // Without a data directory the store is made here, to share with HTTP.
    const store = storage === undefined ? new Store() : undefined;
    const server = serve({
      ...serveOptions,
      hostname,
      port,
      store,
      storage,
      signal: controller.signal,
      onListen: (addr) =>
        console.error(
          `pulse: listening on ${addr.hostname}:${addr.port}${
            options.cert ? " (TLS)" : ""
          }`,
        ),
    });
    let httpServer: Deno.HttpServer<Deno.NetAddr> | undefined;
    if (httpAddress !== undefined) {
      try {
        httpServer = serveHttp({
          ...httpAddress,
          hosts: httpHosts,
          store: storage?.store ?? store,
          journal: storage?.journal,
          stats: () => server.stats(),
          token: options.token,
          cert: options.cert,
          key: options.key,
          signal: controller.signal,
          onListen: (addr) => {
            const host = addr.hostname.includes(":")
              ? `[${addr.hostname}]`
              : addr.hostname;
            console.error(
              `pulse: http listening on ${
                options.cert ? "https" : "http"
              }://${host}:${addr.port}`,
            );
          },
        });
      } catch (error) {
        // Only the default port may be busy: say so and serve TCP alone.
        if (http === undefined && error instanceof Deno.errors.AddrInUse) {
          console.error(
            `pulse: warning: not serving HTTP: ${httpAddress.hostname}:${httpAddress.port} is in use (choose another with --http HOST:PORT, or --http off)`,
          );
        } else {
          await server.shutdown();
          throw error;
        }
      }
    }
    await Promise.all([server.finished, httpServer?.finished]);
  } finally {
    for (const signal of signals) Deno.removeSignalListener(signal, stop);
    await storage?.close();
  }
}

const HELP = `Usage: deno run -A server.ts [options]

Serves Pulse's metrics protocol over TCP.

Options:
  --hostname HOST        address to listen on (default ${DEFAULT_HOSTNAME})
  --port PORT            port to listen on, 0 for any free one (default ${DEFAULT_PORT})
  --data DIR             keep samples in DIR (default ./data)
  --memory               keep samples in memory only, as the course's server does
  --fsync POLICY         always: answer puts once on disk; everysec: fsync every
                         second; no: leave it to the OS (default everysec)
  --compact-bytes SIZE   compact the log into a snapshot past SIZE, once it holds
                         as many changes as the snapshot has samples (default 64MiB)
  --retention DURATION   drop samples older than this, such as 30d or 12h
                         (default: keep everything)
  --token SECRET         clients must first send "auth SECRET" (or set PULSE_TOKEN)
  --cert FILE --key FILE serve over TLS with this PEM certificate and key
  --http HOST:PORT       serve the HTTP API and dashboard there, with the same
                         token and TLS; off to disable (default ${DEFAULT_HTTP_HOSTNAME}:${DEFAULT_HTTP_PORT})
  --http-host NAME       a host name the HTTP server answers to, besides IP
                         addresses and localhost (repeatable)
  --max-connections N    refuse connections past N (default ${DEFAULT_MAX_CONNECTIONS})
  --idle-timeout DURATION close connections silent this long (default: never)
  --max-output SIZE      disconnect a client holding more unread answers (default 8MiB)
  --max-line-length SIZE the longest request line (default 64KiB)
  -h, --help             show this help
`;

// Flags whose 0 would make the server useless, and their least values.
const FLAG_LIMITS: [
  flag: string,
  option: keyof RunServerOptions,
  min: number,
  shown: string,
][] = [
  ["--max-connections", "maxConnections", 1, "1"],
  ["--max-line-length", "maxLineLength", 1, "1 byte"],
  ["--max-output", "maxOutput", 1, "1 byte"],
  ["--retention", "retention", 1, "1s"],
];

function usage(message: string): number {
  console.error(`pulse: ${message}\n\n${HELP}`);
  return 2;
}

/** The command line: parses `args` and serves until SIGINT or SIGTERM. */
async function main(args: string[]): Promise<number> {
  let flags;
  try {
    flags = parseArgs({
      args,
      options: {
        hostname: { type: "string", default: DEFAULT_HOSTNAME },
        port: { type: "string", default: String(DEFAULT_PORT) },
        data: { type: "string", default: "./data" },
        memory: { type: "boolean", default: false },
        fsync: { type: "string", default: "everysec" },
        "compact-bytes": { type: "string" },
        retention: { type: "string" },
        token: { type: "string" },
        cert: { type: "string" },
        key: { type: "string" },
        http: { type: "string" },
        "http-host": { type: "string", multiple: true },
        "max-connections": { type: "string" },
        "idle-timeout": { type: "string" },
        "max-output": { type: "string" },
        "max-line-length": { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    }).values;
  } catch (error) {
    return usage((error as Error).message);
  }
  if (flags.help) {
    console.log(HELP);
    return 0;
  }
  const port = Number(flags.port);
  if (!/^\d+$/.test(flags.port) || port > 65535) {
    return usage("--port must be an integer from 0 to 65535");
  }
  const fsync = flags.fsync as FsyncPolicy;
  if (!FSYNC_POLICIES.includes(fsync)) {
    return usage("--fsync must be always, everysec or no");
  }
  if ((flags.cert === undefined) !== (flags.key === undefined)) {
    return usage("--cert and --key go together");
  }
  let http: RunServerOptions["http"];
  if (flags.http === "off") {
    http = false;
  } else if (flags.http !== undefined) {
    const match = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d+)$/.exec(flags.http);
    const httpPort = Number(match?.[3]);
    if (match === null || httpPort > 65535) {
      return usage("--http must be HOST:PORT, such as 127.0.0.1:8889, or off");
    }
    http = { hostname: match[1] ?? match[2], port: httpPort };
  }
  let options: RunServerOptions;
  try {
    const size = (text: string | undefined) =>
      text === undefined ? undefined : parseSize(text);
    const maxConnections = flags["max-connections"];
    if (maxConnections !== undefined && !/^\d+$/.test(maxConnections)) {
      return usage("--max-connections must be a whole number");
    }
    options = {
      data: flags.memory ? undefined : flags.data,
      fsync,
      compactBytes: size(flags["compact-bytes"]),
      retention: flags.retention === undefined
        ? undefined
        : parseDuration(flags.retention) / 1000,
      token: flags.token ?? Deno.env.get("PULSE_TOKEN"),
      cert: flags.cert === undefined
        ? undefined
        : await Deno.readTextFile(flags.cert),
      key: flags.key === undefined
        ? undefined
        : await Deno.readTextFile(flags.key),
      maxConnections: maxConnections === undefined
        ? undefined
        : Number(maxConnections),
      idleTimeout: flags["idle-timeout"] === undefined
        ? undefined
        : parseDuration(flags["idle-timeout"]),
      maxOutput: size(flags["max-output"]),
      maxLineLength: size(flags["max-line-length"]),
      http,
      httpHosts: flags["http-host"],
    };
    for (const [flag, option, min, shown] of FLAG_LIMITS) {
      const value = options[option] as number | undefined;
      if (value !== undefined && !(value >= min)) {
        return usage(`${flag} must be at least ${shown}`);
      }
    }
  } catch (error) {
    return usage((error as Error).message);
  }
  try {
    await runServer(flags.hostname, port, options);
  } catch (error) {
    console.error(`pulse: ${(error as Error).message}`);
    return 1;
  }
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
