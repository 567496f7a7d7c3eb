/**
 * The ClickHouse section: Pulse front ends over a ClickHouse server, next to
 * the built-in store in the same run, each a child process, ClickHouse
 * started from Debian's package in a temporary directory.
 *
 * - put throughput through one front end and through two on the same
 *   database, against `--memory`: the load generator's put workload;
 * - get latency, one request at a time and with every connection busy;
 * - query latency over the realistic host data set of the compression
 *   section (bench/realistic.ts), one query at a time from this process;
 * - the bytes a sample of that data set takes on disk: ClickHouse's parts
 *   after `OPTIMIZE ... FINAL`, with its default LZ4 and with zstd, against
 *   the built-in store's snapshot after compaction.
 *
 * @module
 */

import { CLICKHOUSE_MISSING, ClickHouseServer } from "./clickhouse_server.ts";
import { HostData } from "./realistic.ts";
import { type LoadResult, runLoad } from "./load.ts";
import { type Server, startServer } from "./process.ts";
import { formatCount, formatMiB, formatMs, median, table } from "./report.ts";
import { GET_PREFIX, prefillGetKey } from "./throughput.ts";
import { openStorage } from "../storage/local.ts";

/** What the section needs to know. */
export interface ClickHouseBenchOptions {
  /** Seconds measured per figure, after a warm-up. */
  duration: number;
  /** Seconds of warm-up per figure. */
  warmup: number;
  /** Connections of the put and get workloads. */
  connections: number;
  /** Rounds per throughput figure, medians reported. */
  rounds: number;
}

const LOOPBACK = ["--hostname", "127.0.0.1", "--port", "0", "--http", "off"];
/** The host data set: hosts × rounds × 10 series. */
const HOSTS = 100;
const DATA_ROUNDS = 1000;
const DATA_START = 1_700_000_000;
/** Puts a connection of the data set's fill keeps unanswered. */
const FILL_WINDOW = 2000;
const FILL_CONNECTIONS = 8;

/**
 * Runs the section.
 *
 * @param pulse The path of `server.ts`.
 * @param options How long and how often to measure.
 * @param progress Called with a line before each step.
 * @returns The markdown of the section.
 */
