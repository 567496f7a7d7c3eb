/**
 * Graphite's read API (graphite-web's `/render`, `/metrics/find` and the
 * rest) as routes of the HTTP server, behind its Host and token checks.
 * Each handler takes both GET and POST and answers other methods itself.
 *
 * @module
 */

import {
  graphiteRoutes,
  type GraphiteRoutesOptions,
} from "../../graphite/render/routes.ts";
import type { Storage } from "../../storage/storage.ts";
import type { Route } from "../router.ts";

/**
 * The Graphite routes over `storage`.
 *
 * @param storage Where samples are read.
 * @param options The limit on samples a render may read.
 * @returns Routes by path.
 */
export function graphiteHttpRoutes(
  storage: Storage,
  options: GraphiteRoutesOptions = {},
): Record<string, Route> {
  const routes: Record<string, Route> = {};
  for (
    const [path, handler] of Object.entries(graphiteRoutes(storage, options))
  ) {
    routes[path] = {
      method: "ANY",
      open: false,
      handler: (request) => handler(request),
    };
  }
  return routes;
}
