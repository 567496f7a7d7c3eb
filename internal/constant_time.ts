/**
 * Comparing secrets without telling, by the time it takes, how much of a
 * guess was right. `@std/crypto` has `timingSafeEqual`, but JSR cannot be
 * reached from our machines; this is the same loop for byte strings.
 *
 * @module
 */

/**
 * Compares two byte strings in time that depends on their lengths only.
 *
 * @example Usage
 * ```ts
 * import { equalInConstantTime } from "./constant_time.ts";
 * import { equal } from "node:assert/strict";
 *
 * const encoder = new TextEncoder();
 * equal(equalInConstantTime(encoder.encode("s3cret"), encoder.encode("s3cret")), true);
 * equal(equalInConstantTime(encoder.encode("guess"), encoder.encode("s3cret")), false);
 * ```
 *
 * @param a A byte string, such as what a client sent.
 * @param b The secret.
 * @returns Whether they are equal.
 */
export function equalInConstantTime(a: Uint8Array, b: Uint8Array): boolean {
  let difference = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) difference |= (a[i] ?? 0) ^ b[i];
  return difference === 0;
}
