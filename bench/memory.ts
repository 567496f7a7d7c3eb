/**
 * Memory cost of stored samples: the growth of a fresh Pulse server's
 * resident set while it takes in millions of samples, per sample.
 *
 * Nothing is forced (no garbage collection is requested): the figure is what
 * an operator would see. The samples arrive pipelined over a few connections,
 * each series in timestamp order, as a collector would send them.
 *
 * @module
 */

import { writeAll } from "../internal/write_all.ts";
import { runLoad } from "./load.ts";
import { readMemory, type Server } from "./process.ts";
import { formatCount, formatMiB, table } from "./report.ts";

const FILL_CONNECTIONS = 4;
const FILL_INFLIGHT = 64;
/** Time for the server to finish the work of the last puts before reading. */
const SETTLE_MS = 1000;
/**
 * Samples put, then deleted, before the first reading, so that the figure
 * is the cost of stored samples and not of the runtime reaching its working
 * size (V8's young generation grows to several MiB under any steady load).
 */
const WARMUP_SAMPLES = 500_000;
const WARMUP_PREFIX = "warmup";

/**
 * Puts `samples` samples over `series` series into a fresh server and
 * returns the markdown table of its memory growth.
 *
 * @param server A Pulse server that holds nothing yet.
 * @param samples How many samples to put.
 * @param series Over how many series to spread them.
 */
export async function measureMemory(
  server: Server,
  samples: number,
  series: number,
): Promise<string> {
  await runLoad(server, {
    workload: "put",
    keys: series,
    prefix: WARMUP_PREFIX,
    connections: FILL_CONNECTIONS,
    inflight: FILL_INFLIGHT,
    requests: WARMUP_SAMPLES,
  });
  await deleteSeries(server, `${WARMUP_PREFIX}*.cpu`);
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  const before = readMemory(server.pid).rss;
  const fill = await runLoad(server, {
    workload: "put",
    keys: series,
    connections: FILL_CONNECTIONS,
    inflight: FILL_INFLIGHT,
    requests: samples,
  });
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  const after = readMemory(server.pid).rss;
  return table(
    [
      "samples",
      "series",
      "fill rate",
      "RSS before",
      "RSS after",
      "bytes/sample",
    ],
    [[
      formatCount(samples),
      formatCount(series),
      `${formatCount(fill.opsPerSec)} puts/s`,
      formatMiB(before),
      formatMiB(after),
      ((after - before) / samples).toFixed(1),
    ]],
  );
}

/** Deletes the series matching `pattern` and waits for the answer. */
async function deleteSeries(server: Server, pattern: string): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    await writeAll(conn, new TextEncoder().encode(`delete ${pattern}\n`));
    const buffer = new Uint8Array(1024);
    let answer = "";
    while (!answer.endsWith("\n\n")) {
      const read = await conn.read(buffer);
      if (read === null) break;
      answer += new TextDecoder().decode(buffer.subarray(0, read));
    }
    if (!answer.startsWith("ok\n")) {
      throw new Error(`${server.name} answered delete: ${answer.trim()}`);
    }
  } finally {
    conn.close();
  }
}
