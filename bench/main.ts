/**
 * The benchmark of Pulse: runs the baseline server and Pulse as child
 * processes, drives them with the load generator in its own process, and
 * prints a markdown report on stdout. Progress goes to stderr.
 *
 * Sections, in the order they run, each selectable with `--only`
 * (comma-separated):
 * - `throughput`: puts and gets against the baseline, in alternating rounds,
 *   and on Pulse with `--log-requests` (its log a file, emptied after each
 *   run) to show what logging every request costs;
 * - `client`: puts pipelined through one `Client`;
 * - `backpressure`: a client that never reads, and another one's pings;
 * - `memory`: bytes per sample after putting millions of samples;
 * - `stream`: `get *` of all those samples, its first byte and peak memory;
 * - `queries`: pattern queries against `get *` of the rows they return;
 * - `complexity`: the store's costs per put and per returned sample, at
 *   1,000 and 100,000 series, measured in-process;
 * - `durability`: puts with `--fsync everysec` and `always` beside
 *   `--memory`, and the bytes a sample takes on disk after compaction;
 * - `render`: Graphite's `/render` of `sumSeries` over 1,000 series of a day
 *   at 10 s, and a Grafana panel of them, against `query` of the same rows.
 * - `graphite`: Graphite plaintext lines streamed over as many connections
 *   as put's, beside puts with 64 in flight, with `--memory` and
 *   `--fsync everysec`.
 * - `clickhouse`: front ends over a ClickHouse server beside `--memory`:
 *   puts through one and two front ends, get and query latency, and the
 *   bytes a sample takes in ClickHouse (skipped without clickhouse-server).
 * - `compression`: realistic host data, random doubles and constants: bytes
 *   a sample in memory and on disk after compaction, the rate of a restore
 *   and of decoding.
 *
 * Flags: `--duration` seconds measured per figure (3), `--warmup` seconds
 * before each (1), `--connections` of the throughput workloads (16),
 * `--rounds` per throughput figure (3), `--only` sections (all),
 * `--storage memory|everysec|always` of the shared Pulse server (memory),
 * `--samples` put before `get *` (2,000,000), `--compression-samples` put
 * per kind of data (10,000,000); `--help` lists them.
 *
 * Without `server.ts` it measures the baseline alone. It exits non-zero only
 * when something fails to run; slow figures are reported, never judged.
 *
 * ```sh
 * deno run -A bench/main.ts --duration 3 --rounds 3 --only throughput,memory
 * ```
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { parseArgs, readCount, readNumber, UsageError } from "../cli/flags.ts";
import { measureBackpressure } from "./backpressure.ts";
import { measureClickHouse } from "./clickhouse.ts";
import { measureClient } from "./client_pipelining.ts";
import { measureComplexity } from "./complexity.ts";
import { measureCompression } from "./compression.ts";
import { measureDurability } from "./durability.ts";
import { measureGraphite } from "./graphite.ts";
import { measureMemory } from "./memory.ts";
import { measureQueries } from "./queries.ts";
import { measureRender } from "./render.ts";
import {
  killAll,
  killChildrenOnSignal,
  type Server,
  startServer,
} from "./process.ts";
import { measureStream } from "./stream.ts";
import {
  measureThroughput,
  prefillGetKey,
  type Variant,
} from "./throughput.ts";

const SECTIONS = [
  "throughput",
  "memory",
  "stream",
  "client",
  "backpressure",
  "queries",
  "complexity",
  "durability",
  "render",
  "graphite",
  "clickhouse",
  "compression",
] as const;
type Section = typeof SECTIONS[number];
/** The sections measured on one Pulse server, its get key prefilled. */
const SHARED_PULSE_SECTIONS: readonly Section[] = [
  "throughput",
  "client",
  "backpressure",
];
const STORAGES = ["memory", "everysec", "always"] as const;
type Storage = typeof STORAGES[number];

const BASELINE = fileURLToPath(new URL("./baseline.ts", import.meta.url));
const PULSE = fileURLToPath(new URL("../server.ts", import.meta.url));
const LOOPBACK = ["--hostname", "127.0.0.1", "--port", "0"];
const FILL_SAMPLES = 2_000_000;
const COMPRESSION_SAMPLES = 10_000_000;
const FILL_SERIES = 1000;

interface MainOptions {
  duration: number;
  warmup: number;
  connections: number;
  rounds: number;
  sections: Set<Section>;
  storage: Storage;
  samples: number;
  compressionSamples: number;
}

