/**
 * `POST /api/put`: stores a body of `<key> <value> [<timestamp>]` lines, all
 * or none.
 *
 * A body is read as it arrives and its lines parsed into a compact batch
 * (`put_body.ts`), a chunk at a time, giving other clients a turn every few
 * milliseconds; nothing is stored until the last line is read. What every
 * body in flight may hold together is bounded by `maxBody` (`--max-body`):
 * a body larger than it is refused with 413, from its `Content-Length`
 * before any of it is read, or as soon as a chunked body passes it. A body
 * that fits but finds the budget taken by others waits, unread, for its
 * share; if none comes in time it is refused with 503 and `Retry-After`.
 *
 * @module
 */

import { describe } from "../internal/describe.ts";
import { EventLoopTurns, nextTurn } from "../internal/turns.ts";
import type { SampleBatch } from "../storage/sample_batch.ts";
import { failureMessage } from "../storage/storage.ts";
import { fail } from "./_json.ts";
import { type PutBodyError, PutBodyParser } from "./put_body.ts";
import type { Route, RouteContext } from "./router.ts";

/** The put route, by path. */
export const PUT_ROUTES: Readonly<Record<string, Route>> = {
  "/api/put": { method: "POST", open: false, handler: put },
};

// Milliseconds of reading a body before other clients get a turn.
const SLICE_MS = 10;
// Seconds a client refused for want of room is told to wait.
const RETRY_AFTER_SECONDS = 1;
// How the local backend, and any other, says the log cannot be written.
const NO_SAMPLES =
  "the body holds no samples: send lines of <key> <value> [<timestamp>]";

/** `POST /api/put`: 204 once every line is stored, else what is wrong. */
async function put(
  request: Request,
  url: URL,
  context: RouteContext,
): Promise<Response> {
  const declared = contentLength(request);
  const refused = refuseEarly(request, url, declared, context.budget.capacity);
  if (refused !== undefined) {
    await request.body?.cancel();
    return refused;
  }
  // A chunked body may grow to the whole budget: it takes all of it.
  const share = declared ?? context.budget.capacity;
  if (!await context.budget.reserve(share)) {
    await request.body?.cancel();
    const response = fail(
      503,
      "too many put bodies at once: try again shortly",
    );
    response.headers.set("retry-after", String(RETRY_AFTER_SECONDS));
    return response;
  }
  try {
    const batch = await readBatch(request, context);
    if (batch instanceof Response) return batch;
    return await store(batch, context);
  } finally {
    context.budget.release(share);
  }
}

/** The body's declared length; `undefined` for a chunked one. */
function contentLength(request: Request): number | undefined {
  const header = request.headers.get("content-length");
  // The connection has checked it: one decimal number.
  return header === null ? (request.body === null ? 0 : undefined) : +header;
}

/** The answer to a put refused before its body is read, if it is. */
function refuseEarly(
  request: Request,
  url: URL,
  declared: number | undefined,
  maxBody: number,
): Response | undefined {
  // A page elsewhere may post here (a form needs no preflight); only this
  // origin's own page may, when there is no token to stop it.
  const origin = request.headers.get("origin");
  if (origin !== null && origin !== url.origin) {
    return fail(403, `cross-origin put refused: ${origin}`);
  }
  if (declared !== undefined && declared > maxBody) return tooLarge(maxBody);
  return undefined;
}

function tooLarge(maxBody: number): Response {
  return fail(413, `the body is larger than ${maxBody} bytes`);
}

/**
 * Reads the body into a batch, a chunk at a time; or the answer that
 * refuses it.
 */
async function readBatch(
  request: Request,
  context: RouteContext,
): Promise<SampleBatch | Response> {
  const parser = new PutBodyParser(Math.floor(Date.now() / 1000));
  const maxBody = context.budget.capacity;
  if (request.body !== null) {
    const reader = request.body.getReader();
    const turns = new EventLoopTurns();
    let length = 0;
    try {
      while (true) {
        const { done, value } = await reader.read();
        if (done) break;
        length += value.length;
        const refusal = length > maxBody
          ? tooLarge(maxBody)
          : parser.push(value)
          ? undefined
          : refuseBody(parser.error!);
        if (refusal !== undefined) {
          await reader.cancel().catch(() => {});
          return refusal;
        }
        if (turns.overdue(SLICE_MS)) await nextTurn();
      }
    } catch (error) {
      return error instanceof Deno.errors.TimedOut
        ? fail(408, `the body came too slowly: ${describe(error)}`)
        : fail(400, `cannot read the body: ${describe(error)}`);
    } finally {
      turns.close();
    }
  }
  if (!parser.finish()) return refuseBody(parser.error!);
  if (parser.batch.length === 0) return fail(400, NO_SAMPLES);
  return parser.batch;
}

/** The 400 answer to a body that cannot be stored. */
function refuseBody(error: PutBodyError): Response {
  if (error.line === undefined) return fail(400, "the body is not valid UTF-8");
  return fail(
    400,
    `line ${error.line} (${JSON.stringify(error.text)}): ${error.reason}`,
    { line: error.line },
  );
}

/**
 * Stores a batch, all or nothing, and commits it: 204, or 503 when the log
 * cannot be written, 400 when the storage refuses a sample (one older than
 * the retention window).
 */
async function store(
  batch: SampleBatch,
  context: RouteContext,
): Promise<Response> {
  const appender = context.storage.appender();
  let refused: string | undefined;
  try {
    refused = await appender.appendBatch(batch);
  } catch (error) {
    appender.rollback();
    throw error;
  }
  if (refused !== undefined) {
    appender.rollback();
    // A backend that cannot store now says "cannot ..."; a sample outside
    // the retention window is the client's to fix.
    return fail(refused.startsWith("cannot ") ? 503 : 400, refused);
  }
  try {
    await appender.commit();
  } catch (error) {
    return fail(503, failureMessage(error));
  }
  context.counters.samplesPut += batch.length;
  return new Response(null, { status: 204 });
}
