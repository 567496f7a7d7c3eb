/**
 * Streaming of a large answer: `get *` over every sample of a filled server.
 *
 * A server that builds the whole answer before writing it shows a late first
 * byte and a resident set that grows by the size of the answer; one that
 * streams shows an early first byte and flat memory. The peak is read from
 * the kernel's high-water mark (VmHWM), reset just before the request, so no
 * spike between two samples of VmRSS goes unseen.
 *
 * @module
 */

import { AnswerScanner } from "./answers.ts";
import { readMemory, resetPeakRss, type Server } from "./process.ts";
import { formatCount, formatMiB, formatMs, table } from "./report.ts";
import { writeAll } from "../internal/write_all.ts";

const READ_BUFFER_BYTES = 1024 * 1024;
/** An answer's `ok` line and its closing empty line. */
const FRAMING_LINES = 2;
const REQUEST = new TextEncoder().encode("get *\n");

/**
 * Sends `get *` and returns the markdown table of how the answer came.
 *
 * @param server A Pulse server filled with `expectedSamples` samples.
 * @param expectedSamples How many samples the answer should hold.
 */
export async function measureStream(
  server: Server,
  expectedSamples: number,
): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    const scanner = new AnswerScanner();
    const buffer = new Uint8Array(READ_BUFFER_BYTES);
    resetPeakRss(server.pid);
    const rssBefore = readMemory(server.pid).rss;
    const start = performance.now();
    await writeAll(conn, REQUEST);
    let firstByte = NaN;
    let bytes = 0;
    while (scanner.answers === 0) {
      const read = await conn.read(buffer);
      if (read === null) throw new Error(`${server.name} closed on get *`);
      if (bytes === 0) firstByte = performance.now() - start;
      bytes += read;
      scanner.scan(buffer.subarray(0, read));
    }
    const total = performance.now() - start;
    const peak = readMemory(server.pid).hwm;
    if (scanner.errors > 0) {
      throw new Error(`${server.name} answered get *: ${scanner.firstError}`);
    }
    const samples = scanner.newlines - FRAMING_LINES;
    return table(
      [
        "samples",
        "bytes",
        "first byte",
        "total",
        "throughput",
        "peak RSS growth",
      ],
      [[
        samples === expectedSamples
          ? formatCount(samples)
          : `${formatCount(samples)} (expected ${
            formatCount(expectedSamples)
          })`,
        formatMiB(bytes),
        formatMs(firstByte),
        formatMs(total),
        `${formatMiB(bytes / (total / 1000))}/s`,
        formatMiB(peak - rssBefore),
      ]],
    );
  } finally {
    conn.close();
  }
}
