/**
 * What the Graphite feeds share: their figures, a log that says little, and
 * the sink that writes their samples through the storage seam.
 *
 * Nothing is answered to a Graphite sender, so a sample is "stored" once its
 * commit settles: under `--fsync always` once it is on disk, otherwise by
 * the log's policy. A sample the storage refuses, or whose commit fails, is
 * counted and logged, and the feed goes on.
 *
 * @module
 */

import { describe } from "../internal/describe.ts";
import type { EventLoopTurns } from "../internal/turns.ts";
import type { Appender, Storage } from "../storage/storage.ts";
import { quote, QUOTED_CHARACTERS } from "./_quote.ts";
import type { GraphiteLineParser } from "./plaintext.ts";

/** What every Graphite connection and socket shares. */
export interface FeedContext {
  /** Where samples are kept. */
  storage: Storage;
  /** The figures. */
  counters: GraphiteCounters;
  /** The plaintext reader, with its cache of keys. */
  parser: GraphiteLineParser;
  /** Whether the event loop is overdue for a turn. */
  turns: EventLoopTurns;
  /** Hears problems worth an operator's eye. */
  onLog: (message: string) => void;
  /** Lets one pickle message be decoded at a time. */
  decoding: Gate;
  /** Whether the listeners are shutting down. */
  closing(): boolean;
}

/**
 * Lets one task in at a time, the others in the order they came: a pickle
 * decoded in slices holds its values meanwhile, so decoding one message at
 * a time bounds that memory whatever the number of connections.
 */
export class Gate {
  #busy = false;
  #waiting: (() => void)[] = [];

