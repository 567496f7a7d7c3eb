/**
 * Reading command lines: {@linkcode parseArgs} splits arguments into typed
 * flags and positionals, and the `read*` functions turn flag values into
 * counts, sizes and durations, every mistake a {@linkcode UsageError} that
 * says what to type instead. The server, the `pulse` command and the
 * benchmarks read their flags here.
 *
 * `parseArgs` has the shape of std's `@std/cli/parse-args` (`string`,
 * `boolean`, `collect`, `alias`, `default`; positionals in `_`), written
 * here because JSR, and so std, is unreachable from where Pulse is built.
 * It is stricter than std: an unknown flag is an error, values stay
 * strings, short flags exist only as aliases (`-h`), and an argument such as
 * `-1h` or `-5` is a positional (a time, a value), not a flag.
 *
 * @example Usage
 * ```ts
 * import { parseArgs, readCount } from "./flags.ts";
 * import { deepEqual, equal } from "node:assert/strict";
 *
 * const flags = parseArgs(["--port=9000", "put", "-1h", "--http-host", "a"], {
 *   string: ["port", "http-host"],
 *   boolean: ["help"],
 *   collect: ["http-host"],
 *   alias: { h: "help" },
 *   default: { port: "8888" },
 * });
 * deepEqual(flags._, ["put", "-1h"]);
 * equal(readCount("--port", flags.port, { max: 65535 }), 9000);
 * deepEqual(flags["http-host"], ["a"]);
 * equal(flags.help, false);
 * ```
 *
 * @module
 */

import { parseDuration, parseSize } from "../internal/units.ts";

/**
 * A mistake on the command line: programs print its message with a pointer
 * to `--help` and exit 2.
 */
export class UsageError extends Error {
  /**
   * @param message What is wrong, and what to type instead.
   */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** The flags a command line takes, as std's `parseArgs` takes them. */
export interface ParseOptions<
  S extends string,
  B extends string,
  C extends S,
  D extends Partial<Record<Exclude<S, C>, string>>,
> {
  /**
   * Flags that take a value: `--name value` or `--name=value`.
   *
   * @default {[]}
   */
  string?: readonly S[];
  /**
   * Flags that are on when given, and take no value.
   *
   * @default {[]}
   */
  boolean?: readonly B[];
  /**
   * Flags of `string` that may be repeated: their values, in order.
   *
   * @default {[]}
   */
  collect?: readonly C[];
  /**
   * One-letter short forms: `{ h: "help" }` reads `-h` as `--help`.
   *
   * @default {{}}
   */
  alias?: Readonly<Record<string, S | B>>;
  /**
   * Values of `string` flags that are not given.
   *
   * @default {{}}
   */
  default?: D;
}

/**
 * What {@linkcode parseArgs} returns: the positionals in `_`, and each flag
 * by name: `boolean` for switches, `string[]` for repeatable flags, `string`
 * for flags with a default, else `string | undefined`.
 */
export type Args<S extends string, B extends string, C extends string, D> =
  & {
    /** The positional arguments, in order. */
    _: string[];
  }
  & {
    [K in S | B]: K extends B ? boolean
      : K extends C ? string[]
      : K extends keyof D ? string
      : string | undefined;
  };

/**
 * Splits `args` into flags and positionals. `--` ends the flags: what
 * follows is positional. A flag given twice keeps its last value, unless it
 * is in `collect`.
 *
 * @example Usage
 * ```ts
 * import { parseArgs } from "./flags.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * const flags = parseArgs(["-h", "--json", "--", "--not-a-flag"], {
 *   boolean: ["help", "json", "csv"],
 *   alias: { h: "help" },
 * });
 * deepEqual(flags, {
 *   _: ["--not-a-flag"],
 *   help: true,
 *   json: true,
 *   csv: false,
 * });
 * ```
 *
 * @param args The arguments, such as `Deno.args`.
 * @param options The flags there may be.
 * @returns The flags by name, and the positionals in `_`.
 * @throws {UsageError} On an unknown flag, a value given to a switch, or a
 * flag missing its value.
 */
export function parseArgs<
  S extends string = never,
  B extends string = never,
  C extends S = never,
  D extends Partial<Record<Exclude<S, C>, string>> = Record<never, never>,
>(
  args: readonly string[],
  options: ParseOptions<S, B, C, D> = {},
): Args<S, B, C, D> {
  const switches = new Set<string>(options.boolean);
  const valued = new Set<string>(options.string);
  const collected = new Set<string>(options.collect);
  const alias: Readonly<Record<string, string>> = options.alias ?? {};
  const defaults: Partial<Record<string, string>> = options.default ?? {};
  const values: Record<string, boolean | string | string[] | undefined> = {};
  for (const name of switches) values[name] = false;
  for (const name of valued) {
    values[name] = collected.has(name) ? [] : defaults[name];
  }
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-" || /^-[\d.]/.test(arg)) {
      positionals.push(arg);
      continue;
    }
    const equals = arg.indexOf("=");
    // Only the flag is echoed: the value may be a secret.
    const flag = equals === -1 ? arg : arg.slice(0, equals);
    const inline = equals === -1 ? undefined : arg.slice(equals + 1);
    const name = flag.startsWith("--")
      ? flag.slice(2)
      : Object.hasOwn(alias, flag.slice(1))
      ? alias[flag.slice(1)]
      : undefined;
    if (name !== undefined && switches.has(name)) {
      if (inline !== undefined) {
        throw new UsageError(`Cannot give ${flag} a value: it is a switch`);
      }
      values[name] = true;
    } else if (name !== undefined && valued.has(name)) {
      const value = inline ?? args[++i];
      if (value === undefined) {
        throw new UsageError(`Cannot read ${flag}: it needs a value`);
      }
      const list = values[name];
      if (Array.isArray(list)) list.push(value);
      else values[name] = value;
    } else {
      throw new UsageError(`Cannot use ${flag}: there is no such option`);
    }
  }
  return { _: positionals, ...values } as Args<S, B, C, D>;
}

