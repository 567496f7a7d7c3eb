/**
 * The load generator: drives a server with a closed-loop window of pipelined
 * requests and prints what it measured as one JSON line on stdout.
 *
 * It runs as its own process, so that its cost is the same whichever server
 * it measures and does not share an event loop with the orchestrator. Each
 * connection keeps `--inflight` requests outstanding: it writes a first batch
 * of that many, then for every read that completes answers it writes as many
 * new requests in one write. The latency of a request runs from the write
 * that carried it to the read that completed its answer.
 *
 * Timed runs (`--duration`) warm up for `--warmup` seconds first and count
 * only the answers completed in the measured window; counted runs
 * (`--requests`) send exactly that many requests and measure all of them, to
 * fill a server with data.
 *
 * ```sh
 * deno run -A bench/load.ts --port 4000 --connections 16 --inflight 64 \
 *   --duration 5 --workload put --keys 1000
 * ```
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { AnswerScanner } from "./answers.ts";
import { Histogram } from "./histogram.ts";
import { runScript, type Server } from "./process.ts";
import { type DataKind, HostSource, REALISTIC_METRICS } from "./realistic.ts";
import { RequestSource, type Workload } from "./requests.ts";
import { writeAll } from "../internal/write_all.ts";

const SCRIPT = fileURLToPath(import.meta.url);
// `put` and `get` of the key space; the others put hosts' data (realistic.ts),
// `--keys` series of ten a host.
const WORKLOADS = ["put", "get", "realistic", "random", "constant"] as const;
const READ_BUFFER_BYTES = 256 * 1024;
/** How long the answers still in flight at the end may take to arrive. */
const DRAIN_TIMEOUT_MS = 10_000;
/** How long a counted run may take before it is deemed stuck. */
const COUNTED_TIMEOUT_MS = 120_000;

/** What a load process measured, as printed in JSON on its stdout. */
export interface Measurement {
  /** Answers completed in the measured window. */
  ops: number;
  /** Length of the measured window. */
  seconds: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** The highest timestamp put, so that a later run can start above it. */
  lastTimestamp: number;
}

/** What a run of this load generator measured. */
export interface LoadResult extends Measurement {
  /** Answers that were errors; a sound workload has none. */
  errors: number;
  /** The first error answer, if any. */
  firstError?: string;
  /** Lines per answer, the `ok` and the empty line included. */
  linesPerAnswer: number;
}

/** The arguments of the load generator. */
export interface Options {
  hostname: string;
  port: number;
  connections: number;
  inflight: number;
  duration: number;
  warmup: number;
  requests: number;
  workload: Workload | DataKind;
  keys: number;
  prefix: string;
  timestampStart: number;
}

/** The state shared by all the connections of one run. */
interface Run {
  /** Whether answers completed now count. */
  measuring: boolean;
  /** Whether connections may send more requests. */
  sending: boolean;
  /** Requests of a counted run not yet sent, or Infinity for a timed run. */
  unsent: number;
  ops: number;
  histogram: Histogram;
}

function parseOptions(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      hostname: { type: "string", default: "127.0.0.1" },
      port: { type: "string" },
      connections: { type: "string", default: "16" },
      inflight: { type: "string", default: "64" },
      duration: { type: "string", default: "5" },
      warmup: { type: "string", default: "1" },
      requests: { type: "string", default: "0" },
      workload: { type: "string", default: "put" },
      keys: { type: "string", default: "1000" },
      prefix: { type: "string", default: "host" },
      "timestamp-start": { type: "string", default: "1" },
    },
  });
  if (values.port === undefined) throw new TypeError("--port is required");
  const workload = WORKLOADS.find((known) => known === values.workload);
  if (workload === undefined) {
    throw new TypeError(
      `--workload must be one of ${WORKLOADS.join(", ")}: ${values.workload}`,
    );
  }
  const options: Options = {
    hostname: values.hostname,
    port: Number(values.port),
    connections: Number(values.connections),
    inflight: Number(values.inflight),
    duration: Number(values.duration),
    warmup: Number(values.warmup),
    requests: Number(values.requests),
    workload,
    keys: Number(values.keys),
    prefix: values.prefix,
    timestampStart: Number(values["timestamp-start"]),
  };
  for (const [name, value] of Object.entries(options)) {
    if (typeof value === "number" && !(Number.isFinite(value) && value >= 0)) {
      throw new TypeError(`--${name} must be a number >= 0: ${value}`);
    }
  }
  if (options.connections < 1 || options.inflight < 1) {
    throw new RangeError("--connections and --inflight must be at least 1");
  }
  return options;
}

