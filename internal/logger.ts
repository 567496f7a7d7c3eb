/**
 * The event log: what happened, one JSON object per line, in the shape of
 * Go's `log/slog` JSON handler (`time`, `level`, then the event's fields).
 *
 * Every line carries `time` (ISO 8601, UTC), `level` (`error`, `warn`,
 * `info` or `debug`), `event` (such as `open` or `retention`), then the
 * event's own fields; `conn` names the connection wherever one is involved,
 * and `msg` says what happened in words where a person would want them.
 * Library code never prints: it takes a {@linkcode Logger}, and one made
 * without a sink drops everything.
 *
 * @example Events as lines
 * ```ts
 * import { Logger } from "@pulse/metrics";
 * import { equal } from "node:assert/strict";
 *
 * const lines: string[] = [];
 * const logger = new Logger((line) => lines.push(line), { level: "warn" });
 * logger.info("open", { conn: 1 });
 * logger.warn("auth_failed", { conn: 1, addr: "127.0.0.1:50000" });
 * equal(lines.length, 1);
 * equal(JSON.parse(lines[0]).event, "auth_failed");
 * ```
 *
 * @module
 */

/** The levels, most severe first. */
export const LOG_LEVELS = ["error", "warn", "info", "debug"] as const;

/** How severe an event is. */
export type LogLevel = typeof LOG_LEVELS[number];

/** The fields of an event beyond `time`, `level` and `event`. */
export type LogFields = Record<
  string,
  string | number | boolean | null | undefined
>;

/** Where the lines of a {@linkcode Logger} go: each is one JSON object. */
export type LogSink = (line: string) => void;

/** Options of {@linkcode Logger}. */
export interface LoggerOptions {
  /**
   * The least severe level written; events below it cost one comparison.
   *
   * @default {"info"}
   */
  level?: LogLevel;
  /**
   * The clock, in milliseconds since the epoch, for tests.
   *
   * @default {Date.now}
   */
  now?: () => number;
}

/**
 * Whether a text names a level.
 *
 * @param text Such as `"warn"`.
 * @returns Whether it is one of {@linkcode LOG_LEVELS}.
 */
export function isLogLevel(text: string): text is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(text);
}

/** Writes events as JSON lines to a sink, those of enough severity. */
export class Logger {
  /** The least severe level written, or `undefined` when nothing is. */
  readonly level: LogLevel | undefined;
  #sink: LogSink | undefined;
  #rank: number;
  #now: () => number;
  // The time of the last event, as milliseconds and as text: events of the
  // same millisecond (a chunk's request lines) format it once.
  #lastMs = NaN;
  #lastTime = "";

  /**
   * Creates a logger.
   *
   * @param sink Where lines go; without one, nothing is written.
   * @param options The least severe level written.
   * @throws {RangeError} When the level is not one of
   * {@linkcode LOG_LEVELS}.
   */
  constructor(sink?: LogSink, options: LoggerOptions = {}) {
    const level = options.level ?? "info";
    if (!isLogLevel(level)) {
      throw new RangeError(
        `Cannot log at the level ${level}: use one of ${LOG_LEVELS.join(", ")}`,
      );
    }
    this.#sink = sink;
    this.level = sink === undefined ? undefined : level;
    this.#rank = sink === undefined ? -1 : LOG_LEVELS.indexOf(level);
    this.#now = options.now ?? Date.now;
  }

  /**
   * Whether events of a level are written: check it before building costly
   * fields.
   *
   * @param level The level.
   * @returns Whether {@linkcode Logger.log} would write them.
   */
  enabled(level: LogLevel): boolean {
    return LOG_LEVELS.indexOf(level) <= this.#rank;
  }

  /**
   * Writes one event, if its level is enabled.
   *
   * @param level How severe it is.
   * @param event What happened, such as `close`.
   * @param fields Its fields; `undefined` ones are left out.
   */
  log(level: LogLevel, event: string, fields?: LogFields): void {
    if (!this.enabled(level)) return;
    this.#sink!(JSON.stringify({
      time: this.#time(),
      level,
      event,
      ...fields,
    }));
  }

  /**
   * Writes one event per value, each with the same fields and its value
   * under `key`: the events of a batch (such as a chunk's request lines),
   * the common part formatted once.
   *
   * @param level How severe they are.
   * @param event What happened, such as `request`.
   * @param fields The fields they share.
   * @param key The name of the field that differs.
   * @param values Its value in each event.
   */
  each(
    level: LogLevel,
    event: string,
    fields: LogFields,
    key: string,
    values: readonly string[],
  ): void {
    if (!this.enabled(level) || values.length === 0) return;
    const common = JSON.stringify({
      time: this.#time(),
      level,
      event,
      ...fields,
    })
      .slice(0, -1);
    const name = `,${JSON.stringify(key)}:`;
    for (const value of values) {
      this.#sink!(`${common}${name}${JSON.stringify(value)}}`);
    }
  }

  #time(): string {
    const ms = this.#now();
    if (ms !== this.#lastMs) {
      this.#lastMs = ms;
      this.#lastTime = new Date(ms).toISOString();
    }
    return this.#lastTime;
  }

  /**
   * Writes an event at `error`: something failed that an operator must
   * see to.
   *
   * @param event What happened.
   * @param fields Its fields.
   */
  error(event: string, fields?: LogFields): void {
    this.log("error", event, fields);
  }

  /**
   * Writes an event at `warn`: something went wrong that the server
   * weathered.
   *
   * @param event What happened.
   * @param fields Its fields.
   */
  warn(event: string, fields?: LogFields): void {
    this.log("warn", event, fields);
  }

  /**
   * Writes an event at `info`: the ordinary life of the server.
   *
   * @param event What happened.
   * @param fields Its fields.
   */
  info(event: string, fields?: LogFields): void {
    this.log("info", event, fields);
  }

  /**
   * Writes an event at `debug`: detail for finding a fault.
   *
   * @param event What happened.
   * @param fields Its fields.
   */
  debug(event: string, fields?: LogFields): void {
    this.log("debug", event, fields);
  }
}

/** A logger that writes nothing: the library's default. */
export const SILENT: Logger = new Logger();
