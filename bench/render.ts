/**
 * Graphite's `/render` against the protocol's `query` of the same rows: one
 * server holds 1,000 series of a day at 10 s (8.64 million samples), and
 * serves both (`bench/render_server.ts`). Measured, each the median of
 * several runs from the request to the end of its answer:
 *
 * - `/render?target=sumSeries(host*.cpu)&format=json` over the day: every
 *   sample read, summed into one series of 8,640 points;
 * - a Grafana panel of all the series, `aliasSub(host*.cpu, ...)` with
 *   `maxDataPoints=1000`: read rolled up by the store;
 * - `query host*.cpu <from> <to>` over TCP: the same samples, printed.
 *
 * The bar: `/render` of `sumSeries` answers within 2× of `query`.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { writeAll } from "../internal/write_all.ts";
import { AnswerScanner } from "./answers.ts";
import { startServer } from "./process.ts";
import { formatCount, formatMs, median, table } from "./report.ts";

const SERVER = fileURLToPath(new URL("./render_server.ts", import.meta.url));
const SERIES = 1000;
const STEP = 10;
const POINTS = 8640;
const START = 1_700_000_000;
const WARMUP_RUNS = 2;
const RENDER_RUNS = 9;
const QUERY_RUNS = 5;
const HTTP_PORT = /graphite http on [^\s]+:(\d+)/;
const ENCODER = new TextEncoder();

/** The median time of `run`, in milliseconds, after a warm-up. */
async function time(runs: number, run: () => Promise<number>): Promise<{
  ms: number;
  size: number;
}> {
  let size = 0;
  for (let i = 0; i < WARMUP_RUNS; i++) size = await run();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    size = await run();
    times.push(performance.now() - started);
  }
  return { ms: median(times), size };
}

/** Fetches a render and reads its whole body; returns its bytes. */
async function render(base: string, query: string): Promise<number> {
  const response = await fetch(`${base}/render?${query}`);
  if (response.status !== 200) {
    throw new Error(
      `/render answered ${response.status}: ${await response.text()}`,
    );
  }
  let bytes = 0;
  for await (const chunk of response.body!) bytes += chunk.length;
  return bytes;
}

/** Sends `query` on a connection and reads its answer; returns its lines. */
async function query(conn: Deno.Conn, request: string): Promise<number> {
  const scanner = new AnswerScanner();
  const buffer = new Uint8Array(1024 * 1024);
  await writeAll(conn, ENCODER.encode(`${request}\n`));
  while (scanner.answers === 0) {
    const n = await conn.read(buffer);
    if (n === null) throw new Error("the server closed the connection");
    scanner.scan(buffer.subarray(0, n));
  }
  if (scanner.errors > 0) throw new Error(`${request}: ${scanner.firstError}`);
  return scanner.newlines - 2;
}

/**
 * Measures `/render` against `query` of the same rows and returns the
 * markdown table.
 *
 * @param progress Receives progress lines.
 */
export async function measureRender(
  progress: (line: string) => void,
): Promise<string> {
  progress(`render: filling ${formatCount(SERIES * POINTS)} samples`);
  const server = await startServer("pulse (render)", SERVER, [
    "--series",
    String(SERIES),
    "--points",
    String(POINTS),
    "--step",
    String(STEP),
    "--start",
    String(START),
  ]);
  try {
    const port = HTTP_PORT.exec(server.stderrTail())?.[1];
    if (port === undefined) throw new Error("the server gave no HTTP port");
    const base = `http://127.0.0.1:${port}`;
    const range = `from=${START - 1}&until=${START + (POINTS - 1) * STEP}`;
    progress("render: sumSeries");
    const sum = await time(
      RENDER_RUNS,
      () => render(base, `target=sumSeries(host*.cpu)&${range}&format=json`),
    );
    progress("render: a Grafana panel");
    const panel = encodeURIComponent('aliasSub(host*.cpu, "(^.*$)", "\\1 A")');
    const grafana = await time(RENDER_RUNS, () =>
      render(
        base,
        `target=${panel}&${range}&format=json&maxDataPoints=1000`,
      ));
    progress("render: query of the same rows");
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.port,
    });
    let rows: { ms: number; size: number };
    try {
      rows = await time(QUERY_RUNS, () =>
        query(
          conn,
          `query host*.cpu ${START} ${START + (POINTS - 1) * STEP}`,
        ));
    } finally {
      conn.close();
    }
    const ratio = (ms: number) => `${(ms / rows.ms).toFixed(2)}×`;
    return table(["request", "answer", "time", "vs `query`"], [
      [
        "`/render` `sumSeries(host*.cpu)`, json",
        `${formatCount(sum.size)} bytes`,
        formatMs(sum.ms),
        ratio(sum.ms),
      ],
      [
        "`/render` Grafana panel, 1,000 series, `maxDataPoints=1000`",
        `${formatCount(grafana.size)} bytes`,
        formatMs(grafana.ms),
        ratio(grafana.ms),
      ],
      [
        "`query host*.cpu` over TCP",
        `${formatCount(rows.size)} rows`,
        formatMs(rows.ms),
        "1.00×",
      ],
    ]);
  } finally {
    await server.stop();
  }
}