/** Takes up to `wanted` requests from the run's allowance. */
function take(run: Run, wanted: number): number {
  if (!run.sending) return 0;
  const granted = Math.min(wanted, run.unsent);
  run.unsent -= granted;
  return granted;
}

async function drive(
  conn: Deno.Conn,
  source: { next(count: number): Uint8Array },
  scanner: AnswerScanner,
  inflight: number,
  run: Run,
): Promise<void> {
  // Send times of the outstanding requests, oldest first, in a ring: answers
  // come back in request order.
  const sentAt = new Float64Array(inflight);
  let oldest = 0;
  let outstanding = 0;
  const buffer = new Uint8Array(READ_BUFFER_BYTES);

  async function send(count: number): Promise<void> {
    if (count === 0) return;
    const bytes = source.next(count);
    const now = performance.now();
    for (let i = 0; i < count; i++) {
      sentAt[(oldest + outstanding + i) % inflight] = now;
    }
    outstanding += count;
    await writeAll(conn, bytes);
  }

  await send(take(run, inflight));
  while (outstanding > 0) {
    const read = await conn.read(buffer);
    if (read === null) {
      throw new Error(`server closed a connection with ${outstanding} pending`);
    }
    const chunk = buffer.subarray(0, read);
    // Lines are counted during the warm-up, to check what answers hold;
    // measured, one outstanding request needs only a look at the end.
    const completed =
      outstanding === 1 && run.measuring && scanner.linedAnswers > 0
        ? scanner.scanOne(chunk)
        : scanner.scan(chunk);
    if (completed === 0) continue;
    if (completed > outstanding) {
      throw new Error("server sent more answers than requests");
    }
    const now = performance.now();
    for (let i = 0; i < completed; i++) {
      if (run.measuring) run.histogram.record(now - sentAt[oldest]);
      oldest = (oldest + 1) % inflight;
    }
    outstanding -= completed;
    if (run.measuring) run.ops += completed;
    await send(take(run, completed));
  }
}

/** The requests of connection `i`: each owns its keys, or its hosts. */
function source(
  options: Options,
  i: number,
): RequestSource | HostSource {
  const { workload, connections } = options;
  if (workload === "put" || workload === "get" || workload === "graphite") {
    const space = {
      prefix: options.prefix,
      keys: options.keys,
      timestampStart: options.timestampStart,
    };
    return new RequestSource(workload, space, i, connections);
  }
  const hosts = Math.floor(options.keys / REALISTIC_METRICS.length);
  const first = Math.floor(hosts * i / connections);
  const last = Math.floor(hosts * (i + 1) / connections);
  if (last === first) {
    throw new RangeError(
      `${hosts} hosts cannot be spread over ${connections} connections`,
    );
  }
  return new HostSource(
    last - first,
    {
      kind: workload,
      seed: 1 + i,
      start: options.timestampStart,
      prefix: options.prefix,
    },
    first,
  );
}