  /**
   * Enters, or waits for the task inside to leave.
   *
   * @returns `undefined` when entered at once, else a promise that settles
   * once entered.
   */
  enter(): Promise<void> | undefined {
    if (!this.#busy) {
      this.#busy = true;
      return undefined;
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /** Leaves, letting the next task in. */
  leave(): void {
    const next = this.#waiting.shift();
    if (next === undefined) this.#busy = false;
    else next();
  }
}

/** What the listeners track of a connection. */
export interface ConnectionState {
  /** The peer's address, for the log. */
  readonly source: string;
  /**
   * Grows whenever the sender sends bytes: the idle sweep sees idleness as
   * this standing still.
   */
  activity: number;
}

/** A session gives way to others after holding the event loop this long. */
export const SLICE_MS = 4;

/** The figures of the Graphite feeds, as `stats` names them. */
export class GraphiteCounters {
  /** TCP connections accepted, plaintext and pickle. */
  connectionsTotal = 0;
  /** TCP connections refused past the cap. */
  connectionsRefused = 0;
  /** Bytes received, TCP and UDP. */
  bytesIn = 0;
  /** UDP datagrams received. */
  datagrams = 0;
  /** Plaintext lines stored. */
  lines = 0;
  /** Plaintext lines and pickle entries skipped as malformed. */
  badLines = 0;
  /** Samples dropped because their value is not a finite number. */
  nonFinite = 0;
  /** Plaintext lines over the length limit, dropped. */
  longLines = 0;
  /** Samples the storage refused, or whose commit failed. */
  refusedSamples = 0;
  /** Pickle messages decoded. */
  pickleMessages = 0;
  /** Samples stored from pickle messages. */
  pickleSamples = 0;
  /** Pickle messages refused, their connection closed. */
  pickleRefused = 0;

  /**
   * The figures by name, for `stats` and `/metrics`.
   *
   * @param connections TCP connections open now.
   * @returns The figures.
   */
  figures(connections: number): Record<string, number> {
    return {
      graphite_connections: connections,
      graphite_connections_total: this.connectionsTotal,
      graphite_connections_refused_total: this.connectionsRefused,
      graphite_received_bytes_total: this.bytesIn,
      graphite_datagrams_total: this.datagrams,
      graphite_lines_total: this.lines,
      graphite_bad_lines_total: this.badLines,
      graphite_non_finite_total: this.nonFinite,
      graphite_long_lines_total: this.longLines,
      graphite_refused_samples_total: this.refusedSamples,
      graphite_pickle_messages_total: this.pickleMessages,
      graphite_pickle_samples_total: this.pickleSamples,
      graphite_pickle_refused_total: this.pickleRefused,
    };
  }
}

/** How often a source's problems are logged at most. */
export const LOG_INTERVAL_MS = 60_000;
const LENIENT = new TextDecoder();

/**
 * A log of one source's problems (a connection, or a UDP socket), rate
 * limited: the first is logged, then at most one a minute, each with how
 * many were left out before it.
 */
export class ProblemLog {
  #onLog: (message: string) => void;
  #source: string | (() => string);
  #last = -Infinity;
  #unlogged = 0;

  /**
   * @param onLog Hears the lines logged.
   * @param source Who the problems come from, such as `127.0.0.1:51234`,
   * or a function that says who, for a socket whose senders vary.
   */
  constructor(
    onLog: (message: string) => void,
    source: string | (() => string),
  ) {
    this.#onLog = onLog;
    this.#source = source;
  }

  /**
   * Logs a problem, unless one was logged less than a minute ago.
   *
   * @param message What went wrong.
   */
  note(message: string): void {
    const now = Date.now();
    if (now - this.#last < LOG_INTERVAL_MS) {
      this.#unlogged++;
      return;
    }
    const unlogged = this.#unlogged === 0
      ? ""
      : ` (${this.#unlogged} more since the last report were not logged)`;
    const source = typeof this.#source === "string"
      ? this.#source
      : this.#source();
    this.#onLog(`graphite: ${source}: ${message}${unlogged}`);
    this.#last = now;
    this.#unlogged = 0;
  }

  /**
   * Logs a bad line, quoting its start.
   *
   * @param bytes The bytes holding the line.
   * @param start Where it starts.
   * @param end Where it ends, exclusive.
   * @param problem Why it is bad.
   */
  badLine(bytes: Uint8Array, start: number, end: number, problem: string) {
    if (Date.now() - this.#last < LOG_INTERVAL_MS) {
      this.#unlogged++;
      return;
    }
    // A few bytes more than are quoted, so that a long line shows as cut.
    const text = LENIENT.decode(
      bytes.subarray(start, Math.min(end, start + 4 * QUOTED_CHARACTERS + 1)),
    );
    this.note(`skipped the line ${quote(text)}: ${problem}`);
  }
}

/** Which feed a sink counts stored samples for. */
export type Feed = "plaintext" | "pickle";

/**
 * Writes one connection's (or socket's) samples through an appender, and
 * counts them once their commit settles.
 */
export class GraphiteSink {
  #appender: Appender;
  #counters: GraphiteCounters;
  #log: ProblemLog;
  #feed: Feed;
  // Samples appended since the last commit.
  #pending = 0;

  /**
   * @param appender Where samples go; the sink commits it.
   * @param counters The figures it counts into.
   * @param log Where refusals and failed commits are reported.
   * @param feed Which figure counts stored samples.
   */
  constructor(
    appender: Appender,
    counters: GraphiteCounters,
    log: ProblemLog,
    feed: Feed,
  ) {
    this.#appender = appender;
    this.#counters = counters;
    this.#log = log;
    this.#feed = feed;
  }

  /**
   * Appends a sample; one the storage refuses is counted and logged.
   *
   * @param key A valid key.
   * @param value A finite number.
   * @param timestamp Unix seconds, a safe integer.
   */
  add(key: string, value: number, timestamp: number): void {
    const refused = this.#appender.append(key, value, timestamp);
    if (refused === undefined) {
      this.#pending++;
      return;
    }
    this.#counters.refusedSamples++;
    this.#log.note(`did not store ${quote(key)} at ${timestamp}: ${refused}`);
  }

  /**
   * Commits the samples appended since the last commit, and counts them as
   * stored, or as refused when the commit fails.
   *
   * @returns `undefined` when done, else a promise that settles (never
   * rejects) once the commit has.
   */
  commit(): Promise<void> | undefined {
    const pending = this.#pending;
    this.#pending = 0;
    const committing = this.#appender.commit();
    if (committing === undefined) {
      this.#stored(pending);
      return undefined;
    }
    return committing.then(
      () => this.#stored(pending),
      (error) => {
        this.#counters.refusedSamples += pending;
        this.#log.note(
          `did not store ${pending} samples: cannot write the log: ${
            describe(error)
          }`,
        );
      },
    );
  }

  /** Forgets what was appended and not committed. */
  rollback(): void {
    this.#pending = 0;
    this.#appender.rollback();
  }

  #stored(count: number): void {
    if (this.#feed === "plaintext") this.#counters.lines += count;
    else this.#counters.pickleSamples += count;
  }
}
