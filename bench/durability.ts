/**
 * What durability costs: put throughput with the log beside `--memory`, and
 * what the samples take on disk.
 *
 * - Throughput: three fresh servers, `--memory`, `--fsync everysec` and
 *   `--fsync always`, take puts over 1000 keys with 64 in flight on each
 *   connection. They run in turn, their order rotated from round to round, and
 *   the medians are shown with each one's ratio to `--memory`.
 * - Disk: a fresh `--fsync everysec` server takes the samples of the memory
 *   section (1000 series, timestamps one second apart from 1,700,000,000), is
 *   stopped with SIGTERM, and its directory is opened in this process:
 *   restored (timed, and checked to hold every sample), compacted into a
 *   snapshot, and the snapshot's size divided by the samples. The log's size
 *   before compaction is shown too, and the longest the event loop stalled
 *   while the snapshot was written, seen by a timer of 1 ms.
 *
 * @module
 */

import { Logger } from "../internal/logger.ts";
import { openStorage } from "../storage/local.ts";
import { type LoadResult, runLoad } from "./load.ts";
import { type Server, startServer } from "./process.ts";
import { formatCount, formatMiB, formatMs, median, table } from "./report.ts";

/** What the durability section needs to know. */
export interface DurabilityOptions {
  /** Seconds measured per throughput run, after a warm-up. */
  duration: number;
  /** Seconds of warm-up per throughput run. */
  warmup: number;
  /** Connections of the throughput runs. */
  connections: number;
  /** Throughput runs per server, medians reported. */
  rounds: number;
  /** Samples put before measuring the bytes on disk. */
  samples: number;
}

interface Setup {
  name: string;
  args: string[];
}

// No HTTP listener: the servers measured differ in their storage alone.
const LOOPBACK = ["--hostname", "127.0.0.1", "--port", "0", "--http", "off"];
const SETUPS: Setup[] = [
  { name: "--memory", args: ["--memory"] },
  { name: "--fsync everysec", args: ["--fsync", "everysec"] },
  { name: "--fsync always", args: ["--fsync", "always"] },
];
const PUT_KEYS = 1000;
const INFLIGHT = 64;
const FILL_SERIES = 1000;
const FILL_CONNECTIONS = 4;
/** Where the timestamps of the fill start: about now, as a collector's. */
const FILL_TIMESTAMP = 1_700_000_000;
const LOG = /^log-\d+\.pulse$/;

/**
 * Measures put throughput by storage and the bytes a sample takes on disk,
 * and returns the markdown of both tables.
 *
 * @param script The path of Pulse's `server.ts`.
 * @param options How long and how often to measure, and how many samples.
 * @param progress Called with a line to show before each step.
 * @returns Two markdown tables.
 */
export async function measureDurability(
  script: string,
  options: DurabilityOptions,
  progress: (line: string) => void,
): Promise<string> {
  const servers: Server[] = [];
  const dirs: string[] = [];
  const start = async (setup: Setup): Promise<Server> => {
    const args = [...LOOPBACK, ...setup.args];
    if (setup.name !== "--memory") {
      const dir = await Deno.makeTempDir({ prefix: "pulse-bench-" });
      dirs.push(dir);
      args.push("--data", dir);
    }
    const server = await startServer(`pulse ${setup.name}`, script, args);
    servers.push(server);
    return server;
  };
  try {
    progress("durability: starting --memory, --fsync everysec, always");
    const started: Server[] = [];
    for (const setup of SETUPS) started.push(await start(setup));
    const throughput = await measurePuts(started, options, progress);
    await Promise.all(started.map((server) => server.stop()));

    progress(
      `durability: putting ${options.samples} samples to --fsync everysec`,
    );
    const fill = await start(SETUPS[1]);
    const disk = await measureDisk(fill, dirs.at(-1)!, options.samples);
    return `${throughput}\n\n${disk}`;
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
    for (const dir of dirs) await Deno.remove(dir, { recursive: true });
  }
}

