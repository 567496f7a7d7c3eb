/**
 * The server's figures: `GET /api/stats` as one JSON object, and
 * `GET /metrics` in Prometheus's text format. Both show the same figures,
 * each under one name (see `exposition.ts` for how a figure's name becomes
 * a metric's).
 *
 * @module
 */

import { VERSION } from "../../internal/version.ts";
import { json } from "../_json.ts";
import {
  EXPOSITION_CONTENT_TYPE,
  figureFamilies,
  formatExposition,
  type MetricFamily,
} from "../exposition.ts";
import type { Route, RouteContext } from "../router.ts";

/** The routes of the figures, by path. */
export const METRICS_ROUTES: Readonly<Record<string, Route>> = {
  "/metrics": { method: "GET", open: false, handler: metrics },
  "/api/stats": { method: "GET", open: false, handler: stats },
};

/**
 * Every figure of the server by name: the server's (the TCP server's
 * `stats()`, or the storage's, uptime and memory), then the HTTP server's
 * own.
 *
 * @param context The server's shared state.
 * @returns Figures by name.
 */
export function allFigures(context: RouteContext): Record<string, number> {
  return {
    ...context.figures(),
    ...context.counters.figures(),
    http_body_bytes: context.budget.used,
  };
}

/** `GET /api/stats`: every figure, by the names `stats` gives them. */
function stats(
  _request: Request,
  _url: URL,
  context: RouteContext,
): Response {
  return json(200, allFigures(context));
}

/** `GET /metrics`: every figure, and requests by route and status. */
function metrics(
  _request: Request,
  _url: URL,
  context: RouteContext,
): Response {
  const families: MetricFamily[] = [
    ...figureFamilies(allFigures(context)),
    {
      name: "pulse_http_requests_total",
      help:
        "HTTP requests answered, by route (other for unknown paths) and status code.",
      type: "counter",
      samples: context.counters.requestSamples(),
    },
    {
      name: "pulse_build_info",
      help: "The Pulse version, as a label; always 1.",
      type: "gauge",
      samples: [[{ version: VERSION }, 1]],
    },
  ];
  return new Response(formatExposition(families), {
    headers: { "content-type": EXPOSITION_CONTENT_TYPE },
  });
}
