/**
 * {@linkcode serveGraphite}: Pulse as a Graphite server for senders that
 * speak carbon's protocols (collectd's write_graphite, carbon-c-relay,
 * carbon-relay, statsd, telegraf, pcp2graphite, syslog-ng): plaintext lines
 * over TCP and UDP on one port, and optionally pickle over TCP on another.
 * Nothing is ever answered. Every sample goes through the storage seam, as
 * a put does, with the durability of the storage's fsync policy.
 *
 * @module
 */

import { describe } from "../internal/describe.ts";
import { EventLoopTurns } from "../internal/turns.ts";
import {
  acceptConnections,
  type AcceptLoop,
  formatAddress,
} from "../server/accept.ts";
import { sweepIdle } from "../server/idle_sweep.ts";
import type { Storage } from "../storage/storage.ts";
import {
  type ConnectionState,
  type FeedContext,
  Gate,
  GraphiteCounters,
} from "./_ingest.ts";
import { servePickle } from "./_pickle_session.ts";
import { servePlaintext } from "./_plaintext_session.ts";
import { serveDatagrams } from "./_udp.ts";
import { GraphiteLineParser } from "./plaintext.ts";

/** Carbon's plaintext port, the default of {@linkcode GraphiteOptions.plaintext}. */
export const DEFAULT_GRAPHITE_PORT = 2003;
/** Carbon's pickle port. */
export const DEFAULT_PICKLE_PORT = 2004;
/** The default of {@linkcode GraphiteOptions.maxConnections}. */
export const DEFAULT_GRAPHITE_MAX_CONNECTIONS = 1_000;

/** Where a Graphite listener listens. */
export interface GraphiteAddress {
  /**
   * The address.
   *
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * The port; 0 picks a free one (see `addrs`).
   *
   * @default {2003 for plaintext, 2004 for pickle}
   */
  port?: number;
}

/** Options of {@linkcode serveGraphite}. */
export interface GraphiteOptions {
  /**
   * Where plaintext is taken, over TCP and UDP on the same port; `false`
   * for neither.
   *
   * @default {{ hostname: "127.0.0.1", port: 2003 }}
   */
  plaintext?: GraphiteAddress | false;
  /**
   * Whether plaintext is also taken over UDP. UDP needs Deno's
   * `--unstable-net` (`Deno.listenDatagram`); without it only TCP is
   * served, and `onLog` hears why.
   *
   * @default {true}
   */
  udp?: boolean;
  /**
   * Where carbon's pickle protocol is taken, over TCP; `false` for nowhere.
   *
   * @default {false}
   */
  pickle?: GraphiteAddress | false;
  /**
   * The most TCP connections at once, for each of the plaintext and pickle
   * listeners; one more is closed at once, and counted.
   *
   * @default {1000}
   */
  maxConnections?: number;
  /**
   * Milliseconds a connection may send nothing before it is closed; 0 for
   * no limit.
   *
   * @default {0}
   */
  idleTimeout?: number;
  /**
   * Aborting it shuts the listeners down, as
   * {@linkcode GraphiteServer.shutdown} does.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * Hears what senders did wrong (bad lines, refused pickles, samples the
   * storage refused: each connection at most once a minute) and what the
   * listeners could not do.
   *
   * @default {() => {}}
   */
  onLog?: (message: string) => void;
}

/** Where the listeners of a {@linkcode GraphiteServer} listen. */
export interface GraphiteAddrs {
  /** Plaintext over TCP. */
  plaintext?: Deno.NetAddr;
  /** Plaintext over UDP, on the same port. */
  udp?: Deno.NetAddr;
  /** Pickle over TCP. */
  pickle?: Deno.NetAddr;
}

