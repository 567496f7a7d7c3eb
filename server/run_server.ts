/**
 * {@linkcode runServer}: the server as the command line runs it, with a data
 * directory, the HTTP API beside it, and signals that stop it.
 *
 * @module
 */

import {
  DEFAULT_HTTP_HOSTNAME,
  DEFAULT_HTTP_MAX_CONNECTIONS,
  DEFAULT_HTTP_PORT,
  type HttpServer,
  serveHttp,
} from "../http.ts";
import type { GraphiteServer } from "../graphite/ingest.ts";
import {
  graphiteAddresses,
  graphiteConnections,
  type RunGraphiteOptions,
  startGraphite,
} from "../graphite/run_graphite.ts";
import { type Logger, SILENT } from "../internal/logger.ts";
import type { FsyncPolicy } from "../persist/journal.ts";
import {
  type ClickHouseOptions,
  ClickHouseStorage,
} from "../storage/clickhouse.ts";
import { LocalStorage, openStorage } from "../storage/local.ts";
import type { Storage } from "../storage/storage.ts";
import { descriptorLimit, formatAddress } from "./accept.ts";
import {
  DEFAULT_HOSTNAME,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_PORT,
  listen,
  listenError,
  serveListener,
  type ServeOptions,
  type Server,
} from "./serve.ts";

// Descriptors a server needs besides its connections: logs, the snapshot,
// the lock, the listeners, Deno's own.
const RESERVED_DESCRIPTORS = 64;

/**
 * Options of {@linkcode runServer}: those of {@linkcode serve}, storage, and
 * the HTTP server's address.
 */
export interface RunServerOptions extends
  Omit<
    ServeOptions,
    | "hostname"
    | "port"
    | "store"
    | "storage"
    | "signal"
    | "onListen"
    | "onShutdownRequest"
    | "figures"
  >,
  RunGraphiteOptions {
  /**
   * The data directory; samples are kept in memory only when unset, as the
   * course's server does.
   *
   * @default {undefined}
   */
  data?: string;
  /**
   * Keep samples in ClickHouse instead, at `url`
   * (`http://[user:pass@]host:8123/<database>`), with no data directory:
   * the server is then a stateless front end. See docs/SCALING.md.
   *
   * @default {undefined}
   */
  clickhouse?:
    & { url: string }
    & Pick<
      ClickHouseOptions,
      "cluster" | "timeout" | "insertQuorum" | "batchRows" | "batchMs"
    >;
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
  /**
   * The most HTTP connections at once, as `serveHttp()`'s
   * `maxConnections`.
   *
   * @default {1024}
   */
  httpMaxConnections?: number;
  /**
   * The bytes every HTTP put body in flight may hold together, as
   * `serveHttp()`'s `maxBody`.
   *
   * @default {16777216}
   */
  maxBody?: number;
  /**
   * The most samples one Graphite `/render` may read, as `serveHttp()`'s
   * `maxRenderPoints`.
   *
   * @default {10000000}
   */
  maxRenderPoints?: number;
}

function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "::1" ||
    hostname.startsWith("127.");
}

/** Warns about what the flags leave open: no token beyond loopback, ... */
function warnAboutSetup(
  hostname: string,
  httpHostname: string | undefined,
  options: RunServerOptions,
): void {
  for (const host of [hostname, httpHostname]) {
    if (
      host !== undefined && !isLoopback(host) && options.token === undefined
    ) {
      console.error(
        `pulse: warning: listening on ${host} without a token: anyone who can reach this port can read and write every series (set --token or PULSE_TOKEN)`,
      );
    }
  }
  for (const address of graphiteAddresses(options)) {
    if (address !== false && !isLoopback(address.hostname!)) {
      console.error(
        `pulse: warning: taking Graphite on ${address.hostname}: Graphite has no token, so anyone who can reach that port can write every series`,
      );
    }
  }
  const warning = descriptorWarning({
    "--max-connections": options.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
    "--http-max-connections": httpHostname === undefined
      ? 0
      : options.httpMaxConnections ?? DEFAULT_HTTP_MAX_CONNECTIONS,
    "Graphite connections": graphiteConnections(options),
  });
  if (warning !== undefined) console.error(warning);
}

