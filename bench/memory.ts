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

import { runLoad } from "./load.ts";
import { readMemory, type Server } from "./process.ts";
import { formatCount, formatMiB, table } from "./report.ts";

const FILL_CONNECTIONS = 4;
const FILL_INFLIGHT = 64;
/** Time for the server to finish the work of the last puts before reading. */
const SETTLE_MS = 1000;

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