/** The running Graphite listeners. */
export interface GraphiteServer extends AsyncDisposable {
  /** Where each listener listens. */
  readonly addrs: GraphiteAddrs;
  /** Settles once every listener is closed and every connection done. */
  readonly finished: Promise<void>;
  /**
   * The feeds' figures: connections, lines, bad lines, drops, pickle
   * messages, by their `stats` names (`graphite_*`).
   *
   * @returns Figures by name.
   */
  stats(): Record<string, number>;
  /**
   * Stops listening, stores what each connection has received whole, closes
   * every connection and resolves once done. Safe to call more than once.
   */
  shutdown(): Promise<void>;
}

function checkLimit(name: string, value: number | undefined, min: number) {
  if (value !== undefined && !(value >= min && Number.isFinite(value))) {
    throw new RangeError(
      `Cannot serve Graphite with ${name} ${value}: not a number >= ${min}`,
    );
  }
}

/**
 * Listens for Graphite senders and writes their samples to `storage`.
 *
 * @example Usage
 * ```ts
 * import { LocalStorage, serveGraphite } from "@pulse/metrics";
 * import { equal } from "node:assert/strict";
 *
 * await using storage = new LocalStorage();
 * await using graphite = serveGraphite(storage, {
 *   plaintext: { port: 0 },
 *   udp: false,
 * });
 * const conn = await Deno.connect({ port: graphite.addrs.plaintext!.port });
 * await conn.write(new TextEncoder().encode("palm.cpu 10.6 1501864247\n"));
 * conn.close();
 * while (graphite.stats().graphite_lines_total < 1) {
 *   await new Promise((resolve) => setTimeout(resolve, 10));
 * }
 * equal(storage.store.get("palm.cpu")?.length, 1);
 * ```
 *
 * @param storage Where samples are kept; the listeners do not close it.
 * @param options Where to listen, limits, and a log.
 * @returns The running listeners.
 * @throws {RangeError} When a limit is out of its range.
 * @throws {Deno.errors.AddrInUse} When a port is taken.
 */
export function serveGraphite(
  storage: Storage,
  options: GraphiteOptions = {},
): GraphiteServer {
  checkLimit("maxConnections", options.maxConnections, 1);
  checkLimit("idleTimeout", options.idleTimeout, 0);
  return new Graphite(storage, options);
}

/** A connection and what the idle sweep knows of it. */
interface Connection extends ConnectionState {
  conn: Deno.Conn;
}

type Session = (
  conn: Deno.Conn,
  context: FeedContext,
  state: ConnectionState,
) => Promise<void>;

function isHangUp(error: unknown): boolean {
  return error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.Interrupted ||
    error instanceof Deno.errors.NotConnected ||
    error instanceof Deno.errors.UnexpectedEof;
}

function peer(conn: Deno.Conn): string {
  const remote = conn.remoteAddr as Deno.NetAddr;
  return formatAddress(remote.hostname, remote.port);
}

/** The listeners {@linkcode serveGraphite} runs. */
class Graphite implements GraphiteServer {
  readonly addrs: GraphiteAddrs = {};
  readonly finished: Promise<void>;
  #counters = new GraphiteCounters();
  #turns = new EventLoopTurns();
  #context: FeedContext;
  #listeners: Deno.Listener[] = [];
  #loops: AcceptLoop[] = [];
  #socket: Deno.DatagramConn | undefined;
  #receiving: Promise<void> | undefined;
  #connections = new Set<Connection>();
  #stopSweep: (() => void) | undefined;
  #closing = false;
  #shutdown: Promise<void> | undefined;
  #signal: AbortSignal | undefined;
  #onAbort = () => this.shutdown();

