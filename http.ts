/**
 * Pulse over HTTP: a JSON API to read and write series, the server's figures
 * for Prometheus, and a dashboard page, served next to the TCP server and
 * sharing its storage.
 *
 * | route               | what                                                  |
 * | ------------------- | ----------------------------------------------------- |
 * | `GET /`             | the dashboard                                         |
 * | `GET /health`       | `{"status":"ok","version":...,"uptime_seconds":...}`  |
 * | `GET /metrics`      | Prometheus text format 0.0.4                          |
 * | `GET /api/stats`    | the server's figures as one JSON object               |
 * | `GET /api/keys`     | the series matching `match` (all without it)          |
 * | `GET /api/query`    | their samples from `from` to `to`, rolled up by `step`|
 * | `GET /api/last`     | their latest samples                                  |
 * | `POST /api/put`     | lines of `<key> <value> [<timestamp>]`, all or none   |
 * | `GET /api/export`   | the samples as `put` lines, streamed                  |
 * | `GET /api/snapshot` | a consistent snapshot file of the data directory      |
 *
 * Every `GET` route answers `HEAD` too. The three reading routes answer in
 * one shape,
 * `{"matched":2,"series":[{"key":"palm.cpu","points":[[1501864247,10.6]]}]}`,
 * and every error is `{"error":"..."}` with a 4xx or 5xx status.
 *
 * The parts live in `http/`: the HTTP/1.1 server of its own
 * (`_connection.ts`, on the accept loop of `server/accept.ts`), the router
 * (`router.ts`), the routes (`routes/`, `put.ts`) and the budget of put
 * bodies (`body_budget.ts`). No request may hold the event loop more than
 * about 50 ms, grow memory beyond its bounded buffers, or end the process:
 * docs/HTTP.md lists the limits, timeouts and statuses that keep that.
 *
 * @example Reading a series back
 * ```ts
 * import { serveHttp, Store } from "@pulse/metrics";
 * import { deepStrictEqual } from "node:assert/strict";
 *
 * const store = new Store();
 * store.put("palm.cpu", 10.6, 1501864247);
 * await using server = serveHttp({ port: 0, store });
 * const response = await fetch(
 *   `http://127.0.0.1:${server.addr.port}/api/query?match=palm.*`,
 * );
 * deepStrictEqual((await response.json()).series, [
 *   { key: "palm.cpu", points: [[1501864247, 10.6]] },
 * ]);
 * ```
 *
 * @module
 */

import { HttpCounters } from "./http/_counters.ts";
import {
  DEFAULT_HEADERS_TIMEOUT,
  DEFAULT_IDLE_TIMEOUT,
} from "./http/_connection.ts";
import { ConnectionServer, type HttpServer } from "./http/_server.ts";
import { BodyBudget } from "./http/body_budget.ts";
import { PUT_ROUTES } from "./http/put.ts";
import { allowedHosts, type RouteContext, Router } from "./http/router.ts";
import { API_ROUTES, DEFAULT_MAX_POINTS } from "./http/routes/api.ts";
import { DASHBOARD_ROUTES } from "./http/routes/dashboard.ts";
import { graphiteHttpRoutes } from "./http/routes/graphite.ts";
import { EXPORT_ROUTES } from "./http/routes/export.ts";
import { METRICS_ROUTES } from "./http/routes/metrics.ts";
import { memoryFigures } from "./internal/memory.ts";
import { type Logger, SILENT } from "./internal/logger.ts";
import { LocalStorage } from "./storage/local.ts";
import type { Storage } from "./storage/storage.ts";
import { DEFAULT_HTTP_PORT } from "./protocol/defaults.ts";
import type { Store } from "./store.ts";

export {
  DEFAULT_HEADERS_TIMEOUT,
  DEFAULT_HTTP_PORT,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_MAX_POINTS,
};
export type { HttpServer };

/** Where the HTTP server listens unless told otherwise: loopback only. */
export const DEFAULT_HTTP_HOSTNAME = "127.0.0.1";
/** The default of {@linkcode ServeHttpOptions.maxBody}: 16 MiB. */
export const DEFAULT_MAX_BODY = 16 * 1024 * 1024;
/**
 * The default of {@linkcode ServeHttpOptions.maxPutBytes}.
 *
 * @deprecated Use {@linkcode DEFAULT_MAX_BODY}: the limit is now the budget
 * of every put body in flight, 16 MiB by default.
 */