function descriptorWarning(
  caps: Record<string, number>,
): string | undefined {
  const descriptors = descriptorLimit();
  const counted = Object.entries(caps).filter(([, n]) => n > 0);
  const needed = counted.reduce((sum, [, n]) => sum + n, 0) +
    RESERVED_DESCRIPTORS;
  if (descriptors === undefined || descriptors >= needed) return undefined;
  const named = counted.map(([name, n]) =>
    name.startsWith("--") ? `${name} ${n}` : `${n} ${name}`
  ).join(" plus ");
  return `pulse: warning: the descriptor limit (ulimit -n ${descriptors}) is below ${named} plus ${RESERVED_DESCRIPTORS} for files: past it connections are refused (raise it, or lower the caps)`;
}

/**
 * Holds the HTTP address while the storage opens, so that a busy port is
 * found before anything is created in the data directory. Only the default
 * port may be busy: the server then warns and goes on without HTTP.
 *
 * @returns The listener holding the port, or `undefined` for no HTTP.
 * @throws When an address given cannot be listened on.
 */
function reserveHttp(
  address: { hostname: string; port: number },
  given: boolean,
): Deno.Listener | undefined {
  try {
    return Deno.listen(address);
  } catch (error) {
    if (!given && error instanceof Deno.errors.AddrInUse) {
      console.error(
        `pulse: warning: not serving HTTP: ${
          formatAddress(address.hostname, address.port)
        } is in use (choose another with --http HOST:PORT, or --http off)`,
      );
      return undefined;
    }
    throw listenError(error, formatAddress(address.hostname, address.port));
  }
}

/** Serves HTTP on the port `reserved` held, with the TCP server's storage. */
function startHttp(
  reserved: Deno.Listener,
  server: Server,
  storage: Storage,
  options: RunServerOptions & { logger: Logger; signal: AbortSignal },
): HttpServer {
  const { hostname, port } = reserved.addr as Deno.NetAddr;
  // Given up and taken again at once: serveHttp() listens by itself.
  reserved.close();
  return serveHttp({
    hostname,
    port,
    hosts: options.httpHosts,
    maxConnections: options.httpMaxConnections,
    maxBody: options.maxBody,
    maxRenderPoints: options.maxRenderPoints,
    storage,
    stats: () => server.stats(),
    token: options.token,
    cert: options.cert,
    key: options.key,
    signal: options.signal,
    logger: options.logger,
    onListen: (addr) => {
      const url = `${options.cert ? "https" : "http"}://${
        formatAddress(addr.hostname, addr.port)
      }`;
      options.logger.info("listening", { door: "http", addr: url });
      console.error(`pulse: http listening on ${url}`);
    },
  });
}

/**
 * Runs the server the way the course does, `run_server("127.0.0.1", 8888)`:
 * it listens (TCP, and HTTP unless told otherwise), only then opens the
 * data directory, prints where it listens and serves until SIGINT, SIGTERM
 * or a client's `shutdown`; then it answers what it received, writes and
 * fsyncs its log, and returns. The HTTP API and dashboard run alongside, on
 * `127.0.0.1:8889` unless told otherwise.
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
 * @param options The data directory, its fsync policy, access, limits and
 * the event log.
 * @returns A promise that settles once the server has shut down.
 * @throws {Deno.errors.AddrInUse} When the port, or an HTTP port given, is
 * taken: `Cannot listen on 127.0.0.1:8888: address in use`. Nothing is
 * created in the data directory then.
 * @throws {Deno.errors.AlreadyExists} When another server uses the data
 * directory.
 */
