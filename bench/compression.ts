/**
 * What a sample costs, in memory and on disk, and how fast the encoded
 * chunks restore and decode: realistic host data (realistic.ts), and random
 * doubles and constants as the worst and the easiest cases.
 *
 * For each kind of data:
 *
 * - **Memory**: a fresh `--memory` server first reads every key once (so
 *   the key cache, a fixed cost, is warm) and takes 2,000,000 samples of four
 *   throwaway hosts in the fill's shape (4 connections, 64 in flight),
 *   deleted again (so that V8's young generation has grown towards its
 *   working size, and few dead series are left for later collections to
 *   free); then it takes `--compression-samples` samples over 1000 series
 *   (100 hosts), and after 2 s without a forced collection the growth of its
 *   resident set is divided by the samples. Realistic data is measured on
 *   three fresh servers, the median shown. Its `stats` tell what the chunks
 *   themselves take, and how much V8's heap and external memory grew.
 * - **Disk**: a fresh `--fsync everysec` server takes the same samples and
 *   is stopped with SIGTERM; its directory is opened in this process (the
 *   log replayed), compacted and closed, and the whole directory divided by
 *   the samples.
 * - **Restore**: the compacted directory is opened five times; the best and
 *   the median rate are shown, as restoring is bound by one CPU, which
 *   others share on the benchmark's machine.
 * - **Decoding**: on the store restored last, every sample read through a
 *   `Query` (what `get *` reads), and a range of half of each series rolled
 *   up into one-minute averages (what `query` reads), best of three.
 *
 * @module
 */

import { writeAll } from "../internal/write_all.ts";
import { Query } from "../store/query.ts";
import { openStorage } from "../storage/local.ts";
import type { Store } from "../store.ts";
import { AnswerScanner } from "./answers.ts";
import { runLoad } from "./load.ts";
import { readMemory, type Server, startServer } from "./process.ts";
import { type DataKind, REALISTIC_METRICS } from "./realistic.ts";
import { formatCount, formatMiB, median, table } from "./report.ts";

/** What the compression section needs to know. */
export interface CompressionOptions {
  /** Samples put per kind of data. */
  samples: number;
}

const KINDS: DataKind[] = ["realistic", "random", "constant"];
const SERIES = 1000;
const HOSTS = SERIES / REALISTIC_METRICS.length;
const CONNECTIONS = 4;
const INFLIGHT = 64;
const WARMUP_SAMPLES = 2_000_000;
const WARMUP_HOSTS = 4;
// Realistic data is measured on this many fresh servers, the median shown.
const MEMORY_RUNS = 3;
const SETTLE_MS = 2000;
const RESTORES = 5;
const DECODES = 3;
const START = 1_700_000_000;
const LOOPBACK = ["--hostname", "127.0.0.1", "--port", "0", "--http", "off"];

interface MemoryResult {
  rss: number;
  /** The `stats` after the fill: chunks by encoding and memory. */
  chunks: Record<string, number>;
  /** How much V8's heap and external memory grew, by `stats`. */
  heap: number;
  external: number;
}

interface DiskResult {
  before: number;
  after: number;
  restores: number[];
  fullScan: number[];
  rollUp: number[];
}

/**
 * Measures every kind of data and returns the markdown tables.
 *
 * @param script The path of Pulse's `server.ts`.
 * @param options How many samples.
 * @param progress Called with a line to show before each step.
 * @returns The tables.
 */
export async function measureCompression(
  script: string,
  options: CompressionOptions,
  progress: (line: string) => void,
): Promise<string> {
  const memory = new Map<DataKind, MemoryResult>();
  const disk = new Map<DataKind, DiskResult>();
  const runs = new Map<DataKind, MemoryResult[]>();
  for (const kind of KINDS) {
    const results: MemoryResult[] = [];
    for (let run = 0; run < (kind === "realistic" ? MEMORY_RUNS : 1); run++) {
      progress(`compression: ${kind}, ${options.samples} samples, --memory`);
      results.push(await measureMemory(script, kind, options.samples));
    }
    results.sort((a, b) => a.rss - b.rss);
    runs.set(kind, results);
    memory.set(kind, results[results.length >> 1]);
    progress(`compression: ${kind}, ${options.samples} samples, on disk`);
    disk.set(kind, await measureDisk(script, kind, options.samples));
  }
  return report(memory, disk, options.samples) + "\n\n" +
    memoryRuns(runs.get("realistic")!, options.samples);
}

