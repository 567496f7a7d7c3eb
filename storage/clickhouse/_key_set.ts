/**
 * A set of keys sent along with a query as an external table `_set (key
 * String, pos UInt32)`: a query reads any number of keys that way, with no
 * key written into SQL, and orders its rows by `pos`, the place of their
 * key in the list.
 *
 * @module
 */

import type { ExternalTable } from "./_client.ts";

/** The name queries read the set by. */
export const KEY_SET = "_set";
/** The rows of a set: `key IN (SELECT key FROM _set)`. */
export const IN_KEY_SET = `key IN (SELECT key FROM ${KEY_SET})`;

const ENCODER = new TextEncoder();

/**
 * Keys as the external table `_set`, numbered in order.
 *
 * @param keys The keys.
 * @returns The table.
 */
export function keySet(keys: readonly string[]): ExternalTable {
  const encoded = keys.map((key) => ENCODER.encode(key));
  let size = 0;
  for (const key of encoded) size += key.length + 9;
  const rows = new Uint8Array(size);
  const view = new DataView(rows.buffer);
  let at = 0;
  for (let pos = 0; pos < encoded.length; pos++) {
    let n = encoded[pos].length;
    while (n >= 0x80) {
      rows[at++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    rows[at++] = n;
    rows.set(encoded[pos], at);
    at += encoded[pos].length;
    view.setUint32(at, pos, true);
    at += 4;
  }
  return {
    name: KEY_SET,
    structure: "key String, pos UInt32",
    rows: rows.subarray(0, at),
  };
}
