/**
 * The Graphite load generator: streams plaintext lines to Pulse's Graphite
 * port over many connections, as fast as Pulse takes them, and prints what
 * it measured as one JSON line on stdout.
 *
 * Graphite answers nothing, so the rate is counted at the server: Pulse's
 * `stats` figure `graphite_lines_total` (lines stored) is read over its TCP
 * protocol at the start and at the end of the measured window, after a
 * warm-up. Each connection writes blocks of lines back to back; TCP's
 * window holds it back to the rate Pulse reads at. The lines are the
 * samples of the put workload (`bench/requests.ts`), every series in order.
 *
 * ```sh
 * deno run -A bench/graphite_load.ts --port 8888 --graphite-port 2003 \
 *   --connections 16 --duration 3
 * ```
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { writeAll } from "../internal/write_all.ts";
import { runScript, type Server } from "./process.ts";
import { RequestSource } from "./requests.ts";

const SCRIPT = fileURLToPath(import.meta.url);
/** Lines per write: about 40 KB. */
const BLOCK_LINES = 2048;
const STATS_FIGURE = /^graphite_lines_total (\d+)$/m;

/** What a Graphite load process measured. */
export interface GraphiteMeasurement {
  /** Lines Pulse stored in the measured window. */
  lines: number;
  /** Length of the measured window. */
  seconds: number;
  linesPerSec: number;
  /** The highest timestamp sent, so that a later run can start above it. */
  lastTimestamp: number;
}

/** The arguments of the Graphite load generator. */
export interface GraphiteLoadOptions {
  connections: number;
  duration: number;
  warmup: number;
  keys: number;
  prefix: string;
}

/** Reads Pulse's count of Graphite lines stored, over one connection. */
class StoredLines {
  #conn: Deno.Conn;
  #buffer = new Uint8Array(16 * 1024);
  #request = new TextEncoder().encode("stats\n");

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  async read(): Promise<number> {
    await writeAll(this.#conn, this.#request);
    let text = "";
    while (!text.endsWith("\n\n")) {
      const n = await this.#conn.read(this.#buffer);
      if (n === null) throw new Error("pulse closed the stats connection");
      text += new TextDecoder().decode(this.#buffer.subarray(0, n));
    }
    const match = STATS_FIGURE.exec(text);
    if (match === null) throw new Error(`no graphite_lines_total in ${text}`);
    return Number(match[1]);
  }

  close(): void {
    this.#conn.close();
  }
}

async function measure(
  port: number,
  graphitePort: number,
  timestampStart: number,
  options: GraphiteLoadOptions,
): Promise<GraphiteMeasurement> {
  const stats = new StoredLines(
    await Deno.connect({ hostname: "127.0.0.1", port }),
  );
  const conns: Deno.Conn[] = [];
  let sending = true;
  try {
    for (let i = 0; i < options.connections; i++) {
      conns.push(
        await Deno.connect({ hostname: "127.0.0.1", port: graphitePort }),
      );
    }
    const space = {
      prefix: options.prefix,
      keys: options.keys,
      timestampStart,
    };
    const sources = conns.map((_, i) =>
      new RequestSource("graphite", space, i, options.connections)
    );
    const driving = conns.map(async (conn, i) => {
      while (sending) await writeAll(conn, sources[i].next(BLOCK_LINES));
    });
    await new Promise((resolve) => setTimeout(resolve, options.warmup * 1000));
    const first = await stats.read();
    const start = performance.now();
    await new Promise((resolve) =>
      setTimeout(resolve, options.duration * 1000)
    );
    const last = await stats.read();
    const seconds = (performance.now() - start) / 1000;
    sending = false;
    await Promise.all(driving);
    return {
      lines: last - first,
      seconds,
      linesPerSec: (last - first) / seconds,
      lastTimestamp: Math.max(...sources.map((s) => s.lastTimestamp)),
    };
  } finally {
    sending = false;
    for (const conn of conns) conn.close();
    stats.close();
  }
}

/**
 * Runs this generator as a child process against a Pulse server and
 * returns what it measured. Lines start at the server's next free
 * timestamp, which the run then advances.
 *
 * @param server The Pulse server, its stats read over `server.port`.
 * @param graphitePort Its Graphite plaintext port.
 * @param options The load.
 */
export async function runGraphiteLoad(
  server: Server,
  graphitePort: number,
  options: GraphiteLoadOptions,
): Promise<GraphiteMeasurement> {
  const args = [
    "--port",
    String(server.port),
    "--graphite-port",
    String(graphitePort),
    "--timestamp-start",
    String(server.nextTimestamp),
  ];
  for (const [name, value] of Object.entries(options)) {
    args.push(`--${name}`, String(value));
  }
  let result: GraphiteMeasurement;
  try {
    result = JSON.parse(await runScript(SCRIPT, args));
  } catch (error) {
    throw new Error(
      `graphite load against ${server.name} failed; its last stderr lines:\n` +
        server.stderrTail(),
      { cause: error },
    );
  }
  server.nextTimestamp = Math.max(
    server.nextTimestamp,
    result.lastTimestamp + 1,
  );
  return result;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      port: { type: "string" },
      "graphite-port": { type: "string" },
      connections: { type: "string", default: "16" },
      duration: { type: "string", default: "3" },
      warmup: { type: "string", default: "1" },
      keys: { type: "string", default: "1000" },
      prefix: { type: "string", default: "graphite" },
      "timestamp-start": { type: "string", default: "1" },
    },
  });
  if (values.port === undefined || values["graphite-port"] === undefined) {
    throw new TypeError("--port and --graphite-port are required");
  }
  const result = await measure(
    Number(values.port),
    Number(values["graphite-port"]),
    Number(values["timestamp-start"]),
    {
      connections: Number(values.connections),
      duration: Number(values.duration),
      warmup: Number(values.warmup),
      keys: Number(values.keys),
      prefix: values.prefix,
    },
  );
  console.log(JSON.stringify(result));
}
