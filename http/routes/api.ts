/**
 * The reading routes of the JSON API: `GET /api/keys`, `GET /api/query` and
 * `GET /api/last`, all answering
 * `{"matched":N,"series":[{"key":...,"points":[[t,v],...]}]}`, streamed as
 * the client takes it. See docs/HTTP.md for their parameters.
 *
 * @module
 */

import { parseTime, STEPS } from "../../internal/time.ts";
import type { SeriesInfo } from "../../storage/storage.ts";
import { Pattern } from "../../store/pattern.ts";
import {
  type Aggregation,
  AGGREGATIONS,
  bucketStart,
  isAggregation,
} from "../../store/query.ts";
import { fail, streamJson } from "../_json.ts";
import { keysPieces, seriesPieces } from "../_series_json.ts";
import type { Route, RouteContext } from "../router.ts";

/**
 * The most points per series `/api/query` answers when it picks the step
 * itself; the `maxPoints` parameter changes it.
 */
export const DEFAULT_MAX_POINTS = 1000;

const DAY = 86400;
const TIME_FORMS =
  "Unix seconds, now, a duration before now such as -1h, or an ISO 8601 date such as 2017-08-04T16:30:47Z";

/** The series a request reads: how many matched, and those answered. */
interface Matched {
  matched: number;
  series: SeriesInfo[];
}

/** What `/api/query` was asked, read from its parameters. */
interface QueryParams {
  from: number | undefined;
  to: number | undefined;
  step: number | undefined;
  maxPoints: number;
  aggregation: Aggregation;
}

/** The reading routes, by path. */
export const API_ROUTES: Readonly<Record<string, Route>> = {
  "/api/keys": { method: "GET", open: false, handler: keys },
  "/api/query": { method: "GET", open: false, handler: query },
  "/api/last": { method: "GET", open: false, handler: last },
};

/** `GET /api/keys?match=&limit=`: the keys; every one without `match`. */
async function keys(
  _request: Request,
  url: URL,
  context: RouteContext,
): Promise<Response> {
  const matched = await readMatched(url, context, false);
  if (matched instanceof Response) return matched;
  return streamJson(keysPieces(matched.matched, matched.series));
}

/** `GET /api/last?match=&limit=`: each series' latest sample. */
async function last(
  _request: Request,
  url: URL,
  context: RouteContext,
): Promise<Response> {
  const matched = await readMatched(url, context, true);
  if (matched instanceof Response) return matched;
  return streamJson(
    seriesPieces(
      context.storage.querier,
      { matched: matched.matched },
      matched.series,
      { latest: true },
    ),
  );
}

/**
 * `GET /api/query?match=&from=&to=&step=&agg=&maxPoints=&limit=`: the
 * samples in a range, rolled up by a step it picks when none is given.
 */
async function query(
  _request: Request,
  url: URL,
  context: RouteContext,
): Promise<Response> {
  // Without both from and to, the range is that of the data: a backend
  // reads the series' first and last timestamps only then.
  const search = url.searchParams;
  const bounds = !search.get("from") || !search.get("to");
  const matched = await readMatched(url, context, true, bounds);
  if (matched instanceof Response) return matched;
  let params: QueryParams;
  try {
    params = readQueryParams(url.searchParams);
  } catch (error) {
    if (error instanceof RangeError) return fail(400, error.message);
    throw error;
  }
  let { from, to, step } = params;
  // Without bounds, the range is that of the data.
  if (from === undefined || to === undefined) {
    const data = dataRange(matched.series);
    if (data !== undefined) {
      from ??= Math.min(data.first, to ?? data.first);
      to ??= Math.max(data.last, from);
    }
  }
  if (step === undefined && from !== undefined && to !== undefined) {
    step = chooseStep(from, to, params.maxPoints);
  }
  return streamJson(
    seriesPieces(
      context.storage.querier,
      {
        from: from ?? null,
        to: to ?? null,
        step: step ?? null,
        matched: matched.matched,
      },
      matched.series,
      { from, to, step, aggregation: params.aggregation },
    ),
  );
}

/**
 * Reads `match` and `limit`: the series matched, and the first `limit` of
 * them; or the error answer.
 */
async function readMatched(
  url: URL,
  context: RouteContext,
  required: boolean,
  bounds = false,
): Promise<Matched | Response> {
  const search = url.searchParams;
  const pattern = readPattern(search, required);
  if (pattern instanceof Response) return pattern;
  let limit: number | undefined;
  try {
    limit = integerParam(search, "limit", 0);
  } catch (error) {
    if (error instanceof RangeError) return fail(400, error.message);
    throw error;
  }
  const all = [...await context.storage.querier.series(pattern, { bounds })];
  return {
    matched: all.length,
    series: limit === undefined ? all : all.slice(0, limit),
  };
}

