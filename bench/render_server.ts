/**
 * The server of the `render` benchmark, run as a child process: one storage
 * filled in-process with `host<h>.cpu` series (a sample every `--step`
 * seconds from `--start`, `--points` of them), served by Pulse's TCP server
 * and by the Graphite routes on `Deno.serve`, so that `/render` and `query`
 * read the same rows. It reports both ports on one line of stderr:
 * `pulse: listening on 127.0.0.1:<tcp> (graphite http on 127.0.0.1:<http>)`.
 *
 * @module
 */

import { parseArgs, readCount } from "../cli/flags.ts";
import { graphiteRoutes } from "../graphite/render/routes.ts";
import { serve } from "../server.ts";
import { LocalStorage } from "../storage/local.ts";

const flags = parseArgs(Deno.args, {
  string: ["series", "points", "step", "start"],
  default: { series: "1000", points: "8640", step: "10", start: "1700000000" },
});
const series = readCount("--series", flags.series, { min: 1 });
const points = readCount("--points", flags.points, { min: 1 });
const step = readCount("--step", flags.step, { min: 1 });
const start = readCount("--start", flags.start);

const storage = new LocalStorage();
for (let h = 0; h < series; h++) {
  const key = `host${h}.cpu`;
  for (let i = 0; i < points; i++) {
    storage.store.put(key, (h + i) % 100, start + i * step);
  }
}
const tcp = serve({ storage, hostname: "127.0.0.1", port: 0 });
const routes = graphiteRoutes(storage);
const http = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen: () => {} },
  (request) => {
    const path = new URL(request.url).pathname;
    return Object.hasOwn(routes, path)
      ? routes[path](request)
      : new Response("no such route", { status: 404 });
  },
);
console.error(
  `pulse: listening on 127.0.0.1:${tcp.addr.port} (graphite http on 127.0.0.1:${http.addr.port})`,
);