/** The realistic runs one by one: what grew, and by how much. */
function memoryRuns(runs: MemoryResult[], samples: number): string {
  const perSample = (bytes: number) => (bytes / samples).toFixed(2);
  return "Realistic data, each fresh server (bytes a sample):\n\n" + table(
    [
      "RSS growth",
      "chunks (raw and encoded)",
      "V8 heap growth",
      "external growth",
    ],
    runs.map(({ rss, chunks, heap, external }) => [
      perSample(rss),
      perSample(
        chunks.chunk_bytes_raw + chunks.chunk_bytes_decimal +
          chunks.chunk_bytes_xor,
      ),
      perSample(heap),
      perSample(external),
    ]),
  );
}

async function measureMemory(
  script: string,
  kind: DataKind,
  samples: number,
): Promise<MemoryResult> {
  const server = await startServer(`pulse ${kind}`, script, [
    ...LOOPBACK,
    "--memory",
  ]);
  try {
    let gets = "";
    for (let h = 0; h < HOSTS; h++) {
      for (const metric of REALISTIC_METRICS) {
        gets += `get host${h}.${metric}\n`;
      }
    }
    await exchange(server, gets, SERIES);
    server.nextTimestamp = START;
    await runLoad(server, {
      workload: kind,
      keys: WARMUP_HOSTS * REALISTIC_METRICS.length,
      prefix: "warmup",
      connections: CONNECTIONS,
      inflight: INFLIGHT,
      requests: WARMUP_SAMPLES,
    });
    await exchange(server, "delete warmup*.*\n", 1);
    await delay(SETTLE_MS);
    const before = readMemory(server.pid).rss;
    const statsBefore = await stats(server);
    server.nextTimestamp = START;
    await runLoad(server, {
      workload: kind,
      keys: SERIES,
      connections: CONNECTIONS,
      inflight: INFLIGHT,
      requests: samples,
    });
    await delay(SETTLE_MS);
    const rss = readMemory(server.pid).rss - before;
    const chunks = await stats(server);
    return {
      rss,
      chunks,
      heap: chunks.memory_heap_bytes - statsBefore.memory_heap_bytes,
      external: chunks.memory_external_bytes -
        statsBefore.memory_external_bytes,
    };
  } finally {
    await server.stop();
  }
}

/** The server's `stats`, by name. */
async function stats(server: Server): Promise<Record<string, number>> {
  const figures: Record<string, number> = {};
  for (const line of (await exchange(server, "stats\n", 1)).split("\n")) {
    const [name, value] = line.split(" ");
    if (value !== undefined && value !== "") figures[name] = Number(value);
  }
  return figures;
}