const HELP = `Usage: deno task bench [options]
       deno run -A bench/main.ts [options]

Measures the baseline server and Pulse, each a child process, with the load
generator in a process of its own; prints a markdown report on stdout and
progress on stderr.

Options:
  --duration SECONDS  seconds measured per figure (default 3)
  --warmup SECONDS    seconds of warm-up before each figure (default 1)
  --connections N     connections of the throughput workloads (default 16)
  --rounds N          rounds per throughput figure, medians reported
                      (default 3)
  --only SECTIONS     the sections to run, comma-separated (default all):
                      ${SECTIONS.join(", ")}
  --storage KIND      the shared Pulse server's storage: ${STORAGES.join(", ")}
                      (default memory)
  --samples N         samples put before get * (default ${FILL_SAMPLES})
  --compression-samples N
                      samples put per kind of data in the compression
                      section (default ${COMPRESSION_SAMPLES})
  -h, --help          show this help
`;

const FLAGS = {
  string: [
    "duration",
    "warmup",
    "connections",
    "rounds",
    "only",
    "storage",
    "samples",
    "compression-samples",
  ],
  boolean: ["help"],
  alias: { h: "help" },
  default: {
    duration: "3",
    warmup: "1",
    connections: "16",
    rounds: "3",
    only: SECTIONS.join(","),
    storage: "memory",
    samples: String(FILL_SAMPLES),
    "compression-samples": String(COMPRESSION_SAMPLES),
  },
} as const;

/** Reads the flags; undefined when the help was asked for. */
function parseOptions(args: string[]): MainOptions | undefined {
  const values = parseArgs(args, FLAGS);
  if (values.help) return undefined;
  if (values._.length > 0) {
    throw new UsageError(
      `Cannot use the argument "${
        values._[0]
      }": the benchmark takes options only`,
    );
  }
  const sections = new Set<Section>();
  for (const name of values.only.split(",")) {
    const section = SECTIONS.find((known) => known === name.trim());
    if (section === undefined) {
      throw new UsageError(
        `Cannot run the section "${name}": use ${SECTIONS.join(", ")}`,
      );
    }
    sections.add(section);
  }
  const storage = STORAGES.find((known) => known === values.storage);
  if (storage === undefined) {
    throw new UsageError(`--storage must be one of ${STORAGES.join(", ")}`);
  }
  return {
    duration: readNumber("--duration", values.duration, { above: true }),
    warmup: readNumber("--warmup", values.warmup),
    connections: readCount("--connections", values.connections, { min: 1 }),
    rounds: readCount("--rounds", values.rounds, { min: 1 }),
    sections,
    storage,
    samples: readCount("--samples", values.samples, { min: 1 }),
    compressionSamples: readCount(
      "--compression-samples",
      values["compression-samples"],
      { min: 1 },
    ),
  };
}

function progress(line: string): void {
  console.error(`bench: ${line}`);
}

