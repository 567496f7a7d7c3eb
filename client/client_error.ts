/**
 * The error every failed call of the client rejects with, in a module of
 * its own so that the client's parts can throw it too.
 *
 * @module
 */

/**
 * What every failed call of a `Client` rejects with: an error
 * answer, a malformed answer, a connection that failed or closed, a timeout,
 * or arguments that cannot be sent.
 *
 * @example Usage
 * ```ts
 * import { Client, ClientError } from "@pulse/metrics";
 * import { ok } from "node:assert/strict";
 *
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const port = listener.addr.port;
 * listener.close();
 * const client = new Client("127.0.0.1", port);
 * try {
 *   await client.put("palm.cpu", 1);
 * } catch (error) {
 *   ok(error instanceof ClientError);
 * } finally {
 *   client.close();
 * }
 * ```
 */
export class ClientError extends Error {
  /**
   * Creates an error.
   *
   * @param message What went wrong.
   * @param options The underlying error as `cause`, if any.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ClientError";
  }
}
