/**
 * Small helpers shared by the tests: bytes and text, a seeded random number
 * generator, a guard against hangs, a raw protocol connection that reads
 * whole answers, a scripted fake server, and `server.ts` run as a child
 * process.
 *
 * Nothing here imports the code under test, so that the helpers cannot agree
 * with a bug in it.
 *
 * @module
 */

import { rng } from "../bench/random.ts";
import type { Aggregation } from "../store/query.ts";

// The benchmarks' generator: it is not code under test.
export { rng };

/** UTF-8 encoder shared by the tests. */
export const encoder: TextEncoder = new TextEncoder();
/** UTF-8 decoder shared by the tests (lenient: shows bad bytes as U+FFFD). */
export const decoder: TextDecoder = new TextDecoder();

/** The answer to every bad request. */
export const ERROR_ANSWER = "error\nwrong command\n\n";

/** The loopback address every test listens on. */
export const HOST = "127.0.0.1";

/**
 * The UTF-8 bytes of `text`.
 *
 * @param text Any string.
 * @returns Its bytes.
 */
export function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

/**
 * Joins byte arrays into one. A copy of `_concat.ts` on purpose: the helpers
 * import none of the code under test.
 *
 * @param parts The arrays, in order.
 * @returns A new array holding all of their bytes.
 */
export function concat(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const joined = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return joined;
}

/**
 * A random integer in `[min, max]`.
 *
 * @param random A generator from {@linkcode rng}.
 * @param min The smallest result.
 * @param max The largest result.
 * @returns The integer.
 */
export function randomInt(
  random: () => number,
  min: number,
  max: number,
): number {
  return min + Math.floor(random() * (max - min + 1));
}

/**
 * Shuffles `items` in place (Fisher-Yates).
 *
 * @param random A generator from {@linkcode rng}.
 * @param items The array to shuffle.
 * @returns The same array.
 */