export async function runServer(
  hostname: string = DEFAULT_HOSTNAME,
  port: number = DEFAULT_PORT,
  options: RunServerOptions = {},
): Promise<void> {
  // What serve() does not take: the backend's, HTTP's and Graphite's.
  const {
    data: _data,
    fsync: _fsync,
    compactBytes: _compactBytes,
    retention: _retention,
    http,
    httpHosts: _hosts,
    graphite: _graphite,
    pickle: _pickle,
    graphiteMaxConnections: _graphiteMaxConnections,
    clickhouse: _clickhouse,
    ...rest
  } = options;
  const logger = options.logger ?? SILENT;
  const controller = new AbortController();
  const stops = new Map<Deno.Signal, () => void>();
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    stops.set(signal, () => {
      if (controller.signal.aborted) return;
      console.error(`pulse: stopping on ${signal}`);
      controller.abort(signal);
    });
  }
  for (const [signal, stop] of stops) Deno.addSignalListener(signal, stop);
  const httpAddress = http === false ? undefined : {
    hostname: http?.hostname ?? DEFAULT_HTTP_HOSTNAME,
    port: http?.port ?? DEFAULT_HTTP_PORT,
  };
  let storage: Storage | undefined;
  let listener: Deno.Listener | undefined;
  let httpReserved: Deno.Listener | undefined;
  try {
    warnAboutSetup(hostname, httpAddress?.hostname, options);
    listener = listen({ hostname, port, cert: options.cert, key: options.key });
    if (httpAddress !== undefined) {
      httpReserved = reserveHttp(httpAddress, http !== undefined);
    }
    storage = await openBackend({ ...options, logger });
    let graphite: GraphiteServer | undefined;
    const server = serveListener(listener, {
      ...rest,
      storage,
      logger,
      figures: () => graphite?.stats() ?? {},
      signal: controller.signal,
      onShutdownRequest: () => controller.abort("shutdown command"),
    });
    listener = undefined;
    console.error(
      `pulse: listening on ${
        formatAddress(server.addr.hostname, server.addr.port)
      }${options.cert ? " (TLS)" : ""}; Ctrl-C to stop`,
    );
    let httpServer: HttpServer | undefined;
    try {
      graphite = startGraphite(storage, {
        ...options,
        logger,
        signal: controller.signal,
      });
      if (httpReserved !== undefined) {
        httpServer = startHttp(httpReserved, server, storage, {
          ...options,
          logger,
          signal: controller.signal,
        });
      }
    } catch (error) {
      await Promise.all([server.shutdown(), graphite?.shutdown()]);
      throw error;
    }
    await Promise.all([
      server.finished,
      graphite?.finished,
      httpServer?.finished,
    ]);
  } finally {
    listener?.close();
    try {
      httpReserved?.close();
    } catch {
      // Given to the HTTP server already.
    }
    for (const [signal, stop] of stops) Deno.removeSignalListener(signal, stop);
    await storage?.close();
  }
  logger.info("shutdown", {
    msg: "stopped: every answer written, the log committed",
    done: true,
  });
}

/**
 * Opens where samples are kept: ClickHouse, a data directory, or memory.
 *
 * @throws {TypeError} When both ClickHouse and a data directory are given.
 */
async function openBackend(
  options:
    & Pick<
      RunServerOptions,
      "data" | "clickhouse" | "fsync" | "compactBytes" | "retention"
    >
    & { logger: Logger },
): Promise<Storage> {
  const { data, clickhouse, fsync, compactBytes, retention, logger } = options;
  if (clickhouse === undefined) {
    return data === undefined
      ? new LocalStorage({ retention, logger })
      : await openStorage(data, { fsync, compactBytes, retention, logger });
  }
  if (data !== undefined) {
    throw new TypeError(
      "Cannot keep samples both in ClickHouse and in a data directory",
    );
  }
  const { url, ...rest } = clickhouse;
  const storage = await ClickHouseStorage.open(url, {
    ...rest,
    retention,
    onLog: (message) => logger.warn("clickhouse", { msg: message }),
  });
  logger.info("restore", {
    backend: "clickhouse",
    addr: storage.address,
    cluster: storage.cluster,
  });
  console.error(
    `pulse: keeping samples in ClickHouse at ${storage.address}${
      storage.cluster === undefined ? "" : ` (cluster ${storage.cluster})`
    }`,
  );
  return storage;
}
