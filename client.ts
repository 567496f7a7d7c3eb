/**
 * The Pulse client: {@linkcode Client} sends samples and reads them back,
 * pipelining concurrent calls on one connection.
 *
 * @example Usage
 * ```ts
 * import { Client, serve } from "@pulse/metrics";
 * import { deepEqual } from "node:assert/strict";
 *
 * await using server = serve({ port: 0 });
 * await using client = new Client("127.0.0.1", server.addr.port, {
 *   timeout: 15_000,
 * });
 * await client.put("palm.cpu", 0.5, 1150864247);
 * await client.put("palm.cpu", 2.0, 1150864248);
 * deepEqual(await client.get("*"), {
 *   "palm.cpu": [[1150864247, 0.5], [1150864248, 2.0]],
 * });
 * ```
 *
 * @module
 */

import { describe } from "./internal/describe.ts";
import { writeAll } from "./internal/write_all.ts";
import {
  findAnswerEnd,
  type SampleLine,
  SampleLineReader,
} from "./protocol/answer_reader.ts";
import { formatValue } from "./protocol/format_value.ts";
import {
  type Aggregation,
  AGGREGATIONS,
  isAggregation,
} from "./store/query.ts";
import { isKey } from "./protocol/grammar.ts";
import {
  ClientError,
  type ClientErrorCode,
  type ClientErrorOptions,
} from "./client/client_error.ts";
import {
  type ConnectOptions,
  LineConnection,
} from "./client/_line_connection.ts";
import {
  putLines,
  type PutLinesOptions,
  type PutLinesReport,
} from "./client/_put_pipeline.ts";

export { ClientError, type ClientErrorCode, type ClientErrorOptions };
export type { PutLinesOptions, PutLinesReport, SampleLine };

/** Options of {@linkcode Client}. */
export interface ClientOptions {
  /**
   * Milliseconds to wait for a connection and for each answer before the
   * call fails; no limit when unset.
   *
   * @default {undefined}
   */
  timeout?: number;
  /**
   * The server's token: sent as `auth <token>` first on every connection.
   *
   * @default {undefined}
   */
  token?: string;
  /**
   * Connect over TLS.
   *
   * @default {false}
   */
  tls?: boolean;
  /**
   * Certificates (PEM) to trust besides the system's, for TLS.
   *
   * @default {undefined}
   */
  caCerts?: string[];
}

/** The range and roll-up of {@linkcode Client.query}. */
export interface QueryRange {
  /**
   * The earliest timestamp wanted.
   *
   * @default {-(2 ** 53 - 1)}
   */
  from?: number;
  /**
   * The latest timestamp wanted.
   *
   * @default {2 ** 53 - 1}
   */
  to?: number;
  /**
   * Bucket width in seconds; buckets start at multiples of it. No roll-up
   * when unset.
   *
   * @default {undefined}
   */
  step?: number;
  /**
   * How a bucket's samples become one value, with `step`.
   *
   * @default {"avg"}
   */
  aggregation?: Aggregation;
}

/** A time range of {@linkcode Client.queryRows}: both ends included. */
export type TimeRange = Pick<QueryRange, "from" | "to">;

/** Samples by key, as {@linkcode Client.get} returns them. */
export type Samples = Record<string, [timestamp: number, value: number][]>;

/**
 * A connection open on the server, as {@linkcode Client.clients} lists it.
 * Fields the server adds later appear under their names; those that are
 * whole numbers as numbers.
 */
export interface OpenConnection {
  /** Its id, unique for the life of the server's process. */
  id: number;
  /** The peer's address, `ip:port` (`[ip]:port` for IPv6). */
  addr: string;
  /** Seconds since it opened. */
  age: number;
  /** Seconds since the peer last sent anything. */
  idle: number;
  /** Requests answered. */
  cmds: number;
  /** Any other field, such as `in` and `out` (bytes). */
  [field: string]: string | number;
}

/** A call waiting for its answer. */
interface Pending {
  resolve: (lines: Uint8Array[]) => void;
  reject: (error: ClientError) => void;
  timer?: ReturnType<typeof setTimeout>;
  /** The `auth` of a new connection: its failure fails every call. */
  login?: boolean;
}

