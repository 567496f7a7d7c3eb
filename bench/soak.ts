/**
 * The soak test of issue 5: a bounded run of many clients against one Pulse
 * server that keeps its samples with `--data <tmp> --fsync always`, killed
 * with SIGKILL and restarted on the same port every few seconds.
 *
 * - Writers put samples of series of their own, pipelined, and note every
 *   put answered `ok`: those are acknowledged, and every one of them must be
 *   there after the last crash. Puts unanswered at a crash are in doubt:
 *   either outcome is right.
 * - Mixed clients send puts, gets, pings, `stats` and garbage, and check
 *   every answer.
 * - Hostile clients: one dribbling a byte at a time, one that never reads
 *   its answers, idle connections, one sending a 64 MiB line now and then,
 *   and one reading all of `get *` every few seconds.
 * - A well-behaved probe, in a process of its own so that the load's event
 *   loop does not delay it, pings every 10 ms and reports its latencies.
 *
 * It prints a markdown report on stdout, progress on stderr. It exits 1 when
 * an acknowledged sample is missing or wrong, or any answer is wrong, or a
 * client is disconnected other than by a crash: correctness, never speed.
 *
 * ```sh
 * deno task soak
 * deno run -A bench/soak.ts --duration 20 --kill-every 5
 * ```
 *
 * Flags: `--duration` seconds (60), `--kill-every` seconds between crashes
 * (10), `--writers` (8), `--clients` mixed clients (16), `--idle`
 * connections (200), `--seed` of the mixed clients' choices (1); `--help`
 * lists them.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { parseArgs, readCount, readNumber, UsageError } from "../cli/flags.ts";
import { AnswerScanner } from "./answers.ts";
import { Histogram } from "./histogram.ts";
import {
  killAll,
  killChildrenOnSignal,
  readMemory,
  runScript,
  type Server,
  startServer,
} from "./process.ts";
import { rng } from "./random.ts";
import { formatCount, formatMiB, formatMs, table } from "./report.ts";
import { concat } from "../internal/concat.ts";
import { writeAll } from "../internal/write_all.ts";

const SCRIPT = fileURLToPath(import.meta.url);
const PULSE = fileURLToPath(new URL("../server.ts", import.meta.url));
const HOSTNAME = "127.0.0.1";
const PROBE_INTERVAL_MS = 10;
/** Pings this soon after the probe (re)connects meet a cold server. */
const PROBE_SETTLE_MS = 1_000;
const WRITER_BATCH = 20;
const MIXED_BATCH = 10;
const MIXED_KEYS = 50;
const DRIBBLE_PAUSE_MS = 2;
const HUGE_LINE_BYTES = 64 * 1024 * 1024;
const HUGE_LINE_EVERY_MS = 10_000;
const GET_ALL_EVERY_MS = 5_000;
const RECONNECT_PAUSE_MS = 20;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const PING = encoder.encode("ping\n");
const PONG = "ok\npong\n\n";
const OK = "ok\n\n";
const WRONG_COMMAND = "error\nwrong command\n\n";

/** The options of a soak run. */
interface SoakOptions {
  duration: number;
  killEvery: number;
  writers: number;
  clients: number;
  idle: number;
  seed: number;
}

/** What the probe process measured, as printed in JSON on its stdout. */
interface ProbeResult {
  /** Pings answered. */
  pings: number;
  /** Pings that failed: the server was down or went down meanwhile. */
  failed: number;
  /** Answers that were not `pong`. */
  wrong: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  worstMs: number;
  /** The worst latency but in the first second after each (re)start. */
  worstSettledMs: number;
}

function progress(line: string): void {
  console.error(`soak: ${line}`);
}

