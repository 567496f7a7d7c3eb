/**
 * Turning the bytes of keys into strings, with a cache so that a busy
 * series' key is decoded once rather than once per request.
 *
 * @module
 */

import { isKey } from "./grammar.ts";

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
// Direct-mapped cache of decoded keys, so that a key's bytes become a string
// once rather than once per request.
const KEY_CACHE_SIZE = 65536;
// A key shorter than this is kept in one slot of this many bytes, a cache
// line: with many keys in turn, a key is recognised by reading that line
// rather than an array, an object and its bytes, each likely cold.
const SLOT_BYTES = 64;

/** Whether `a[aStart, aStart + length)` and `b[bStart, ...)` are equal. */
function sameBytes(
  a: Uint8Array,
  aStart: number,
  b: Uint8Array,
  bStart: number,
  length: number,
): boolean {
  for (let i = 0; i < length; i++) {
    if (a[aStart + i] !== b[bStart + i]) return false;
  }
  return true;
}

/**
 * Turns the bytes of keys into strings, validating UTF-8, and remembers the
 * most recent ones so that a busy series' key is decoded once.
 */
export class KeyDecoder {
  // Slot i's short key: its length + 1 (0 when it holds none), its bytes.
  #short = new Uint8Array(KEY_CACHE_SIZE * SLOT_BYTES);
  #long: (Uint8Array | undefined)[] = new Array(KEY_CACHE_SIZE);
  #strings: string[] = new Array(KEY_CACHE_SIZE);

  /**
   * Decodes `bytes[start, end)`.
   *
   * @param bytes The line's bytes.
   * @param start Where the key starts.
   * @param end Where it ends, exclusive.
   * @returns The key, or `undefined` when the bytes are not valid UTF-8.
   */
  decode(bytes: Uint8Array, start: number, end: number): string | undefined {
    let hash = 0x811c9dc5;
    for (let i = start; i < end; i++) {
      hash = Math.imul(hash ^ bytes[i], 0x01000193);
    }
    const slot = (hash >>> 0) & (KEY_CACHE_SIZE - 1);
    const length = end - start;
    const short = this.#short;
    const at = slot * SLOT_BYTES;
    if (length < SLOT_BYTES) {
      if (
        short[at] === length + 1 &&
        sameBytes(short, at + 1, bytes, start, length)
      ) {
        return this.#strings[slot];
      }
    } else {
      const cached = this.#long[slot];
      if (
        cached !== undefined && cached.length === length &&
        sameBytes(cached, 0, bytes, start, length)
      ) {
        return this.#strings[slot];
      }
    }
    let key: string;
    try {
      key = UTF8.decode(bytes.subarray(start, end));
    } catch {
      return undefined;
    }
    // Tokens never hold spaces or tabs, but other whitespace (a vertical tab,
    // a no-break space) would split the key for peers that split on any.
    if (!isKey(key)) return undefined;
    if (length < SLOT_BYTES) {
      short[at] = length + 1;
      short.set(bytes.subarray(start, end), at + 1);
      this.#long[slot] = undefined;
    } else {
      short[at] = 0;
      this.#long[slot] = bytes.slice(start, end);
    }
    this.#strings[slot] = key;
    return key;
  }
}
