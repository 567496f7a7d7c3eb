/**
 * The open routes: `GET /`, the dashboard page, and `GET /health`, served
 * without the token (the page asks for it; health checks rarely carry one).
 *
 * @module
 */

import { VERSION } from "../../internal/version.ts";
import { DASHBOARD_HTML } from "../_dashboard.ts";
import { json } from "../_json.ts";
import type { Route, RouteContext } from "../router.ts";

/** The open routes, by path. */
export const DASHBOARD_ROUTES: Readonly<Record<string, Route>> = {
  "/": { method: "GET", open: true, handler: page },
  "/health": { method: "GET", open: true, handler: health },
};

/** `GET /`: the dashboard, one self-contained page. */
function page(): Response {
  return new Response(DASHBOARD_HTML, {
    headers: {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-cache",
    },
  });
}

/** `GET /health`: `{"status":"ok","version":...,"uptime_seconds":...}`. */
function health(
  _request: Request,
  _url: URL,
  context: RouteContext,
): Response {
  return json(200, {
    status: "ok",
    version: VERSION,
    uptime_seconds: context.counters.uptime,
  });
}
