/**
 * What a render function is: its parameters as graphite-web describes them
 * at `/functions`, and its implementation, which gets its arguments checked
 * and evaluated.
 *
 * @module
 */

import type { TimeRange } from "../fetch.ts";
import type { ArgumentNode, CallNode } from "../parser.ts";
import type { ConsolidationFunction, TimeSeries } from "../series.ts";

/** Parameter types, by graphite-web's names. */
export type ParamType =
  | "seriesList"
  | "seriesLists"
  | "string"
  | "integer"
  | "float"
  | "boolean"
  | "node"
  | "nodeOrTag"
  | "interval"
  | "intOrInterval"
  | "intOrInf"
  | "aggFunc"
  | "aggOrSeriesFunc"
  | "any";

/** A parameter, as `/functions` describes it. */
export interface Param {
  /** Its name, also the keyword it may be passed by. */
  readonly name: string;
  /** What it takes. */
  readonly type: ParamType;
  /** Whether it must be given. */
  readonly required?: boolean;
  /** Its value when not given. */
  readonly default?: string | number | boolean;
  /** Whether it takes every remaining positional argument. */
  readonly multiple?: boolean;
  /** The values it accepts, when they are few. */
  readonly options?: readonly (string | number)[];
  /** Values to suggest in an editor. */
  readonly suggestions?: readonly (string | number)[];
  /**
   * For a series list: whether the function evaluates it itself, over a
   * range of its own, rather than getting it evaluated.
   */
  readonly lazy?: boolean;
}

/** A call being run: its checked arguments and what it may use. */
export interface Call {
  /** The function's name as called (an alias such as `sum` included). */
  readonly name: string;
  /** The call as parsed. */
  readonly node: CallNode;
  /**
   * The arguments by parameter: a series list, a number, a string, a
   * boolean, or `undefined` when not given; an array for a `multiple` one.
   */
  readonly args: readonly unknown[];
  /** The argument nodes by parameter, for a function that evaluates one. */
  readonly nodes: readonly (ArgumentNode | undefined)[];
  /** The range being rendered. */
  readonly range: TimeRange;
  /** The current time, in Unix seconds. */
  readonly now: number;
  /** The request's `xFilesFactor`. */
  readonly xFilesFactor: number;
  /**
   * Python's `str()` of a literal argument, as graphite-web keeps it in tags.
   *
   * @param index The parameter's index.
   * @returns Its text.
   */
  str(index: number): string;
  /**
   * Evaluates an argument over another range, as graphite-web re-evaluates
   * a function's first argument for `timeShift` and `movingAverage`.
   *
   * @param node The argument.
   * @param range The range.
   * @returns Its series.
   */
  evaluate(node: ArgumentNode, range: TimeRange): Promise<TimeSeries[]>;
  /**
   * Null values for a new series whose length the input does not bound,
   * counted against the request's limit.
   *
   * @param count How many.
   * @returns The values, all NaN.
   * @throws {RangeError} When the request would make too many.
   */
  allocate(count: number): Float64Array;
  /**
   * Gives other clients a turn when the work has held the event loop long.
   *
   * @returns A promise only when it must wait.
   */
  pause(): Promise<void> | undefined;
}

/** A render function. */
export interface GraphiteFunction {
  /** Its name. */
  readonly name: string;
  /** Other names it answers to (`sum` for `sumSeries`). */
  readonly aliases?: readonly string[];
  /** Its group at `/functions`. */
  readonly group: string;
  /** What it does, for `/functions`. */
  readonly description: string;
  /** Its parameters, in order. */
  readonly params: readonly Param[];
  /**
   * Whether it keeps its series' values as they are, so that a roll-up the
   * answer allows may be read by the store beneath it.
   */
  readonly keepsValues?: boolean;
  /**
   * The consolidation function it sets for the series beneath it, read from
   * its call (`consolidateBy`).
   */
  readonly consolidation?: (
    node: CallNode,
  ) => ConsolidationFunction | undefined;
  /**
   * The ranges its series arguments are read over, besides or instead of the
   * rendered one, so that a request is checked before it reads.
   */
  readonly ranges?: (node: CallNode, range: TimeRange) => TimeRange[];
  /** Runs it. */
  readonly run: (call: Call) => Promise<TimeSeries[]>;
}
