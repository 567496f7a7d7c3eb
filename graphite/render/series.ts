/**
 * The series a render works on, as graphite-web's `TimeSeries`: a name,
 * values at a regular step from `start`, and what functions and answers need
 * besides (the path expression it came from, tags, how it is consolidated).
 *
 * Values live in a `Float64Array`; a null is NaN. A value that is not a
 * number (infinity minus infinity) is therefore null too, which is also how
 * graphite-web prints it. A series is never changed once made: functions
 * make new ones, sharing the values when they keep them, so a series read
 * once may feed several functions.
 *
 * @module
 */

/** How values are consolidated into one: graphite-web's names. */
export type ConsolidationFunction =
  | "average"
  | "avg_zero"
  | "sum"
  | "min"
  | "max"
  | "first"
  | "last";

/** The consolidation functions, and the aliases `consolidateBy` takes. */
export const CONSOLIDATION_FUNCTIONS: Readonly<
  Record<string, ConsolidationFunction>
> = {
  average: "average",
  avg: "average",
  avg_zero: "avg_zero",
  sum: "sum",
  min: "min",
  max: "max",
  first: "first",
  last: "last",
};

/** What makes a series, for {@linkcode TimeSeries}. */
export interface TimeSeriesInit {
  /** The name answers show (the target). */
  name: string;
  /** The path expression or call that names it inside other names. */
  pathExpression?: string;
  /** Its tags; `{name}` by default. */
  tags?: Readonly<Record<string, string>>;
  /** The timestamp of the first value, in Unix seconds. */
  start: number;
  /** The end of the series, exclusive, in Unix seconds. */
  end: number;
  /** Seconds between values. */
  step: number;
  /** The values; NaN is null. */
  values: Float64Array;
  /** How `maxDataPoints` consolidates it. */
  consolidationFunc?: ConsolidationFunction;
  /** The least share of non-null values a consolidated value needs. */
  xFilesFactor?: number;
  /**
   * Whether its values print as Python ints: all of them
   * (`constantLine(100)`), or those marked 1 (`transformNull(x, 0)`).
   */
  integral?: boolean | Uint8Array;
  /**
   * Whether it was read rolled up for `maxDataPoints` already, so that the
   * answer does not consolidate it again.
   */
  rolledUp?: boolean;
}

/** A series of values at a regular step. */
export class TimeSeries {
  /** The name answers show. */
  readonly name: string;
  /** How other names refer to it. */
  readonly pathExpression: string;
  /** Its tags, strings as graphite-web keeps them. */
  readonly tags: Readonly<Record<string, string>>;
  /** The first value's timestamp. */
  readonly start: number;
  /** The end, exclusive. */
  readonly end: number;
  /** Seconds between values. */
  readonly step: number;
  /** The values; NaN is null. Never changed. */
  readonly values: Float64Array;
  /** How `maxDataPoints` consolidates it. */
  readonly consolidationFunc: ConsolidationFunction;
  /** The least share of non-null values a consolidated value needs. */
  readonly xFilesFactor: number;
  /** Whether its values print as Python ints: all, or those marked 1. */
  readonly integral: boolean | Uint8Array;
  /** Whether it was read rolled up for `maxDataPoints` already. */
  readonly rolledUp: boolean;

  /**
   * Makes a series.
   *
   * @param init Its parts.
   */
  constructor(init: TimeSeriesInit) {
    this.name = init.name;
    this.pathExpression = init.pathExpression ?? init.name;
    this.tags = init.tags ?? { name: init.name };
    this.start = init.start;
    this.end = init.end;
    this.step = init.step;
    this.values = init.values;
    this.consolidationFunc = init.consolidationFunc ?? "average";
    this.xFilesFactor = init.xFilesFactor ?? 0;
    this.integral = init.integral ?? false;
    this.rolledUp = init.rolledUp ?? false;
  }

  /**
   * Whether value `i` prints as a Python int.
   *
   * @param i An index.
   * @returns Whether it does.
   */
  isInt(i: number): boolean {
    const integral = this.integral;
    return integral === true || (integral !== false && integral[i] === 1);
  }

  /** How many values it has. */
  get length(): number {
    return this.values.length;
  }

  /**
   * A series like this one with some parts changed. Values are shared unless
   * new ones are given; new values are no longer integral.
   *
   * @param changes The parts to change.
   * @returns The new series.
   */
  with(changes: Partial<TimeSeriesInit>): TimeSeries {
    return new TimeSeries({
      name: this.name,
      pathExpression: changes.name !== undefined && !changes.pathExpression
        ? changes.name
        : this.pathExpression,
      tags: this.tags,
      start: this.start,
      end: this.end,
      step: this.step,
      values: this.values,
      consolidationFunc: this.consolidationFunc,
      xFilesFactor: this.xFilesFactor,
      integral: changes.values === undefined && this.integral,
      rolledUp: changes.values === undefined && this.rolledUp,
      ...changes,
    });
  }

  /**
   * The same series under a new name, keeping its path expression, as
   * graphite-web's aliases do.
   *
   * @param name The new name.
   * @returns The renamed series.
   */
  renamed(name: string): TimeSeries {
    return this.with({ name, pathExpression: this.pathExpression });
  }

  /**
   * How many datapoints answers print: graphite-web zips the values with
   * `range(start, end + 1, step)`, so the shorter of the two.
   *
   * @returns The count.
   */
  pointCount(): number {
    const stamps = Math.floor((this.end - this.start) / this.step) + 1;
    return Math.max(0, Math.min(this.values.length, stamps));
  }
}

/**
 * Tags with one more, as graphite-web adds one per function applied.
 *
 * @param tags The tags so far.
 * @param name The tag.
 * @param value Its value, as Python's `str()` prints it.
 * @returns New tags.
 */
export function withTag(
  tags: Readonly<Record<string, string>>,
  name: string,
  value: string,
): Record<string, string> {
  return { ...tags, [name]: value };
}
