/**
 * Graphite's time forms, as graphite-web's `attime.py` reads them, for
 * `from`, `until` and `now` and for functions that take a time or an
 * interval:
 *
 * - Unix seconds (`1501864247`), unless the digits read as `YYYYMMDD`;
 * - `now`, or nothing, then an offset: `-1h`, `-2d`, `+30min`, `-1w2d`;
 *   units are `s`, `min`, `h`, `d`, `w`, `mon` (30 days) and `y` (365 days),
 *   each also spelled out (`5minutes`, `1hour`), but never `m`;
 * - an absolute time: a time of day (`HH:MM`, `6am`, `noon`, `midnight`,
 *   `teatime`) followed by a day (`YYYYMMDD`, `MM/DD/YY`, `jan1`, `monday`,
 *   `today`, `yesterday`, `tomorrow`), as in `16:00_20170804`, then an
 *   optional offset.
 *
 * Spaces, commas and underscores are ignored and case does not matter. Wall
 * times are read in a time zone, UTC unless the request names another.
 *
 * @example Usage
 * ```ts
 * import { parseAtTime, parseInterval } from "./time.ts";
 * import { equal } from "node:assert/strict";
 *
 * const now = 1501864247;
 * equal(parseAtTime("-1h", now), now - 3600);
 * equal(parseAtTime("16:00_20170804", now), 1501862400);
 * equal(parseInterval("5min"), 300);
 * ```
 *
 * @module
 */

const MONTHS = [
  "jan",
  "feb",
  "mar",
  "apr",
  "may",
  "jun",
  "jul",
  "aug",
  "sep",
  "oct",
  "nov",
  "dec",
];
const WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
const DAY = 86_400;

/** The wall-clock fields of an instant in a time zone. */
interface WallTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  weekday: number;
}

/**
 * Reads a time as graphite-web's `parseATTime` does.
 *
 * @param text The time as written, such as `-1h`, `now` or `1501864247`.
 * @param now The current time in Unix seconds, read once per request.
 * @param timeZone An IANA time zone for wall times.
 * @returns Unix seconds, an integer.
 * @throws {RangeError} When the text is no time form, with what is wrong.
 */
export function parseAtTime(
  text: string,
  now: number,
  timeZone = "UTC",
): number {
  const s = text.trim().toLowerCase().replace(/[_, ]/g, "");
  if (/^\d+$/.test(s) && !isDateDigits(s)) {
    const seconds = Number(s);
    if (!Number.isSafeInteger(seconds)) {
      throw new RangeError(`Cannot read the time "${text}": out of range`);
    }
    return seconds;
  }
  const split = s.search(/[+-]/);
  const reference = split === -1 ? s : s.slice(0, split);
  const offset = split === -1 ? "" : s.slice(split);
  try {
    return parseReference(reference, now, timeZone) + parseOffset(offset);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    throw new RangeError(`Cannot read the time "${text}": ${error.message}`);
  }
}

/**
 * Reads an interval such as `5min`, `1h` or `-7d` as graphite-web's
 * `parseTimeOffset` does.
 *
 * @param text The interval.
 * @returns Seconds, negative for a leading `-`.
 * @throws {RangeError} When it is no interval.
 */
export function parseInterval(text: string): number {
  try {
    return parseOffset(text);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    throw new RangeError(
      `Cannot read the interval "${text}": ${error.message}`,
    );
  }
}

/**
 * Checks that a time zone is one the runtime knows.
 *
 * @param timeZone An IANA name such as `Europe/Paris`.
 * @returns The name.
 * @throws {RangeError} When it is unknown.
 */
export function checkTimeZone(timeZone: string): string {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone });
  } catch {
    throw new RangeError(`Cannot use the time zone "${timeZone}": unknown`);
  }
  return timeZone;
}

/**
 * The wall-clock fields of `seconds` in `timeZone`.
 *
 * @param seconds Unix seconds.
 * @param timeZone An IANA time zone.
 * @returns Year, month (1-12), day, hour, minute, second and weekday (0 is
 * Sunday).
 */
export function wallTime(seconds: number, timeZone: string): WallTime {
  if (timeZone === "UTC") {
    const date = new Date(seconds * 1000);
    return {
      year: date.getUTCFullYear(),
      month: date.getUTCMonth() + 1,
      day: date.getUTCDate(),
      hour: date.getUTCHours(),
      minute: date.getUTCMinutes(),
      second: date.getUTCSeconds(),
      weekday: date.getUTCDay(),
    };
  }
  const parts: Record<string, string> = {};
  for (const part of formatter(timeZone).formatToParts(seconds * 1000)) {
    parts[part.type] = part.value;
  }
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour) % 24,
    minute: Number(parts.minute),
    second: Number(parts.second),
    weekday: WEEKDAYS.indexOf(parts.weekday.slice(0, 3).toLowerCase()),
  };
}

const FORMATTERS = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let format = FORMATTERS.get(timeZone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
      weekday: "short",
    });
    FORMATTERS.set(timeZone, format);
  }
  return format;
}

/**
 * The Unix seconds of a wall time in `timeZone`: the zone's offset is read
 * at a first guess, then again at the result, which settles it across a
 * change of offset.
 */
function fromWallTime(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  timeZone: string,
): number {
  const asUtc = Date.UTC(year, month - 1, day, hour, minute) / 1000;
  if (timeZone === "UTC") return asUtc;
  const offsetAt = (seconds: number) => {
    const wall = wallTime(seconds, timeZone);
    return Date.UTC(
          wall.year,
          wall.month - 1,
          wall.day,
          wall.hour,
          wall.minute,
          wall.second,
        ) / 1000 - seconds;
  };
  const guess = asUtc - offsetAt(asUtc);
  return asUtc - offsetAt(guess);
}

