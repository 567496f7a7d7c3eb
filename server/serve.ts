/**
 * {@linkcode serve}: the metrics protocol over TCP (or TLS), with a handle
 * shaped like `Deno.serve`'s.
 *
 * @module
 */

import { describe } from "../internal/describe.ts";
import { type Logger, type LogLevel, SILENT } from "../internal/logger.ts";
import { memoryFigures } from "../internal/memory.ts";
import { EventLoopTurns } from "../internal/turns.ts";
import { writeAll } from "../internal/write_all.ts";
import { DEFAULT_HOSTNAME, DEFAULT_PORT } from "../protocol/defaults.ts";
import { LocalStorage } from "../storage/local.ts";
import type { Storage } from "../storage/storage.ts";
import { RequestParser } from "../protocol/request.ts";
import type { Store } from "../store.ts";
import { OutputOverflow } from "./outbox.ts";
import {
  acceptConnections,
  type AcceptLoop,
  formatAddress,
  type RefusalReason,
} from "./accept.ts";
import { sweepIdle } from "./idle_sweep.ts";
import {
  type CloseReason,
  type ConnectionInfo,
  ConnectionRegistry,
} from "./connections.ts";
import { Counters } from "./counters.ts";
import { DEFAULT_MAX_LINE_LENGTH } from "./lines.ts";
import { RenderCache } from "./render_cache.ts";
import { serveSession, type SessionContext } from "./session.ts";

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
   * Where samples are kept: a backend such as {@linkcode openStorage}'s data
   * directory, whose fsync policy then says when a change is acknowledged.
   * The server does not close it.
   *
   * @default {new LocalStorage({ store, retention })}
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
   * Seconds samples are kept, when the server makes its own storage: older
   * ones are dropped at start and at least once a minute, and puts of older
   * ones refused. A `storage` given keeps its own retention.
   *
   * @default {undefined}
   */
  retention?: number;
  /**
   * Further figures for `stats`, such as another front door's: added after
   * the storage's and before memory.
   *
   * @default {undefined}
   */
  figures?: () => Record<string, number>;
  /**
   * Called once the server listens.
   *
   * @default {undefined}
   */
  onListen?: (addr: Deno.NetAddr) => void;
  /**
   * Called with what went wrong on a single connection; the server goes on.
   * Peers that hang up are not errors. The event log has it too, as the
   * connection's `close` event.
   *
   * @default {() => {}}
   */
  onError?: (error: Error) => void;
  /**
   * The event log: `listening`, `open`, `close`, `auth_failed`, `refused`,
   * `shutdown`, `error` (docs/OPERATIONS.md lists their fields).
   *
   * @default {a logger that writes nothing}
   */
  logger?: Logger;
  /**
   * Log every request line as a `request` event (at `info`), with its
   * connection's id; the token of an `auth` line is left out. Costs nothing
   * when off.
   *
   * @default {false}
   */
  logRequests?: boolean;
  /**
   * Called when a client sends `shutdown` (and may): the owner of the
   * server stops it, as on SIGTERM. Without it the server shuts itself
   * down, as {@linkcode Server.shutdown} does.
   *
   * @default {undefined}
   */
  onShutdownRequest?: () => void;
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
const TOO_MANY_CONNECTIONS = new TextEncoder().encode(
  "error\ntoo many connections\n\n",
);
const REFUSAL: Record<RefusalReason, string> = {
  cap: "connection cap",
  descriptors: "no file descriptors",
};

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
 * Checks the options of {@linkcode serve}.
 *
 * @throws {TypeError} When they contradict each other.
 * @throws {RangeError} When a limit is out of its range.
 */
