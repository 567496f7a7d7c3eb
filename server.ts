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
import { DEFAULT_MAX_LINE_LENGTH, readLines } from "./_lines.ts";
import { writeAll } from "./_write_all.ts";
import {
  AnswerWriter,
  type InvalidRequest,
  KeyDecoder,
  parseRequest,
  WRONG_COMMAND,
} from "./protocol.ts";
import { type Series, Store } from "./store.ts";

/** The course's address: where the server listens unless told otherwise. */
export const DEFAULT_HOSTNAME = "127.0.0.1";
/** The course's port. */
export const DEFAULT_PORT = 8888;

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
   * The store to serve; pass one to share it or to look into it.
   *
   * @default {new Store()}
   */
  store?: Store;
  /**
   * The longest request line, in bytes; a longer one is discarded as it
   * arrives and answered with an error.
   *
   * @default {65536}
   */
  maxLineLength?: number;
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
   * @default {console.error}
   */
  onError?: (error: unknown) => void;
}

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
}

// Answers are written once they reach this size, even mid-answer, so that
// a large read is streamed instead of being built whole in memory.
const FLUSH_SIZE = 64 * 1024;
// Samples copied out of a series per step while answering a read.
const READ_STEP = 1024;
// How long shutdown waits for clients that do not read their answers.
const SHUTDOWN_GRACE_MS = 5_000;

const TOO_LONG: InvalidRequest = { command: "invalid", message: WRONG_COMMAND };

/** What one connection is doing, so that shutdown can treat it right. */
interface Connection {
  conn: Deno.Conn;
  /** Waiting for bytes: nothing received is left unanswered. */
  idle: boolean;
}

/**
 * Reads the samples of `get` answers in steps, so that an answer of any size
 * is built and written piece by piece. Later puts can neither derail nor
 * repeat it: it resumes after the last timestamp it wrote.
 */
class ReadCursor {
  #series: Iterator<Series> | undefined;
  #current: Series | undefined;
  #from = -Infinity;
  #timestamps = new Float64Array(READ_STEP);
  #values = new Float64Array(READ_STEP);

  constructor(store: Store, key: string) {
    if (key === "*") {
      this.#series = store.series();
      this.#current = this.#series.next().value;
    } else {
      this.#current = store.get(key);
    }
  }