  constructor(storage: Storage, options: GraphiteOptions) {
    const onLog = options.onLog ?? (() => {});
    this.#context = {
      storage,
      counters: this.#counters,
      parser: new GraphiteLineParser(),
      turns: this.#turns,
      onLog,
      decoding: new Gate(),
      closing: () => this.#closing,
    };
    try {
      this.#listen(options);
    } catch (error) {
      this.#closeListeners();
      throw error;
    }
    const maxConnections = options.maxConnections ??
      DEFAULT_GRAPHITE_MAX_CONNECTIONS;
    const sessions: Session[] = [];
    if (this.addrs.plaintext !== undefined) sessions.push(servePlaintext);
    if (this.addrs.pickle !== undefined) sessions.push(servePickle);
    this.#loops = this.#listeners.map((listener, i) =>
      acceptConnections(listener, {
        serve: (conn) => this.#serveConnection(conn, sessions[i]),
        maxConnections,
        refuse: () => {
          this.#counters.connectionsRefused++;
        },
        onError: (error) => onLog(`graphite: ${error.message}`),
      })
    );
    if (this.#socket !== undefined) {
      const addr = this.addrs.udp!;
      this.#receiving = serveDatagrams(
        this.#socket,
        this.#context,
        `udp ${formatAddress(addr.hostname, addr.port)}`,
      );
    }
    this.finished = Promise.all([
      ...this.#loops.map((loop) => loop.finished),
      this.#receiving,
    ]).then(() => {});
    const idleTimeout = options.idleTimeout ?? 0;
    if (idleTimeout > 0) {
      this.#stopSweep = sweepIdle(this.#connections, { idleTimeout });
    }
    this.#signal = options.signal;
    if (this.#signal?.aborted) this.shutdown();
    else this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  stats(): Record<string, number> {
    return this.#counters.figures(this.#connections.size);
  }

  shutdown(): Promise<void> {
    this.#shutdown ??= this.#stop();
    return this.#shutdown;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  /** Opens the listeners the options ask for. */
  #listen(options: GraphiteOptions): void {
    const plaintext = options.plaintext ?? {};
    if (plaintext !== false) {
      const listener = Deno.listen({
        hostname: plaintext.hostname ?? "127.0.0.1",
        port: plaintext.port ?? DEFAULT_GRAPHITE_PORT,
      });
      this.#listeners.push(listener);
      const addr = listener.addr as Deno.NetAddr;
      this.addrs.plaintext = addr;
      if (options.udp ?? true) this.#listenUdp(addr);
    }
    const pickle = options.pickle ?? false;
    if (pickle !== false) {
      const listener = Deno.listen({
        hostname: pickle.hostname ?? "127.0.0.1",
        port: pickle.port ?? DEFAULT_PICKLE_PORT,
      });
      this.#listeners.push(listener);
      this.addrs.pickle = listener.addr as Deno.NetAddr;
    }
  }

  /** Opens the UDP socket beside the plaintext listener, when Deno can. */
  #listenUdp(addr: Deno.NetAddr): void {
    if (typeof Deno.listenDatagram !== "function") {
      this.#context.onLog(
        `graphite: not taking plaintext over UDP on ${
          formatAddress(addr.hostname, addr.port)
        }: Deno.listenDatagram needs --unstable-net (TCP is served)`,
      );
      return;
    }
    this.#socket = Deno.listenDatagram({
      transport: "udp",
      hostname: addr.hostname,
      port: addr.port,
    });
    this.addrs.udp = this.#socket.addr as Deno.NetAddr;
  }

  #closeListeners(): void {
    for (const listener of this.#listeners) {
      try {
        listener.close();
      } catch {
        // Closed already.
      }
    }
    try {
      this.#socket?.close();
    } catch {
      // Closed already.
    }
  }

  async #stop(): Promise<void> {
    this.#closing = true;
    this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#stopSweep?.();
    this.#turns.close();
    this.#closeListeners();
    // Nothing is owed to a sender: a session stores the chunk it holds, then
    // finds its connection closed.
    for (const connection of this.#connections) connection.conn.close();
    await this.finished;
  }

  async #serveConnection(conn: Deno.Conn, session: Session): Promise<void> {
    this.#counters.connectionsTotal++;
    const connection: Connection = { conn, source: peer(conn), activity: 0 };
    this.#connections.add(connection);
    try {
      await session(conn, this.#context, connection);
    } catch (error) {
      if (!isHangUp(error)) {
        this.#context.onLog(
          `graphite: closed ${connection.source}: ${describe(error)}`,
        );
      }
    } finally {
      this.#connections.delete(connection);
    }
  }
}
