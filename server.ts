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
import { describe } from "./_describe.ts";
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
import { FSYNC_POLICIES, type FsyncPolicy } from "./persist/journal.ts";
import { openStorage, type Storage } from "./persist/storage.ts";

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
   * The store to serve, in memory only; pass one to share it or to look
   * into it. Leave it out when passing `storage`.
   *
   * @default {new Store()}
   */
  store?: Store;
  /**
   * A data directory opened with {@linkcode openStorage}: its store is
   * served and every change is appended to its log, so that puts are
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

/** The error answer to a put that could not be logged. */
function storeFailure(error: Error): string {
  return `cannot write the log: ${describe(error)}`;
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
  if (options.store && options.storage) {
    throw new TypeError("Cannot serve both a store and a storage's store");
  }
  const store = options.storage?.store ?? options.store ?? new Store();
  const journal = options.storage?.journal;
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
    // Where the answers of puts not yet committed to the log start.
    const uncommitted: number[] = [];
    const flush = async () => {
      if (uncommitted.length > 0) {
        try {
          await journal?.commit();
        } catch (error) {
          out.failAt(uncommitted, storeFailure(error as Error));
        }
        uncommitted.length = 0;
      }
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
            if (journal === undefined) {
              store.put(request.key, request.value, request.timestamp);
            } else if (journal.failure !== undefined) {
              out.error(storeFailure(journal.failure));
              break;
            } else {
              store.put(request.key, request.value, request.timestamp);
              journal.put(request.key, request.value, request.timestamp);
              uncommitted.push(out.length);
            }
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

/** Options of {@linkcode runServer}. */
export interface RunServerOptions {
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
   * The log size in bytes past which it is compacted into a snapshot.
   *
   * @default {67108864}
   */
  compactBytes?: number;
}

/**
 * Runs the server the way the course does, `run_server("127.0.0.1", 8888)`:
 * it prints where it listens and serves until SIGINT or SIGTERM, then
 * answers what it received, writes and fsyncs its log, and returns.
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
 * @param options The data directory and its fsync policy.
 * @returns A promise that settles once the server has shut down.
 * @throws {Deno.errors.AddrInUse} When the port is taken.
 * @throws {Deno.errors.AlreadyExists} When another server uses the data
 * directory.
 */
export async function runServer(
  hostname: string = DEFAULT_HOSTNAME,
  port: number = DEFAULT_PORT,
  options: RunServerOptions = {},
): Promise<void> {
  const controller = new AbortController();
  const stop = () => controller.abort();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const signal of signals) Deno.addSignalListener(signal, stop);
  let storage: Storage | undefined;
  try {
    if (options.data !== undefined) {
      storage = await openStorage(options.data, {
        fsync: options.fsync,
        compactBytes: options.compactBytes,
      });
    }
    const server = serve({
      hostname,
      port,
      storage,
      signal: controller.signal,
      onListen: (addr) =>
        console.error(`pulse: listening on ${addr.hostname}:${addr.port}`),
    });
    await server.finished;
  } finally {
    for (const signal of signals) Deno.removeSignalListener(signal, stop);
    await storage?.close();
  }
}

const HELP = `Usage: deno run -A server.ts [options]

Serves Pulse's metrics protocol over TCP.

Options:
  --hostname HOST     address to listen on (default ${DEFAULT_HOSTNAME})
  --port PORT         port to listen on, 0 for any free one (default ${DEFAULT_PORT})
  --data DIR          keep samples in DIR (default ./data)
  --memory            keep samples in memory only, as the course's server does
  --fsync POLICY      always: answer puts once on disk; everysec: fsync every
                      second; no: leave it to the OS (default everysec)
  --compact-bytes N   compact the log into a snapshot past N bytes (default 64 MiB)
  -h, --help          show this help
`;

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
  const compactBytes = flags["compact-bytes"] === undefined
    ? undefined
    : Number(flags["compact-bytes"]);
  if (
    compactBytes !== undefined &&
    !(Number.isSafeInteger(compactBytes) && compactBytes > 0)
  ) {
    return usage("--compact-bytes must be a positive integer");
  }
  try {
    await runServer(flags.hostname, port, {
      data: flags.memory ? undefined : flags.data,
      fsync,
      compactBytes,
    });
  } catch (error) {
    console.error(`pulse: ${(error as Error).message}`);
    return 1;
  }
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
