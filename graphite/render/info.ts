/**
 * The endpoints Grafana reads besides `/render` and `/metrics`: the
 * function index (`/functions`), the version
 * (`/version`), tag completion (`/tags/autoComplete/tags` and `/values`,
 * empty: Pulse keeps no tags) and events (`/events/get_data`, none).
 *
 * @module
 */

import { jsonResponse, readParams } from "./_http.ts";
import { describeFunctions } from "./functions/registry.ts";

/**
 * The graphite-web version whose API Pulse answers; Grafana reads it to
 * know which features to use (1.1: the function index and tags).
 */
export const GRAPHITE_VERSION = "1.1.10";

type Handler = (request: Request) => Promise<Response>;

/**
 * Makes the `/functions` handler: every function, or those of `group`.
 *
 * @param maxBodyBytes The largest form body taken.
 * @returns The handler.
 */
export function functionsHandler(maxBodyBytes: number): Handler {
  return async (request) => {
    const params = await readParams(request, maxBodyBytes);
    if (params instanceof Response) return params;
    return jsonResponse(describeFunctions(params.get("group") ?? undefined));
  };
}

/**
 * Makes a handler that answers the same text to GET and POST.
 *
 * @param body The answer.
 * @param contentType Its type.
 * @param maxBodyBytes The largest form body taken.
 * @returns The handler.
 */
export function fixedHandler(
  body: string,
  contentType: string,
  maxBodyBytes: number,
): Handler {
  return async (request) => {
    const params = await readParams(request, maxBodyBytes);
    if (params instanceof Response) return params;
    return new Response(body, { headers: { "content-type": contentType } });
  };
}
