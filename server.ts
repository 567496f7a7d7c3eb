/**
 * The Pulse server: {@linkcode serve} for use as a library,
 * {@linkcode serveGraphite} for Graphite senders, and the command line when
 * run as `deno run -A server.ts`.
 *
 * Each connection reads chunks, frames every complete line of a chunk at
 * once, runs the requests against the shared store in order, and writes all
 * of their answers in one write. Large answers are streamed in pieces, each
 * written before the next is built, so a client that does not read stops
 * being read from and cannot make the server buffer without bound.
 *
 * @example Serving on a free port and talking to it
 * ```ts
 * import { Client, serve } from "@pulse/metrics";
 * import { deepEqual } from "node:assert/strict";
 *
 * await using server = serve({ port: 0 });
 * await using client = new Client(server.addr.hostname, server.addr.port);
 * await client.put("palm.cpu", 0.5, 1150864247);
 * deepEqual(await client.get("palm.cpu"), {
 *   "palm.cpu": [[1150864247, 0.5]],
 * });
 * ```
 *
 * @module
 */

export {
  DEFAULT_HOSTNAME,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_OUTPUT,
  DEFAULT_PORT,
  serve,
  type ServeOptions,
  type Server,
  type ServerStats,
} from "./server/serve.ts";
export { runServer, type RunServerOptions } from "./server/run_server.ts";
export {
  DEFAULT_GRAPHITE_MAX_CONNECTIONS,
  DEFAULT_GRAPHITE_PORT,
  DEFAULT_PICKLE_PORT,
  type GraphiteAddress,
  type GraphiteAddrs,
  type GraphiteOptions,
  type GraphiteServer,
  serveGraphite,
} from "./graphite/ingest.ts";
export type { RunGraphiteOptions } from "./graphite/run_graphite.ts";

if (import.meta.main) {
  const { main } = await import("./server/main.ts");
  Deno.exit(await main(Deno.args));
}