function checkOptions(options: ServeOptions): void {
  if (options.storage !== undefined) {
    if (options.store !== undefined) {
      throw new TypeError("Cannot serve both a store and a storage");
    }
    if (options.retention !== undefined) {
      throw new TypeError(
        "Cannot serve a storage with a retention: give it to the storage",
      );
    }
  }
  if ((options.cert === undefined) !== (options.key === undefined)) {
    throw new TypeError("Cannot serve over TLS without both cert and key");
  }
  checkAtLeast("maxLineLength", options.maxLineLength, 1);
  checkAtLeast("maxConnections", options.maxConnections, 1);
  checkAtLeast("idleTimeout", options.idleTimeout, 0);
  checkAtLeast("maxOutput", options.maxOutput, 1);
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
 * @param options Where to listen, the storage, access and limits.
 * @returns The running server.
 * @throws {TypeError} When both `store` and `storage` are given, or only one
 * of `cert` and `key`.
 * @throws {RangeError} When a limit is out of its range: a count or size
 * below 1, a negative idle timeout, or a retention that is not positive.
 * @throws {Deno.errors.AddrInUse} When the port is taken.
 */
export function serve(options: ServeOptions = {}): Server {
  checkOptions(options);
  return new TcpServer(listen(options), options);
}

/**
 * Serves the metrics protocol on a listener bound already, as
 * {@linkcode serve} does: for {@linkcode runServer}, which listens before
 * it opens its storage. The server closes the listener when it shuts down.
 *
 * @param listener Where connections come from.
 * @param options The storage, access and limits; `hostname` and `port` are
 * the listener's.
 * @returns The running server.
 * @throws {TypeError} As {@linkcode serve} does.
 * @throws {RangeError} As {@linkcode serve} does.
 */
export function serveListener(
  listener: Deno.Listener,
  options: ServeOptions = {},
): Server {
  checkOptions(options);
  return new TcpServer(listener, options);
}

/**
 * Listens where the options say, over TLS with `cert` and `key`.
 *
 * @param options The address, and TLS.
 * @returns The listener.
 * @throws {Deno.errors.AddrInUse} When the port is taken, saying which
 * address: `Cannot listen on 127.0.0.1:8888: address in use`.
 * @throws When listening fails otherwise, saying where.
 */
export function listen(
  options: Pick<ServeOptions, "hostname" | "port" | "cert" | "key">,
): Deno.Listener {
  const hostname = options.hostname ?? DEFAULT_HOSTNAME;
  const port = options.port ?? DEFAULT_PORT;
  try {
    return options.cert === undefined
      ? Deno.listen({ hostname, port })
      : Deno.listenTls({
        hostname,
        port,
        cert: options.cert,
        key: options.key!,
      });
  } catch (error) {
    throw listenError(error, formatAddress(hostname, port));
  }
}

/**
 * The error of listening on `address`, saying where: the same class for an
 * address in use, an `Error` with the cause for the rest.
 *
 * @param error What listening threw.
 * @param address Where, as `host:port`.
 * @returns The error to throw.
 */
export function listenError(error: unknown, address: string): Error {
  if (error instanceof Deno.errors.AddrInUse) {
    return new Deno.errors.AddrInUse(
      `Cannot listen on ${address}: address in use`,
      { cause: error },
    );
  }
  return new Error(`Cannot listen on ${address}: ${describe(error)}`, {
    cause: error,
  });
}

function closedLevel(reason: CloseReason): LogLevel {
  return reason === "output" || reason === "error" ? "warn" : "info";
}

/** The server {@linkcode serve} runs. */
class TcpServer implements Server {
  readonly addr: Deno.NetAddr;
  readonly finished: Promise<void>;
  #storage: Storage;
  // A storage made here is closed here.
  #ownStorage: LocalStorage | undefined;
  #onError: (error: Error) => void;
  #logger: Logger;
  #onShutdownRequest: (() => void) | undefined;
  #figures: (() => Record<string, number>) | undefined;
  #counters = new Counters();
  #turns = new EventLoopTurns();
  #connections = new ConnectionRegistry();
  #listener: Deno.Listener;
  #accepting: AcceptLoop;
  #context: SessionContext;
  #stopSweep: (() => void) | undefined;
  #closing = false;
  #shutdown: Promise<void> | undefined;
  #shutdownBy: ConnectionInfo | undefined;
  #signal: AbortSignal | undefined;
  #onAbort = () => this.shutdown();

  constructor(listener: Deno.Listener, options: ServeOptions) {
    this.#listener = listener;
    this.addr = listener.addr as Deno.NetAddr;
    this.#ownStorage = options.storage === undefined
      ? new LocalStorage({ store: options.store, retention: options.retention })
      : undefined;
    this.#storage = options.storage ?? this.#ownStorage!;
    this.#onError = options.onError ?? (() => {});
    this.#logger = options.logger ?? SILENT;
    this.#onShutdownRequest = options.onShutdownRequest;
    this.#figures = options.figures;
    this.#context = this.#sessionContext(options);
    this.#accepting = acceptConnections(this.#listener, {
      serve: (conn) => this.#serveConnection(conn),
      maxConnections: options.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
      refuse: (conn, reason) => {
        const remote = conn.remoteAddr as Deno.NetAddr;
        this.#logger.warn("refused", {
          why: REFUSAL[reason],
          addr: formatAddress(remote.hostname, remote.port),
        });
        return writeAll(conn, TOO_MANY_CONNECTIONS);
      },
      onError: (error) => {
        this.#logger.error("error", { msg: error.message });
        this.#onError(error);
      },
    });
    this.finished = this.#accepting.finished;
    const idleTimeout = options.idleTimeout ?? 0;
    if (idleTimeout > 0) {
      this.#stopSweep = sweepIdle(this.#connections, {
        idleTimeout,
        onIdle: (connection) => {
          connection.reason ??= "idle";
        },
      });
    }
    this.#signal = options.signal;
    if (this.#signal?.aborted) this.shutdown();
    else this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
    this.#logger.info("listening", {
      door: "tcp",
      addr: formatAddress(this.addr.hostname, this.addr.port),
      tls: options.cert !== undefined,
    });
    options.onListen?.(this.addr);
  }

  /**
   * The server's figures: uptime, connections, commands by kind, errors,
   * the storage's, bytes in and out, and memory.
   *
   * @returns Figures by name.
   */
  stats(): ServerStats {
    const counters = this.#counters;
    const figures: ServerStats = {
      uptime_seconds: Math.floor((Date.now() - counters.started) / 1000),
      connections: this.#connections.size,
      connections_total: counters.connectionsTotal,
      connections_refused: this.#accepting.refused,
    };
    for (const [command, count] of Object.entries(counters.commands)) {
      figures[`commands_${command}`] = count;
    }
    figures.errors = counters.errors;
    const { series, samples, ...storage } = this.#storage.stats();
    figures.series = series;
    figures.samples = samples;
    figures.bytes_in = counters.bytesIn;
    figures.bytes_out = counters.bytesOut;
    Object.assign(figures, storage, this.#figures?.());
    Object.assign(figures, memoryFigures());
    return figures;
  }

  /**
   * Stops accepting, answers the requests already received, closes every
   * connection and resolves once done. Safe to call more than once.
   */
  shutdown(): Promise<void> {
    this.#shutdown ??= this.#stop();
    return this.#shutdown;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  #sessionContext(options: ServeOptions): SessionContext {
    return {
      storage: this.#storage,
      parser: new RequestParser(),
      counters: this.#counters,
      renderCache: new RenderCache(),
      turns: this.#turns,
      token: options.token === undefined
        ? undefined
        : new TextEncoder().encode(options.token),
      maxLineLength: options.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH,
      maxOutput: options.maxOutput ?? DEFAULT_MAX_OUTPUT,
      connections: this.#connections,
      logger: this.#logger,
      // Decided once: off, request lines cost nothing.
      logRequests: options.logRequests === true &&
        this.#logger.enabled("info"),
      closing: () => this.#closing,
      requestShutdown: (by) => {
        this.#shutdownBy = by;
        if (this.#onShutdownRequest === undefined) this.shutdown();
        else this.#onShutdownRequest();
      },
      stats: () => Object.entries(this.stats()),
    };
  }

  async #stop(): Promise<void> {
    this.#closing = true;
    this.#logShutdown();
    this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#stopSweep?.();
    this.#turns.close();
    this.#listener.close();
    for (const connection of this.#connections) {
      connection.reason ??= "shutdown";
      if (connection.idle) connection.conn.close();
    }
    // Clients that never read their answers would hold us forever.
    const grace = setTimeout(() => {
      for (const connection of this.#connections) connection.conn.close();
    }, SHUTDOWN_GRACE_MS);
    try {
      await this.#accepting.finished;
    } finally {
      clearTimeout(grace);
      await this.#ownStorage?.close();
    }
  }

  /** Says why the server stops: a client's `shutdown`, a signal, a call. */
  #logShutdown(): void {
    const by = this.#shutdownBy;
    if (by !== undefined) {
      this.#logger.info("shutdown", {
        reason: "command",
        conn: by.id,
        addr: by.addr,
        msg: `shutting down: asked by ${by.addr}`,
      });
      return;
    }
    const signal = this.#signal?.aborted ? this.#signal.reason : undefined;
    const reason = typeof signal === "string" ? signal : "shutdown()";
    this.#logger.info("shutdown", {
      reason,
      msg: `shutting down (${reason})`,
    });
  }

  async #serveConnection(conn: Deno.Conn): Promise<void> {
    this.#counters.connectionsTotal++;
    const info = this.#connections.open(conn);
    this.#logger.info("open", { conn: info.id, addr: info.addr });
    let failure: unknown;
    try {
      await serveSession(this.#context, info);
    } catch (error) {
      failure = error;
    } finally {
      this.#connections.close(info);
    }
    this.#closed(info, failure);
  }

  /** Logs why and how a connection closed, with its figures. */
  #closed(info: ConnectionInfo, failure: unknown): void {
    let reason = info.reason;
    let error: string | undefined;
    if (failure !== undefined && reason === undefined) {
      if (isHangUp(failure)) {
        reason = "reset";
      } else {
        reason = failure instanceof OutputOverflow ? "output" : "error";
        error = describe(failure);
        this.#onError(
          new Error(`Closed ${info.addr}: ${error}`, { cause: failure }),
        );
      }
    }
    reason ??= "client";
    this.#logger.log(closedLevel(reason), "close", {
      conn: info.id,
      addr: info.addr,
      reason,
      error,
      commands: info.commands,
      bytes_in: info.bytesIn,
      bytes_out: info.bytesOut,
      seconds: Math.round(Date.now() - info.opened) / 1000,
    });
  }
}
