/**
 * The HTTP server's connections: a listener (TCP, or TLS), the accept loop
 * every front door shares (`server/accept.ts`: it caps connections and
 * lives through running out of descriptors), and Pulse's own HTTP/1.1 on
 * each connection (`_connection.ts`: every wait has a deadline, every
 * buffer a bound). A connection past the cap is answered 503 and closed.
 *
 * @module
 */

import type { Logger } from "../internal/logger.ts";
import {
  acceptConnections,
  type AcceptLoop,
  formatAddress,
} from "../server/accept.ts";
import type { HttpCounters } from "./_counters.ts";
import {
  type HttpConnectionOptions,
  type HttpHandler,
  serveHttpConnection,
} from "./_connection.ts";

/** A running HTTP server, shaped like the handle `Deno.serve` returns. */
export interface HttpServer extends AsyncDisposable {
  /** The address the server listens on, with the port it got. */
  readonly addr: Deno.NetAddr;
  /** Settles once the server has shut down and every connection closed. */
  readonly finished: Promise<void>;
  /**
   * Stops accepting, finishes the responses under way, closes every
   * connection and resolves once done. Safe to call more than once.
   */
  shutdown(): Promise<void>;
}

/** What {@linkcode ConnectionServer} needs to listen and serve. */
export interface ConnectionServerOptions {
  /** The address to listen on. */
  hostname: string;
  /** The port to listen on; 0 for any free one. */
  port: number;
  /** A certificate chain and its key in PEM, to serve HTTPS. */
  tls: { cert: string; key: string } | undefined;
  /** Connections served at once; one more is answered 503. */
  maxConnections: number;
  /** The timeouts and limits of each connection. */
  connection: Pick<
    HttpConnectionOptions,
    | "headersTimeout"
    | "idleTimeout"
    | "bodyTimeout"
    | "writeTimeout"
    | "maxHeaderBytes"
  >;
  /** Counts connections. */
  counters: HttpCounters;
  /** Hears of refused connections. */
  logger: Logger;
  /** Hears of what went wrong on a connection, and of running out of descriptors. */
  onError: (error: Error) => void;
}

// How long shutdown waits for responses under way before closing their
// connections.
const SHUTDOWN_GRACE_MS = 5_000;
// How long a refused connection is given to take its answer and close.
const REFUSAL_LINGER_MS = 250;
const REFUSAL_BODY = '{"error":"too many connections: try again shortly"}';
const REFUSAL = new TextEncoder().encode(
  "HTTP/1.1 503 Service Unavailable\r\n" +
    "content-type: application/json; charset=utf-8\r\n" +
    `content-length: ${REFUSAL_BODY.length}\r\n` +
    "retry-after: 1\r\nconnection: close\r\n\r\n" + REFUSAL_BODY,
);

/** Serves HTTP on every connection of one listener until shut down. */
export class ConnectionServer implements HttpServer {
  readonly addr: Deno.NetAddr;
  readonly finished: Promise<void>;
  #listener: Deno.Listener;
  #loop: AcceptLoop;
  #handler: HttpHandler;
  #options: ConnectionServerOptions;
  #stopping = new AbortController();
  #conns = new Set<Deno.Conn>();
  #refusals = new Set<Promise<void>>();
  #shutdown: Promise<void> | undefined;

  /**
   * Listens, and serves each connection with `handler`.
   *
   * @param handler Answers each request.
   * @param options Where to listen, the cap, the timeouts.
   * @throws {Deno.errors.AddrInUse} When the port is taken.
   */
  constructor(handler: HttpHandler, options: ConnectionServerOptions) {
    this.#handler = handler;
    this.#options = options;
    const address = { hostname: options.hostname, port: options.port };
    this.#listener = options.tls === undefined
      ? Deno.listen(address)
      : Deno.listenTls({
        ...address,
        ...options.tls,
        alpnProtocols: ["http/1.1"],
      });
    this.addr = this.#listener.addr as Deno.NetAddr;
    this.#loop = acceptConnections(this.#listener, {
      serve: (conn) => this.#serve(conn),
      maxConnections: options.maxConnections,
      refuse: (conn, reason) => {
        const remote = conn.remoteAddr as Deno.NetAddr;
        options.logger.warn("refused", {
          door: "http",
          why: reason === "cap" ? "connection cap" : "no file descriptors",
          addr: formatAddress(remote.hostname, remote.port),
        });
        return this.#refuse(conn);
      },
      onError: options.onError,
    });
    this.finished = this.#loop.finished.then(() => this.#settleRefusals());
  }

  shutdown(): Promise<void> {
    this.#shutdown ??= this.#stop();
    return this.#shutdown;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  async #stop(): Promise<void> {
    this.#listener.close();
    // Idle connections close at once, the others after their response.
    this.#stopping.abort();
    // Clients that never take their answers would hold us for ever.
    const grace = setTimeout(() => {
      for (const conn of this.#conns) conn.close();
    }, SHUTDOWN_GRACE_MS);
    try {
      await this.finished;
    } finally {
      clearTimeout(grace);
    }
  }

  async #serve(conn: Deno.Conn): Promise<void> {
    const counters = this.#options.counters;
    counters.connections++;
    counters.connectionsTotal++;
    this.#conns.add(conn);
    try {
      await serveHttpConnection(conn, this.#handler, {
        ...this.#options.connection,
        signal: this.#stopping.signal,
        scheme: this.#options.tls === undefined ? "http" : "https",
        onError: this.#options.onError,
      });
    } finally {
      this.#conns.delete(conn);
      counters.connections--;
    }
  }

  /**
   * Answers 503 to a connection past the cap (or taken with the reserve
   * descriptor), then half-closes it and waits a moment for the client to
   * close: closing with its request unread would reset the connection and
   * could destroy the answer in flight.
   */
  #refuse(conn: Deno.Conn): Promise<void> {
    this.#options.counters.connectionsRefused++;
    const refusal = lingerOnce(conn).finally(() => {
      this.#refusals.delete(refusal);
    });
    this.#refusals.add(refusal);
    return refusal;
  }

  async #settleRefusals(): Promise<void> {
    while (this.#refusals.size > 0) await Promise.all(this.#refusals);
  }
}

/**
 * Writes the 503 and reads until the client closes, for at most
 * {@linkcode REFUSAL_LINGER_MS} in all: then the connection is closed, so
 * that a TLS client that never finishes its handshake, or one that never
 * closes, cannot hold the descriptor.
 */
async function lingerOnce(conn: Deno.Conn): Promise<void> {
  const deadline = setTimeout(() => {
    try {
      conn.close();
    } catch {
      // Closed already.
    }
  }, REFUSAL_LINGER_MS);
  try {
    let written = 0;
    while (written < REFUSAL.length) {
      written += await conn.write(REFUSAL.subarray(written));
    }
    await conn.closeWrite();
    const scratch = new Uint8Array(4096);
    while (await conn.read(scratch) !== null);
  } catch {
    // The client left first, or the deadline closed the connection.
  } finally {
    clearTimeout(deadline);
  }
}