/** Options of {@linkcode readCount}. */
export interface CountOptions {
  /**
   * The least count allowed.
   *
   * @default {0}
   */
  min?: number;
  /**
   * The most allowed; when given, errors name the whole range.
   *
   * @default {Number.MAX_SAFE_INTEGER}
   */
  max?: number;
}

/**
 * Reads a flag's whole number, such as a port or a connection limit.
 *
 * @example Usage
 * ```ts
 * import { readCount } from "./flags.ts";
 * import { equal, throws } from "node:assert/strict";
 *
 * equal(readCount("--port", "8888", { min: 1, max: 65535 }), 8888);
 * throws(() => readCount("--port", "0", { min: 1, max: 65535 }), {
 *   message: "--port must be an integer from 1 to 65535",
 * });
 * ```
 *
 * @param name The flag, such as `--port`, for messages.
 * @param text Its value.
 * @param options The least and the most allowed.
 * @returns The number.
 * @throws {UsageError} When the text is not a whole number in range.
 */
export function readCount(
  name: string,
  text: string,
  options: CountOptions = {},
): number {
  const { min = 0, max } = options;
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  const fits = Number.isSafeInteger(value) && value >= min &&
    value <= (max ?? Number.MAX_SAFE_INTEGER);
  if (fits) return value;
  if (max !== undefined) {
    throw new UsageError(`${name} must be an integer from ${min} to ${max}`);
  }
  throw new UsageError(
    Number.isSafeInteger(value)
      ? `${name} must be at least ${min}`
      : `${name} must be a whole number`,
  );
}

/** Options of {@linkcode readNumber}. */
export interface NumberOptions {
  /**
   * The least number allowed.
   *
   * @default {0}
   */
  min?: number;
  /**
   * Whether `min` itself is refused: the number must be above it.
   *
   * @default {false}
   */
  above?: boolean;
}

