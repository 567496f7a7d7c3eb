/**
 * Pipelining through Pulse's `Client`: one client with many `put` calls in
 * flight, next to the same window of puts on one raw connection, so that the
 * client's own cost shows as the gap between the two rows.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { type Measurement, runLoad } from "./load.ts";
import { runScript, type Server } from "./process.ts";
import { formatCount, formatMs, table } from "./report.ts";

const CLIENT_LOAD = fileURLToPath(new URL("./client_load.ts", import.meta.url));
const INFLIGHT = 64;
const KEYS = 1000;

/**
 * Measures puts through one `Client` and through one raw connection, and
 * returns the markdown table of both.
 *
 * @param server A Pulse server.
 * @param warmup Seconds of warm-up per run.
 * @param duration Seconds measured per run.
 */
export async function measureClient(
  server: Server,
  warmup: number,
  duration: number,
): Promise<string> {
  const raw = await runLoad(server, {
    workload: "put",
    keys: KEYS,
    connections: 1,
    inflight: INFLIGHT,
    warmup,
    duration,
  });
  const client: Measurement = JSON.parse(
    await runScript(CLIENT_LOAD, [
      "--port",
      String(server.port),
      "--inflight",
      String(INFLIGHT),
      "--keys",
      String(KEYS),
      "--timestamp-start",
      String(server.nextTimestamp),
      "--warmup",
      String(warmup),
      "--duration",
      String(duration),
    ]),
  );
  server.nextTimestamp = client.lastTimestamp + 1;
  function row(driver: string, result: Measurement): string[] {
    return [
      driver,
      String(INFLIGHT),
      formatCount(result.opsPerSec),
      formatMs(result.p50Ms),
      formatMs(result.p99Ms),
    ];
  }
  return table(
    ["driver (one connection)", "in flight", "puts/s", "p50", "p99"],
    [row("Client", client), row("raw connection", raw)],
  );
}
