/**
 * The connections a server has open: an id for each (unique for the life
 * of the process, across servers), its peer's address, when it opened and
 * last sent something, and its commands and bytes. The `clients` command
 * lists them, and the `open` and `close` events and `stats` come from here.
 *
 * A session keeps its connection's figures itself, with plain increments:
 * nothing here is called per request. The time of last activity is taken
 * once per chunk read, not per request.
 *
 * @module
 */

import { formatAddress } from "./accept.ts";

/** Why a connection closed, as the `close` event says. */
export type CloseReason =
  | "client"
  | "quit"
  | "idle"
  | "shutdown"
  | "reset"
  | "output"
  | "error";

/** One open connection, as its server and its session track it. */
export interface ConnectionInfo {
  /** Its id, unique for the life of the process. */
  readonly id: number;
  /** The connection. */
  readonly conn: Deno.Conn;
  /** The peer, as `ip:port` (`[ip]:port` for IPv6). */
  readonly addr: string;
  /** Whether the peer is on a loopback address. */
  readonly loopback: boolean;
  /** When it opened, in milliseconds since the epoch. */
  readonly opened: number;
  /** Why the server closed it, when the server did. */
  reason: CloseReason | undefined;
  /** Waiting for bytes, with no answer owed: safe to close. */
  idle: boolean;
  /**
   * Grows whenever the client sends bytes or takes answers: the server sees
   * idleness as this standing still, without reading a clock per request.
   */
  activity: number;
  /** When the client last sent bytes, read once per chunk. */
  lastActive: number;
  /** Requests answered. */
  commands: number;
  /** Bytes received. */
  bytesIn: number;
  /** Answer bytes handed to the connection. */
  bytesOut: number;
}

// Ids go on from server to server: unique for the process's life.
let lastId = 0;

/**
 * Whether a peer's address is a loopback one: `127.0.0.0/8`, `::1`, or
 * `127.x.x.x` mapped into IPv6.
 *
 * @param hostname An IP address.
 * @returns Whether it is loopback.
 */
export function isLoopbackAddress(hostname: string): boolean {
  const v4 = hostname.startsWith("::ffff:") ? hostname.slice(7) : hostname;
  return v4.startsWith("127.") || hostname === "::1";
}

/** The open connections of one server, in the order they opened. */
export class ConnectionRegistry implements Iterable<ConnectionInfo> {
  #open = new Set<ConnectionInfo>();

  /** How many are open. */
  get size(): number {
    return this.#open.size;
  }

  /**
   * Registers a new connection.
   *
   * @param conn The connection.
   * @returns What the server and its session track of it.
   */
  open(conn: Deno.Conn): ConnectionInfo {
    const remote = conn.remoteAddr as Deno.NetAddr;
    const now = Date.now();
    const info: ConnectionInfo = {
      id: ++lastId,
      conn,
      addr: formatAddress(remote.hostname, remote.port),
      loopback: isLoopbackAddress(remote.hostname),
      opened: now,
      reason: undefined,
      idle: true,
      activity: 0,
      lastActive: now,
      commands: 0,
      bytesIn: 0,
      bytesOut: 0,
    };
    this.#open.add(info);
    return info;
  }

  /**
   * Forgets a connection that closed.
   *
   * @param info What {@linkcode ConnectionRegistry.open} returned.
   */
  close(info: ConnectionInfo): void {
    this.#open.delete(info);
  }

  /**
   * Whether a connection is still open.
   *
   * @param info A connection.
   * @returns Whether it is registered.
   */
  has(info: ConnectionInfo): boolean {
    return this.#open.has(info);
  }

  /**
   * The open connections, oldest first; connections that open or close
   * meanwhile are seen or skipped, as a `Set` does.
   *
   * @returns An iterator.
   */
  [Symbol.iterator](): Iterator<ConnectionInfo> {
    return this.#open.values();
  }
}

/**
 * A connection as a line of the `clients` answer.
 *
 * @param info The connection.
 * @param now Milliseconds since the epoch.
 * @returns `id=<n> addr=<ip:port> age=<s> idle=<s> cmds=<n> in=<bytes>
 * out=<bytes>`.
 */
export function describeConnection(info: ConnectionInfo, now: number): string {
  const age = Math.max(0, Math.floor((now - info.opened) / 1000));
  const idle = Math.max(0, Math.floor((now - info.lastActive) / 1000));
  return `id=${info.id} addr=${info.addr} age=${age} idle=${idle} cmds=${info.commands} in=${info.bytesIn} out=${info.bytesOut}`;
}
