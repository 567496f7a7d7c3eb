/**
 * Pattern queries against `get *` of what they return: each query runs on a
 * server holding every series, and its answer is then put into a second,
 * empty server, whose `get *` answers exactly the same rows. A query that
 * costs O(log n + returned) per matching series, and visits only the
 * branches of the key index its pattern can match, takes about as long as
 * that `get *`, however many other series the first server holds.
 *
 * Series are `host<h>.<metric>`, ten metrics a host, ten samples a series
 * (one a second). Each figure is the median of several runs on one
 * connection, from the request's write to the end of its answer.
 *
 * @module
 */

import { writeAll } from "../internal/write_all.ts";
import { AnswerScanner } from "./answers.ts";
import { type Server, startServer } from "./process.ts";
import { formatCount, formatMs, median, table } from "./report.ts";

const SERIES_COUNTS = [1_000, 100_000];
const METRICS = [
  "cpu",
  "memory",
  "load1",
  "disk_root",
  "disk_var",
  "net_rx",
  "net_tx",
  "swap",
  "procs",
  "temp",
];
const SAMPLES_PER_SERIES = 10;
const START = 1_700_000_000;
const WARMUP_RUNS = 3;
const TIMED_RUNS = 31;
const PUT_CHUNK_LINES = 10_000;
const READ_BUFFER_BYTES = 1024 * 1024;
const ENCODER = new TextEncoder();
const DECODER = new TextDecoder();

/** The requests measured: a pattern each, answered in few or many rows. */
const REQUESTS = [
  "keys host42.*",
  "keys *.cpu",
  "last host42.*",
  "last host4*.*",
  `query host42.{cpu,memory} ${START + 2} ${START + 7}`,
  `query host4*.cpu ${START + 2} ${START + 7}`,
  `query *.cpu ${START} ${START + SAMPLES_PER_SERIES - 1} 10 avg`,
];

/** One connection that sends requests and reads whole answers. */
class Connection {
  #conn: Deno.Conn;
  #buffer = new Uint8Array(READ_BUFFER_BYTES);

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  static async open(server: Server): Promise<Connection> {
    return new Connection(
      await Deno.connect({ hostname: "127.0.0.1", port: server.port }),
    );
  }

  /** Puts lines pipelined, reading the answers as they come. */
  async putAll(lines: string[]): Promise<void> {
    const scanner = new AnswerScanner();
    const writing = (async () => {
      for (let i = 0; i < lines.length; i += PUT_CHUNK_LINES) {
        const chunk = lines.slice(i, i + PUT_CHUNK_LINES).join("");
        await writeAll(this.#conn, ENCODER.encode(chunk));
      }
    })();
    while (scanner.answers < lines.length) {
      const n = await this.#conn.read(this.#buffer);
      if (n === null) throw new Error("the server closed the connection");
      scanner.scan(this.#buffer.subarray(0, n));
    }
    await writing;
    if (scanner.errors > 0) throw new Error(`put: ${scanner.firstError}`);
  }

  /**
   * Sends one request and reads its answer.
   *
   * @returns Milliseconds from the write to the answer's end, and the data
   * lines, when asked to keep them.
   */
  async ask(
    request: string,
    keep = false,
  ): Promise<{ ms: number; lines: string[]; count: number }> {
    const scanner = new AnswerScanner();
    const parts: string[] = [];
    const started = performance.now();
    await writeAll(this.#conn, ENCODER.encode(`${request}\n`));
    while (scanner.answers === 0) {
      const n = await this.#conn.read(this.#buffer);
      if (n === null) throw new Error("the server closed the connection");
      const chunk = this.#buffer.subarray(0, n);
      scanner.scan(chunk);
      if (keep) parts.push(DECODER.decode(chunk, { stream: true }));
    }
    const ms = performance.now() - started;
    if (scanner.errors > 0) {
      throw new Error(`${request}: ${scanner.firstError}`);
    }
    // The status line and the empty line that ends the answer.
    const count = scanner.newlines - 2;
    const lines = keep ? parts.join("").split("\n").slice(1, 1 + count) : [];
    return { ms, lines, count };
  }

  close(): void {
    this.#conn.close();
  }
}

/** The median time of `request`, after a warm-up. */
async function timeRequest(
  connection: Connection,
  request: string,
): Promise<number> {
  for (let i = 0; i < WARMUP_RUNS; i++) await connection.ask(request);
  const times: number[] = [];
  for (let i = 0; i < TIMED_RUNS; i++) {
    times.push((await connection.ask(request)).ms);
  }
  return median(times);
}

/** The puts that fill a server with `series` series. */
function fillLines(series: number): string[] {
  const lines: string[] = [];
  for (let h = 0; h < series / METRICS.length; h++) {
    for (const metric of METRICS) {
      for (let s = 0; s < SAMPLES_PER_SERIES; s++) {
        lines.push(`put host${h}.${metric} ${(h + s) % 100} ${START + s}\n`);
      }
    }
  }
  return lines;
}

/**
 * The puts that make a server's `get *` answer the same rows as a query:
 * its samples as they are, or one sample per key for `keys`.
 */
function sameRows(request: string, lines: string[]): string[] {
  if (request.startsWith("keys ")) {
    return lines.map((key) => `put ${key} 1 ${START}\n`);
  }
  return lines.map((line) => {
    const [key, value, timestamp] = line.split(" ");
    return `put ${key} ${value} ${timestamp}\n`;
  });
}

/**
 * Measures pattern queries and `get *` of their rows at 1,000 and 100,000
 * series, on fresh `--memory` servers, and returns the markdown table.
 *
 * @param script The path of `server.ts`.
 * @param progress Receives progress lines.
 */
export async function measureQueries(
  script: string,
  progress: (line: string) => void,
): Promise<string> {
  const rows: string[][] = [];
  const args = ["--hostname", "127.0.0.1", "--port", "0", "--memory"];
  for (const series of SERIES_COUNTS) {
    const full = await startServer("pulse", script, [...args, "--http", "off"]);
    const reference = await startServer("pulse (reference)", script, [
      ...args,
      "--http",
      "off",
    ]);
    try {
      const fullConnection = await Connection.open(full);
      const referenceConnection = await Connection.open(reference);
      try {
        progress(`queries: putting ${formatCount(series)} series`);
        await fullConnection.putAll(fillLines(series));
        for (const request of REQUESTS) {
          progress(`queries: ${request} over ${formatCount(series)} series`);
          const { lines } = await fullConnection.ask(request, true);
          const queryMs = await timeRequest(fullConnection, request);
          await referenceConnection.ask("delete *.*");
          await referenceConnection.putAll(sameRows(request, lines));
          const check = await referenceConnection.ask("get *");
          if (check.count !== lines.length) {
            throw new Error(
              `get * answered ${check.count} rows, not ${lines.length}`,
            );
          }
          const getMs = await timeRequest(referenceConnection, "get *");
          rows.push([
            formatCount(series),
            `\`${request}\``,
            formatCount(lines.length),
            formatMs(queryMs),
            formatMs(getMs),
            `${(queryMs / getMs).toFixed(2)}×`,
          ]);
        }
      } finally {
        fullConnection.close();
        referenceConnection.close();
      }
    } finally {
      await full.stop();
      await reference.stop();
    }
  }
  return table(
    [
      "series",
      "request",
      "rows",
      "request time",
      "`get *` of the same rows",
      "ratio",
    ],
    rows,
  );
}
