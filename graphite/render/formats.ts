/**
 * The texts of `/render` answers, byte for byte as graphite-web prints them,
 * made a piece at a time so that a large answer streams:
 *
 * - `json`: `[{"target": "a.b", "tags": {"name": "a.b"}, "datapoints":
 *   [[1.0, 1501864240], [null, 1501864250]]}]`, Python's `json.dumps` with
 *   its default separators; values as Python's `repr()`, `null` for a null,
 *   `1e9999` for infinity;
 * - `csv`: a row per value, `a.b,2017-08-04 16:30:40,1.0` and CRLF, the time
 *   in the request's time zone and a null as an empty field (Python's `csv`
 *   module, dialect `excel`);
 * - `raw`: a line per series, `a.b,1501864240,1501864260,10|1.0,None`.
 *
 * @module
 */

import { pyCsvField, pyJsonString, pyJsonValue, pyRepr } from "./_python.ts";
import type { TimeSeries } from "./series.ts";
import { wallTime } from "./time.ts";

// Points per piece of an answer.
const POINTS_PER_PIECE = 4096;

/** Options of {@linkcode jsonPieces}. */
export interface JsonOptions {
  /** Leave null points out, and series left without points. */
  noNullPoints?: boolean;
}

/**
 * The JSON answer, in pieces.
 *
 * @param series The series, consolidated as the answer wants.
 * @param options Whether to leave nulls out.
 * @returns The pieces.
 */
export function* jsonPieces(
  series: Iterable<TimeSeries>,
  options: JsonOptions = {},
): Generator<string> {
  yield "[";
  let first = true;
  for (const s of series) {
    const count = s.pointCount();
    if (options.noNullPoints && !hasValue(s, count)) continue;
    const tags = Object.entries(s.tags)
      .map(([tag, value]) => `${pyJsonString(tag)}: ${pyJsonString(value)}`)
      .join(", ");
    let text = `${first ? "" : ", "}{"target": ${pyJsonString(s.name)}, ` +
      `"tags": {${tags}}, "datapoints": [`;
    first = false;
    let separator = "";
    for (let i = 0; i < count; i++) {
      const value = s.values[i];
      if (options.noNullPoints && value !== value) continue;
      text += `${separator}[${pyJsonValue(value, s.isInt(i))}, ${
        s.start + i * s.step
      }]`;
      separator = ", ";
      if (i % POINTS_PER_PIECE === POINTS_PER_PIECE - 1) {
        yield text;
        text = "";
      }
    }
    yield `${text}]}`;
  }
  yield "]";
}

function hasValue(series: TimeSeries, count: number): boolean {
  for (let i = 0; i < count; i++) {
    if (series.values[i] === series.values[i]) return true;
  }
  return false;
}

/**
 * The CSV answer, in pieces: every value of every series.
 *
 * @param series The series.
 * @param timeZone The time zone of the timestamps.
 * @returns The pieces.
 */
export function* csvPieces(
  series: readonly TimeSeries[],
  timeZone: string,
): Generator<string> {
  for (const s of series) {
    const name = pyCsvField(s.name);
    let text = "";
    for (let i = 0; i < s.length; i++) {
      const value = s.values[i];
      const field = value === value ? pyRepr(value, s.isInt(i)) : "";
      text += `${name},${
        formatTime(s.start + i * s.step, timeZone)
      },${field}\r\n`;
      if (i % POINTS_PER_PIECE === POINTS_PER_PIECE - 1) {
        yield text;
        text = "";
      }
    }
    if (text !== "") yield text;
  }
}

/**
 * The raw answer, in pieces: a line per series.
 *
 * @param series The series.
 * @returns The pieces.
 */
export function* rawPieces(series: readonly TimeSeries[]): Generator<string> {
  for (const s of series) {
    let text = `${s.name},${Math.trunc(s.start)},${Math.trunc(s.end)},${
      Math.trunc(s.step)
    }|`;
    for (let i = 0; i < s.length; i++) {
      const value = s.values[i];
      text += `${i === 0 ? "" : ","}${
        value === value ? pyRepr(value, s.isInt(i)) : "None"
      }`;
      if (i % POINTS_PER_PIECE === POINTS_PER_PIECE - 1) {
        yield text;
        text = "";
      }
    }
    yield `${text}\n`;
  }
}

/** `strftime("%Y-%m-%d %H:%M:%S")` of Unix seconds in a time zone. */
function formatTime(seconds: number, timeZone: string): string {
  const t = wallTime(seconds, timeZone);
  const two = (n: number) => String(n).padStart(2, "0");
  return `${String(t.year).padStart(4, "0")}-${two(t.month)}-${two(t.day)} ` +
    `${two(t.hour)}:${two(t.minute)}:${two(t.second)}`;
}