export function shuffle<T>(random: () => number, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = randomInt(random, 0, i);
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

/**
 * Waits `ms` milliseconds.
 *
 * @param ms How long.
 */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Settles like `promise`, or rejects when it has not settled within `ms`.
 * Not a speed assertion: a guard so that a hanging bug fails its test
 * instead of stalling the whole suite.
 *
 * @param promise What to wait for.
 * @param what What it is, for the message.
 * @param ms The limit, generous.
 * @returns The promise's value.
 */
export async function within<T>(
  promise: Promise<T>,
  what: string,
  ms = 10_000,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: not settled within ${ms} ms`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Writes all of `data` to `conn`.
 *
 * @param conn Where to write.
 * @param data What to write.
 */
export async function writeFully(
  conn: Deno.Conn,
  data: Uint8Array,
): Promise<void> {
  let written = 0;
  while (written < data.length) {
    written += await conn.write(data.subarray(written));
  }
}

/**
 * The offset just past the first complete answer in `data[from, to)`, or -1.
 * An answer is lines up to and including its first empty line.
 *
 * @param data Received bytes.
 * @param from Where the answer starts.
 * @param to How far `data` is filled.
 * @returns The end of the answer, or -1 when it is incomplete.
 */
export function answerEnd(data: Uint8Array, from: number, to: number): number {
  let lineStart = from;
  while (lineStart < to) {
    const newline = data.indexOf(0x0a, lineStart);
    if (newline === -1 || newline >= to) return -1;
    if (newline === lineStart) return newline + 1;
    lineStart = newline + 1;
  }
  return -1;
}

/**
 * Splits complete answers off the front of `data`.
 *
 * @param text Received text.
 * @returns The answers, each with its final empty line.
 */
export function splitAnswers(text: string): string[] {
  const data = bytes(text);
  const answers: string[] = [];
  let start = 0;
  for (let end = answerEnd(data, 0, data.length); end !== -1;) {
    answers.push(decoder.decode(data.subarray(start, end)));
    start = end;
    end = answerEnd(data, start, data.length);
  }
  return answers;
}

/**
 * A raw TCP connection speaking the protocol by hand: send bytes, read back
 * a given number of whole answers. Reads are guarded: instead of hanging, a
 * read that gets no answer within the limit closes the connection and
 * throws, saying what arrived.
 */
export class RawConnection implements AsyncDisposable {
  /** The socket. */
  readonly conn: Deno.Conn;
  #buffer = new Uint8Array(64 * 1024);
  #filled = 0;
  // Scanning state: where the current answer starts and the next line.
  #answerStart = 0;
  #lineStart = 0;
  #closed = false;

  private constructor(conn: Deno.Conn) {
    this.conn = conn;
  }

  /**
   * Connects to a server.
   *
   * @param port The server's port.
   * @param hostname The server's address.
   * @returns The open connection.
   */
  static async connect(port: number, hostname = HOST): Promise<RawConnection> {
    return new RawConnection(await Deno.connect({ hostname, port }));
  }

  /**
   * Sends text or bytes in one write call (the kernel may split it).
   *
   * @param data What to send.
   */
  async send(data: string | Uint8Array): Promise<void> {
    await writeFully(this.conn, typeof data === "string" ? bytes(data) : data);
  }

  /**
   * Reads until `count` more complete answers have arrived and returns their
   * bytes, leaving any later bytes for the next call.
   *
   * @param count How many answers.
   * @param ms The guard against hanging.
   * @returns The bytes of exactly those answers.
   */
  async answerBytes(count: number, ms = 20_000): Promise<Uint8Array> {
    const start = this.#answerStart;
    let found = 0;
    await this.#guarded(ms, `${count} answers`, async () => {
      while (true) {
        // Scan what is there for ends of answers.
        while (found < count) {
          const newline = this.#buffer.subarray(0, this.#filled).indexOf(
            0x0a,
            this.#lineStart,
          );
          if (newline === -1) break;
          if (newline === this.#lineStart) {
            // An empty line ends the answer.
            this.#answerStart = newline + 1;
            found++;
          }
          this.#lineStart = newline + 1;
        }
        if (found === count) return;
        if (!await this.#fill()) {
          throw new Error(
            `the server closed the connection after ${found} of ${count} answers`,
          );
        }
      }
    }, () => this.#buffer.subarray(start, this.#filled));
    const answers = this.#buffer.slice(start, this.#answerStart);
    this.#compact();
    return answers;
  }

  /**
   * Reads until `count` more complete answers have arrived.
   *
   * @param count How many answers.
   * @param ms The guard against hanging.
   * @returns Their text.
   */
  async answers(count: number, ms?: number): Promise<string> {
    return decoder.decode(await this.answerBytes(count, ms));
  }

  /**
   * Reads until the server closes the connection (or resets it).
   *
   * @param ms The guard against hanging.
   * @returns Every byte not yet returned.
   */
  async readToEnd(ms = 20_000): Promise<Uint8Array> {
    const start = this.#answerStart;
    await this.#guarded(ms, "the end of the connection", async () => {
      try {
        while (await this.#fill());
      } catch (error) {
        if (!(error instanceof Deno.errors.ConnectionReset)) throw error;
      }
    }, () => this.#buffer.subarray(start, this.#filled));
    const rest = this.#buffer.slice(start, this.#filled);
    this.#filled = this.#answerStart = this.#lineStart = 0;
    return rest;
  }

  /**
   * Reads at least one more byte, if any come.
   *
   * @returns Whether bytes came (false at the end of the connection).
   */
  readMore(): Promise<boolean> {
    return this.#fill();
  }

  /** Half-closes: the server sees the end of the input, we can still read. */
  async closeWrite(): Promise<void> {
    await this.conn.closeWrite();
  }

  /** Closes the socket; safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.conn.close();
  }

  /** Closes the socket. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  async #fill(): Promise<boolean> {
    if (this.#filled === this.#buffer.length) {
      const grown = new Uint8Array(this.#buffer.length * 2);
      grown.set(this.#buffer);
      this.#buffer = grown;
    }
    const n = await this.conn.read(this.#buffer.subarray(this.#filled));
    if (n === null) return false;
    this.#filled += n;
    return true;
  }

  #compact(): void {
    const start = this.#answerStart;
    if (start === 0) return;
    this.#buffer.copyWithin(0, start, this.#filled);
    this.#filled -= start;
    this.#lineStart -= start;
    this.#answerStart = 0;
  }

  async #guarded(
    ms: number,
    what: string,
    body: () => Promise<void>,
    received: () => Uint8Array,
  ): Promise<void> {
    let expired = false;
    const timer = setTimeout(() => {
      expired = true;
      this.close();
    }, ms);
    try {
      await body();
    } catch (error) {
      const got = decoder.decode(received());
      const shown = got.length > 300
        ? `${JSON.stringify(got.slice(0, 150))}...${
          JSON.stringify(got.slice(-150))
        } (${got.length} chars)`
        : JSON.stringify(got);
      throw new Error(
        expired
          ? `no ${what} within ${ms} ms; received ${shown}`
          : `reading ${what}: ${(error as Error).message}; received ${shown}`,
        { cause: error },
      );
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * Connects, sends `request` in one write, reads `count` answers and closes.
 *
 * @param port The server's port.
 * @param request What to send.
 * @param count How many answers to read.
 * @returns The text of the answers.
 */
export async function exchange(
  port: number,
  request: string | Uint8Array,
  count: number,
): Promise<string> {
  await using connection = await RawConnection.connect(port);
  await connection.send(request);
  return await connection.answers(count);
}

/** Reads a connection line by line, for scripted fake servers. */
export class LineReader {
  #conn: Deno.Conn;
  #buffer: Uint8Array = new Uint8Array(0);

  /**
   * Wraps a connection.
   *
   * @param conn The connection to read.
   */
  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /**
   * Reads one line.
   *
   * @returns The line without its `\n`, or `null` at the end of the input.
   */
  async readLine(): Promise<string | null> {
    while (true) {
      const newline = this.#buffer.indexOf(0x0a);
      if (newline !== -1) {
        const line = decoder.decode(this.#buffer.subarray(0, newline));
        this.#buffer = this.#buffer.slice(newline + 1);
        return line;
      }
      const chunk = new Uint8Array(4096);
      let n: number | null;
      try {
        n = await this.#conn.read(chunk);
      } catch {
        return null; // closed or reset
      }
      if (n === null) return null;
      this.#buffer = concat(this.#buffer, chunk.subarray(0, n));
    }
  }
}

/** What a fake server does with one accepted connection. */
export type FakeHandler = (
  conn: Deno.Conn,
  lines: LineReader,
  index: number,
) => Promise<void>;

/**
 * A scripted TCP server on a free loopback port, for the client's failure
 * cases. Each connection is handed to `handler` with its index (0 for the
 * first). Disposing it closes the listener and every connection, and waits
 * for the handlers.
 */
export class FakeServer implements AsyncDisposable {
  /** The port it listens on. */
  readonly port: number;
  #listener: Deno.TcpListener;
  #conns = new Set<Deno.Conn>();
  #tasks = new Set<Promise<void>>();
  #accepting: Promise<void>;
  #accepted = 0;

  /**
   * Starts listening.
   *
   * @param handler What to do with each connection.
   */
  constructor(handler: FakeHandler) {
    this.#listener = Deno.listen({ hostname: HOST, port: 0 });
    this.port = this.#listener.addr.port;
    this.#accepting = this.#accept(this.#listener, handler);
  }

  async #accept(listener: Deno.TcpListener, handler: FakeHandler) {
    try {
      for await (const conn of listener) {
        this.#conns.add(conn);
        const index = this.#accepted++;
        const task = handler(conn, new LineReader(conn), index)
          .catch(() => {})
          .finally(() => {
            this.#tasks.delete(task);
            this.#close(conn);
          });
        this.#tasks.add(task);
      }
    } catch {
      // The listener closed.
    }
  }

  /** How many connections it accepted. */
  get accepted(): number {
    return this.#accepted;
  }

  /** Stops: closes the listener and every connection. */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#listener.close();
    } catch {
      // Already closed.
    }
    for (const conn of this.#conns) this.#close(conn);
    await this.#accepting;
    await Promise.all(this.#tasks);
  }

  #close(conn: Deno.Conn): void {
    if (!this.#conns.delete(conn)) return;
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
}

/**
 * A port on which nothing listens (it was free a moment ago).
 *
 * @returns The port.
 */
export function unusedPort(): number {
  const listener = Deno.listen({ hostname: HOST, port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

/**
 * The session of issue 2 on an empty server: each request and the exact
 * answer it gets. Note the trailing space of the second `get test_key`.
 */
export const SESSION: [request: string, answer: string][] = [
  ["get test_key\n", "ok\n\n"],
  ["got test_key\n", ERROR_ANSWER],
  ["put test_key 12.0 1503319740\n", "ok\n\n"],
  ["put test_key 13.0 1503319739\n", "ok\n\n"],
  [
    "get test_key \n",
    "ok\ntest_key 13.0 1503319739\ntest_key 12.0 1503319740\n\n",
  ],
  ["put another_key 10 1503319739\n", "ok\n\n"],
  [
    "get *\n",
    "ok\ntest_key 13.0 1503319739\ntest_key 12.0 1503319740\n" +
    "another_key 10.0 1503319739\n\n",
  ],
];

/**
 * Replays {@linkcode SESSION} on a connection, one request at a time, and
 * checks every answer byte for byte.
 *
 * @param connection An open connection to an empty server.
 * @param check Compares what came with what was expected.
 */
export async function replaySession(
  connection: RawConnection,
  check: (actual: string, expected: string, message: string) => void,
): Promise<void> {
  for (const [request, answer] of SESSION) {
    await connection.send(request);
    check(await connection.answers(1), answer, JSON.stringify(request));
  }
}

/** The server's command line, which {@linkcode ServerProcess} runs. */
const SERVER_SCRIPT = new URL("../server.ts", import.meta.url).pathname;
/** What the server prints on stderr once it listens. */
const LISTENING_LINE = /^pulse: listening on (\S+):(\d+)/m;

/** Options of {@linkcode ServerProcess.start}. */
export interface ServerProcessOptions {
  /**
   * Environment variables of the child, on top of this process's.
   *
   * @default {{}}
   */
  env?: Record<string, string>;
  /**
   * Milliseconds to wait for the listening line: a guard, generous.
   *
   * @default {30000}
   */
  timeout?: number;
  /**
   * The permission flags of `deno run`.
   *
   * @default {["-A"]}
   */
  permissions?: string[];
  /**
   * The child's limit on open descriptors (`ulimit -n`), set with
   * util-linux's `prlimit`.
   *
   * @default {undefined}
   */
  descriptors?: number;
  /**
   * Whether the child takes Graphite on its default port; without it, and
   * without a `--graphite` argument, it gets `--graphite=off`.
   *
   * @default {false}
   */
  graphite?: boolean;
}

/** Resident memory of a process, in bytes, from `/proc/<pid>/status`. */
export interface ResidentMemory {
  /** The resident set now (`VmRSS`). */
  rss: number;
  /** The largest resident set since the process started (`VmHWM`). */
  peak: number;
}

/**
 * `deno run -A server.ts ...args` as a child process whose stdout and
 * stderr are collected. Disposing it kills the process with SIGKILL if it
 * still runs and waits for it.
 */
export class ServerProcess implements AsyncDisposable {
  /** The process. */
  readonly child: Deno.ChildProcess;
  #port = 0;
  #stderr = "";
  #stdout = "";
  #ended = false;
  #exited = false;
  #drained: Promise<void>;
  #watchers = new Set<() => boolean>();

  private constructor(args: string[], options: ServerProcessOptions) {
    // Graphite's default port is one for all: a test that wants Graphite
    // names its address, or asks for the default.
    const graphite =
      options.graphite || args.some((arg) => arg.startsWith("--graphite"))
        ? []
        : ["--graphite=off"];
    const deno = [
      Deno.execPath(),
      "run",
      ...options.permissions ?? ["-A"],
      SERVER_SCRIPT,
      ...graphite,
      ...args,
    ];
    const command = options.descriptors === undefined
      ? deno
      : ["prlimit", `--nofile=${options.descriptors}`, ...deno];
    const child = new Deno.Command(command[0], {
      args: command.slice(1),
      env: options.env ?? {},
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.child = child;
    child.status.then(() => this.#exited = true);
    // Read both pipes to their end, so that a server that logs never blocks.
    this.#drained = Promise.all([
      (async () => {
        const text = child.stdout.pipeThrough(new TextDecoderStream());
        for await (const chunk of text) this.#stdout += chunk;
      })(),
      (async () => {
        const text = child.stderr.pipeThrough(new TextDecoderStream());
        for await (const chunk of text) {
          this.#stderr += chunk;
          for (const watcher of this.#watchers) watcher();
        }
        this.#ended = true;
        for (const watcher of this.#watchers) watcher();
      })(),
    ]).then(() => {});
  }

  /**
   * Runs `server.ts` with `args` without waiting for anything: for runs
   * that are meant to end, such as `--help` or a usage error.
   *
   * @param args The server's arguments.
   * @param options The child's environment and permissions.
   * @returns The process.
   */
  static spawn(
    args: string[],
    options: ServerProcessOptions = {},
  ): ServerProcess {
    return new ServerProcess(args, options);
  }

  /**
   * Starts `server.ts` with `args` and waits until it says it listens.
   *
   * @param args The server's arguments, such as `["--port", "0", "--memory"]`.
   * @param options The child's environment and the guard against hangs.
   * @returns The running server.
   */
  static async start(
    args: string[],
    options: ServerProcessOptions = {},
  ): Promise<ServerProcess> {
    const server = new ServerProcess(args, options);
    try {
      const match = await server.waitForStderr(
        LISTENING_LINE,
        options.timeout ?? 30_000,
      );
      server.#port = Number(match[2]);
      return server;
    } catch (error) {
      await server[Symbol.asyncDispose]();
      throw error;
    }
  }

  /** The process id. */
  get pid(): number {
    return this.child.pid;
  }

  /** The port from the listening line. */
  get port(): number {
    return this.#port;
  }

  /** Everything the process wrote to stderr so far. */
  get stderr(): string {
    return this.#stderr;
  }

  /** Everything the process wrote to stdout so far. */
  get stdout(): string {
    return this.#stdout;
  }

  /**
   * Waits until stderr matches `pattern`.
   *
   * @param pattern What to look for.
   * @param ms The guard against hanging.
   * @returns The match.
   */
  async waitForStderr(
    pattern: RegExp,
    ms = 20_000,
  ): Promise<RegExpMatchArray> {
    const { promise, resolve, reject } = Promise.withResolvers<
      RegExpMatchArray
    >();
    const check = (): boolean => {
      const match = this.#stderr.match(pattern);
      if (match !== null) resolve(match);
      else if (this.#ended) reject(new Error("the server's stderr ended"));
      else return false;
      return true;
    };
    if (!check()) this.#watchers.add(check);
    try {
      return await within(promise, `${pattern} on stderr`, ms);
    } catch (error) {
      throw new Error(
        `${(error as Error).message}; stderr: ${JSON.stringify(this.#stderr)}`,
      );
    } finally {
      this.#watchers.delete(check);
    }
  }

  /**
   * Reads the process's resident memory.
   *
   * @returns Its resident set now and at its peak.
   */
  memory(): ResidentMemory {
    const status = Deno.readTextFileSync(`/proc/${this.pid}/status`);
    const field = (name: string): number => {
      const match = new RegExp(`^${name}:\\s+(\\d+) kB$`, "m").exec(status);
      if (match === null) throw new Error(`no ${name} in /proc/*/status`);
      return Number(match[1]) * 1024;
    };
    return { rss: field("VmRSS"), peak: field("VmHWM") };
  }

  /**
   * Waits for the process to exit and for the last of its stderr.
   *
   * @param ms The guard against hanging.
   * @returns How it exited.
   */
  async exit(ms = 30_000): Promise<Deno.CommandStatus> {
    const status = await within(this.child.status, "the server's exit", ms);
    await this.#drained;
    return status;
  }

  /** Kills the process if it still runs, and waits for it. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#exited) {
      try {
        this.child.kill("SIGKILL");
      } catch {
        // It exited meanwhile.
      }
    }
    await this.child.status;
    await this.#drained;
  }
}

/**
 * Sends `stats` and reads its answer's `name value` lines, in order.
 *
 * @param connection An open (and, with a token, logged-in) connection.
 * @returns The figures, in the order the server gave them.
 * @throws {Error} When the answer is not `ok` and `name value` lines.
 */
export async function askStats(
  connection: RawConnection,
): Promise<[name: string, value: number][]> {
  await connection.send("stats\n");
  const answer = await connection.answers(1);
  const lines = answer.split("\n").slice(0, -2);
  if (lines[0] !== "ok") throw new Error(`stats answered ${answer}`);
  return lines.slice(1).map((line) => {
    const match = /^([a-z_]+) (\d+)$/.exec(line);
    if (match === null) throw new Error(`a malformed stats line: ${line}`);
    return [match[1], Number(match[2])];
  });
}

/**
 * Whether a command can be run here, for tests that need one.
 *
 * @param command Such as `openssl`.
 * @param args Arguments that make it succeed quickly, such as `["version"]`.
 * @returns Whether it ran and succeeded.
 */
export async function available(
  command: string,
  args: string[],
): Promise<boolean> {
  try {
    const { success } = await new Deno.Command(command, {
      args,
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** A certificate for `localhost` and `127.0.0.1` and its key, as files. */
export interface Certificate {
  /** The certificate in PEM, to trust. */
  cert: string;
  /** Its file. */
  certFile: string;
  /** The key's file. */
  keyFile: string;
}

/**
 * Makes a self-signed certificate in `dir` with `openssl`.
 *
 * @param dir Where the files go.
 * @returns The certificate and the files.
 * @throws {Error} When openssl fails.
 */
export async function makeCertificate(dir: string): Promise<Certificate> {
  const certFile = `${dir}/cert.pem`;
  const keyFile = `${dir}/key.pem`;
  const { success, stderr } = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      keyFile,
      "-out",
      certFile,
      "-days",
      "2",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
      // A certificate that is its own authority must not say it is one:
      // TLS libraries refuse a CA certificate as the server's own.
      "-addext",
      "basicConstraints=critical,CA:FALSE",
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!success) {
    throw new Error(`openssl failed: ${decoder.decode(stderr)}`);
  }
  return { cert: await Deno.readTextFile(certFile), certFile, keyFile };
}

/**
 * Rolls `[timestamp, value]` points, sorted by timestamp, up into buckets of
 * `step` seconds the plain way: the reference the server's roll-ups are
 * checked against.
 *
 * @param points The points, sorted by timestamp.
 * @param step The bucket width.
 * @param aggregation How a bucket becomes one value.
 * @returns One `[bucket start, value]` per non-empty bucket.
 */
export function rollUp(
  points: [timestamp: number, value: number][],
  step: number,
  aggregation: Aggregation,
): [timestamp: number, value: number][] {
  const buckets = new Map<number, number[]>();
  for (const [timestamp, value] of points) {
    const bucket = Math.floor(timestamp / step) * step;
    if (!buckets.has(bucket)) buckets.set(bucket, []);
    buckets.get(bucket)!.push(value);
  }
  return [...buckets].map(([bucket, values]) => {
    const sum = values.reduce((a, b) => a + b, 0);
    const value = {
      avg: sum / values.length,
      min: Math.min(...values),
      max: Math.max(...values),
      sum,
      count: values.length,
      last: values.at(-1)!,
    }[aggregation];
    return [bucket, value];
  });
}

/** One line of the event log, parsed. */
export type LogEvent = Record<string, unknown> & {
  time: string;
  level: string;
  event: string;
};

/**
 * The event log's lines in `text` (such as a server's stderr, where they
 * mix with its `pulse: ...` lines), parsed, in order.
 *
 * @param text Lines, some of them JSON objects.
 * @returns The events.
 * @throws {Error} When a line that starts with `{` is not an event.
 */
export function events(text: string): LogEvent[] {
  return text.split("\n").filter((line) => line.startsWith("{")).map(
    (line) => {
      const event = JSON.parse(line);
      if (
        typeof event.time !== "string" || typeof event.level !== "string" ||
        typeof event.event !== "string"
      ) {
        throw new Error(`not an event: ${line}`);
      }
      return event;
    },
  );
}

/**
 * The lines of `text` that are not the event log's: what a person reads.
 *
 * @param text A server's stderr.
 * @returns Its `pulse: ...` lines, without their newlines.
 */
export function plainLines(text: string): string[] {
  return text.split("\n").filter((line) =>
    line !== "" && !line.startsWith("{")
  );
}
