/**
 * Graphite's read API, for Grafana's Graphite data source and other
 * graphite-web clients: handlers by path, to mount on the HTTP server next
 * to Pulse's own routes. Each takes a web `Request` (GET with a query
 * string, or POST with a form body) and answers a `Response`; the HTTP
 * layer checks the token and the host before.
 *
 * | path                                                 | answer                                  |
 * | ---------------------------------------------------- | --------------------------------------- |
 * | `/render`                                            | series as JSON, CSV or raw text         |
 * | `/metrics/find`                                      | the tree of names, one level            |
 * | `/metrics/expand`                                    | the names a pattern matches             |
 * | `/functions`                                         | the functions, as graphite-web's index  |
 * | `/version`                                           | `1.1.10`, the graphite-web API answered |
 * | `/tags/autoComplete/tags`, `/tags/autoComplete/values` | `[]`: Pulse keeps no tags              |
 * | `/events/get_data`                                   | `[]`: Pulse keeps no events             |
 *
 * Each path is also answered with a trailing slash, as graphite-web does.
 *
 * @example Rendering a series
 * ```ts
 * import { graphiteRoutes } from "./routes.ts";
 * import { LocalStorage } from "../../storage/local.ts";
 * import { equal } from "node:assert/strict";
 *
 * await using storage = new LocalStorage();
 * const appender = storage.appender();
 * for (let t = 1010; t <= 1030; t += 10) appender.append("palm.cpu", t / 10, t);
 * appender.commit();
 * const routes = graphiteRoutes(storage);
 * const response = await routes["/render"](
 *   new Request("http://localhost/render?target=palm.cpu&from=1000&until=1030&format=json"),
 * );
 * equal(
 *   await response.text(),
 *   '[{"target": "palm.cpu", "tags": {"name": "palm.cpu"}, "datapoints": [[101.0, 1010], [102.0, 1020], [103.0, 1030]]}]',
 * );
 * ```
 *
 * @module
 */

import type { Storage } from "../../storage/storage.ts";
import { DEFAULT_MAX_BODY_BYTES } from "./_http.ts";
import { DEFAULT_MAX_RENDER_POINTS } from "./fetch.ts";
import { expandHandler, findHandler } from "./find.ts";
import { fixedHandler, functionsHandler, GRAPHITE_VERSION } from "./info.ts";
import { renderHandler } from "./render.ts";

export { DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_RENDER_POINTS, GRAPHITE_VERSION };

/** Options of {@linkcode graphiteRoutes}. */
export interface GraphiteRoutesOptions {
  /**
   * The most samples one `/render` request may read; a request that would
   * read more is refused with 400 before it reads. The flag is
   * `--max-render-points`.
   *
   * @default {10000000}
   */
  maxRenderPoints?: number;
  /**
   * The largest form body a request may send, in bytes; a larger one is
   * refused with 413.
   *
   * @default {1048576}
   */
  maxBodyBytes?: number;
  /**
   * The current time in Unix seconds, which `now` and `-1h` are read from.
   *
   * @default {() => Math.floor(Date.now() / 1000)}
   */
  now?: () => number;
}

/** A handler of one path. */
export type GraphiteHandler = (request: Request) => Promise<Response>;

/**
 * The handlers of Graphite's read API, by path.
 *
 * @param storage Where series are read.
 * @param options The limits.
 * @returns The handlers, by path (`/render`, `/metrics/find`, ...).
 * @throws {RangeError} When a limit is not a positive integer.
 */
export function graphiteRoutes(
  storage: Storage,
  options: GraphiteRoutesOptions = {},
): Record<string, GraphiteHandler> {
  const maxRenderPoints = options.maxRenderPoints ?? DEFAULT_MAX_RENDER_POINTS;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  for (
    const [name, value] of [
      ["maxRenderPoints", maxRenderPoints],
      ["maxBodyBytes", maxBodyBytes],
    ] as const
  ) {
    if (!(Number.isSafeInteger(value) && value > 0)) {
      throw new RangeError(
        `Cannot serve Graphite with ${name} ${value}: not a positive integer`,
      );
    }
  }
  const settings = { maxRenderPoints, maxBodyBytes, now: options.now };
  const routes: Record<string, GraphiteHandler> = {
    "/render": renderHandler(storage, settings),
    "/metrics/find": findHandler(storage.querier, settings),
    "/metrics/expand": expandHandler(storage.querier, settings),
    "/functions": functionsHandler(maxBodyBytes),
    "/version": fixedHandler(
      GRAPHITE_VERSION,
      "text/plain; charset=utf-8",
      maxBodyBytes,
    ),
    "/tags/autoComplete/tags": fixedHandler(
      "[]",
      "application/json",
      maxBodyBytes,
    ),
    "/tags/autoComplete/values": fixedHandler(
      "[]",
      "application/json",
      maxBodyBytes,
    ),
    "/events/get_data": fixedHandler("[]", "application/json", maxBodyBytes),
  };
  for (const [path, handler] of Object.entries(routes)) {
    routes[`${path}/`] = handler;
  }
  return routes;
}
