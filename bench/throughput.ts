/**
 * Throughput and latency of Pulse against the baseline server.
 *
 * Each workload is measured for several rounds, the servers alternating in
 * order from round to round so that neither always runs on a warmer or
 * colder machine, and the median of each figure is reported. The ratio puts
 * Pulse's rate against the baseline's: the rate of a server that parses and
 * stores nothing, on the same load generator.
 *
 * @module
 */

import { type LoadResult, type Options, runLoad } from "./load.ts";
import type { Server } from "./process.ts";
import { formatCount, formatMs, median, table } from "./report.ts";

/** The key prefilled for the get workload, and the samples it holds. */
export const GET_PREFIX = "bench.get";
/** How many samples the key of the get workload holds. */
export const GET_SAMPLES = 100;
/** How many keys the put workload spreads over. */
const PUT_KEYS = 1000;
/** An answer's `ok` line and its closing empty line. */
const FRAMING_LINES = 2;

/** What the throughput section needs to know. */
export interface ThroughputOptions {
  /** Seconds measured per run, after a warm-up. */
  duration: number;
  /** Seconds of warm-up per run. */
  warmup: number;
  connections: number;
  rounds: number;
}

interface Workload {
  name: string;
  load: Partial<Options>;
}

/**
 * Puts {@linkcode GET_SAMPLES} samples to the key of the get workload.
 *
 * @param server A Pulse server.
 */
export async function prefillGetKey(server: Server): Promise<void> {
  await runLoad(server, {
    workload: "put",
    prefix: GET_PREFIX,
    keys: 1,
    connections: 1,
    inflight: GET_SAMPLES,
    requests: GET_SAMPLES,
  });
}

/**
 * A Pulse server run with other flags, measured beside Pulse on the same
 * workloads to show what those flags cost.
 */
export interface Variant {
  /** The server, its get key prefilled. */
  server: Server;
  /** Called after each run on it, such as to empty its log file. */
  afterRun?: () => Promise<void>;
}

/**
 * Measures every workload on the baseline and, if given, on Pulse and its
 * variants, and returns the markdown table of the medians, with each
 * variant's rate as a share of Pulse's below it.
 *
 * @param baseline The baseline server.
 * @param pulse The Pulse server, its get key prefilled; undefined to measure
 * the baseline alone.
 * @param options How long and how often to measure.
 * @param progress Called with a line to show before each run.
 * @param variants Pulse with other flags, such as `--log-requests`.
 */
export async function measureThroughput(
  baseline: Server,
  pulse: Server | undefined,
  options: ThroughputOptions,
  progress: (line: string) => void,
  variants: Variant[] = [],
): Promise<string> {
  const timing = {
    connections: options.connections,
    duration: options.duration,
    warmup: options.warmup,
  };
  const workloads: Workload[] = [
    {
      name: "put",
      load: { ...timing, workload: "put", keys: PUT_KEYS, inflight: 1 },
    },
    {
      name: "put",
      load: { ...timing, workload: "put", keys: PUT_KEYS, inflight: 64 },
    },
    {
      name: `get (${GET_SAMPLES} samples)`,
      load: {
        ...timing,
        workload: "get",
        keys: 1,
        prefix: GET_PREFIX,
        inflight: 1,
      },
    },
  ];
  const servers = pulse === undefined
    ? [baseline]
    : [baseline, pulse, ...variants.map((variant) => variant.server)];
  const afterRun = new Map(
    variants.map((variant) => [variant.server, variant.afterRun]),
  );
  const rows: string[][] = [];
  const shares: string[] = [];
  for (const workload of workloads) {
    const results = new Map<Server, LoadResult[]>(
      servers.map((server) => [server, []]),
    );
    for (let round = 0; round < options.rounds; round++) {
      const order = round % 2 === 0 ? servers : servers.toReversed();
      for (const server of order) {
        progress(
          `${workload.name}, ${workload.load.inflight} in flight, ` +
            `${server.name}, round ${round + 1}/${options.rounds}`,
        );
        const result = await runLoad(server, workload.load);
        await afterRun.get(server)?.();
        checkAnswers(server, pulse, workload, result);
        results.get(server)!.push(result);
      }
    }
    const baselineRate = median(results.get(baseline)!.map((r) => r.opsPerSec));
    for (const server of servers) {
      const runs = results.get(server)!;
      const rate = median(runs.map((r) => r.opsPerSec));
      rows.push([
        workload.name,
        String(workload.load.connections),
        String(workload.load.inflight),
        server.name,
        formatCount(rate),
        formatMs(median(runs.map((r) => r.p50Ms))),
        formatMs(median(runs.map((r) => r.p99Ms))),
        `${(rate / baselineRate).toFixed(2)}×`,
      ]);
    }
    if (pulse === undefined) continue;
    const pulseRate = median(results.get(pulse)!.map((r) => r.opsPerSec));
    for (const { server } of variants) {
      const rate = median(results.get(server)!.map((r) => r.opsPerSec));
      shares.push(
        `- ${server.name}, ${workload.name} with ${workload.load.inflight} in flight: ${
          Math.round(100 * rate / pulseRate)
        } % of ${pulse.name}'s rate`,
      );
    }
  }
  const report = table(
    [
      "workload",
      "connections",
      "in flight",
      "server",
      "ops/s",
      "p50",
      "p99",
      "ratio to baseline",
    ],
    rows,
  );
  return shares.length === 0 ? report : `${report}\n${shares.join("\n")}`;
}

/** Fails the run if Pulse's get answers lack the prefilled samples. */
function checkAnswers(
  server: Server,
  pulse: Server | undefined,
  workload: Workload,
  result: LoadResult,
): void {
  if (
    pulse === undefined || server.name === "baseline" ||
    workload.load.workload !== "get"
  ) {
    return;
  }
  const samples = result.linesPerAnswer - FRAMING_LINES;
  if (samples !== GET_SAMPLES) {
    throw new Error(
      `${server.name} answered get with ${samples} samples per answer, ` +
        `expected ${GET_SAMPLES}`,
    );
  }
}