/**
 * Reads `match`: a key or pattern, `undefined` for every series when it is
 * not required, or the error answer.
 *
 * @param search The request's parameters.
 * @param required Whether `match` must be given.
 * @returns The pattern, `undefined`, or a 400 answer.
 */
export function readPattern(
  search: URLSearchParams,
  required: boolean,
): Pattern | undefined | Response {
  const source = search.get("match");
  if (source === null || source === "") {
    return required
      ? fail(400, "missing match: a key or pattern, such as palm.*")
      : undefined;
  }
  try {
    return new Pattern(source);
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    const message = error.message;
    return fail(
      400,
      `invalid match: ${source}: ${message.slice(message.indexOf(": ") + 2)}`,
    );
  }
}

/**
 * Reads the parameters of `/api/query` besides `match` and `limit`.
 *
 * @throws {RangeError} Saying which one is wrong, and why.
 */
function readQueryParams(search: URLSearchParams): QueryParams {
  // Read once, so that `from=-1h&to=now` is exactly an hour.
  const now = Math.floor(Date.now() / 1000);
  const from = timeParam(search, "from", now);
  const to = timeParam(search, "to", now);
  if (from !== undefined && to !== undefined && from > to) {
    throw new RangeError(`invalid range: from ${from} is after to ${to}`);
  }
  const step = integerParam(search, "step", 1);
  const maxPoints = integerParam(search, "maxPoints", 2) ?? DEFAULT_MAX_POINTS;
  const aggregation = search.get("agg") ?? "avg";
  if (!isAggregation(aggregation)) {
    throw new RangeError(
      `invalid agg: ${aggregation} (one of ${AGGREGATIONS.join(", ")})`,
    );
  }
  return { from, to, step, maxPoints, aggregation };
}

/** The earliest and latest timestamps of some series, if any has samples. */
function dataRange(
  series: SeriesInfo[],
): { first: number; last: number } | undefined {
  let first = Infinity;
  let last = -Infinity;
  for (const one of series) {
    if (one.length === 0 || one.first === undefined) continue;
    first = Math.min(first, one.first);
    last = Math.max(last, one.last!);
  }
  return first === Infinity ? undefined : { first, last };
}

/**
 * The step `/api/query` uses when it is given none: none when every second
 * of the range fits in `maxPoints`, else the smallest round step of
 * internal/time.ts's `STEPS` (then whole days) that cuts the range into at
 * most `maxPoints` buckets.
 */
function chooseStep(
  from: number,
  to: number,
  maxPoints: number,
): number | undefined {
  const span = to - from;
  if (span + 1 <= maxPoints) return undefined;
  for (const step of STEPS) {
    if (buckets(from, to, step) <= maxPoints) return step;
  }
  // Any step above span / (maxPoints - 1) gives at most maxPoints buckets.
  const least = Math.floor(span / (maxPoints - 1)) + 1;
  return Math.ceil(least / DAY) * DAY;
}

/** How many buckets of `step`, aligned as the query aligns them, span a range. */
function buckets(from: number, to: number, step: number): number {
  return (bucketStart(to, step) - bucketStart(from, step)) / step + 1;
}

/**
 * Reads a time: any form the command line takes (`now`, `-1h`, ISO 8601,
 * Unix seconds).
 *
 * @param search The request's parameters.
 * @param name The parameter's name.
 * @param now Seconds since the epoch, read once per request.
 * @returns The time, or `undefined` when it is not given.
 * @throws {RangeError} When it is there but none of them.
 */
export function timeParam(
  search: URLSearchParams,
  name: string,
  now: number,
): number | undefined {
  const text = search.get(name);
  if (text === null || text === "") return undefined;
  try {
    return parseTime(text, now);
  } catch {
    throw new RangeError(`invalid ${name}: ${text} (${TIME_FORMS})`);
  }
}

/**
 * Reads an integer parameter of at least `min`.
 *
 * @throws {RangeError} When it is there but not such an integer.
 */
function integerParam(
  search: URLSearchParams,
  name: string,
  min: number,
): number | undefined {
  const text = search.get(name);
  if (text === null || text === "") return undefined;
  const value = Number(text);
  if (!/^[+-]?\d+$/.test(text) || !Number.isSafeInteger(value) || value < min) {
    throw new RangeError(
      `invalid ${name}: ${text} (an integer of at least ${min})`,
    );
  }
  return value;
}
