/**
 * The server's running figures, shared by its sessions and reported by the
 * `stats` command.
 *
 * @module
 */

import type { Request } from "../protocol/request.ts";

/** Counters of one server. */
export class Counters {
  /** When the server started (`Date.now()`). */
  readonly started: number = Date.now();
  /** Connections accepted in all. */
  connectionsTotal = 0;
  /** Requests answered with an error. */
  errors = 0;
  /** Bytes received. */
  bytesIn = 0;
  /** Bytes of answers handed to connections. */
  bytesOut = 0;
  /** Requests by command; invalid lines count as `invalid`. */
  readonly commands: Record<Request["command"], number> = {
    put: 0,
    get: 0,
    last: 0,
    query: 0,
    keys: 0,
    delete: 0,
    ping: 0,
    stats: 0,
    auth: 0,
    quit: 0,
    clients: 0,
    compact: 0,
    shutdown: 0,
    invalid: 0,
  };
}