/**
 * Reads a flag's decimal number, such as seconds (`3`, `0.5`).
 *
 * @example Usage
 * ```ts
 * import { readNumber } from "./flags.ts";
 * import { equal, throws } from "node:assert/strict";
 *
 * equal(readNumber("--duration", "0.5", { above: true }), 0.5);
 * throws(() => readNumber("--duration", "0", { above: true }), {
 *   message: "--duration must be a number above 0",
 * });
 * ```
 *
 * @param name The flag, such as `--duration`, for messages.
 * @param text Its value: digits, with an optional fraction.
 * @param options The least number allowed, and whether it is.
 * @returns The number.
 * @throws {UsageError} When the text is not such a number, or too small.
 */
export function readNumber(
  name: string,
  text: string,
  options: NumberOptions = {},
): number {
  const { min = 0, above = false } = options;
  const value = /^\d+(?:\.\d+)?$/.test(text) ? Number(text) : NaN;
  if (above ? value > min : value >= min) return value;
  throw new UsageError(
    `${name} must be a number ${above ? "above" : "of at least"} ${min}`,
  );
}

/** Options of {@linkcode readSize} and {@linkcode readDuration}. */
export interface LeastOptions {
  /**
   * The least value allowed, in bytes or milliseconds.
   *
   * @default {0}
   */
  min?: number;
}

/**
 * Reads a flag's size: bytes, or a number with a binary unit (`64KiB`,
 * `8m`).
 *
 * @example Usage
 * ```ts
 * import { readSize } from "./flags.ts";
 * import { equal, throws } from "node:assert/strict";
 *
 * equal(readSize("--max-output", "8MiB"), 8 * 1024 * 1024);
 * throws(() => readSize("--max-output", "0", { min: 1 }), {
 *   message: "--max-output must be at least 1 byte",
 * });
 * ```
 *
 * @param name The flag, such as `--max-output`, for messages.
 * @param text Its value.
 * @param options The least size allowed.
 * @returns Bytes.
 * @throws {UsageError} When the text is not a size, or is too small.
 */
export function readSize(
  name: string,
  text: string,
  options: LeastOptions = {},
): number {
  const min = options.min ?? 0;
  const bytes = reading(name, () => parseSize(text));
  if (bytes < min) {
    throw new UsageError(
      `${name} must be at least ${min} byte${min === 1 ? "" : "s"}`,
    );
  }
  return bytes;
}

/**
 * Reads a flag's duration: a number and a unit of `ms`, `s`, `m`, `h`, `d`
 * or `w`.
 *
 * @example Usage
 * ```ts
 * import { readDuration } from "./flags.ts";
 * import { equal, throws } from "node:assert/strict";
 *
 * equal(readDuration("--every", "10s"), 10_000);
 * throws(() => readDuration("--every", "500ms", { min: 1000 }), {
 *   message: "--every must be at least 1s",
 * });
 * ```
 *
 * @param name The flag, such as `--every`, for messages.
 * @param text Its value.
 * @param options The least duration allowed, in milliseconds.
 * @returns Milliseconds.
 * @throws {UsageError} When the text is not a duration, or is too short.
 */
export function readDuration(
  name: string,
  text: string,
  options: LeastOptions = {},
): number {
  const min = options.min ?? 0;
  const ms = reading(name, () => parseDuration(text));
  if (ms < min) {
    throw new UsageError(`${name} must be at least ${showDuration(min)}`);
  }
  return ms;
}

/** Runs a reader of internal/units.ts, its error a usage error. */
function reading(name: string, read: () => number): number {
  try {
    return read();
  } catch (error) {
    throw new UsageError(`${name}: ${(error as Error).message}`);
  }
}

/** Milliseconds in the largest unit that holds them whole: `1s`, `250ms`. */
function showDuration(ms: number): string {
  const units: [string, number][] = [
    ["w", 604_800_000],
    ["d", 86_400_000],
    ["h", 3_600_000],
    ["m", 60_000],
    ["s", 1_000],
  ];
  const unit = units.find(([, size]) => ms > 0 && ms % size === 0);
  return unit === undefined ? `${ms}ms` : `${ms / unit[1]}${unit[0]}`;
}