async function pulseExists(): Promise<boolean> {
  try {
    return (await Deno.stat(PULSE)).isFile;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/**
 * Starts Pulse with the given storage (a data directory is made for it) and
 * any other flags, which its name then shows.
 */
async function startPulse(
  storage: Storage,
  dataDirs: string[],
  extra: string[] = [],
): Promise<Server> {
  const suffix = extra.length === 0 ? "" : ` ${extra[0]}`;
  if (storage === "memory") {
    return await startServer(`pulse${suffix}`, PULSE, [
      ...LOOPBACK,
      "--memory",
      ...extra,
    ]);
  }
  const dir = await Deno.makeTempDir({ prefix: "pulse-bench-" });
  dataDirs.push(dir);
  return await startServer(`pulse (fsync ${storage})${suffix}`, PULSE, [
    ...LOOPBACK,
    "--data",
    dir,
    "--fsync",
    storage,
    ...extra,
  ]);
}

/**
 * Starts Pulse with `--log-requests`, its log a file in a directory of
 * `dataDirs`, emptied after each run so that the disk does not fill.
 */
async function startLoggingPulse(
  storage: Storage,
  dataDirs: string[],
): Promise<Variant> {
  const dir = await Deno.makeTempDir({ prefix: "pulse-bench-log-" });
  dataDirs.push(dir);
  const log = `${dir}/requests.log`;
  const server = await startPulse(storage, dataDirs, [
    "--log-requests",
    "--log",
    log,
  ]);
  await prefillGetKey(server);
  return { server, afterRun: () => Deno.truncate(log, 0) };
}

async function run(options: MainOptions): Promise<void> {
  const { sections } = options;
  const hasPulse = await pulseExists();
  const report: string[] = [`# Pulse benchmark\n\n${describeSetup(options)}`];
  if (!hasPulse) {
    report.push(`${PULSE} does not exist: the baseline alone was measured.`);
  }
  const servers: Server[] = [];
  const dataDirs: string[] = [];
  try {
    let pulse: Server | undefined;
    if (hasPulse && SHARED_PULSE_SECTIONS.some((s) => sections.has(s))) {
      progress(`starting pulse (${options.storage})`);
      pulse = await startPulse(options.storage, dataDirs);
      servers.push(pulse);
      await prefillGetKey(pulse);
    }

    if (sections.has("throughput")) {
      progress("starting baseline");
      const baseline = await startServer("baseline", BASELINE, ["--port", "0"]);
      servers.push(baseline);
      const variants: Variant[] = [];
      if (pulse !== undefined) {
        progress(`starting pulse --log-requests (${options.storage})`);
        variants.push(await startLoggingPulse(options.storage, dataDirs));
        servers.push(variants[0].server);
      }
      report.push(
        "## Throughput\n\n" +
          await measureThroughput(
            baseline,
            pulse,
            options,
            progress,
            variants,
          ),
      );
      await baseline.stop();
      for (const variant of variants) await variant.server.stop();
    }

    if (pulse !== undefined && sections.has("client")) {
      progress("client pipelining");
      report.push(
        "## Client pipelining\n\n" +
          await measureClient(pulse, options.warmup, options.duration),
      );
    }

    if (pulse !== undefined && sections.has("backpressure")) {
      progress("backpressure");
      report.push(
        "## Backpressure\n\n" + await measureBackpressure(pulse),
      );
    }

    // Done with the shared server: idle, its large heap is still collected
    // now and then, which would take CPU from the figures that follow.
    await pulse?.stop();

    if (hasPulse && (sections.has("memory") || sections.has("stream"))) {
      progress("starting a fresh pulse (--memory)");
      const fresh = await startServer("pulse", PULSE, [
        ...LOOPBACK,
        "--memory",
      ]);
      servers.push(fresh);
      progress(`putting ${options.samples} samples over ${FILL_SERIES} series`);
      const memory = await measureMemory(fresh, options.samples, FILL_SERIES);
      if (sections.has("memory")) report.push(`## Memory\n\n${memory}`);
      if (sections.has("stream")) {
        progress("get *");
        report.push(
          "## `get *` streaming\n\n" +
            await measureStream(fresh, options.samples),
        );
      }
      await fresh.stop();
    }

    report.push(...await measureApart(options, hasPulse));
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
    for (const dir of dataDirs) await Deno.remove(dir, { recursive: true });
  }
  console.log(report.join("\n\n"));
}

/**
 * The sections that start servers of their own, or none: their reports, in
 * the order they run.
 */
async function measureApart(
  options: MainOptions,
  hasPulse: boolean,
): Promise<string[]> {
  const { sections } = options;
  const report: string[] = [];
  if (hasPulse && sections.has("queries")) {
    report.push("## Queries\n\n" + await measureQueries(PULSE, progress));
  }
  if (sections.has("complexity")) {
    progress("complexity");
    report.push("## Complexity\n\n" + measureComplexity());
  }
  if (hasPulse && sections.has("durability")) {
    report.push(
      "## Durability\n\n" + await measureDurability(PULSE, options, progress),
    );
  }
  if (hasPulse && sections.has("compression")) {
    const samples = options.compressionSamples;
    report.push(
      "## Compression\n\n" +
        await measureCompression(PULSE, { samples }, progress),
    );
  }
  if (hasPulse && sections.has("render")) {
    report.push("## Graphite render\n\n" + await measureRender(progress));
  }
  if (hasPulse && sections.has("graphite")) {
    report.push(
      "## Graphite ingest\n\n" +
        await measureGraphite(PULSE, options, progress),
    );
  }
  if (hasPulse && sections.has("clickhouse")) {
    report.push(
      "## ClickHouse\n\n" +
        await measureClickHouse(PULSE, options, progress),
    );
  }
  return report;
}

function describeSetup(options: MainOptions): string {
  const rounds = options.rounds === 1 ? "1 round" : `${options.rounds} rounds`;
  return [
    `Deno ${Deno.version.deno} on ${navigator.hardwareConcurrency} CPUs;`,
    `${rounds} of ${options.warmup} s warm-up + ${options.duration} s`,
    `per figure, medians reported; Pulse storage: ${options.storage}.`,
  ].join(" ");
}

/** Reads the flags and runs; returns the exit code. */
async function main(args: string[]): Promise<number> {
  let options: MainOptions | undefined;
  try {
    options = parseOptions(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`bench: ${error.message} (see --help)`);
    return 2;
  }
  if (options === undefined) {
    console.log(HELP);
    return 0;
  }
  killChildrenOnSignal();
  try {
    await run(options);
    return 0;
  } catch (error) {
    console.error(error);
    return 1;
  } finally {
    killAll();
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
