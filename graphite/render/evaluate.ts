/**
 * Evaluating targets, as graphite-web's evaluator: a path expression reads
 * its series, a call checks its arguments against the function's parameters
 * (positional, then by keyword), evaluates the series among them, and runs
 * the function.
 *
 * Before anything is read, every target is walked for the reads it will
 * make (over the ranges `timeShift` and `movingAverage` shift to), so that
 * an unknown function or a request over the limit is refused first.
 *
 * @module
 */

import { pyRepr } from "./_python.ts";
import type { Pacer } from "./_pacer.ts";
import type { PlannedRead, Rollup, SeriesReader, TimeRange } from "./fetch.ts";
import type { Call, GraphiteFunction, Param } from "./functions/_function.ts";
import { aggregationByName } from "./functions/_aggregate.ts";
import { FUNCTIONS } from "./functions/registry.ts";
import type { ArgumentNode, CallNode, ExpressionNode } from "./parser.ts";
import type { TimeSeries } from "./series.ts";
import { parseInterval } from "./time.ts";

/** What evaluating needs besides the targets. */
export interface EvaluateOptions {
  /** Reads the series. */
  readonly reader: SeriesReader;
  /** Gives other clients turns. */
  readonly pacer: Pacer;
  /** The current time, in Unix seconds. */
  readonly now: number;
  /** The request's `xFilesFactor`. */
  readonly xFilesFactor: number;
  /**
   * The roll-up the answer allows (JSON with `maxDataPoints`), to read
   * series rolled up where they are printed as read.
   */
  readonly rollup?: Rollup;
}

/**
 * Evaluates targets over a range.
 *
 * @param targets The parsed targets.
 * @param range The range.
 * @param options The reader and the request's settings.
 * @returns Their series, target after target.
 * @throws {RangeError} When a function is unknown, an argument is wrong, or
 * the request would read more than its limit.
 * @throws {SyntaxError} When a path expression or pattern is malformed.
 */
export async function evaluateTargets(
  targets: readonly ExpressionNode[],
  range: TimeRange,
  options: EvaluateOptions,
): Promise<TimeSeries[]> {
  const reads: PlannedRead[] = [];
  for (const target of targets) plan(target, range, reads);
  await options.reader.check(reads);
  const evaluator = new Evaluator(options);
  const out: TimeSeries[] = [];
  for (const target of targets) {
    out.push(...await evaluator.series(target, range, options.rollup));
  }
  return out;
}

function lookUp(node: CallNode): GraphiteFunction {
  const f = FUNCTIONS.get(node.name);
  if (f === undefined) {
    throw new RangeError(
      `Cannot render the target at position ${node.position}: unknown function "${node.name}"`,
    );
  }
  return f;
}

/** Collects the reads a target makes. */
function plan(
  node: ArgumentNode,
  range: TimeRange,
  reads: PlannedRead[],
): void {
  if (node.type === "path") {
    reads.push({ path: node.path, range });
    return;
  }
  if (node.type !== "call") return;
  const f = lookUp(node);
  node.args.forEach((arg, i) => {
    const ranges = i === 0 && f.ranges ? f.ranges(node, range) : [range];
    for (const r of ranges) plan(arg, r, reads);
  });
  for (const { value } of node.kwargs) plan(value, range, reads);
}

type Bound = ArgumentNode | ArgumentNode[] | undefined;

class Evaluator {
  #options: EvaluateOptions;

  constructor(options: EvaluateOptions) {
    this.#options = options;
  }

  /** The series of an expression. */
  series(
    node: ArgumentNode,
    range: TimeRange,
    rollup?: Rollup,
  ): Promise<TimeSeries[]> {
    if (node.type === "path") {
      return this.#options.reader.read(node.path, range, rollup);
    }
    if (node.type === "call") return this.#call(node, range, rollup);
    throw new RangeError(
      `Cannot render the target at position ${node.position}: ${
        describe(node)
      } is no series list`,
    );
  }

  async #call(
    node: CallNode,
    range: TimeRange,
    rollup: Rollup | undefined,
  ): Promise<TimeSeries[]> {
    const f = lookUp(node);
    const below = rollup && f.keepsValues
      ? { ...rollup, func: f.consolidation?.(node) ?? rollup.func }
      : undefined;
    const bound = bind(f, node);
    const args: unknown[] = [];
    for (let i = 0; i < f.params.length; i++) {
      const param = f.params[i];
      const arg = bound[i];
      if (!Array.isArray(arg)) {
        args.push(await this.#convert(f, param, arg, range, below));
        continue;
      }
      const values: unknown[] = [];
      for (const one of arg) {
        values.push(await this.#convert(f, param, one, range, below));
      }
      args.push(values);
    }
    const options = this.#options;
    const call: Call = {
      name: node.name,
      node,
      args,
      nodes: bound.map((arg) => Array.isArray(arg) ? undefined : arg),
      range,
      now: options.now,
      xFilesFactor: options.xFilesFactor,
      str: (index) => pyStr(bound[index], f.params[index]),
      evaluate: (arg, r) => this.series(arg, r),
      allocate: (count) => options.reader.allocate(count),
      pause: () => options.pacer.pause(),
    };
    return await f.run(call);
  }

  /** An argument checked against its parameter, series evaluated. */
  async #convert(
    f: GraphiteFunction,
    param: Param,
    node: ArgumentNode | undefined,
    range: TimeRange,
    rollup: Rollup | undefined,
  ): Promise<unknown> {
    if (node === undefined || node.type === "none") return undefined;
    const isSeries = node.type === "path" || node.type === "call";
    if (param.type === "seriesList" || param.type === "seriesLists") {
      if (!isSeries) throw wrong(f, param, node, "a series list");
      return param.lazy ? undefined : await this.series(node, range, rollup);
    }
    if (param.type === "any" && isSeries) {
      return await this.series(node, range);
    }
    const value = literal(f, param, node);
    if (param.options && !param.options.includes(value as string | number)) {
      throw new RangeError(
        `Cannot call ${f.name}(): ${param.name} must be one of ${
          param.options.join(", ")
        }, not ${describe(node)}`,
      );
    }
    return value;
  }
}

