/**
 * The accept loop every front door shares: it serves each connection with a
 * handler, refuses connections past a cap, and lives through running out of
 * file descriptors.
 *
 * `Deno.Listener`'s iterator ends (and `Deno.serve` fails) on the first
 * error of `accept()`, and the commonest one under load, EMFILE, is not the
 * listener's fault: descriptors free up as connections close. So an accept
 * that fails for want of descriptors backs off and tries again. One
 * descriptor is held in reserve meanwhile: giving it up lets the loop take
 * the waiting connection and refuse it at once, instead of leaving clients
 * in the kernel's queue without a word, the way nginx and libuv do.
 *
 * @module
 */

/**
 * Why a connection was refused: past the cap on connections, or for want of
 * file descriptors.
 */
export type RefusalReason = "cap" | "descriptors";

/** Options of {@linkcode acceptConnections}. */
export interface AcceptOptions {
  /** Serves one connection; the loop closes it once this settles. */
  serve: (conn: Deno.Conn) => Promise<void>;
  /**
   * Connections served at once; one more is handed to `refuse`.
   *
   * @default {Infinity}
   */
  maxConnections?: number;
  /**
   * Tells a connection it is refused (it is closed after): too many
   * connections, or no descriptors left.
   *
   * @default {() => {}}
   */
  refuse?: (conn: Deno.Conn, reason: RefusalReason) => Promise<void> | void;
  /**
   * Hears of errors that do not stop the loop: a handler that threw, or
   * accepting failing for want of descriptors (once per run of failures).
   *
   * @default {() => {}}
   */
  onError?: (error: Error) => void;
}

/** A running accept loop. */
export interface AcceptLoop {
  /** Connections being served. */
  readonly size: number;
  /** Connections refused, for the cap or for want of descriptors. */
  readonly refused: number;
  /**
   * Settles once the listener is closed and every connection served.
   */
  readonly finished: Promise<void>;
}

// Back-off while descriptors run out: doubling from the first to the last.
const FIRST_BACKOFF_MS = 10;
const LAST_BACKOFF_MS = 1_000;

function outOfDescriptors(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === "EMFILE" || code === "ENFILE";
}

function listenerClosed(error: unknown): boolean {
  return error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.Interrupted;
}

/**
 * One descriptor kept open to be given up when accepting fails for want of
 * them, so that the waiting connection can be taken and refused.
 */
class Reserve {
  #file: Deno.FsFile | undefined;

  constructor() {
    this.#open();
  }

  /** Frees the descriptor; returns whether there was one. */
  release(): boolean {
    if (this.#file === undefined) return false;
    this.#file.close();
    this.#file = undefined;
    return true;
  }

  /** Takes a descriptor again, if one is free. */
  restore(): void {
    if (this.#file === undefined) this.#open();
  }

  close(): void {
    this.release();
  }

  #open(): void {
    try {
      this.#file = Deno.openSync("/dev/null");
    } catch {
      // No /dev/null (or no permission to read it): back off only.
    }
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Closed already, by the handler or a shutdown.
  }
}

/**
 * Accepts connections from `listener` until it is closed, serving each with
 * `options.serve`. Past `maxConnections`, and when no descriptor is left, a
 * new connection is handed to `refuse` and closed. Errors of accepting other
 * than a closed listener never end the loop.
 *
 * @example Usage
 * ```ts
 * import { acceptConnections } from "./accept.ts";
 *
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const loop = acceptConnections(listener, {
 *   serve: async (conn) => {
 *     await conn.write(new TextEncoder().encode("hello\n"));
 *   },
 * });
 * listener.close();
 * await loop.finished;
 * ```
 *
 * @param listener Where connections come from; close it to stop.
 * @param options The handler, the cap and what to tell refused clients.
 * @returns The running loop.
 */
export function acceptConnections(
  listener: Deno.Listener,
  options: AcceptOptions,
): AcceptLoop {
  const maxConnections = options.maxConnections ?? Infinity;
  const onError = options.onError ?? (() => {});
  const sessions = new Set<Promise<void>>();
  const reserve = new Reserve();
  let refused = 0;

  const refuse = (conn: Deno.Conn, reason: RefusalReason) => {
    refused++;
    Promise.resolve()
      .then(() => options.refuse?.(conn, reason))
      .catch(() => {})
      .finally(() => closeQuietly(conn));
  };

  const serve = (conn: Deno.Conn) => {
    const session: Promise<void> = options.serve(conn)
      .catch((error) => onError(error as Error))
      .finally(() => {
        sessions.delete(session);
        closeQuietly(conn);
      });
    sessions.add(session);
  };

  /** Waits out a shortage of descriptors; returns false once closed. */
  const weather = async (error: Error, backoff: number): Promise<boolean> => {
    if (backoff === FIRST_BACKOFF_MS) {
      onError(
        new Error(
          `Cannot accept connections on ${
            address(listener)
          }: ${error.message}; refusing them until descriptors free up`,
          { cause: error },
        ),
      );
    }
    if (reserve.release()) {
      // Take the waiting connection with the freed descriptor, and say no.
      try {
        refuse(await listener.accept(), "descriptors");
      } catch (again) {
        if (listenerClosed(again)) return false;
      }
      reserve.restore();
    }
    await new Promise((resolve) => setTimeout(resolve, backoff));
    return true;
  };

  const run = async () => {
    let backoff = FIRST_BACKOFF_MS;
    try {
      while (true) {
        let conn: Deno.Conn;
        try {
          conn = await listener.accept();
        } catch (error) {
          if (listenerClosed(error)) break;
          if (!outOfDescriptors(error)) {
            // A connection reset before it was taken, and the like.
            onError(error as Error);
            continue;
          }
          if (!await weather(error as Error, backoff)) break;
          backoff = Math.min(backoff * 2, LAST_BACKOFF_MS);
          continue;
        }
        backoff = FIRST_BACKOFF_MS;
        reserve.restore();
        if (sessions.size >= maxConnections) refuse(conn, "cap");
        else serve(conn);
      }
    } finally {
      reserve.close();
    }
    while (sessions.size > 0) await Promise.all(sessions);
  };

  const finished = run();
  return {
    get size() {
      return sessions.size;
    },
    get refused() {
      return refused;
    },
    finished,
  };
}

function address(listener: Deno.Listener): string {
  const addr = listener.addr as Deno.NetAddr;
  return formatAddress(addr.hostname, addr.port);
}

/**
 * Writes a host and port as a URL would: IPv6 addresses in brackets.
 *
 * @example Usage
 * ```ts
 * import { formatAddress } from "./accept.ts";
 * import { equal } from "node:assert/strict";
 *
 * equal(formatAddress("::1", 8888), "[::1]:8888");
 * equal(formatAddress("127.0.0.1", 8888), "127.0.0.1:8888");
 * ```
 *
 * @param hostname A name or an IPv4 or IPv6 address.
 * @param port A port.
 * @returns `host:port`.
 */
export function formatAddress(hostname: string, port: number): string {
  return hostname.includes(":")
    ? `[${hostname}]:${port}`
    : `${hostname}:${port}`;
}

/**
 * The process's limit on open descriptors, read from `/proc/self/limits`.
 *
 * @returns The soft limit, or `undefined` where it cannot be read.
 */
export function descriptorLimit(): number | undefined {
  try {
    const limits = Deno.readTextFileSync("/proc/self/limits");
    const match = /^Max open files\s+(\d+)/m.exec(limits);
    return match === null ? undefined : Number(match[1]);
  } catch {
    return undefined;
  }
}
