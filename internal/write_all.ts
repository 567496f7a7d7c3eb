/**
 * Writes a whole buffer to a writer.
 *
 * `@std/io` has `writeAll`, but JSR cannot be reached from our machines; this
 * is the same small loop in the same shape. `Deno.Conn.write` may write only
 * part of what it is given, so the rest is written on until none is left.
 *
 * @module
 */

/** The part of `Deno.Conn` that {@linkcode writeAll} needs. */
export interface ByteWriter {
  /** Writes some of `p`, resolving to how many bytes were written. */
  write(p: Uint8Array): Promise<number>;
}

/**
 * Writes all of `data` to `writer`.
 *
 * @param writer Where the bytes go, such as a `Deno.Conn`.
 * @param data The bytes to write.
 */
export async function writeAll(
  writer: ByteWriter,
  data: Uint8Array,
): Promise<void> {
  let written = 0;
  while (written < data.length) {
    written += await writer.write(data.subarray(written));
  }
}
