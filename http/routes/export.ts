/**
 * Getting the data out: `GET /api/export`, the samples as `put` lines that
 * `pulse import` (or any client) sends back, and `GET /api/snapshot`, a
 * consistent snapshot file of a live server. Both are streamed as the
 * client takes them. See docs/HTTP.md and docs/STORAGE.md.
 *
 * @module
 */

import { describe } from "../../internal/describe.ts";
import { formatValue } from "../../protocol/format_value.ts";
import type { Querier, SeriesInfo } from "../../storage/storage.ts";
import type { QueryOptions } from "../../store/query.ts";
import { fail } from "../_json.ts";
import { streamPieces } from "../_streamed.ts";
import type { Route, RouteContext } from "../router.ts";
import { readPattern, timeParam } from "./api.ts";

/** The routes that get the data out, by path. */
export const EXPORT_ROUTES: Readonly<Record<string, Route>> = {
  "/api/export": { method: "GET", open: false, handler: exportLines },
  "/api/snapshot": { method: "GET", open: false, handler: snapshot },
};

const TEXT_HEADERS: Readonly<Record<string, string>> = {
  "content-type": "text/plain; charset=utf-8",
};
const SNAPSHOT_HEADERS: Readonly<Record<string, string>> = {
  "content-type": "application/octet-stream",
  "content-disposition": 'attachment; filename="snapshot.pulse"',
};
// Rows read into one piece of an export: a piece is made without a pause.
const ROWS_PER_PIECE = 4096;

/**
 * `GET /api/export?match=&from=&to=`: every sample of the matching series
 * within the range, as `put <key> <value> <timestamp>` lines, series in the
 * order their keys were first put and each by timestamp, values printed as
 * the protocol prints them.
 */
async function exportLines(
  _request: Request,
  url: URL,
  context: RouteContext,
): Promise<Response> {
  const search = url.searchParams;
  const pattern = readPattern(search, false);
  if (pattern instanceof Response) return pattern;
  const now = Math.floor(Date.now() / 1000);
  let from: number | undefined;
  let to: number | undefined;
  try {
    from = timeParam(search, "from", now);
    to = timeParam(search, "to", now);
  } catch (error) {
    if (error instanceof RangeError) return fail(400, error.message);
    throw error;
  }
  if (from !== undefined && to !== undefined && from > to) {
    return fail(400, `invalid range: from ${from} is after to ${to}`);
  }
  const querier = context.storage.querier;
  const series = [...await querier.series(pattern)];
  return streamPieces(putPieces(querier, series, { from, to }), TEXT_HEADERS);
}

/** The put lines of `series`, a few thousand rows a piece. */
async function* putPieces(
  querier: Querier,
  series: SeriesInfo[],
  options: QueryOptions,
): AsyncGenerator<string> {
  let text = "";
  const sink = (key: string, value: number, timestamp: number) => {
    text += `put ${key} ${formatValue(value)} ${timestamp}\n`;
  };
  const cursor = querier.read(series, options);
  try {
    while (!await cursor.read(sink, ROWS_PER_PIECE)) {
      yield text;
      text = "";
    }
  } finally {
    // Freed whether it was read to its end or the client left.
    cursor.close();
  }
  if (text.length > 0) yield text;
}

/**
 * `GET /api/snapshot`: a consistent snapshot of the storage, as a file to
 * restore as `snapshot.pulse`, with its `content-length`. 501 from a
 * backend that cannot take one; `HEAD` takes none.
 */
async function snapshot(
  request: Request,
  _url: URL,
  context: RouteContext,
): Promise<Response> {
  const storage = context.storage;
  if (storage.snapshot === undefined) {
    return fail(
      501,
      `cannot take a snapshot: the ${storage.backend} backend has none (use /api/export)`,
    );
  }
  if (request.method === "HEAD") {
    return new Response(null, { headers: SNAPSHOT_HEADERS });
  }
  try {
    const { size, stream } = await storage.snapshot();
    return new Response(stream, {
      headers: { ...SNAPSHOT_HEADERS, "content-length": String(size) },
    });
  } catch (error) {
    if (error instanceof Deno.errors.NotSupported) {
      return fail(501, `${describe(error)} (use /api/export)`);
    }
    return fail(500, `cannot take a snapshot: ${describe(error)}`);
  }
}
