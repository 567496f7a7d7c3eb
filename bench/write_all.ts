/**
 * Writing a whole buffer to a connection.
 *
 * @module
 */

/**
 * Writes all of `bytes` to `conn`: a write may take only part of a buffer
 * when the socket's send buffer is nearly full.
 *
 * @param conn The connection to write to.
 * @param bytes The bytes to write.
 */
export async function writeAll(
  conn: Deno.Conn,
  bytes: Uint8Array,
): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    written += await conn.write(bytes.subarray(written));
  }
}