export const DEFAULT_MAX_PUT_BYTES: number = DEFAULT_MAX_BODY;
/**
 * The default of {@linkcode ServeHttpOptions.maxConnections}: 1024. HTTP
 * clients are few (a dashboard, a scraper, agents posting batches), and each
 * connection may hold a read buffer of up to 16 KiB and its put body's
 * share: 1024 is far more than they need, and keeps a flood of HTTP
 * connections from taking the descriptors TCP clients need.
 */
export const DEFAULT_HTTP_MAX_CONNECTIONS = 1024;
/** The default of {@linkcode ServeHttpOptions.maxBodyWait}: 10 s. */
export const DEFAULT_MAX_BODY_WAIT = 10_000;

/** Options of {@linkcode serveHttp}. */
export interface ServeHttpOptions {
  /**
   * The address to listen on.
   *
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * The port to listen on; 0 picks any free port (see `addr`).
   *
   * @default {8889}
   */
  port?: number;
  /**
   * Aborting it shuts the server down.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * Where samples are kept; pass the TCP server's to share it.
   *
   * @default {new LocalStorage({ store })}
   */
  storage?: Storage;
  /**
   * A store to serve in memory, when no `storage` is given.
   *
   * @default {new Store()}
   */
  store?: Store;
  /**
   * The figures `/metrics` and `/api/stats` report besides the HTTP
   * server's own, such as the TCP server's `stats()`.
   *
   * @default {() => ({ uptime_seconds, ...storage.stats(), memory_rss_bytes, ... })}
   */
  stats?: () => Record<string, number>;
  /**
   * A secret every request but `GET /` and `GET /health` must carry, as
   * `Authorization: Bearer <token>`.
   *
   * @default {undefined}
   */
  token?: string;
  /**
   * A certificate chain in PEM, to serve over HTTPS (with `key`).
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
   * Host names the server answers to besides IP addresses, `localhost` and
   * `hostname`: the names of a real deployment. A request with another
   * `Host` is refused with 421, so that a page on another site whose name
   * was rebound to this server's address (DNS rebinding) gets nothing.
   *
   * @default {[]}
   */
  hosts?: string[];
  /**
   * The bytes every `POST /api/put` body in flight may hold together, and
   * so the largest body: a larger one is answered 413 and nothing of it
   * stored. A body that fits waits, unread, while others hold the budget.
   *
   * @default {16777216}
   */
  maxBody?: number;
  /**
   * The largest put body, in bytes.
   *
   * @default {16777216}
   * @deprecated Use `maxBody`, which it stands for when `maxBody` is not
   * given.
   */
  maxPutBytes?: number;
  /**
   * Milliseconds a put body waits for its share of `maxBody` before it is
   * answered 503 with `Retry-After`.
   *
   * @default {10000}
   */
  maxBodyWait?: number;
  /**
   * The most connections at once; one more is answered 503 and closed.
   *
   * @default {1024}
   */
  maxConnections?: number;
  /**
   * Milliseconds from a request's first byte (for the first request, from
   * the connection's start) until its head is complete; past it the
   * client gets 408 and is closed.
   *
   * @default {10000}
   */
  headersTimeout?: number;
  /**
   * Milliseconds a kept-alive connection may wait for its next request
   * before it is closed.
   *
   * @default {30000}
   */
  idleTimeout?: number;
  /**
   * Called once the server listens.
   *
   * @default {() => {}}
   */
  onListen?: (addr: Deno.NetAddr) => void;
  /**
   * Called with what went wrong handling a request (answered 500) or a
   * connection, and when accepting runs out of file descriptors.
   *
   * @default {() => {}}
   */
  onError?: (error: Error) => void;
  /**
   * The most samples one Graphite `/render` request may read; a request
   * that would read more is refused with 400 before it reads.
   *
   * @default {10000000}
   */
  maxRenderPoints?: number;
  /**
   * The event log: `refused` (past the connection cap, or an unknown host),
   * `auth_failed` (a wrong token) and `error`.
   *
   * @default {SILENT}
   */
  logger?: Logger;
}

