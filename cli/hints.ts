/**
 * Hints for failures the command line's own flags can fix: a TLS port
 * talked to in plain text or the reverse, a missing or wrong token, an
 * untrusted certificate. Each names the flag to use.
 *
 * @module
 */

import { ClientError } from "../client.ts";

/** Where a TLS client fails to trust the server's certificate. */
const UNTRUSTED = /invalid peer certificate|UnknownIssuer|certificate/i;

/**
 * The hint for a failure, if the flags can fix it.
 *
 * @param error What the command failed with.
 * @param tls Whether the command line asked for TLS.
 * @returns The hint, such as "the server speaks TLS: add --tls", or
 * `undefined`.
 */
export function hintFor(error: unknown, tls: boolean): string | undefined {
  if (!(error instanceof ClientError)) return undefined;
  switch (error.code) {
    case "tls-required":
      return "the server speaks TLS: add --tls, and --ca FILE if its certificate is self-signed";
    case "tls-unsupported":
      return "the server does not speak TLS on that port: drop --tls and --ca";
    case "authentication-required":
      return "the server wants a token: pass --token SECRET or set PULSE_TOKEN";
    case "invalid-token":
      return "check --token or PULSE_TOKEN: --token wins over PULSE_TOKEN";
  }
  if (tls && UNTRUSTED.test(error.message)) {
    return "trust the server's certificate with --ca FILE";
  }
  return undefined;
}