async function measureDisk(
  script: string,
  kind: DataKind,
  samples: number,
): Promise<DiskResult> {
  const dir = await Deno.makeTempDir({ prefix: "pulse-bench-" });
  try {
    const server = await startServer(`pulse ${kind} (disk)`, script, [
      ...LOOPBACK,
      "--data",
      dir,
      "--fsync",
      "everysec",
    ]);
    try {
      server.nextTimestamp = START;
      await runLoad(server, {
        workload: kind,
        keys: SERIES,
        connections: CONNECTIONS,
        inflight: INFLIGHT,
        requests: samples,
      });
    } finally {
      await server.stop("SIGTERM");
    }
    const before = await directorySize(dir);
    {
      await using storage = await openStorage(dir);
      check(storage.restored!.samples, samples, storage.restored!.corrupted);
      await storage.compact();
    }
    const after = await directorySize(dir);
    const result: DiskResult = {
      before,
      after,
      restores: [],
      fullScan: [],
      rollUp: [],
    };
    for (let i = 0; i < RESTORES; i++) {
      await using storage = await openStorage(dir);
      const restored = storage.restored!;
      check(restored.samples, samples, restored.corrupted);
      result.restores.push(samples / (restored.milliseconds / 1000));
      if (i === RESTORES - 1) decodeRates(storage.store, result);
    }
    return result;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function check(restored: number, samples: number, corrupted: number): void {
  if (restored !== samples || corrupted > 0) {
    throw new Error(
      `put ${samples} samples, restored ${restored} (${corrupted} damaged)`,
    );
  }
}

/** Samples a second decoded through queries of the whole store. */
function decodeRates(store: Store, result: DiskResult): void {
  let rows = 0;
  const sink = () => {
    rows++;
  };
  const samples = store.stats.samples;
  // Each series' middle half: samples are 10 s apart.
  const span = samples / SERIES * 10;
  const range = { from: START + span / 4, to: START + span * 3 / 4 };
  new Query(store.series(), range).read(sink);
  const inRange = rows;
  for (let i = 0; i < DECODES; i++) {
    rows = 0;
    let started = performance.now();
    new Query(store.series()).read(sink);
    result.fullScan.push(samples / ((performance.now() - started) / 1000));
    if (rows !== samples) throw new Error(`read ${rows} of ${samples}`);
    started = performance.now();
    new Query(store.series(), { ...range, step: 60, aggregation: "avg" })
      .read(sink);
    result.rollUp.push(inRange / ((performance.now() - started) / 1000));
  }
}

async function directorySize(dir: string): Promise<number> {
  let bytes = 0;
  for await (const entry of Deno.readDir(dir)) {
    bytes += (await Deno.stat(`${dir}/${entry.name}`)).size;
  }
  return bytes;
}

/** Sends `text` and reads `answers` answers; returns them. */
async function exchange(
  server: Server,
  text: string,
  answers: number,
): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    await writeAll(conn, new TextEncoder().encode(text));
    const scanner = new AnswerScanner();
    const buffer = new Uint8Array(64 * 1024);
    const decoder = new TextDecoder();
    let received = "";
    let done = 0;
    while (done < answers) {
      const read = await conn.read(buffer);
      if (read === null) {
        throw new Error(`${server.name} closed the connection`);
      }
      done += scanner.scan(buffer.subarray(0, read));
      received += decoder.decode(buffer.subarray(0, read), { stream: true });
    }
    if (scanner.errors > 0) {
      throw new Error(`${server.name} answered: ${scanner.firstError}`);
    }
    return received;
  } finally {
    conn.close();
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function rate(value: number): string {
  return `${(value / 1e6).toFixed(1)} M/s`;
}

function report(
  memory: Map<DataKind, MemoryResult>,
  disk: Map<DataKind, DiskResult>,
  samples: number,
): string {
  const perSample = (bytes: number) => (bytes / samples).toFixed(2);
  const rows = KINDS.map((kind) => {
    const { rss, chunks } = memory.get(kind)!;
    const { before, after, restores } = disk.get(kind)!;
    const encoded = (chunks.chunk_bytes_decimal ?? 0) +
      (chunks.chunk_bytes_xor ?? 0);
    const sealed = (chunks.samples_decimal ?? 0) + (chunks.samples_xor ?? 0);
    return [
      kind,
      formatCount(samples),
      formatMiB(rss),
      perSample(rss),
      (encoded / sealed).toFixed(2),
      perSample(before),
      perSample(after),
      rate(Math.max(...restores)),
      rate(median(restores)),
    ];
  });
  const sizes = table([
    "data",
    "samples",
    "RSS growth",
    "bytes/sample in memory",
    "encoded chunks bytes/sample",
    "log + snapshot bytes/sample",
    "after compact bytes/sample",
    "restore best",
    "restore median",
  ], rows);
  const decoding = table(
    [
      "data",
      "`get *` (all samples) best",
      "median",
      "`query` (roll-up) best",
      "median",
    ],
    KINDS.map((kind) => {
      const { fullScan, rollUp } = disk.get(kind)!;
      return [
        kind,
        rate(Math.max(...fullScan)),
        rate(median(fullScan)),
        rate(Math.max(...rollUp)),
        rate(median(rollUp)),
      ];
    }),
  );
  const chunkRows = KINDS.map((kind) => {
    const { chunks } = memory.get(kind)!;
    return [
      kind,
      ...["raw", "decimal", "xor"].map((encoding) =>
        `${formatCount(chunks[`samples_${encoding}`] ?? 0)} in ${
          formatMiB(chunks[`chunk_bytes_${encoding}`] ?? 0)
        }`
      ),
      formatMiB(chunks.chunk_pages_bytes ?? 0),
    ];
  });
  const byEncoding = table(
    ["data", "raw samples", "decimal samples", "xor samples", "arena pages"],
    chunkRows,
  );
  return `${sizes}\n\n${byEncoding}\n\nDecoded samples a second, in-process:\n\n${decoding}`;
}