async function measurePuts(
  servers: Server[],
  options: DurabilityOptions,
  progress: (line: string) => void,
): Promise<string> {
  const load = {
    workload: "put" as const,
    keys: PUT_KEYS,
    inflight: INFLIGHT,
    connections: options.connections,
    duration: options.duration,
    warmup: options.warmup,
  };
  const results = new Map<Server, LoadResult[]>(
    servers.map((server) => [server, []]),
  );
  for (let round = 0; round < options.rounds; round++) {
    // Rotate the order, so that no server always runs first or last.
    const order = servers.map((_, i) => servers[(i + round) % servers.length]);
    for (const server of order) {
      progress(
        `durability: put, ${INFLIGHT} in flight, ${server.name}, round ${
          round + 1
        }/${options.rounds}`,
      );
      results.get(server)!.push(await runLoad(server, load));
    }
  }
  const memoryRate = median(results.get(servers[0])!.map((r) => r.opsPerSec));
  return table(
    [
      "server",
      "connections",
      "in flight",
      "puts/s",
      "p50",
      "p99",
      "ratio to --memory",
    ],
    servers.map((server) => {
      const runs = results.get(server)!;
      const rate = median(runs.map((r) => r.opsPerSec));
      return [
        server.name,
        String(options.connections),
        String(INFLIGHT),
        formatCount(rate),
        formatMs(median(runs.map((r) => r.p50Ms))),
        formatMs(median(runs.map((r) => r.p99Ms))),
        `${(rate / memoryRate).toFixed(2)}×`,
      ];
    }),
  );
}

async function filesSize(dir: string, pattern: RegExp): Promise<number> {
  let bytes = 0;
  for await (const entry of Deno.readDir(dir)) {
    if (pattern.test(entry.name)) {
      bytes += (await Deno.stat(`${dir}/${entry.name}`)).size;
    }
  }
  return bytes;
}

async function measureDisk(
  server: Server,
  dir: string,
  samples: number,
): Promise<string> {
  server.nextTimestamp = FILL_TIMESTAMP;
  const fill = await runLoad(server, {
    workload: "put",
    keys: FILL_SERIES,
    connections: FILL_CONNECTIONS,
    inflight: INFLIGHT,
    requests: samples,
  });
  await server.stop("SIGTERM");
  const logBytes = await filesSize(dir, LOG);
  const snapshotBefore = await filesSize(dir, /^snapshot\.pulse$/);

  const messages: string[] = [];
  await using storage = await openStorage(dir, {
    logger: new Logger((line) => messages.push(line)),
  });
  const restored = storage.restored!;
  if (restored.samples !== samples || restored.corrupted > 0) {
    throw new Error(
      `put ${samples} samples, restored ${restored.samples}: ${
        messages.join("; ")
      }`,
    );
  }
  const compactStart = performance.now();
  let longestStall = 0;
  let tick = compactStart;
  const probe = setInterval(() => {
    const now = performance.now();
    longestStall = Math.max(longestStall, now - tick);
    tick = now;
  }, 1);
  try {
    await storage.compact();
  } finally {
    clearInterval(probe);
  }
  const compactMs = performance.now() - compactStart;
  const snapshot = storage.sizes!.snapshot;
  return table(
    [
      "samples",
      "series",
      "fill rate",
      "log + snapshot before",
      "log bytes/put",
      "restore",
      "compaction",
      "longest stall",
      "snapshot",
      "bytes/sample on disk",
    ],
    [[
      formatCount(samples),
      formatCount(FILL_SERIES),
      `${formatCount(fill.opsPerSec)} puts/s`,
      formatMiB(logBytes + snapshotBefore),
      (logBytes / samples).toFixed(1),
      formatMs(restored.milliseconds),
      formatMs(compactMs),
      formatMs(longestStall),
      formatMiB(snapshot),
      (snapshot / samples).toFixed(2),
    ]],
  );
}