  /** Writes samples until the answer is complete (true) or `out` is full. */
  fill(out: AnswerWriter): boolean {
    while (this.#current !== undefined) {
      const series = this.#current;
      const n = series.read(
        this.#from,
        Infinity,
        this.#timestamps,
        this.#values,
      );
      for (let i = 0; i < n; i++) {
        out.sample(series.key, this.#values[i], this.#timestamps[i]);
      }
      if (n === READ_STEP) {
        this.#from = this.#timestamps[n - 1] + 1;
      } else {
        this.#current = this.#series?.next().value;
        this.#from = -Infinity;
      }
      if (out.length >= FLUSH_SIZE) return this.#current === undefined;
    }
    return true;
  }
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
 * Serves the metrics protocol over TCP until shut down.
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
 * @param options Where to listen, the store, and limits.
 * @returns The running server.
 * @throws {Deno.errors.AddrInUse} When the port is taken.
 */
export function serve(options: ServeOptions = {}): Server {
  const store = options.store ?? new Store();
  const maxLineLength = options.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH;
  const onError = options.onError ?? console.error;
  const keys = new KeyDecoder();
  const listener = Deno.listen({
    hostname: options.hostname ?? DEFAULT_HOSTNAME,
    port: options.port ?? DEFAULT_PORT,
  });
  const addr = listener.addr;
  const connections = new Set<Connection>();
  const done = Promise.withResolvers<void>();
  let closing = false;
  let shutdownPromise: Promise<void> | undefined;

  async function handle(connection: Connection): Promise<void> {
    const { conn } = connection;
    const out = new AnswerWriter();
    const flush = async () => {
      await writeAll(conn, out.bytes());
      out.reset();
    };
    for await (const batch of readLines(conn, { maxLineLength })) {
      connection.idle = false;
      const bytes = batch.bytes;
      for (let i = 0; i < batch.count; i++) {
        const start = batch.start(i);
        const request = start < 0
          ? TOO_LONG
          : parseRequest(bytes, start, batch.end(i), keys);
        if (request === undefined) continue;
        switch (request.command) {
          case "put":
            store.put(request.key, request.value, request.timestamp);
            out.ok();
            break;
          case "get": {
            out.begin();
            const cursor = new ReadCursor(store, request.key);
            while (!cursor.fill(out)) await flush();
            out.end();
            break;
          }
          case "ping":
            out.begin();
            out.line("pong");
            out.end();
            break;
          case "invalid":
            out.error(request.message);
            break;
        }
        if (out.length >= FLUSH_SIZE) await flush();
      }
      if (out.length > 0) await flush();
      if (closing) return;
      connection.idle = true;
    }
  }

  async function accept(): Promise<void> {
    const handlers = new Set<Promise<void>>();
    try {
      for await (const conn of listener) {
        if (closing) {
          conn.close();
          continue;
        }
        const connection: Connection = { conn, idle: true };
        connections.add(connection);
        const handler = handle(connection)
          .catch((error) => {
            if (!isHangUp(error)) onError(error);
          })
          .finally(() => {
            connections.delete(connection);
            handlers.delete(handler);
            try {
              conn.close();
            } catch {
              // Already closed by shutdown.
            }
          });
        handlers.add(handler);
      }
    } catch (error) {
      if (!closing) onError(error);
    }
    await Promise.all(handlers);
  }

  const accepting = accept().then(done.resolve, done.reject);

  function shutdown(): Promise<void> {
    shutdownPromise ??= (async () => {
      closing = true;
      options.signal?.removeEventListener("abort", onAbort);
      listener.close();
      for (const connection of connections) {
        if (connection.idle) connection.conn.close();
      }
      // Clients that never read their answers would hold us forever.
      const timer = setTimeout(() => {
        for (const connection of connections) connection.conn.close();
      }, SHUTDOWN_GRACE_MS);
      try {
        await accepting;
      } finally {
        clearTimeout(timer);
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
    finished: done.promise,
    shutdown,
    [Symbol.asyncDispose]: shutdown,
  };
}

/**
 * Runs the server the way the course does, `run_server("127.0.0.1", 8888)`:
 * it prints where it listens and serves until SIGINT or SIGTERM.
 *
 * @example Usage
 * ```ts ignore
 * import { runServer } from "@pulse/metrics";
 *
 * await runServer("127.0.0.1", 8888);
 * ```
 *
 * @param hostname The address to listen on.
 * @param port The port to listen on.
 * @returns A promise that settles once the server has shut down.
 */
export async function runServer(
  hostname: string = DEFAULT_HOSTNAME,
  port: number = DEFAULT_PORT,
): Promise<void> {
  const controller = new AbortController();
  const stop = () => controller.abort();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const signal of signals) Deno.addSignalListener(signal, stop);
  try {
    const server = serve({
      hostname,
      port,
      signal: controller.signal,
      onListen: (addr) =>
        console.error(`pulse: listening on ${addr.hostname}:${addr.port}`),
    });
    await server.finished;
  } finally {
    for (const signal of signals) Deno.removeSignalListener(signal, stop);
  }
}

const HELP = `Usage: deno run -A server.ts [options]

Serves Pulse's metrics protocol over TCP.

Options:
  --hostname HOST   address to listen on (default ${DEFAULT_HOSTNAME})
  --port PORT       port to listen on, 0 for any free one (default ${DEFAULT_PORT})
  --memory          keep samples in memory only
  -h, --help        show this help
`;

/** The command line: parses `args` and serves until SIGINT or SIGTERM. */
async function main(args: string[]): Promise<number> {
  let flags;
  try {
    flags = parseArgs({
      args,
      options: {
        hostname: { type: "string", default: DEFAULT_HOSTNAME },
        port: { type: "string", default: String(DEFAULT_PORT) },
        memory: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    }).values;
  } catch (error) {
    console.error(`pulse: ${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (flags.help) {
    console.log(HELP);
    return 0;
  }
  const port = Number(flags.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`pulse: --port must be an integer from 0 to 65535`);
    return 2;
  }
  try {
    await runServer(flags.hostname, port);
  } catch (error) {
    console.error(
      `pulse: Cannot listen on ${flags.hostname}:${port}: ${
        (error as Error).message
      }`,
    );
    return 1;
  }
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
