/**
 * The server's running figures, shared by its sessions and reported by the
 * `stats` command.
 *
 * @module
 */

/** Counters of one server. */
export class Counters {
  /** When the server started (`Date.now()`). */
  readonly started: number = Date.now();
  /** Connections accepted in all. */
  connectionsTotal = 0;
  /** Connections refused because there were too many. */
  connectionsRefused = 0;
  /** Requests answered with an error. */
  errors = 0;
  /** Bytes received. */
  bytesIn = 0;
  /** Bytes of answers handed to connections. */
  bytesOut = 0;
  /** Requests by command; invalid lines count as `invalid`. */
  readonly commands: Map<string, number> = new Map();

  /**
   * Counts one request.
   *
   * @param command The request's command.
   */
  count(command: string): void {
    this.commands.set(command, (this.commands.get(command) ?? 0) + 1);
  }
}