/**
 * Serves the HTTP API, the Prometheus figures and the dashboard until shut
 * down.
 *
 * @example Usage
 * ```ts
 * import { serveHttp } from "@pulse/metrics";
 * import { strictEqual } from "node:assert/strict";
 *
 * await using server = serveHttp({ port: 0, token: "secret" });
 * const url = `http://127.0.0.1:${server.addr.port}/api/keys`;
 * const refused = await fetch(url);
 * await refused.body?.cancel();
 * strictEqual(refused.status, 401);
 * const response = await fetch(url, {
 *   headers: { authorization: "Bearer secret" },
 * });
 * strictEqual(await response.text(), '{"matched":0,"series":[]}');
 * ```
 *
 * @param options Where to listen, the storage, access, TLS and limits.
 * @returns The running server, shaped like what `Deno.serve` returns.
 * @throws {TypeError} When only one of `cert` and `key` is given, or both
 * `store` and `storage`.
 * @throws {RangeError} When a limit is out of its range.
 * @throws {Deno.errors.AddrInUse} When the port is taken.
 */
export function serveHttp(options: ServeHttpOptions = {}): HttpServer {
  const maxBody = checkOptions(options);
  const storage = options.storage ??
    new LocalStorage({ store: options.store });
  const logger = options.logger ?? SILENT;
  const onError = (error: Error) => {
    logger.error("error", { door: "http", msg: error.message });
    options.onError?.(error);
  };
  const counters = new HttpCounters();
  const context: RouteContext = {
    storage,
    counters,
    budget: new BodyBudget(
      maxBody,
      options.maxBodyWait ?? DEFAULT_MAX_BODY_WAIT,
    ),
    figures: options.stats ?? (() => standaloneFigures(storage, counters)),
  };
  const hostname = options.hostname ?? DEFAULT_HTTP_HOSTNAME;
  const router = new Router(
    {
      ...DASHBOARD_ROUTES,
      ...METRICS_ROUTES,
      ...API_ROUTES,
      ...PUT_ROUTES,
      ...graphiteHttpRoutes(storage, {
        maxRenderPoints: options.maxRenderPoints,
      }),
      ...EXPORT_ROUTES,
    },
    context,
    {
      allowed: allowedHosts(hostname, options.hosts ?? []),
      token: options.token === undefined
        ? undefined
        : new TextEncoder().encode(options.token),
      onError,
      logger,
    },
  );
  const server = new ConnectionServer(router.handle, {
    hostname,
    port: options.port ?? DEFAULT_HTTP_PORT,
    tls: options.cert === undefined
      ? undefined
      : { cert: options.cert, key: options.key! },
    maxConnections: options.maxConnections ?? DEFAULT_HTTP_MAX_CONNECTIONS,
    connection: {
      headersTimeout: options.headersTimeout,
      idleTimeout: options.idleTimeout,
    },
    counters,
    onError,
    logger,
  });
  const signal = options.signal;
  if (signal?.aborted) server.shutdown();
  else {
    const stop = () => server.shutdown();
    signal?.addEventListener("abort", stop, { once: true });
    server.finished.then(() => signal?.removeEventListener("abort", stop));
  }
  options.onListen?.(server.addr);
  return server;
}

/**
 * Checks the options of {@linkcode serveHttp}.
 *
 * @returns The budget of put bodies.
 */
function checkOptions(options: ServeHttpOptions): number {
  if ((options.cert === undefined) !== (options.key === undefined)) {
    throw new TypeError("Cannot serve HTTPS without both cert and key");
  }
  if (options.store !== undefined && options.storage !== undefined) {
    throw new TypeError("Cannot serve both a store and a storage");
  }
  const [name, maxBody] = options.maxBody === undefined &&
      options.maxPutBytes !== undefined
    ? ["maxPutBytes", options.maxPutBytes]
    : ["maxBody", options.maxBody ?? DEFAULT_MAX_BODY];
  atLeast(name, maxBody, 0);
  atLeast("maxConnections", options.maxConnections, 1);
  for (
    const name of ["maxBodyWait", "headersTimeout", "idleTimeout"] as const
  ) {
    // A timer's longest delay: a longer one would fire at once.
    atLeast(name, options[name], 1, 2 ** 31 - 1);
  }
  return maxBody;
}

/** @throws {RangeError} When `value` is given and not in `[min, max]`. */
function atLeast(
  name: string,
  value: number | undefined,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): void {
  if (value !== undefined && !(value >= min && value <= max)) {
    throw new RangeError(
      `Cannot serve with ${name} ${value}: not a number >= ${min}`,
    );
  }
}

/** The figures of an HTTP server that runs without a TCP server's. */
function standaloneFigures(
  storage: Storage,
  counters: HttpCounters,
): Record<string, number> {
  return {
    uptime_seconds: counters.uptime,
    ...storage.stats(),
    ...memoryFigures(),
  };
}