export async function measureClickHouse(
  pulse: string,
  options: ClickHouseBenchOptions,
  progress: (line: string) => void,
): Promise<string> {
  if (CLICKHOUSE_MISSING !== undefined) {
    return `Not measured: ${CLICKHOUSE_MISSING}.`;
  }
  const dir = await Deno.makeTempDir({ prefix: "pulse-bench-clickhouse-" });
  const servers: Server[] = [];
  const clickhouses: ClickHouseServer[] = [];
  const start = async (name: string, args: string[]) => {
    const server = await startServer(name, pulse, [...LOOPBACK, ...args]);
    servers.push(server);
    return server;
  };
  try {
    progress("starting clickhouse-server");
    const clickhouse = await ClickHouseServer.start(`${dir}/lz4`);
    clickhouses.push(clickhouse);
    const version = (await clickhouse.query("SELECT version()")).trim();
    const builtIn = await start("built-in (--memory)", ["--memory"]);
    const url = clickhouse.url("bench");
    const one = await start("ClickHouse, front end 1", ["--clickhouse", url]);
    const two = await start("ClickHouse, front end 2", ["--clickhouse", url]);
    const puts = await measurePuts(builtIn, [one, two], options, progress);
    await prefillGetKey(builtIn);
    await prefillGetKey(one);
    const gets = await measureGets(builtIn, one, options, progress);
    await one.stop();
    await two.stop();
    const data = await measureDataSet(
      clickhouse,
      builtIn,
      (args) => start("ClickHouse, host data", args),
      options,
      progress,
    );
    const zstd = await ClickHouseServer.start(`${dir}/zstd`, {
      compression: "zstd",
    });
    clickhouses.push(zstd);
    progress("bytes on disk");
    const disk = await measureDisk(
      clickhouse,
      zstd,
      dir,
      (args) => start("ClickHouse (zstd)", args),
    );
    return [
      `ClickHouse ${version} (Debian), one server on this machine, beside the front ends and the load generator.`,
      `### Put throughput\n\n${puts}`,
      `### Get latency\n\n${gets}`,
      `### Queries over the host data set\n\n${data}`,
      `### Bytes on disk, host data set\n\n${disk}`,
    ].join("\n\n");
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
    for (const clickhouse of clickhouses) await clickhouse.kill();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Put throughput: the built-in store, one front end, two front ends. */
async function measurePuts(
  builtIn: Server,
  [one, two]: Server[],
  options: ClickHouseBenchOptions,
  progress: (line: string) => void,
): Promise<string> {
  const load = {
    workload: "put" as const,
    duration: options.duration,
    warmup: options.warmup,
    inflight: 64,
    keys: 1000,
  };
  const rows: string[][] = [];
  const runs: [string, Server[]][] = [
    ["built-in (--memory)", [builtIn]],
    ["ClickHouse, 1 front end", [one]],
    ["ClickHouse, 2 front ends", [one, two]],
  ];
  for (const [name, fronts] of runs) {
    const rounds: LoadResult[][] = [];
    for (let round = 0; round < options.rounds; round++) {
      progress(`put: ${name}, round ${round + 1}`);
      rounds.push(
        await Promise.all(fronts.map((front, i) =>
          runLoad(front, {
            ...load,
            connections: options.connections,
            prefix: `f${i}.host`,
          })
        )),
      );
    }
    const sum = (results: LoadResult[]) =>
      results.reduce((total, result) => total + result.opsPerSec, 0);
    const worst = (results: LoadResult[], field: "p50Ms" | "p99Ms") =>
      Math.max(...results.map((result) => result[field]));
    rows.push([
      name,
      formatCount(options.connections * fronts.length),
      formatCount(median(rounds.map(sum))),
      formatMs(median(rounds.map((results) => worst(results, "p50Ms")))),
      formatMs(median(rounds.map((results) => worst(results, "p99Ms")))),
    ]);
  }
  return `${options.connections} connections to each front end, 64 puts in flight on each connection, 1,000 series a front end; p50 and p99 of the slower front end.\n\n` +
    table(["storage", "connections", "puts/s", "p50", "p99"], rows);
}

/** Get latency alone and under load, on `get` of a series of 100 samples. */
async function measureGets(
  builtIn: Server,
  clickhouse: Server,
  options: ClickHouseBenchOptions,
  progress: (line: string) => void,
): Promise<string> {
  const rows: string[][] = [];
  for (
    const [name, server] of [["built-in (--memory)", builtIn], [
      "ClickHouse",
      clickhouse,
    ]] as const
  ) {
    progress(`get: ${name}`);
    const load = {
      workload: "get" as const,
      prefix: GET_PREFIX,
      keys: 1,
      inflight: 1,
      duration: options.duration,
      warmup: options.warmup,
    };
    const alone = await runLoad(server, { ...load, connections: 1 });
    const busy = await runLoad(server, {
      ...load,
      connections: options.connections,
    });
    rows.push([
      name,
      formatMs(alone.p50Ms),
      formatMs(alone.p99Ms),
      formatCount(busy.opsPerSec),
      formatMs(busy.p50Ms),
    ]);
  }
  return `\`get\` of a series of 100 samples: one client with one request at a time, then ${options.connections} such clients.\n\n` +
    table(
      ["storage", "alone p50", "alone p99", "gets/s busy", "busy p50"],
      rows,
    );
}

/** The host data set's put lines, `count` rounds of it. */
function* dataLines(source: HostData, rounds: number): Generator<string> {
  for (let round = 0; round < rounds; round++) {
    let lines = "";
    source.round((key, value, timestamp) => {
      lines += `put ${source.keys[key]} ${value} ${timestamp}\n`;
    });
    yield lines;
  }
}

/** Fills two front ends with the host data set, then times queries on both. */
async function measureDataSet(
  clickhouse: ClickHouseServer,
  builtIn: Server,
  start: (args: string[]) => Promise<Server>,
  options: ClickHouseBenchOptions,
  progress: (line: string) => void,
): Promise<string> {
  const front = await start(["--clickhouse", clickhouse.url("hosts")]);
  const samples = HOSTS * 10 * DATA_ROUNDS;
  const rates: string[] = [];
  for (const server of [builtIn, front]) {
    progress(`putting ${samples} samples of host data into ${server.name}`);
    const started = performance.now();
    await fill(server.port, dataLines(new HostData(HOSTS), DATA_ROUNDS));
    rates.push(formatCount(samples / ((performance.now() - started) / 1000)));
  }
  const end = DATA_START + DATA_ROUNDS * 10;
  const queries = [
    "get host7.cpu",
    `query host7.cpu ${DATA_START + 5000} ${DATA_START + 5600}`,
    `query host7.* ${DATA_START} ${end} 60 avg`,
    `query *.cpu ${DATA_START} ${end} 3600 max`,
    "last *.cpu",
    "keys **",
  ];
  const rows: string[][] = [];
  const latencies = await Promise.all(
    [builtIn, front].map(async (server) => {
      progress(`queries on ${server.name}`);
      return await timeQueries(server.port, queries, options.duration);
    }),
  );
  for (const [i, query] of queries.entries()) {
    rows.push([
      `\`${query.replaceAll(String(DATA_START), "T")}\``,
      ...latencies.map((byQuery) => formatMs(byQuery[i])),
    ]);
  }
  await front.stop();
  return `${HOSTS} hosts × 10 series × ${formatCount(DATA_ROUNDS)} samples (${
    formatCount(samples)
  }), put over ${FILL_CONNECTIONS} connections: ${
    rates[0]
  } samples/s into the built-in store, ${
    rates[1]
  } into ClickHouse. Each query's median latency, one at a time (T = ${DATA_START}):\n\n` +
    table(["request", "built-in", "ClickHouse"], rows);
}

/** Sends put lines over several connections, a window of them unanswered. */
async function fill(port: number, chunks: Iterator<string>): Promise<void> {
  const encoder = new TextEncoder();
  const send = async () => {
    using conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const answers = new AnswerCounter(conn);
    let sent = 0;
    while (true) {
      const next = chunks.next();
      if (next.done) break;
      await writeAll(conn, encoder.encode(next.value));
      sent += next.value.split("\n").length - 1;
      await answers.until(sent - FILL_WINDOW);
    }
    await answers.until(sent);
  };
  await Promise.all(Array.from({ length: FILL_CONNECTIONS }, send));
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let written = 0; written < bytes.length;) {
    written += await conn.write(bytes.subarray(written));
  }
}

/** Counts whole answers (each ends with an empty line) as they come. */
class AnswerCounter {
  count = 0;
  #conn: Deno.Conn;
  #buffer = new Uint8Array(256 * 1024);
  #lineStart = true;
  #answerStart = true;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** Reads until `count` answers have come; fails on an error answer. */
  async until(count: number): Promise<void> {
    while (this.count < count) {
      const n = await this.#conn.read(this.#buffer);
      if (n === null) throw new Error("the server closed the connection");
      for (let i = 0; i < n; i++) {
        const byte = this.#buffer[i];
        if (byte !== 0x0a) {
          if (this.#answerStart && byte === 0x65) {
            throw new Error(
              `an error answer: ${
                new TextDecoder().decode(this.#buffer.subarray(i, n))
              }`,
            );
          }
          this.#lineStart = this.#answerStart = false;
        } else if (this.#lineStart) {
          this.count++;
          this.#answerStart = true;
        } else {
          this.#lineStart = true;
        }
      }
    }
  }
}

/** The median latency of each query, asked one at a time for a while. */
async function timeQueries(
  port: number,
  queries: string[],
  seconds: number,
): Promise<number[]> {
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const answers = new AnswerCounter(conn);
  const encoder = new TextEncoder();
  const medians: number[] = [];
  for (const query of queries) {
    const request = encoder.encode(`${query}\n`);
    const times: number[] = [];
    const until = performance.now() + seconds * 1000 / queries.length;
    while (times.length < 5 || performance.now() < until) {
      const started = performance.now();
      await writeAll(conn, request);
      await answers.until(answers.count + 1);
      times.push(performance.now() - started);
    }
    medians.push(median(times));
  }
  return medians;
}

/** Bytes a sample takes on disk: ClickHouse LZ4 and zstd, the built-in store. */
async function measureDisk(
  lz4: ClickHouseServer,
  zstd: ClickHouseServer,
  dir: string,
  start: (args: string[]) => Promise<Server>,
): Promise<string> {
  // Pulse makes the tables of the zstd server; ClickHouse copies the rows.
  const front = await start(["--clickhouse", zstd.url("hosts")]);
  await front.stop();
  await zstd.query(
    `INSERT INTO hosts.samples SELECT * FROM remote('127.0.0.1:${lz4.tcpPort}', hosts.samples)`,
  );
  const rows: string[][] = [];
  for (
    const [name, server] of [["ClickHouse, LZ4 (default)", lz4], [
      "ClickHouse, zstd",
      zstd,
    ]] as const
  ) {
    await server.query("OPTIMIZE TABLE hosts.samples FINAL");
    const [bytes, samples] = (await server.query(
      "SELECT sum(bytes_on_disk), sum(rows) FROM system.parts WHERE active AND database = 'hosts' AND table = 'samples' FORMAT TabSeparated",
    )).trim().split("\t").map(Number);
    rows.push([name, formatMiB(bytes), (bytes / samples).toFixed(2)]);
  }
  const samples = HOSTS * 10 * DATA_ROUNDS;
  await using storage = await openStorage(`${dir}/builtin`, { fsync: "no" });
  const appender = storage.appender();
  const source = new HostData(HOSTS);
  for (let round = 0; round < DATA_ROUNDS; round++) {
    source.round((key, value, timestamp) => {
      appender.append(source.keys[key], Number(value), timestamp);
    });
    await appender.commit();
  }
  await storage.compact();
  const snapshot = storage.sizes!.snapshot;
  rows.push([
    "built-in, snapshot after compaction",
    formatMiB(snapshot),
    (snapshot / samples).toFixed(2),
  ]);
  return `${
    formatCount(samples)
  } samples; ClickHouse's samples table after \`OPTIMIZE TABLE ... FINAL\` (its keys table adds a few KiB):\n\n` +
    table(["storage", "on disk", "bytes/sample"], rows);
}