const ENCODER = new TextEncoder();
const DECODER = new TextDecoder();
const OK = ENCODER.encode("ok");
const ERROR = ENCODER.encode("error");
// The first bytes of a TLS record: an alert, or a handshake message.
const TLS_ALERT = 0x15;
const TLS_HANDSHAKE = 0x16;
const TLS_MAJOR_VERSION = 0x03;
// What rustls says when the peer's bytes are not TLS records.
const NOT_TLS = /corrupt message|InvalidContentType|not a TLS|wrong version/i;

/** Whether answer bytes are a TLS record: the server expects TLS. */
function looksLikeTls(bytes: Uint8Array): boolean {
  return (bytes[0] === TLS_ALERT || bytes[0] === TLS_HANDSHAKE) &&
    bytes[1] === TLS_MAJOR_VERSION;
}

/** The code of an error answer the client's options can fix. */
function codeOf(message: string): ClientErrorCode | undefined {
  if (message === "authentication required") return "authentication-required";
  if (message === "invalid token") return "invalid-token";
  return undefined;
}

/** A line of the `clients` answer as fields: whole numbers as numbers. */
function readConnection(line: string): OpenConnection | undefined {
  const fields: Record<string, string | number> = {};
  for (const field of line.split(" ")) {
    const equals = field.indexOf("=");
    if (equals <= 0) return undefined;
    const value = field.slice(equals + 1);
    fields[field.slice(0, equals)] = /^\d+$/.test(value)
      ? Number(value)
      : value;
  }
  const { id, addr, age, idle, cmds } = fields;
  if (
    typeof id !== "number" || typeof addr !== "string" ||
    typeof age !== "number" || typeof idle !== "number" ||
    typeof cmds !== "number"
  ) {
    return undefined;
  }
  return fields as OpenConnection;
}

/** Refuses, before sending, what the protocol cannot carry. */
function checkKey(command: string, key: string): string {
  if (!isKey(key)) {
    throw new ClientError(
      `Cannot ${command} ${
        JSON.stringify(key)
      }: a key is not empty and holds no whitespace`,
    );
  }
  return key;
}

