/**
 * The baseline server: the fastest answer to the Pulse protocol that Deno's
 * TCP stack allows, used as the ceiling that Pulse is measured against.
 *
 * It parses and stores nothing: for every chunk it reads it counts the request
 * lines (newline bytes) and answers each with `ok\n\n`, all in one write. The
 * answers are sliced from a buffer filled once, so no byte is copied or
 * encoded per request; what remains is the cost of the syscalls and of Deno's
 * event loop, which every server written on `Deno.listen` pays too.
 *
 * Run: `deno run -A bench/baseline.ts --port 0`. It prints
 * `listening on 127.0.0.1:<port>` on stderr once it accepts connections.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { writeAll } from "../internal/write_all.ts";

const HOSTNAME = "127.0.0.1";
const NEWLINE = 0x0a;
const READ_BUFFER_BYTES = 64 * 1024;
const ANSWER = new TextEncoder().encode("ok\n\n");
/** A read of N bytes holds at most N requests, so this covers any chunk. */
const ANSWERS = new Uint8Array(READ_BUFFER_BYTES * ANSWER.length);
for (let offset = 0; offset < ANSWERS.length; offset += ANSWER.length) {
  ANSWERS.set(ANSWER, offset);
}

function countNewlines(chunk: Uint8Array): number {
  let count = 0;
  let index = chunk.indexOf(NEWLINE);
  while (index !== -1) {
    count++;
    index = chunk.indexOf(NEWLINE, index + 1);
  }
  return count;
}

async function serveConnection(conn: Deno.TcpConn): Promise<void> {
  conn.setNoDelay(true);
  const buffer = new Uint8Array(READ_BUFFER_BYTES);
  try {
    while (true) {
      const read = await conn.read(buffer);
      if (read === null) break;
      const requests = countNewlines(buffer.subarray(0, read));
      if (requests > 0) {
        await writeAll(conn, ANSWERS.subarray(0, requests * ANSWER.length));
      }
    }
  } catch (error) {
    // A client that goes away mid-answer is normal at the end of a run.
    if (
      !(error instanceof Deno.errors.ConnectionReset ||
        error instanceof Deno.errors.BrokenPipe)
    ) {
      throw error;
    }
  } finally {
    conn.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: { port: { type: "string", default: "0" } },
  });
  const listener = Deno.listen({
    hostname: HOSTNAME,
    port: Number(values.port),
  });
  const { port } = listener.addr as Deno.NetAddr;
  console.error(`listening on ${HOSTNAME}:${port}`);
  for await (const conn of listener) {
    serveConnection(conn);
  }
}

if (import.meta.main) {
  await main();
}