function sleep(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A port that was free a moment ago: the server comes back on it. */
function freePort(): number {
  const listener = Deno.listen({ hostname: HOSTNAME, port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

/** Reads whole answers off a connection, one at a time. */
class AnswerReader {
  #conn: Deno.Conn;
  #buffer = new Uint8Array(64 * 1024);
  #filled = 0;
  #scanned = 0;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** The next answer: bytes up to and including its first empty line. */
  async next(): Promise<string> {
    while (true) {
      const end = this.#findEnd();
      if (end !== -1) {
        const answer = decoder.decode(this.#buffer.subarray(0, end));
        this.#buffer.copyWithin(0, end, this.#filled);
        this.#filled -= end;
        this.#scanned = 0;
        return answer;
      }
      if (this.#filled === this.#buffer.length) {
        const grown = new Uint8Array(this.#buffer.length * 2);
        grown.set(this.#buffer);
        this.#buffer = grown;
      }
      const n = await this.#conn.read(this.#buffer.subarray(this.#filled));
      if (n === null) throw new Error("the server closed the connection");
      this.#filled += n;
    }
  }

  #findEnd(): number {
    const bytes = this.#buffer.subarray(0, this.#filled);
    let newline = bytes.indexOf(0x0a, this.#scanned);
    while (newline !== -1) {
      if (newline > 0 && bytes[newline - 1] === 0x0a) return newline + 1;
      if (newline === 0) return 1;
      newline = bytes.indexOf(0x0a, newline + 1);
    }
    this.#scanned = Math.max(0, this.#filled - 1);
    return -1;
  }
}

/**
 * The server across its crashes: one data directory and one port, a new
 * process after each SIGKILL.
 */
class Lineage {
  readonly port: number = freePort();
  /** Grows by one at each restart. */
  generation = 0;
  /** Whether the server is being killed or restarted right now. */
  restarting = false;
  /** The highest VmHWM of all the processes so far. */
  peakRss = 0;
  /** Milliseconds from each SIGKILL to listening again. */
  readonly restartTimes: number[] = [];
  #dir: string;
  #server: Server | undefined;
  #ready: Promise<void> = Promise.resolve();
  #crashed = Promise.withResolvers<void>();

  constructor(dir: string) {
    this.#dir = dir;
  }

  /** Settles once the server listens. */
  get ready(): Promise<void> {
    return this.#ready;
  }

  /** Settles when the running server is killed. */
  get crashed(): Promise<void> {
    return this.#crashed.promise;
  }

  async start(): Promise<void> {
    this.#ready = startServer("pulse", PULSE, [
      "--hostname",
      HOSTNAME,
      "--port",
      String(this.port),
      "--data",
      this.#dir,
      "--fsync",
      "always",
      "--http",
      "off",
    ]).then((server) => {
      this.#server = server;
    });
    await this.#ready;
  }

  /** Notes the peak memory of the running server. */
  notePeak(): void {
    if (this.#server === undefined) return;
    this.peakRss = Math.max(this.peakRss, readMemory(this.#server.pid).hwm);
  }

  /** Kills the running server with SIGKILL, its peak memory noted. */
  async #kill(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.notePeak();
    this.#server = undefined;
    await server.stop();
    this.#crashed.resolve();
    this.#crashed = Promise.withResolvers<void>();
  }

  /** Kills the server with SIGKILL and starts it again. */
  async crash(): Promise<void> {
    this.restarting = true;
    const started = performance.now();
    await this.#kill();
    await this.start();
    this.restartTimes.push(performance.now() - started);
    this.generation++;
    this.restarting = false;
  }

  /** Kills the server for good. */
  async stop(): Promise<void> {
    await this.#kill();
  }
}

/** The tallies of a run. */
class Tally {
  /** Acknowledged timestamps by writer. */
  readonly acknowledged: number[][];
  /** Timestamps sent but unanswered at a crash, by writer. */
  readonly inDoubt: Set<number>[];
  answered = 0;
  wrongAnswers = 0;
  readonly wrongExamples: string[] = [];
  readonly disconnects: string[] = [];
  hugeLines = 0;
  getAlls = 0;
  dribbled = 0;

  constructor(writers: number) {
    this.acknowledged = Array.from({ length: writers }, () => []);
    this.inDoubt = Array.from({ length: writers }, () => new Set());
  }

  /** Checks an answer; a wrong one is counted and an example kept. */
  check(who: string, request: string, answer: string, right: boolean): void {
    this.answered++;
    if (right) return;
    this.wrongAnswers++;
    if (this.wrongExamples.length < 5) {
      this.wrongExamples.push(
        `${who}: ${JSON.stringify(request.slice(0, 80))} answered ${
          JSON.stringify(answer.slice(0, 200))
        }`,
      );
    }
  }
}

/** The value writer `w` puts at timestamp `ts`: exact in binary. */
function writerValue(w: number, ts: number): number {
  return ts * 0.25 + w;
}

/** The state every client of a run shares. */
interface Run {
  lineage: Lineage;
  tally: Tally;
  stopping: boolean;
  /** Settles when the run stops. */
  stopped: PromiseWithResolvers<void>;
  /** Every connection open, to be closed at the end. */
  conns: Set<Deno.Conn>;
}

/** Stops the run: its clients end and their connections close. */
function stop(run: Run): void {
  run.stopping = true;
  run.stopped.resolve();
  for (const conn of [...run.conns]) close(run, conn);
}

/** Waits `milliseconds`, or less if the run stops meanwhile. */
async function pause(run: Run, milliseconds: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    new Promise((resolve) => timer = setTimeout(resolve, milliseconds)),
    run.stopped.promise,
  ]);
  clearTimeout(timer);
}

async function connect(run: Run): Promise<Deno.Conn> {
  const conn = await Deno.connect({
    hostname: HOSTNAME,
    port: run.lineage.port,
  });
  run.conns.add(conn);
  return conn;
}

function close(run: Run, conn: Deno.Conn | undefined): void {
  if (conn === undefined || !run.conns.delete(conn)) return;
  try {
    conn.close();
  } catch {
    // Closed already.
  }
}

/**
 * Runs `session` on a fresh connection until the run stops, reconnecting
 * after each crash. A failure outside a crash is a disconnect to report.
 */
async function client(
  run: Run,
  name: string,
  session: (conn: Deno.Conn) => Promise<void>,
): Promise<void> {
  while (!run.stopping) {
    const generation = run.lineage.generation;
    let conn: Deno.Conn | undefined;
    try {
      conn = await connect(run);
      await session(conn);
    } catch (error) {
      if (run.stopping) break;
      const crash = run.lineage.restarting ||
        run.lineage.generation !== generation;
      if (!crash) run.tally.disconnects.push(`${name}: ${message(error)}`);
      await run.lineage.ready;
      await pause(run, RECONNECT_PAUSE_MS);
    } finally {
      close(run, conn);
    }
  }
}

/** Puts samples of `soak.w<w>`, pipelined, noting those acknowledged. */
function writer(run: Run, w: number): Promise<void> {
  const key = `soak.w${w}`;
  let next = 1;
  return client(run, key, async (conn) => {
    const answers = new AnswerReader(conn);
    while (!run.stopping) {
      const first = next;
      next += WRITER_BATCH;
      let requests = "";
      for (let ts = first; ts < next; ts++) {
        requests += `put ${key} ${writerValue(w, ts)} ${ts}\n`;
        run.tally.inDoubt[w].add(ts);
      }
      await writeAll(conn, encoder.encode(requests));
      for (let ts = first; ts < next; ts++) {
        const answer = await answers.next();
        run.tally.check(key, `put ${ts}`, answer, answer === OK);
        if (answer === OK) {
          run.tally.inDoubt[w].delete(ts);
          run.tally.acknowledged[w].push(ts);
        }
      }
    }
  });
}

/** A line of garbage: never a command, sometimes not UTF-8. */
function garbage(random: () => number): Uint8Array {
  const bytes = new Uint8Array(1 + Math.floor(random() * 60));
  bytes[0] = 0x23; // "#": no command starts so
  for (let i = 1; i < bytes.length; i++) {
    let byte = Math.floor(random() * 256);
    if (byte === 0x0a) byte = 0xff;
    bytes[i] = byte;
  }
  return bytes;
}

/** Pipelines batches of mixed requests and checks every answer. */
function mixed(run: Run, c: number, seed: number): Promise<void> {
  const random = rng(seed);
  const name = `mixed ${c}`;
  return client(run, name, async (conn) => {
    const answers = new AnswerReader(conn);
    while (!run.stopping) {
      const parts: Uint8Array[] = [];
      const checks: [string, (answer: string) => boolean][] = [];
      for (let i = 0; i < MIXED_BATCH; i++) {
        const roll = random();
        const key = `soak.mix.k${Math.floor(random() * MIXED_KEYS)}`;
        let request: string;
        if (roll < 0.4) {
          request = `put ${key} ${Math.floor(random() * 1e6) / 100} ${
            Math.floor(random() * 1000)
          }\n`;
          checks.push([request, (answer) => answer === OK]);
        } else if (roll < 0.7) {
          request = `get ${key}\n`;
          checks.push([
            request,
            (answer) =>
              answer.startsWith("ok\n") && answer.endsWith("\n\n") &&
              answer.split("\n").slice(1, -2).every((line) =>
                line.startsWith(`${key} `)
              ),
          ]);
        } else if (roll < 0.8) {
          request = "ping\n";
          checks.push([request, (answer) => answer === PONG]);
        } else if (roll < 0.82) {
          request = "stats\n";
          checks.push([
            request,
            (answer) => answer.startsWith("ok\nuptime_seconds "),
          ]);
        } else if (roll < 0.9) {
          request = `put ${key} not-a-number 1\n`;
          checks.push([request, (answer) => answer === WRONG_COMMAND]);
        } else {
          const line = garbage(random);
          parts.push(line);
          request = "\n";
          checks.push([
            decoder.decode(line),
            (answer) => answer === WRONG_COMMAND,
          ]);
        }
        parts.push(encoder.encode(request));
      }
      await writeAll(conn, concat(parts));
      for (const [request, right] of checks) {
        const answer = await answers.next();
        run.tally.check(name, request, answer, right(answer));
      }
    }
  });
}

/** Sends puts one byte at a time. */
function dribbler(run: Run): Promise<void> {
  let ts = 1;
  return client(run, "dribbler", async (conn) => {
    const answers = new AnswerReader(conn);
    while (!run.stopping) {
      const request = `put soak.dribble ${ts} ${ts}\n`;
      ts++;
      for (const byte of encoder.encode(request)) {
        await writeAll(conn, Uint8Array.of(byte));
        await sleep(DRIBBLE_PAUSE_MS);
      }
      const answer = await answers.next();
      run.tally.check("dribbler", request, answer, answer === OK);
      run.tally.dribbled++;
    }
  });
}

/** Sends gets without ever reading their answers. */
function nonReader(run: Run): Promise<void> {
  const block = encoder.encode("get soak.mix.k0\n".repeat(4096));
  return client(run, "non-reader", async (conn) => {
    // The writes block once the server stops reading it.
    while (!run.stopping) await writeAll(conn, block);
  });
}

/** Holds idle connections, half of them stopped mid-line, until a crash. */
function idler(run: Run, count: number): Promise<void> {
  return client(run, "idle", async () => {
    const conns: Deno.Conn[] = [];
    try {
      for (let i = 0; i < count; i++) {
        const conn = await connect(run);
        conns.push(conn);
        if (i % 2 === 1) await writeAll(conn, encoder.encode("put idle.k 1"));
      }
      await Promise.race([run.lineage.crashed, run.stopped.promise]);
    } finally {
      for (const conn of conns) close(run, conn);
    }
    if (!run.stopping) throw new Error("the server crashed");
  });
}

/** Sends a line of 64 MiB now and then, and checks its one error. */
function hugeLiner(run: Run): Promise<void> {
  const piece = new Uint8Array(1024 * 1024).fill(0x37); // "7"
  return client(run, "huge line", async (conn) => {
    const answers = new AnswerReader(conn);
    while (!run.stopping) {
      await writeAll(conn, encoder.encode("put soak.huge "));
      for (let sent = 0; sent < HUGE_LINE_BYTES; sent += piece.length) {
        await writeAll(conn, piece);
      }
      await writeAll(conn, encoder.encode(" 1\nping\n"));
      const error = await answers.next();
      const pong = await answers.next();
      run.tally.check(
        "huge line",
        "a 64 MiB put",
        error,
        error === WRONG_COMMAND,
      );
      run.tally.check("huge line", "ping", pong, pong === PONG);
      run.tally.hugeLines++;
      await pause(run, HUGE_LINE_EVERY_MS);
    }
  });
}

/** Reads all of `get *` now and then, counting its lines. */
function getAll(run: Run): Promise<void> {
  return client(run, "get *", async (conn) => {
    const buffer = new Uint8Array(256 * 1024);
    while (!run.stopping) {
      const scanner = new AnswerScanner();
      await writeAll(conn, encoder.encode("get *\n"));
      let first = "";
      while (scanner.answers === 0) {
        const n = await conn.read(buffer);
        if (n === null) throw new Error("the server closed the connection");
        if (first === "") {
          first = decoder.decode(buffer.subarray(0, n).slice(0, 3));
        }
        scanner.scan(buffer.subarray(0, n));
      }
      run.tally.check("get *", "get *", first, first.startsWith("ok\n"));
      run.tally.getAlls++;
      await pause(run, GET_ALL_EVERY_MS);
    }
  });
}

/** What came back after the last crash. */
interface Recovery {
  /** Acknowledged samples found with their values. */
  recovered: number;
  /** Acknowledged samples missing or with another value. */
  missing: number;
  /** Samples found that were never sent with that value. */
  phantoms: number;
  /** Puts in doubt that were found. */
  extra: number;
  /** The first problems found. */
  examples: string[];
}

/** Checks, after the last crash, every acknowledged sample of each writer. */
async function verify(run: Run, writers: number): Promise<Recovery> {
  const conn = await connect(run);
  const recovery: Recovery = {
    recovered: 0,
    missing: 0,
    phantoms: 0,
    extra: 0,
    examples: [],
  };
  const problem = (text: string) => {
    if (recovery.examples.length < 10) recovery.examples.push(text);
  };
  try {
    const answers = new AnswerReader(conn);
    for (let w = 0; w < writers; w++) {
      const key = `soak.w${w}`;
      await writeAll(conn, encoder.encode(`get ${key}\n`));
      const lines = (await answers.next()).split("\n");
      if (lines[0] !== "ok") throw new Error(`get ${key}: ${lines[0]}`);
      const stored = new Map<number, number>();
      for (const line of lines.slice(1, -2)) {
        const [name, value, ts] = line.split(" ");
        if (name !== key) throw new Error(`get ${key} gave ${line}`);
        stored.set(Number(ts), Number(value));
      }
      for (const ts of run.tally.acknowledged[w]) {
        const value = stored.get(ts);
        if (value === writerValue(w, ts)) {
          recovery.recovered++;
        } else {
          recovery.missing++;
          problem(`acknowledged ${key} at ${ts}: ${value ?? "missing"}`);
        }
        stored.delete(ts);
      }
      // What is left must be puts in doubt that reached the log.
      for (const [ts, value] of stored) {
        if (run.tally.inDoubt[w].has(ts) && value === writerValue(w, ts)) {
          recovery.extra++;
        } else {
          recovery.phantoms++;
          problem(`${key} at ${ts}: ${value}, never sent so`);
        }
      }
    }
    return recovery;
  } finally {
    close(run, conn);
  }
}

/** The probe process: pings every 10 ms and prints its latencies. */
async function probe(port: number, seconds: number): Promise<ProbeResult> {
  const latencies = new Histogram();
  const answer = new Uint8Array(PONG.length);
  const end = performance.now() + seconds * 1000;
  let conn: Deno.Conn | undefined;
  let pings = 0;
  let failed = 0;
  let wrong = 0;
  let worst = 0;
  let worstSettled = 0;
  let connected = 0;
  let next = performance.now();
  while (performance.now() < end) {
    next += PROBE_INTERVAL_MS;
    try {
      if (conn === undefined) {
        conn = await Deno.connect({ hostname: HOSTNAME, port });
        connected = performance.now();
      }
      const start = performance.now();
      await writeAll(conn, PING);
      for (let got = 0; got < answer.length;) {
        const n = await conn.read(answer.subarray(got));
        if (n === null) throw new Error("closed");
        got += n;
      }
      const latency = performance.now() - start;
      if (decoder.decode(answer) === PONG) {
        latencies.record(latency);
        worst = Math.max(worst, latency);
        if (start - connected >= PROBE_SETTLE_MS) {
          worstSettled = Math.max(worstSettled, latency);
        }
        pings++;
      } else {
        wrong++;
      }
    } catch {
      // The server is down: try again at the next tick.
      failed++;
      conn?.close();
      conn = undefined;
    }
    const wait = next - performance.now();
    if (wait > 0) await sleep(wait);
    else next = performance.now();
  }
  conn?.close();
  return {
    pings,
    failed,
    wrong,
    p50Ms: latencies.quantile(0.5),
    p99Ms: latencies.quantile(0.99),
    p999Ms: latencies.quantile(0.999),
    worstMs: worst,
    worstSettledMs: worstSettled,
  };
}

async function soak(options: SoakOptions): Promise<boolean> {
  const dir = await Deno.makeTempDir({ prefix: "pulse-soak-" });
  const lineage = new Lineage(dir);
  const run: Run = {
    lineage,
    tally: new Tally(options.writers),
    stopping: false,
    stopped: Promise.withResolvers<void>(),
    conns: new Set(),
  };
  try {
    await lineage.start();
    progress(
      `server on port ${lineage.port}, data in ${dir}; ${options.duration} s`,
    );
    const probing = runScript(SCRIPT, [
      "--probe-port",
      String(lineage.port),
      "--duration",
      String(options.duration),
    ]);
    const clients = [
      ...Array.from({ length: options.writers }, (_, w) => writer(run, w)),
      ...Array.from(
        { length: options.clients },
        (_, c) => mixed(run, c, options.seed * 1000 + c),
      ),
      dribbler(run),
      nonReader(run),
      idler(run, options.idle),
      hugeLiner(run),
      getAll(run),
    ];
    const started = performance.now();
    const elapsed = () => (performance.now() - started) / 1000;
    while (elapsed() + options.killEvery < options.duration) {
      await sleep(options.killEvery * 1000);
      await lineage.crash();
      progress(
        `kill -9 #${lineage.restartTimes.length} at ${
          elapsed().toFixed(0)
        } s; back in ${lineage.restartTimes.at(-1)!.toFixed(0)} ms`,
      );
    }
    await sleep(Math.max(0, options.duration - elapsed()) * 1000);
    stop(run);
    await Promise.all(clients);
    const probed = JSON.parse(await probing) as ProbeResult;
    // The last crash comes after the last acknowledgement.
    await lineage.crash();
    progress("kill -9 after the run; checking what came back");
    const recovery = await verify(run, options.writers);
    await lineage.stop();
    const acknowledged = run.tally.acknowledged.reduce(
      (sum, list) => sum + list.length,
      0,
    );
    const inDoubt = run.tally.inDoubt.reduce((sum, set) => sum + set.size, 0);
    report(options, run, { acknowledged, inDoubt, recovery, probed });
    return recovery.missing === 0 && recovery.phantoms === 0 &&
      run.tally.wrongAnswers === 0 &&
      run.tally.disconnects.length === 0 && probed.wrong === 0;
  } finally {
    stop(run);
    await lineage.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

function report(
  options: SoakOptions,
  run: Run,
  figures: {
    acknowledged: number;
    inDoubt: number;
    recovery: Recovery;
    probed: ProbeResult;
  },
): void {
  const { tally, lineage } = run;
  const { probed, recovery } = figures;
  const restarts = lineage.restartTimes;
  const lines = [
    "# Pulse soak",
    "",
    `Deno ${Deno.version.deno} on ${navigator.hardwareConcurrency} CPUs; ` +
    `${options.duration} s; server with \`--fsync always\`, killed with ` +
    `SIGKILL every ${options.killEvery} s and once after the run ` +
    `(${restarts.length} restarts). Clients: ${options.writers} writers, ` +
    `${options.clients} mixed, 1 dribbler, 1 that never reads, ` +
    `${options.idle} idle, 1 sending 64 MiB lines, 1 reading \`get *\`, ` +
    `and the probe.`,
    "",
    table(["durability", "samples"], [
      ["acknowledged", formatCount(figures.acknowledged)],
      ["recovered of those", formatCount(recovery.recovered)],
      ["missing or wrong", formatCount(recovery.missing)],
      ["never sent so, yet found", formatCount(recovery.phantoms)],
      [
        "in doubt at a crash (unanswered), recovered",
        `${formatCount(recovery.extra)} of ${formatCount(figures.inDoubt)}`,
      ],
    ]),
    "",
    table(["probe (ping every 10 ms)", "figure"], [
      ["pings answered", formatCount(probed.pings)],
      ["failed while the server was down", formatCount(probed.failed)],
      ["p50", formatMs(probed.p50Ms)],
      ["p99", formatMs(probed.p99Ms)],
      ["p99.9", formatMs(probed.p999Ms)],
      ["worst", formatMs(probed.worstMs)],
      [
        "worst, leaving out the first second after each (re)start",
        formatMs(probed.worstSettledMs),
      ],
    ]),
    "",
    table(["server", "figure"], [
      ["peak resident memory (VmHWM)", formatMiB(lineage.peakRss)],
      [
        "SIGKILL to listening again, worst",
        formatMs(Math.max(...restarts)),
      ],
      ["answers checked", formatCount(tally.answered)],
      ["wrong answers", formatCount(tally.wrongAnswers + probed.wrong)],
      ["disconnects outside a crash", formatCount(tally.disconnects.length)],
      ["64 MiB lines refused", formatCount(tally.hugeLines)],
      ["`get *` read whole", formatCount(tally.getAlls)],
      ["puts dribbled byte by byte", formatCount(tally.dribbled)],
    ]),
  ];
  const problems = [
    ...recovery.examples,
    ...tally.wrongExamples,
    ...tally.disconnects.slice(0, 10),
  ];
  if (problems.length > 0) {
    lines.push("", "Problems:", "", ...problems.map((line) => `- ${line}`));
  }
  console.log(lines.join("\n"));
}

const HELP = `Usage: deno task soak [options]
       deno run -A bench/soak.ts [options]

Runs many clients against one Pulse server that keeps its samples with
--fsync always, killed with SIGKILL and restarted every few seconds, then
checks that every acknowledged sample is there. Prints a markdown report on
stdout and progress on stderr; exits 1 when an answer or a sample is wrong.

Options:
  --duration SECONDS    how long to run (default 60)
  --kill-every SECONDS  seconds between crashes (default 10)
  --writers N           clients putting samples of their own (default 8)
  --clients N           mixed clients: puts, gets, pings, stats, garbage
                        (default 16)
  --idle N              idle connections (default 200)
  --seed N              seed of the mixed clients' choices (default 1)
  -h, --help            show this help
`;

const FLAGS = {
  string: [
    "duration",
    "kill-every",
    "writers",
    "clients",
    "idle",
    "seed",
    // Internal: run as the probe against this port.
    "probe-port",
  ],
  boolean: ["help"],
  alias: { h: "help" },
  default: {
    duration: "60",
    "kill-every": "10",
    writers: "8",
    clients: "16",
    idle: "200",
    seed: "1",
  },
} as const;

/** Reads the flags; undefined when the help was asked for. */
function parseOptions(
  args: string[],
): SoakOptions & { probePort?: number } | undefined {
  const values = parseArgs(args, FLAGS);
  if (values.help) return undefined;
  if (values._.length > 0) {
    throw new UsageError(
      `Cannot use the argument "${
        values._[0]
      }": the soak test takes options only`,
    );
  }
  const probePort = values["probe-port"];
  return {
    duration: readNumber("--duration", values.duration, { above: true }),
    killEvery: readNumber("--kill-every", values["kill-every"], {
      above: true,
    }),
    writers: readCount("--writers", values.writers, { min: 1 }),
    clients: readCount("--clients", values.clients),
    idle: readCount("--idle", values.idle),
    seed: readCount("--seed", values.seed),
    probePort: probePort === undefined
      ? undefined
      : readCount("--probe-port", probePort, { min: 1, max: 65535 }),
  };
}

/** Reads the flags and runs; returns the exit code. */
async function main(args: string[]): Promise<number> {
  let options: SoakOptions & { probePort?: number } | undefined;
  try {
    options = parseOptions(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`soak: ${error.message} (see --help)`);
    return 2;
  }
  if (options === undefined) {
    console.log(HELP);
    return 0;
  }
  killChildrenOnSignal();
  try {
    if (options.probePort !== undefined) {
      console.log(
        JSON.stringify(await probe(options.probePort, options.duration)),
      );
      return 0;
    }
    return await soak(options) ? 0 : 1;
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
