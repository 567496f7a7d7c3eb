/**
 * The course's address: where the server listens and the client connects
 * unless told otherwise. A module of its own so that the client side can
 * import it without the server, its persistence and its HTTP front door.
 *
 * @example Usage
 * ```ts
 * import { DEFAULT_HOSTNAME, DEFAULT_PORT } from "./defaults.ts";
 * import { equal } from "node:assert/strict";
 *
 * equal(`${DEFAULT_HOSTNAME}:${DEFAULT_PORT}`, "127.0.0.1:8888");
 * ```
 *
 * @module
 */

/** The course's address: where the server listens unless told otherwise. */
export const DEFAULT_HOSTNAME = "127.0.0.1";
/** The course's port. */
export const DEFAULT_PORT = 8888;
/**
 * The HTTP server's port unless told otherwise: the TCP port's neighbour.
 * The command line's `backup` reads snapshots there.
 */
export const DEFAULT_HTTP_PORT = 8889;