function isDateDigits(s: string): boolean {
  return s.length === 8 && Number(s.slice(0, 4)) > 1900 &&
    Number(s.slice(4, 6)) < 13 && Number(s.slice(6)) < 32;
}

/** A reference: `now`, or a time of day and a day. */
function parseReference(ref: string, now: number, timeZone: string): number {
  if (ref === "" || ref === "now") return now;
  let rest = ref;
  let hour = 0;
  let minute = 0;
  const colon = rest.indexOf(":");
  if (colon > 0 && colon < 3) {
    hour = integer(rest.slice(0, colon), "hour");
    minute = integer(rest.slice(colon + 1, colon + 3), "minute");
    rest = rest.slice(colon + 3);
    if (rest.startsWith("am")) rest = rest.slice(2);
    else if (rest.startsWith("pm")) {
      hour = (hour + 12) % 24;
      rest = rest.slice(2);
    }
  }
  const am = rest.indexOf("am");
  if (am > 0 && am < 3) {
    hour = integer(rest.slice(0, am), "hour");
    rest = rest.slice(am + 2);
  }
  const pm = rest.indexOf("pm");
  if (pm > 0 && pm < 3) {
    hour = (integer(rest.slice(0, pm), "hour") + 12) % 24;
    rest = rest.slice(pm + 2);
  }
  for (const [word, h] of [["noon", 12], ["midnight", 0], ["teatime", 16]]) {
    if (rest.startsWith(word as string)) {
      hour = h as number;
      minute = 0;
      rest = rest.slice((word as string).length);
      break;
    }
  }
  if (hour > 23 || minute > 59) throw new RangeError("no such time of day");
  const today = wallTime(now, timeZone);
  const day = parseDay(rest, today, ref);
  const at = (year: number, month: number, date: number) => {
    checkDate(year, month, date);
    return fromWallTime(year, month, date, hour, minute, timeZone);
  };
  if (day.shift === undefined) return at(day.year, day.month, day.day);
  // Days are shifted on the calendar, so that a change of offset between
  // them keeps the wall time.
  const date = new Date(Date.UTC(today.year, today.month - 1, today.day));
  date.setUTCDate(date.getUTCDate() + day.shift);
  return at(date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate());
}

/** A day: a date, or a shift in days from today. */
type Day = { year: number; month: number; day: number; shift?: undefined } | {
  shift: number;
};

function parseDay(rest: string, today: WallTime, ref: string): Day {
  if (rest === "" || rest === "today") return { shift: 0 };
  if (rest === "yesterday") return { shift: -1 };
  if (rest === "tomorrow") return { shift: 1 };
  if (rest.split("/").length === 3) {
    const [m, d, y] = rest.split("/").map((part) => integer(part, "date"));
    let year = y < 1900 ? y + 1900 : y;
    if (year < 1970) year += 100;
    return { year, month: m, day: d };
  }
  if (/^\d{8}$/.test(rest)) {
    return {
      year: Number(rest.slice(0, 4)),
      month: Number(rest.slice(4, 6)),
      day: Number(rest.slice(6)),
    };
  }
  const month = MONTHS.indexOf(rest.slice(0, 3));
  if (month !== -1) {
    const digits = /(\d{1,2})$/.exec(rest);
    if (digits === null) {
      throw new RangeError("a day of the month must follow the month's name");
    }
    return { year: today.year, month: month + 1, day: Number(digits[1]) };
  }
  const weekday = WEEKDAYS.indexOf(rest.slice(0, 3));
  if (weekday !== -1) {
    let back = today.weekday - weekday;
    if (back < 0) back += 7;
    return { shift: -back };
  }
  throw new RangeError(`unknown day reference "${ref}"`);
}

function checkDate(year: number, month: number, day: number): void {
  const date = new Date(Date.UTC(year, month - 1, day));
  if (
    year < 1 || date.getUTCFullYear() !== year ||
    date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day
  ) {
    throw new RangeError("no such date");
  }
}

function integer(text: string, what: string): number {
  if (!/^\d+$/.test(text)) throw new RangeError(`no ${what} in "${text}"`);
  return Number(text);
}

/** An offset: a sign, then runs of digits and a unit. */
function parseOffset(offset: string): number {
  if (offset === "") return 0;
  let sign = 1;
  let rest = offset;
  if (rest[0] === "+" || rest[0] === "-") {
    sign = rest[0] === "-" ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === "") throw new RangeError(`no offset after "${offset}"`);
  let seconds = 0;
  while (rest !== "") {
    const match = /^(\d+)([a-z]*)/.exec(rest);
    if (match === null) throw new RangeError(`no number in "${rest}"`);
    seconds += Number(match[1]) * unitSeconds(match[2]);
    rest = rest.slice(match[0].length);
  }
  if (!Number.isSafeInteger(seconds)) throw new RangeError("out of range");
  return sign * seconds;
}

function unitSeconds(unit: string): number {
  if (unit.startsWith("s")) return 1;
  if (unit.startsWith("min")) return 60;
  if (unit.startsWith("h")) return 3600;
  if (unit.startsWith("d")) return DAY;
  if (unit.startsWith("w")) return 7 * DAY;
  if (unit.startsWith("mon")) return 30 * DAY;
  if (unit.startsWith("y")) return 365 * DAY;
  throw new RangeError(
    `invalid unit "${unit}": use s, min, h, d, w, mon or y`,
  );
}
