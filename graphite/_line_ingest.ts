/**
 * Plaintext lines into samples: each line read, counted by what it is, and
 * its sample handed to the sink. TCP connections and UDP sockets share it.
 *
 * @module
 */

import { type FeedContext, GraphiteSink, type ProblemLog } from "./_ingest.ts";
import {
  LINE_BAD,
  LINE_NON_FINITE,
  LINE_SAMPLE,
  MAX_GRAPHITE_LINE_LENGTH,
} from "./plaintext.ts";

/** One source's plaintext lines, written through its own appender. */
export class LineIngest {
  /** The sink; commit it once per chunk or datagram. */
  readonly sink: GraphiteSink;
  #context: FeedContext;
  #log: ProblemLog;

  /**
   * @param context What the feeds share.
   * @param log Where this source's problems are reported.
   */
  constructor(context: FeedContext, log: ProblemLog) {
    this.#context = context;
    this.#log = log;
    this.sink = new GraphiteSink(
      context.storage.appender(),
      context.counters,
      log,
      "plaintext",
    );
  }

  /**
   * Reads the line `bytes[start, end)` and appends its sample.
   *
   * @param bytes The bytes holding the line.
   * @param start Where it starts.
   * @param end Where it ends, exclusive, without `\n` or `\r`.
   * @param now The time of arrival, in Unix seconds.
   */
  line(bytes: Uint8Array, start: number, end: number, now: number): void {
    const parser = this.#context.parser;
    const kind = parser.parse(bytes, start, end, now);
    if (kind === LINE_SAMPLE) {
      this.sink.add(parser.key, parser.value, parser.timestamp);
    } else if (kind === LINE_NON_FINITE) {
      this.#context.counters.nonFinite++;
    } else if (kind === LINE_BAD) {
      this.#context.counters.badLines++;
      this.#log.badLine(bytes, start, end, parser.problem);
    }
  }

  /** Counts and reports a line over the length limit, dropped. */
  longLine(): void {
    this.#context.counters.longLines++;
    this.#log.note(
      `dropped a line longer than ${MAX_GRAPHITE_LINE_LENGTH} bytes`,
    );
  }
}
