/**
 * The error every failed call of the client rejects with, in a module of
 * its own so that the client's parts can throw it too.
 *
 * @module
 */

/**
 * What kind of failure a {@linkcode ClientError} is, where the fix is in
 * the client's options:
 * - `tls-required`: the server speaks TLS, the client did not (set `tls`);
 * - `tls-unsupported`: the client spoke TLS, the server does not there;
 * - `authentication-required`: the server wants a token (set `token`);
 * - `invalid-token`: the server refused the token.
 */
export type ClientErrorCode =
  | "tls-required"
  | "tls-unsupported"
  | "authentication-required"
  | "invalid-token";

/** Options of {@linkcode ClientError}. */
export interface ClientErrorOptions extends ErrorOptions {
  /**
   * What kind of failure it is, when the client's options can fix it.
   *
   * @default {undefined}
   */
  code?: ClientErrorCode;
}

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
  /** What kind of failure it is, when the client's options can fix it. */
  readonly code: ClientErrorCode | undefined;

  /**
   * Creates an error.
   *
   * @param message What went wrong.
   * @param options The underlying error as `cause`, and the `code`, if any.
   */
  constructor(message: string, options?: ClientErrorOptions) {
    super(message, options);
    this.name = "ClientError";
    this.code = options?.code;
  }
}