async function measure(options: Options): Promise<LoadResult> {
  const counted = options.requests > 0;
  const run: Run = {
    measuring: counted,
    sending: true,
    unsent: counted ? options.requests : Infinity,
    ops: 0,
    histogram: new Histogram(),
  };
  const conns: Deno.Conn[] = [];
  const timers: ReturnType<typeof setTimeout>[] = [];
  try {
    for (let i = 0; i < options.connections; i++) {
      const conn = await Deno.connect({
        hostname: options.hostname,
        port: options.port,
      });
      conn.setNoDelay(true);
      conns.push(conn);
    }
    const sources = conns.map((_, i) => source(options, i));
    const scanners = conns.map(() => new AnswerScanner());

    let start = performance.now();
    let end = NaN;
    const deadline = Promise.withResolvers<never>();
    if (counted) {
      timers.push(setTimeout(
        () => deadline.reject(new Error("counted run timed out")),
        COUNTED_TIMEOUT_MS,
      ));
    } else {
      const warmupMs = options.warmup * 1000;
      const durationMs = options.duration * 1000;
      timers.push(setTimeout(() => {
        run.histogram.reset();
        run.ops = 0;
        run.measuring = true;
        start = performance.now();
      }, warmupMs));
      timers.push(setTimeout(() => {
        run.measuring = false;
        run.sending = false;
        end = performance.now();
      }, warmupMs + durationMs));
      timers.push(setTimeout(
        () => deadline.reject(new Error("answers did not drain in time")),
        warmupMs + durationMs + DRAIN_TIMEOUT_MS,
      ));
    }
    await Promise.race([
      Promise.all(
        conns.map((conn, i) =>
          drive(conn, sources[i], scanners[i], options.inflight, run)
        ),
      ),
      deadline.promise,
    ]);
    if (counted) end = performance.now();

    const seconds = (end - start) / 1000;
    const answers = scanners.reduce((sum, s) => sum + s.linedAnswers, 0);
    const newlines = scanners.reduce((sum, s) => sum + s.newlines, 0);
    const firstError = scanners.find((s) => s.firstError)?.firstError;
    return {
      ops: run.ops,
      seconds,
      opsPerSec: run.ops / seconds,
      p50Ms: run.histogram.quantile(0.5),
      p99Ms: run.histogram.quantile(0.99),
      errors: scanners.reduce((sum, s) => sum + s.errors, 0),
      ...(firstError === undefined ? {} : { firstError }),
      linesPerAnswer: answers === 0 ? 0 : newlines / answers,
      lastTimestamp: Math.max(...sources.map((s) => s.lastTimestamp)),
    };
  } finally {
    for (const timer of timers) clearTimeout(timer);
    for (const conn of conns) conn.close();
  }
}

/**
 * Runs this load generator as a child process against a server and returns
 * what it measured. Puts start at the server's next free timestamp, which
 * the run then advances. Throws if the server answered any error.
 *
 * @param server The server to load.
 * @param options The workload; unset options take the generator's defaults.
 */
export async function runLoad(
  server: Server,
  options: Partial<Omit<Options, "hostname" | "port" | "timestampStart">>,
): Promise<LoadResult> {
  const args = ["--port", String(server.port)];
  for (const [name, value] of Object.entries(options)) {
    args.push(`--${name}`, String(value));
  }
  args.push("--timestamp-start", String(server.nextTimestamp));
  let result: LoadResult;
  try {
    result = JSON.parse(await runScript(SCRIPT, args));
  } catch (error) {
    throw new Error(
      `load against ${server.name} failed; its last stderr lines:\n` +
        server.stderrTail(),
      { cause: error },
    );
  }
  if (result.errors > 0) {
    throw new Error(
      `${server.name} answered ${result.errors} errors to ` +
        `${args.join(" ")}; the first: ${result.firstError}`,
    );
  }
  server.nextTimestamp = Math.max(
    server.nextTimestamp,
    result.lastTimestamp + 1,
  );
  return result;
}

if (import.meta.main) {
  const result = await measure(parseOptions(Deno.args));
  console.log(JSON.stringify(result));
}
