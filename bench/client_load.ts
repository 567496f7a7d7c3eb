/**
 * The load generator for Pulse's own `Client`: keeps `--inflight` `put` calls
 * outstanding on one client for `--duration` seconds, after a warm-up, and
 * prints what it measured as one JSON line on stdout (a
 * {@linkcode Measurement}).
 *
 * It measures what an application gets through the client: the raw load
 * generator shows the server's rate on a bare connection, and the gap
 * between the two is the client's cost.
 *
 * ```sh
 * deno run -A bench/client_load.ts --port 4000 --inflight 64 --duration 3
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Client } from "../client.ts";
import { Histogram } from "./histogram.ts";
import type { Measurement } from "./load.ts";
import { keyName, sampleValue } from "./requests.ts";

async function measure(
  port: number,
  inflight: number,
  keys: number,
  timestampStart: number,
  warmupMs: number,
  durationMs: number,
): Promise<Measurement> {
  const client = new Client("127.0.0.1", port);
  const histogram = new Histogram();
  let sequence = 0;
  let lastTimestamp = timestampStart - 1;
  let measuring = false;
  let sending = true;
  let ops = 0;
  let start = NaN;
  let end = NaN;
  // Each worker has one call outstanding at a time; calls are made in
  // sequence order, so each key's timestamps reach the server in order.
  async function worker(): Promise<void> {
    while (sending) {
      const current = sequence++;
      const timestamp = timestampStart + Math.floor(current / keys);
      lastTimestamp = Math.max(lastTimestamp, timestamp);
      const sentAt = performance.now();
      await client.put(
        keyName("host", current % keys),
        Number(sampleValue(current)),
        timestamp,
      );
      if (measuring) {
        histogram.record(performance.now() - sentAt);
        ops++;
      }
    }
  }
  const timers = [
    setTimeout(() => {
      histogram.reset();
      ops = 0;
      measuring = true;
      start = performance.now();
    }, warmupMs),
    setTimeout(() => {
      measuring = false;
      sending = false;
      end = performance.now();
    }, warmupMs + durationMs),
  ];
  try {
    await Promise.all(Array.from({ length: inflight }, worker));
  } finally {
    for (const timer of timers) clearTimeout(timer);
    client.close();
  }
  const seconds = (end - start) / 1000;
  return {
    ops,
    seconds,
    opsPerSec: ops / seconds,
    p50Ms: histogram.quantile(0.5),
    p99Ms: histogram.quantile(0.99),
    lastTimestamp,
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      port: { type: "string" },
      inflight: { type: "string", default: "64" },
      keys: { type: "string", default: "1000" },
      "timestamp-start": { type: "string", default: "1" },
      warmup: { type: "string", default: "1" },
      duration: { type: "string", default: "3" },
    },
  });
  if (values.port === undefined) throw new TypeError("--port is required");
  const result = await measure(
    Number(values.port),
    Number(values.inflight),
    Number(values.keys),
    Number(values["timestamp-start"]),
    Number(values.warmup) * 1000,
    Number(values.duration) * 1000,
  );
  console.log(JSON.stringify(result));
}