function equals(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/**
 * A connection to a Pulse server, made on first use and made again after a
 * failure. Calls may overlap: they are pipelined on the one connection and
 * their answers matched in order.
 *
 * @example Usage
 * ```ts
 * import { Client, serve } from "@pulse/metrics";
 * import { deepEqual } from "node:assert/strict";
 *
 * await using server = serve({ port: 0 });
 * await using client = new Client("127.0.0.1", server.addr.port);
 * await Promise.all([
 *   client.put("eardrum.cpu", 3, 1150864250),
 *   client.put("eardrum.cpu", 4, 1150864251),
 * ]);
 * deepEqual(await client.get("eardrum.cpu"), {
 *   "eardrum.cpu": [[1150864250, 3], [1150864251, 4]],
 * });
 * ```
 */
export class Client implements AsyncDisposable {
  #hostname: string;
  #port: number;
  #timeout: number | undefined;
  #token: string | undefined;
  #tls: boolean;
  #caCerts: string[] | undefined;
  #conn: Deno.Conn | undefined;
  #connecting: Promise<Deno.Conn> | undefined;
  // First in, first out: settled calls before `#head` are `undefined`.
  #pending: (Pending | undefined)[] = [];
  #head = 0;
  #reading: Promise<void> | undefined;
  #outbox: string[] = [];
  #flushing: Promise<void> | undefined;
  #lines = new SampleLineReader();

  /**
   * Creates a client; it connects on first use.
   *
   * @param hostname The server's address, such as `"127.0.0.1"`.
   * @param port The server's port, such as `8888`.
   * @param options The timeout.
   */
  constructor(hostname: string, port: number, options: ClientOptions = {}) {
    this.#hostname = hostname;
    this.#port = port;
    this.#timeout = options.timeout;
    this.#token = options.token;
    this.#tls = options.tls ?? false;
    this.#caCerts = options.caCerts;
    if (this.#token !== undefined && !isKey(this.#token)) {
      throw new TypeError(
        "Cannot use the token: it is empty or holds whitespace",
      );
    }
  }

  /**
   * Stores a sample.
   *
   * @param metric The series' name: not empty, no whitespace.
   * @param value A finite number.
   * @param timestamp Unix seconds; now when left out.
   * @returns A promise that resolves once the server has stored the sample.
   * @throws {ClientError} When the arguments cannot be sent, the server
   * answers with an error, or the connection fails.
   */
  async put(
    metric: string,
    value: number,
    timestamp: number = Math.floor(Date.now() / 1000),
  ): Promise<void> {
    checkKey("put", metric);
    if (!Number.isFinite(value)) {
      throw new ClientError(`Cannot put ${value}: not a finite number`);
    }
    if (!Number.isSafeInteger(timestamp)) {
      throw new ClientError(
        `Cannot put at ${timestamp}: not a safe integer timestamp`,
      );
    }
    const lines = await this.#call(
      `put ${metric} ${formatValue(value)} ${timestamp}\n`,
    );
    if (lines.length !== 0) throw this.#malformed("put", lines);
  }

  /**
   * Reads the samples of one series, or of all with `"*"`.
   *
   * @param metric The series' name, or `"*"`.
   * @returns Samples by key, each list sorted by timestamp; `{}` when there
   * is no data.
   * @throws {ClientError} When the key cannot be sent, the server answers
   * with an error or a malformed answer, or the connection fails.
   */
  async get(metric: string): Promise<Samples> {
    return await this.#samples("get", `get ${checkKey("get", metric)}\n`);
  }

  /**
   * Reads the latest sample of each series whose name matches `pattern`.
   *
   * @param pattern A key, or a Graphite-style glob such as `palm.*`.
   * @returns The latest sample by key; `{}` when nothing matches.
   * @throws {ClientError} As {@linkcode Client.get} does, and when the
   * pattern is malformed.
   */
  async last(pattern: string): Promise<Samples> {
    return await this.#samples("last", `last ${checkKey("last", pattern)}\n`);
  }

  /**
   * Reads the samples of the series matching `pattern` within a time range,
   * rolled up into buckets of `step` seconds when a step is given.
   *
   * @param pattern A key, or a Graphite-style glob such as `palm.*`.
   * @param range The time range, and the roll-up.
   * @returns Samples by key, each list sorted by timestamp; with a step, one
   * per non-empty bucket, stamped with the bucket's start.
   * @throws {ClientError} As {@linkcode Client.get} does, and when the range
   * or roll-up is invalid.
   */
  async query(pattern: string, range: QueryRange = {}): Promise<Samples> {
    const from = range.from ?? -Number.MAX_SAFE_INTEGER;
    const to = range.to ?? Number.MAX_SAFE_INTEGER;
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to)) {
      throw new ClientError(
        `Cannot query from ${from} to ${to}: not safe integer timestamps`,
      );
    }
    let request = `query ${checkKey("query", pattern)} ${from} ${to}`;
    if (range.step !== undefined || range.aggregation !== undefined) {
      const step = range.step;
      const aggregation = range.aggregation ?? "avg";
      if (step === undefined || !Number.isSafeInteger(step) || step <= 0) {
        throw new ClientError(
          `Cannot query with step ${step}: not a positive integer`,
        );
      }
      if (!isAggregation(aggregation)) {
        throw new ClientError(
          `Cannot query with aggregation ${aggregation}: not one of ${
            AGGREGATIONS.join(", ")
          }`,
        );
      }
      request += ` ${step} ${aggregation}`;
    }
    return await this.#samples("query", `${request}\n`);
  }

  /**
   * Lists the names of the series that match `pattern`, or of every series.
   *
   * @param pattern A key, or a Graphite-style glob such as `palm.*`; every
   * series when left out.
   * @returns The names, in the order they were first put.
   * @throws {ClientError} When the pattern is malformed or the call fails.
   */
  async keys(pattern?: string): Promise<string[]> {
    const lines = await this.#call(
      pattern === undefined ? "keys\n" : `keys ${checkKey("keys", pattern)}\n`,
    );
    return lines.map((line) => DECODER.decode(line));
  }

  /**
   * Lists the connections open on the server, this one included.
   *
   * @returns Each connection's id, address, age, idle time and commands.
   * @throws {ClientError} When the call fails or the answer is malformed.
   */
  async clients(): Promise<OpenConnection[]> {
    const lines = await this.#call("clients\n");
    return lines.map((line) => {
      const connection = readConnection(DECODER.decode(line));
      if (connection === undefined) throw this.#malformed("clients", [line]);
      return connection;
    });
  }

  /**
   * Has the server write a snapshot of everything and cut its log. Allowed
   * to a client that logged in when the server has a token, else to one on
   * a loopback address.
   *
   * @returns A promise that resolves once the snapshot is written.
   * @throws {ClientError} When the server refuses (not allowed, or no data
   * directory) or the call fails.
   */
  async compact(): Promise<void> {
    const lines = await this.#call("compact\n");
    if (lines.length !== 0) throw this.#malformed("compact", lines);
  }

  /**
   * Stops the server, as SIGTERM does: it answers what it received, writes
   * its log and exits. Allowed as {@linkcode Client.compact} is.
   *
   * @returns A promise that resolves once the server has agreed to stop.
   * @throws {ClientError} When the server refuses or the call fails.
   */
  async shutdown(): Promise<void> {
    const lines = await this.#call("shutdown\n");
    if (lines.length !== 0) throw this.#malformed("shutdown", lines);
  }

  /**
   * Deletes the series that match `pattern`.
   *
   * @param pattern A key, or a Graphite-style glob such as `palm.*`.
   * @returns How many series were deleted.
   * @throws {ClientError} When the pattern is malformed or the call fails.
   */
  async delete(pattern: string): Promise<number> {
    const lines = await this.#call(`delete ${checkKey("delete", pattern)}\n`);
    const count = lines.length === 1 ? Number(DECODER.decode(lines[0])) : NaN;
    if (!Number.isSafeInteger(count)) throw this.#malformed("delete", lines);
    return count;
  }

  /**
   * Reads the server's figures: uptime, connections, commands, errors,
   * series, samples, bytes in and out.
   *
   * @returns Figures by name.
   * @throws {ClientError} When the call fails.
   */
  async stats(): Promise<Record<string, number>> {
    const lines = await this.#call("stats\n");
    const stats: Record<string, number> = {};
    for (const line of lines) {
      const [name, value, extra] = DECODER.decode(line).split(" ");
      const number = Number(value);
      if (extra !== undefined || !Number.isFinite(number)) {
        throw this.#malformed("stats", [line]);
      }
      stats[name] = number;
    }
    return stats;
  }

  async #samples(command: string, request: string): Promise<Samples> {
    const lines = await this.#call(request);
    const samples: Samples = {};
    for (const line of lines) {
      const sample = this.#lines.read(line, 0, line.length);
      if (sample === undefined) throw this.#malformed(command, [line]);
      const [key, value, timestamp] = sample;
      (samples[key] ??= []).push([timestamp, value]);
    }
    for (const list of Object.values(samples)) {
      list.sort((a, b) => a[0] - b[0]);
    }
    return samples;
  }

  /**
   * Checks that the server answers.
   *
   * @returns A promise that resolves once the server has answered `pong`.
   * @throws {ClientError} When it does not.
   */
  async ping(): Promise<void> {
    const lines = await this.#call("ping\n");
    if (lines.length !== 1 || DECODER.decode(lines[0]) !== "pong") {
      throw this.#malformed("ping", lines);
    }
  }

  /**
   * Reads the samples of the series matching `pattern` within a time range
   * as they arrive, on a connection of its own: rows in the order `query`
   * answers them (series in the order their keys were first put, each by
   * timestamp), in chunks as they are received. It holds one chunk of the
   * answer, however large the answer; the server sends more as rows are
   * taken. The connection closes when the iteration ends, a `break`
   * included.
   *
   * @example Usage
   * ```ts
   * import { Client, serve } from "@pulse/metrics";
   * import { deepEqual } from "node:assert/strict";
   *
   * await using server = serve({ port: 0 });
   * await using client = new Client("127.0.0.1", server.addr.port);
   * await client.put("palm.cpu", 0.5, 1150864247);
   * const rows = [];
   * for await (const chunk of client.queryRows("palm.*")) rows.push(...chunk);
   * deepEqual(rows, [["palm.cpu", 0.5, 1150864247]]);
   * ```
   *
   * @param pattern A key, or a Graphite-style glob such as `palm.**`.
   * @param range The time range: every sample when left out.
   * @returns Chunks of rows: key, value and timestamp.
   * @throws {ClientError} As {@linkcode Client.query} does, while iterating.
   */
  async *queryRows(
    pattern: string,
    range: TimeRange = {},
  ): AsyncGenerator<SampleLine[], void, undefined> {
    const from = range.from ?? -Number.MAX_SAFE_INTEGER;
    const to = range.to ?? Number.MAX_SAFE_INTEGER;
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to)) {
      throw new ClientError(
        `Cannot query from ${from} to ${to}: not safe integer timestamps`,
      );
    }
    const request = `query ${checkKey("query", pattern)} ${from} ${to}\n`;
    const connection = await LineConnection.open(this.#connectOptions());
    try {
      await connection.write(request);
      await connection.status("query");
      const reader = new SampleLineReader();
      while (true) {
        const rows: SampleLine[] = [];
        while (connection.nextLine()) {
          const { bytes, start, end } = connection;
          if (start === end) {
            if (rows.length > 0) yield rows;
            return;
          }
          const row = reader.read(bytes, start, end);
          if (row === undefined) {
            throw this.#malformed("query", [bytes.subarray(start, end)]);
          }
          rows.push(row);
        }
        if (rows.length > 0) yield rows;
        await connection.fill();
      }
    } finally {
      connection.close();
    }
  }

  /**
   * Stores `put <key> <value> <timestamp>` lines as they are read from
   * `source` (what {@linkcode Client.queryRows} reads, as `pulse export`
   * writes it), pipelined on a connection of its own: lines go out as they
   * come, many per write, with at most `window` answers owed. It holds a
   * chunk of the source and the lines in flight, however long the source.
   *
   * Lines are split on `\n` (a `\r` before it is dropped) and numbered
   * from 1; blank lines are skipped. A line that is not a valid put, or is
   * longer than 1 MiB, is refused without being sent; a put the server
   * refuses (outside the retention window, say) is refused with its answer.
   * Neither stops the rest: each is told to `onRefused` and counted.
   *
   * @example Usage
   * ```ts
   * import { Client, serve } from "@pulse/metrics";
   * import { deepEqual } from "node:assert/strict";
   *
   * await using server = serve({ port: 0 });
   * await using client = new Client("127.0.0.1", server.addr.port);
   * const lines = "put palm.cpu 0.5 1150864247\nget *\n";
   * const refused: number[] = [];
   * const report = await client.putLines(
   *   ReadableStream.from([new TextEncoder().encode(lines)]),
   *   { onRefused: (line) => refused.push(line) },
   * );
   * deepEqual(report, { bytes: 34, lines: 2, stored: 1, refused: 1 });
   * deepEqual(refused, [2]);
   * ```
   *
   * @param source The lines' bytes, in chunks: a file's `readable`, say.
   * @param options The window, and who hears refusals and progress.
   * @returns How many lines were read, stored and refused.
   * @throws {ClientError} When the connection fails or an answer is
   * malformed; an error of the source as it is.
   * @throws {RangeError} When the window is not a positive integer.
   */
  async putLines(
    source: AsyncIterable<Uint8Array>,
    options: PutLinesOptions = {},
  ): Promise<PutLinesReport> {
    const connection = await LineConnection.open(this.#connectOptions());
    try {
      return await putLines(connection, source, options);
    } finally {
      connection.close();
    }
  }

  #connectOptions(): ConnectOptions {
    return {
      hostname: this.#hostname,
      port: this.#port,
      timeout: this.#timeout,
      token: this.#token,
      tls: this.#tls,
      caCerts: this.#caCerts,
    };
  }

  /**
   * Closes the connection; calls still waiting fail with a
   * {@linkcode ClientError}. The client may be used again afterwards.
   */
  close(): void {
    this.#fail(new ClientError("Cannot finish the call: the client closed"));
  }

  /** Closes the connection and waits for its reader to stop. */
  async [Symbol.asyncDispose](): Promise<void> {
    const reading = this.#reading;
    this.close();
    await reading;
  }

  #malformed(command: string, lines: Uint8Array[]): ClientError {
    const text = lines.map((line) => DECODER.decode(line)).join("\\n");
    return new ClientError(
      `Cannot read the answer to ${command}: malformed answer "${text}"`,
    );
  }

  async #call(request: string): Promise<Uint8Array[]> {
    const { promise, resolve, reject } = Promise.withResolvers<Uint8Array[]>();
    const pending: Pending = { resolve, reject };
    this.#pending.push(pending);
    if (this.#timeout !== undefined) {
      const timeout = this.#timeout;
      pending.timer = setTimeout(() => {
        // Later answers would be out of step with their calls: start over.
        this.#fail(
          new ClientError(`Cannot get an answer within ${timeout} ms`),
        );
      }, timeout);
    }
    this.#outbox.push(request);
    this.#flushing ??= this.#flush().finally(() => this.#flushing = undefined);
    return await promise;
  }

  /** Sends what calls queued, many requests per write, in call order. */
  async #flush(): Promise<void> {
    try {
      while (this.#outbox.length > 0) {
        const conn = await this.#connect();
        const requests = this.#outbox.join("");
        this.#outbox = [];
        await writeAll(conn, ENCODER.encode(requests));
      }
    } catch (error) {
      this.#outbox = [];
      this.#fail(
        error instanceof ClientError ? error : new ClientError(
          `Cannot send to ${this.#address}: ${describe(error)}`,
          { cause: error },
        ),
      );
    }
  }

  get #address(): string {
    return `${this.#hostname}:${this.#port}`;
  }

  #connect(): Promise<Deno.Conn> {
    if (this.#conn !== undefined) return Promise.resolve(this.#conn);
    this.#connecting ??= (async () => {
      try {
        const address = { hostname: this.#hostname, port: this.#port };
        const conn = this.#tls
          ? await this.#connectTls(address)
          : await Deno.connect(address);
        this.#conn = conn;
        this.#reading = this.#read(conn);
        if (this.#token !== undefined) this.#authenticate();
        return conn;
      } catch (error) {
        if (error instanceof ClientError) throw error;
        throw new ClientError(
          `Cannot connect to ${this.#address}: ${describe(error)}`,
          { cause: error },
        );
      } finally {
        this.#connecting = undefined;
      }
    })();
    return this.#connecting;
  }

  /** Connects over TLS and shakes hands, so that a plain port shows now. */
  async #connectTls(
    address: { hostname: string; port: number },
  ): Promise<Deno.TlsConn> {
    const conn = await Deno.connectTls({ ...address, caCerts: this.#caCerts });
    try {
      await conn.handshake();
    } catch (error) {
      conn.close();
      if (!NOT_TLS.test((error as Error).message)) throw error;
      throw new ClientError(
        `Cannot connect to ${this.#address} over TLS: ${
          describe(error)
        } (the server does not speak TLS there)`,
        { cause: error, code: "tls-unsupported" },
      );
    }
    return conn;
  }

  /**
   * Logs in on a new connection: the `auth` request goes first, ahead of
   * the calls queued while connecting, and its answer is matched first.
   */
  #authenticate(): void {
    this.#pending.splice(this.#head, 0, {
      resolve: () => {},
      reject: () => {},
      login: true,
    });
    this.#outbox.unshift(`auth ${this.#token}\n`);
  }

  /** The one reader: splits answers and hands them to calls in order. */
  async #read(conn: Deno.Conn): Promise<void> {
    let buffer = new Uint8Array(16 * 1024);
    let filled = 0;
    let searchFrom = 0; // no answer ends before this
    let first = true;
    try {
      while (true) {
        if (filled === buffer.length) {
          const grown = new Uint8Array(buffer.length * 2);
          grown.set(buffer);
          buffer = grown;
        }
        const n = await conn.read(buffer.subarray(filled));
        if (n === null) {
          throw new ClientError(
            `Cannot read from ${this.#address}: the server closed the connection`,
          );
        }
        filled += n;
        // Checked once two bytes are in: no answer is complete before.
        if (first && filled >= 2) {
          if (looksLikeTls(buffer)) {
            throw new ClientError(
              `Cannot read from ${this.#address}: the server answered with TLS (it expects TLS)`,
              { code: "tls-required" },
            );
          }
          first = false;
        }
        let start = 0;
        let end = findAnswerEnd(buffer, searchFrom, filled);
        while (end !== -1) {
          this.#answer(buffer.slice(start, end));
          start = end;
          end = findAnswerEnd(buffer, start, filled);
        }
        if (conn !== this.#conn) return;
        buffer.copyWithin(0, start, filled);
        filled -= start;
        // The last byte may be the first half of the empty line.
        searchFrom = Math.max(0, filled - 1);
      }
    } catch (error) {
      if (conn !== this.#conn) return;
      this.#fail(
        error instanceof ClientError ? error : new ClientError(
          `Cannot read from ${this.#address}: ${describe(error)}`,
          { cause: error },
        ),
      );
    }
  }

  /** Settles the oldest call with one complete answer. */
  #answer(answer: Uint8Array): void {
    const pending = this.#pending[this.#head];
    if (pending === undefined) {
      this.#fail(new ClientError("Cannot match an answer: none was asked for"));
      return;
    }
    this.#pending[this.#head++] = undefined;
    // Drop the settled front of the queue now and then, not per answer.
    if (this.#head >= 1024 && this.#head * 2 >= this.#pending.length) {
      this.#pending = this.#pending.slice(this.#head);
      this.#head = 0;
    }
    clearTimeout(pending.timer);
    // The answer's lines, without the empty line that ends it.
    const lines: Uint8Array[] = [];
    let start = 0;
    for (
      let i = answer.indexOf(0x0a);
      i !== -1;
      i = answer.indexOf(0x0a, start)
    ) {
      if (i === start) break;
      lines.push(answer.subarray(start, i));
      start = i + 1;
    }
    const status = lines.shift();
    if (status !== undefined && equals(status, OK)) {
      pending.resolve(lines);
    } else if (
      status !== undefined && equals(status, ERROR) && lines.length === 1
    ) {
      const message = DECODER.decode(lines[0]);
      const code = codeOf(message);
      if (pending.login) {
        // The calls queued behind a refused login would each be refused.
        this.#fail(
          new ClientError(`Cannot log in to ${this.#address}: ${message}`, {
            code,
          }),
        );
      } else {
        pending.reject(
          new ClientError(`The server answered: ${message}`, { code }),
        );
      }
    } else {
      // Out of step with the server: this call and all after it fail.
      const text = DECODER.decode(answer).replaceAll("\n", "\\n");
      const error = new ClientError(
        `Cannot read the answer: malformed answer "${text}"`,
      );
      pending.reject(error);
      this.#fail(error);
    }
  }

  /** Fails every waiting call and drops the connection. */
  #fail(error: ClientError): void {
    const pending = this.#pending.slice(this.#head) as Pending[];
    this.#pending = [];
    this.#head = 0;
    const conn = this.#conn;
    this.#conn = undefined;
    this.#reading = undefined;
    try {
      conn?.close();
    } catch {
      // Already closed.
    }
    for (const call of pending) {
      clearTimeout(call.timer);
      call.reject(error);
    }
  }
}
