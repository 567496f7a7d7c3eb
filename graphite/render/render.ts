/**
 * `GET|POST /render`: targets evaluated over a range and printed as JSON,
 * CSV or raw text, as graphite-web answers them.
 *
 * Parameters, from the query string or a form body: `target` (repeated;
 * `target[]` too), `from` (default `-1d`) and `until` (default `now`) in
 * Graphite's time forms, `now`, `tz`, `format` (`json`, `csv` or `raw`;
 * `rawData` is `raw`), `maxDataPoints` (JSON only, as graphite-web),
 * `noNullPoints` and `xFilesFactor`. A request that is malformed, names an
 * unknown function or would read more than its limit gets a 400 with a
 * plain-text reason, before anything is read.
 *
 * @module
 */

import type { Storage } from "../../storage/storage.ts";
import { readParams, streamResponse, textResponse } from "./_http.ts";
import { Pacer } from "./_pacer.ts";
import { consolidateToPoints } from "./consolidate.ts";
import { evaluateTargets } from "./evaluate.ts";
import { SeriesReader, type TimeRange } from "./fetch.ts";
import { csvPieces, jsonPieces, rawPieces } from "./formats.ts";
import { type ExpressionNode, parseTarget } from "./parser.ts";
import type { TimeSeries } from "./series.ts";
import { checkTimeZone, parseAtTime } from "./time.ts";

/** What `/render` needs besides the storage. */
export interface RenderSettings {
  /** The most samples a request may read. */
  readonly maxRenderPoints: number;
  /** The largest form body taken, in bytes. */
  readonly maxBodyBytes: number;
  /** The current time in Unix seconds; the clock by default. */
  readonly now?: () => number;
}

const CONTENT_TYPES: Record<string, string> = {
  json: "application/json",
  csv: "text/csv",
  raw: "text/plain",
};

/** A render request's settings, read from its parameters. */
interface RenderRequest {
  targets: ExpressionNode[];
  range: TimeRange;
  now: number;
  format: string;
  timeZone: string;
  maxDataPoints?: number;
  noNullPoints: boolean;
  xFilesFactor: number;
}

/**
 * Makes the `/render` handler.
 *
 * @param storage Where series are read.
 * @param settings Its limits.
 * @returns The handler.
 */
export function renderHandler(
  storage: Storage,
  settings: RenderSettings,
): (request: Request) => Promise<Response> {
  return async (request) => {
    const params = await readParams(request, settings.maxBodyBytes);
    if (params instanceof Response) return params;
    let options: RenderRequest;
    try {
      const clock = settings.now?.() ?? Math.floor(Date.now() / 1000);
      options = readRequest(params, clock);
    } catch (error) {
      if (error instanceof SyntaxError || error instanceof RangeError) {
        return textResponse(400, error.message);
      }
      throw error;
    }
    const pacer = new Pacer();
    let series: TimeSeries[];
    try {
      series = await evaluateTargets(options.targets, options.range, {
        reader: new SeriesReader(
          storage.querier,
          settings.maxRenderPoints,
          pacer,
        ),
        pacer,
        now: options.now,
        xFilesFactor: options.xFilesFactor,
        rollup: options.maxDataPoints === undefined ? undefined : {
          maxDataPoints: options.maxDataPoints,
          func: "average",
        },
      });
    } catch (error) {
      pacer[Symbol.dispose]();
      if (error instanceof SyntaxError || error instanceof RangeError) {
        return textResponse(400, error.message);
      }
      throw error;
    }
    return streamResponse(
      pieces(series, options),
      CONTENT_TYPES[options.format],
      pacer,
    );
  };
}

function pieces(
  series: TimeSeries[],
  options: RenderRequest,
): Iterator<string> {
  if (options.format === "csv") return csvPieces(series, options.timeZone);
  if (options.format === "raw") return rawPieces(series);
  return jsonPieces(
    options.maxDataPoints === undefined
      ? series
      : toPoints(series, options.maxDataPoints),
    { noNullPoints: options.noNullPoints },
  );
}

/**
 * Consolidates series with more than `maxDataPoints` points over the span of
 * the whole answer, as graphite-web's JSON answer does, one at a time as the
 * answer is printed; series the store read rolled up already are left as
 * they are.
 */
function* toPoints(
  series: TimeSeries[],
  maxDataPoints: number,
): Generator<TimeSeries> {
  let start = Infinity;
  let end = -Infinity;
  for (const s of series) {
    start = Math.min(start, s.start);
    end = Math.max(end, s.end);
  }
  for (const s of series) {
    yield s.rolledUp ? s : consolidateToPoints(s, maxDataPoints, end - start);
  }
}

/** Reads and checks a request's parameters. */
function readRequest(params: URLSearchParams, clock: number): RenderRequest {
  const format = params.get("format") ??
    (params.has("rawData") ? "raw" : "png");
  if (!(format in CONTENT_TYPES)) {
    throw new RangeError(
      `Cannot render format "${format}": Pulse renders json, csv and raw, not images`,
    );
  }
  const timeZone = checkTimeZone(params.get("tz") || "UTC");
  const nowText = params.get("now");
  const now = nowText ? parseAtTime(nowText, clock, timeZone) : clock;
  const until = parseAtTime(params.get("until") || "now", now, timeZone);
  const from = parseAtTime(params.get("from") || "-1d", now, timeZone);
  if (from === until) {
    throw new RangeError("Cannot render an empty time range: from is until");
  }
  const targets = [...params.getAll("target"), ...params.getAll("target[]")]
    .filter((target) => target.trim() !== "")
    .map((target) => parseTarget(target));
  return {
    targets,
    range: { from: Math.min(from, until), until: Math.max(from, until) },
    now,
    format,
    timeZone,
    maxDataPoints: readCount(params.get("maxDataPoints")),
    noNullPoints: params.has("noNullPoints"),
    xFilesFactor: readFactor(params.get("xFilesFactor")),
  };
}

function readCount(text: string | null): number | undefined {
  if (text === null || text === "") return undefined;
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(
      `Cannot use maxDataPoints "${text}": use a whole number of at least 1`,
    );
  }
  return value;
}

function readFactor(text: string | null): number {
  if (text === null || text === "") return 0;
  const value = Number(text);
  if (!(value >= 0 && value <= 1)) {
    throw new RangeError(
      `Cannot use xFilesFactor "${text}": use a number from 0 to 1`,
    );
  }
  return value;
}