/** Arguments by parameter: positional first, then by keyword. */
function bind(f: GraphiteFunction, node: CallNode): Bound[] {
  const params = f.params;
  if (!params.at(-1)?.multiple && node.args.length > params.length) {
    throw new RangeError(
      `Cannot call ${f.name}(): it takes at most ${params.length} arguments, not ${node.args.length}`,
    );
  }
  const bound: Bound[] = params.map((param, i) =>
    param.multiple ? node.args.slice(i) : node.args[i]
  );
  for (const { name, value } of node.kwargs) {
    const i = params.findIndex((param) => param.name === name);
    if (i === -1 || params[i].multiple) {
      throw new RangeError(`Cannot call ${f.name}(): no parameter "${name}"`);
    }
    if (bound[i] !== undefined) {
      throw new RangeError(
        `Cannot call ${f.name}(): ${name} is given more than once`,
      );
    }
    bound[i] = value;
  }
  params.forEach((param, i) => {
    const arg = bound[i];
    const missing = arg === undefined ||
      (Array.isArray(arg) && arg.length === 0) ||
      (!Array.isArray(arg) && arg.type === "none");
    if (param.required && missing) {
      throw new RangeError(`Cannot call ${f.name}(): ${param.name} is missing`);
    }
  });
  return bound;
}

/** A literal argument of a non-series parameter, checked. */
function literal(
  f: GraphiteFunction,
  param: Param,
  node: ArgumentNode,
): unknown {
  const integer = node.type === "number" && node.integer;
  switch (param.type) {
    case "float":
      if (node.type === "number") return node.value;
      throw wrong(f, param, node, "a number");
    case "integer":
    case "node":
      if (integer) return node.value;
      throw wrong(f, param, node, "an integer");
    case "nodeOrTag":
      if (integer || node.type === "string") return node.value;
      throw wrong(f, param, node, "a node index or a tag name");
    case "intOrInf":
      if (integer || (node.type === "number" && node.value === Infinity)) {
        return node.value;
      }
      throw wrong(f, param, node, "an integer or inf");
    case "boolean":
      if (node.type === "boolean") return node.value;
      throw wrong(f, param, node, "true or false");
    case "interval":
    case "intOrInterval":
      if (node.type === "string") {
        parseInterval(node.value as string);
        return node.value;
      }
      if (param.type === "intOrInterval" && integer) return node.value;
      throw wrong(f, param, node, 'an interval such as "5min"');
    case "aggFunc":
      if (node.type === "string") {
        aggregationByName(node.value as string);
        return node.value;
      }
      throw wrong(f, param, node, "an aggregation name");
    default:
      if (node.type === "string") return node.value;
      if (param.type === "any" && node.type === "number") return node.value;
      throw wrong(f, param, node, "a string");
  }
}

function wrong(
  f: GraphiteFunction,
  param: Param,
  node: ArgumentNode,
  what: string,
): RangeError {
  return new RangeError(
    `Cannot call ${f.name}(): ${param.name} must be ${what}, not ${
      describe(node)
    }`,
  );
}

function describe(node: ArgumentNode): string {
  switch (node.type) {
    case "path":
      return node.path;
    case "call":
      return `${node.name}(...)`;
    case "string":
      return JSON.stringify(node.value);
    case "number":
      return pyRepr(node.value, node.integer);
    case "boolean":
      return node.value ? "true" : "false";
    case "none":
      return "None";
  }
}

/** Python's `str()` of an argument or of its parameter's default. */
function pyStr(arg: Bound, param: Param): string {
  if (arg === undefined || Array.isArray(arg) || arg.type === "none") {
    const value = param.default;
    if (value === undefined) return "None";
    if (typeof value === "boolean") return value ? "True" : "False";
    if (typeof value === "string") return value;
    return pyRepr(value, Number.isInteger(value));
  }
  if (arg.type === "number") return pyRepr(arg.value, arg.integer);
  if (arg.type === "boolean") return arg.value ? "True" : "False";
  if (arg.type === "string") return arg.value as string;
  return describe(arg);
}
