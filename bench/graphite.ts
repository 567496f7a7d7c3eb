/**
 * Graphite plaintext ingest next to put: on one fresh Pulse server per
 * storage (`--memory`, then `--fsync everysec`), puts over the protocol with
 * 64 in flight on each connection and Graphite lines streamed over as many
 * connections alternate from round to round, and the medians are shown with
 * the Graphite rate's ratio to put's. Both write the same samples: 1000
 * series, each in timestamp order.
 *
 * Puts are counted by their answers at the client; Graphite lines, which
 * get none, by Pulse's `graphite_lines_total` over the measured window.
 *
 * @module
 */

import { runGraphiteLoad } from "./graphite_load.ts";
import { runLoad } from "./load.ts";
import { type Server, startServer } from "./process.ts";
import { formatCount, median, table } from "./report.ts";

/** What the Graphite section needs to know. */
export interface GraphiteBenchOptions {
  /** Seconds measured per run, after a warm-up. */
  duration: number;
  /** Seconds of warm-up per run. */
  warmup: number;
  /** Connections of both workloads. */
  connections: number;
  /** Runs per workload and storage, medians reported. */
  rounds: number;
}

const KEYS = 1000;
const INFLIGHT = 64;
const STORAGES = [
  { name: "--memory", args: ["--memory"] },
  { name: "--fsync everysec", args: ["--fsync", "everysec"] },
];

/** A port free now, for the server's Graphite listener. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** Starts a fresh Pulse with Graphite on a free port. */
async function start(
  script: string,
  storage: { name: string; args: string[] },
  dirs: string[],
): Promise<{ server: Server; graphitePort: number }> {
  const graphitePort = freePort();
  const args = [
    "--hostname",
    "127.0.0.1",
    "--port",
    "0",
    "--http",
    "off",
    "--graphite",
    `127.0.0.1:${graphitePort}`,
    ...storage.args,
  ];
  if (storage.name !== "--memory") {
    const dir = await Deno.makeTempDir({ prefix: "pulse-bench-" });
    dirs.push(dir);
    args.push("--data", dir);
  }
  const server = await startServer(`pulse (${storage.name})`, script, args);
  return { server, graphitePort };
}

/**
 * Measures put and Graphite ingest on each storage and returns the markdown
 * table of the medians.
 *
 * @param script The path of Pulse's `server.ts`.
 * @param options How long and how often to measure.
 * @param progress Called with a line to show before each run.
 * @returns A markdown table.
 */
export async function measureGraphite(
  script: string,
  options: GraphiteBenchOptions,
  progress: (line: string) => void,
): Promise<string> {
  const timing = {
    connections: options.connections,
    duration: options.duration,
    warmup: options.warmup,
  };
  const rows: string[][] = [];
  const dirs: string[] = [];
  try {
    for (const storage of STORAGES) {
      const { server, graphitePort } = await start(script, storage, dirs);
      try {
        const puts: number[] = [];
        const lines: number[] = [];
        for (let round = 0; round < options.rounds; round++) {
          const put = async () => {
            progress(`put, ${storage.name}, round ${round + 1}`);
            const result = await runLoad(server, {
              ...timing,
              workload: "put",
              keys: KEYS,
              inflight: INFLIGHT,
            });
            puts.push(result.opsPerSec);
          };
          const graphite = async () => {
            progress(`graphite, ${storage.name}, round ${round + 1}`);
            const result = await runGraphiteLoad(server, graphitePort, {
              ...timing,
              keys: KEYS,
              prefix: "graphite",
            });
            lines.push(result.linesPerSec);
          };
          // Alternate which goes first, so neither always gets a warmer
          // or a colder server.
          for (
            const run of round % 2 === 0 ? [put, graphite] : [graphite, put]
          ) {
            await run();
          }
        }
        const putRate = median(puts);
        const lineRate = median(lines);
        rows.push(
          [
            storage.name,
            "put",
            String(INFLIGHT),
            formatCount(putRate),
            "1.00×",
          ],
          [
            storage.name,
            "graphite plaintext",
            "n/a",
            formatCount(lineRate),
            `${(lineRate / putRate).toFixed(2)}×`,
          ],
        );
      } finally {
        await server.stop();
      }
    }
  } finally {
    for (const dir of dirs) await Deno.remove(dir, { recursive: true });
  }
  return table(
    ["storage", "workload", "in flight", "samples/s", "ratio to put"],
    rows,
  ) +
    `\n\n${options.connections} connections each; Graphite lines are counted once stored (\`graphite_lines_total\`), puts once answered.`;
}
