/**
 * Joining byte arrays: `@std/bytes` has `concat`, but JSR cannot be reached
 * from our machines; this is the same small loop.
 *
 * @module
 */

/**
 * Joins byte arrays into one.
 *
 * @param parts The arrays, in order.
 * @returns A new array holding all of their bytes.
 */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const joined = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return joined;
}
