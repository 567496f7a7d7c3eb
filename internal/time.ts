/**
 * Times and steps as people write them: `now`, a duration before now
 * (`-1h`), an ISO 8601 date or date-time, or Unix seconds; and the round
 * steps a range is rolled up by. The command line reads its arguments here,
 * so that every front door can read the same forms the same way.
 *
 * @example Usage
 * ```ts
 * import { parseStep, parseTime } from "./time.ts";
 * import { equal } from "node:assert/strict";
 *
 * const now = 1501864247;
 * equal(parseTime("now", now), now);
 * equal(parseTime("-1h", now), now - 3600);
 * equal(parseTime("2017-08-04T16:30:47Z", now), 1501864247);
 * equal(parseTime("1501864247", now), 1501864247);
 * equal(parseStep("1m"), 60);
 * ```
 *
 * @module
 */

import { parseTimestampText } from "../protocol/grammar.ts";
import { parseDuration } from "./units.ts";

/**
 * Round steps, in seconds, to pick from when rolling a range up into few
 * enough buckets; past the last, whole days.
 */
export const STEPS: readonly number[] = [
  1,
  2,
  5,
  10,
  15,
  30,
  60,
  120,
  300,
  600,
  900,
  1800,
  3600,
  7200,
  10800,
  21600,
  43200,
  86400,
];

// A date, then maybe a time of day, then maybe an offset: the ISO 8601 forms
// Date.parse reads the same way everywhere (a bare date is UTC, a date-time
// without an offset local time).
const ISO_8601 =
  /^(\d{4})-(\d{2})-(\d{2})(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;

/** Whether year, month and day name a day of the calendar (not Feb 30). */
function isCalendarDay(year: number, month: number, day: number): boolean {
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

/**
 * Reads a time: `now`, a duration before now (`-1h`, `-30m`, `-7d`), an ISO
 * 8601 date or date-time (`2017-08-04`, `2017-08-04T16:30:47Z`; a date-time
 * without an offset is local time), or Unix seconds (`1501864247`, by the
 * protocol's timestamp grammar).
 *
 * @example Usage
 * ```ts
 * import { parseTime } from "./time.ts";
 * import { equal, throws } from "node:assert/strict";
 *
 * equal(parseTime("-30m", 1501864247), 1501862447);
 * equal(parseTime("2017-08-04", 0), 1501804800);
 * throws(() => parseTime("yesterday", 0), RangeError);
 * ```
 *
 * @param text The time as written.
 * @param now The current time in Unix seconds, read once by the caller so
 * that `-1h` and `now` in one request agree.
 * @returns Unix seconds, an integer.
 * @throws {RangeError} When the text is none of those forms.
 */
export function parseTime(text: string, now: number): number {
  if (text === "now") return now;
  const seconds = parseTimestampText(text);
  if (!Number.isNaN(seconds)) return seconds;
  if (/^-\d\S*$/.test(text)) {
    try {
      return now - Math.floor(parseDuration(text.slice(1)) / 1000);
    } catch {
      // Reported below with the other forms.
    }
  }
  const date = ISO_8601.exec(text);
  if (date !== null && isCalendarDay(+date[1], +date[2], +date[3])) {
    const ms = Date.parse(text);
    if (!Number.isNaN(ms)) return Math.floor(ms / 1000);
  }
  throw new RangeError(
    `Cannot read the time "${text}": use Unix seconds, now, a duration before now such as -1h, or an ISO 8601 date such as 2017-08-04T16:30:47Z`,
  );
}

/**
 * Reads a step: whole seconds (`60`), or a duration of whole seconds (`1m`,
 * `1h`).
 *
 * @example Usage
 * ```ts
 * import { parseStep } from "./time.ts";
 * import { equal, throws } from "node:assert/strict";
 *
 * equal(parseStep("60"), 60);
 * equal(parseStep("1h"), 3600);
 * throws(() => parseStep("1.5s"), RangeError);
 * ```
 *
 * @param text The step as written.
 * @returns Seconds, a positive integer.
 * @throws {RangeError} When the text is not a positive whole number of
 * seconds.
 */
export function parseStep(text: string): number {
  let seconds = NaN;
  if (/^\d+$/.test(text)) seconds = Number(text);
  else if (/^\d\S*$/.test(text)) {
    try {
      seconds = parseDuration(text) / 1000;
    } catch {
      // Reported below.
    }
  }
  if (!(Number.isSafeInteger(seconds) && seconds > 0)) {
    throw new RangeError(
      `Cannot read the step "${text}": use whole seconds, such as 60 or 1m`,
    );
  }
  return seconds;
}
