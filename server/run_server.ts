/**
 * {@linkcode runServer}: the server as the command line runs it, with a data
 * directory, the HTTP API beside it, and signals that stop it.
 *
 * @module
 */

import {
  DEFAULT_HTTP_HOSTNAME,
  DEFAULT_HTTP_PORT,
  serveHttp,
} from "../http.ts";
import type { FsyncPolicy } from "../persist/journal.ts";
import {
  type ClickHouseOptions,
  ClickHouseStorage,
} from "../storage/clickhouse.ts";
import { LocalStorage, openStorage } from "../storage/local.ts";
import type { Storage } from "../storage/storage.ts";
import { descriptorLimit } from "./accept.ts";
import {
  DEFAULT_HOSTNAME,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_PORT,
  serve,
  type ServeOptions,
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
}

/** Opens where samples are kept: ClickHouse, a data directory or memory. */
async function openBackend(
  options: Pick<
    RunServerOptions,
    "data" | "clickhouse" | "fsync" | "compactBytes" | "retention"
  >,
): Promise<Storage> {
  const { data, clickhouse, fsync, compactBytes, retention } = options;
  if (clickhouse !== undefined) {
    if (data !== undefined) {
      throw new TypeError(
        "Cannot keep samples both in ClickHouse and in a data directory",
      );
    }
    return await openClickHouse(clickhouse, retention);
  }
  return data === undefined
    ? new LocalStorage({ retention })
    : await openStorage(data, { fsync, compactBytes, retention });
}

/** Opens the ClickHouse backend, and says where samples go. */
async function openClickHouse(
  options: NonNullable<RunServerOptions["clickhouse"]>,
  retention: number | undefined,
): Promise<ClickHouseStorage> {
  const { url, ...rest } = options;
  const storage = await ClickHouseStorage.open(url, {
    ...rest,
    retention,
    onLog: (message) => console.error(message),
  });
  console.error(
    `pulse: keeping samples in ClickHouse at ${storage.address}${
      storage.cluster === undefined ? "" : ` (cluster ${storage.cluster})`
    }`,
  );
  return storage;
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
  // What is not the storage's nor HTTP's goes to serve().
  const {
    data: _data,
    clickhouse: _clickhouse,
    fsync: _fsync,
    compactBytes: _compactBytes,
    retention: _retention,
    http,
    httpHosts,
    ...serveOptions
  } = options;
  const controller = new AbortController();
  const stop = () => controller.abort();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const signal of signals) Deno.addSignalListener(signal, stop);
  let storage: Storage | undefined;
  try {
    storage = await openBackend(options);
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
    const server = serve({
      ...serveOptions,
      hostname,
      port,
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
          storage,
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
