/**
 * One connection of carbon's pickle protocol: messages are framed by their
 * length, decoded one at a time, and their samples committed once per
 * message before the next is read. Nothing is answered.
 *
 * A message over 1 MiB, or one the restricted reader refuses, closes the
 * connection: it is counted, logged, and nothing of it is stored. The read
 * buffer grows only as bytes arrive, doubling up to one message, and
 * shrinks back once it is empty, so a sender that announces a large
 * message and trickles it holds no more memory than it sent.
 *
 * @module
 */

import { nextTurn } from "../internal/turns.ts";
import {
  type ConnectionState,
  type FeedContext,
  GraphiteSink,
  ProblemLog,
  SLICE_MS,
} from "./_ingest.ts";
import {
  MAX_PICKLE_MESSAGE,
  PickleReader,
  type PickleSamples,
} from "./pickle.ts";

const INITIAL_BUFFER = 64 * 1024;
const LENGTH_BYTES = 4;
// Samples appended, or opcodes and entries decoded, between looks at the
// clock.
const STEPS_PER_LOOK = 1024;

/** Frames a connection's messages by their 4-byte big-endian length. */
class MessageReader {
  #conn: Deno.Conn;
  #onRead: (n: number) => void;
  #buffer = new Uint8Array(INITIAL_BUFFER);
  #start = 0;
  #end = 0;

  constructor(conn: Deno.Conn, onRead: (n: number) => void) {
    this.#conn = conn;
    this.#onRead = onRead;
  }

  /**
   * The next message, valid until the next call; `null` at the end of the
   * connection (a message cut short is dropped); the announced length when
   * it is over the limit.
   */
  async next(): Promise<Uint8Array | number | null> {
    while (true) {
      const available = this.#end - this.#start;
      if (available >= LENGTH_BYTES) {
        const buffer = this.#buffer;
        const at = this.#start;
        const length = ((buffer[at] << 24) | (buffer[at + 1] << 16) |
          (buffer[at + 2] << 8) | buffer[at + 3]) >>> 0;
        if (length > MAX_PICKLE_MESSAGE) return length;
        if (available >= LENGTH_BYTES + length) {
          this.#start = at + LENGTH_BYTES + length;
          return buffer.subarray(at + LENGTH_BYTES, this.#start);
        }
      }
      this.#makeRoom();
      const n = await this.#conn.read(this.#buffer.subarray(this.#end));
      if (n === null) return null;
      this.#end += n;
      this.#onRead(n);
    }
  }

  /** Frees room to read into: moves, grows or shrinks the buffer. */
  #makeRoom(): void {
    if (this.#start === this.#end) {
      this.#start = this.#end = 0;
      if (this.#buffer.length > INITIAL_BUFFER) {
        this.#buffer = new Uint8Array(INITIAL_BUFFER);
      }
      return;
    }
    if (this.#end < this.#buffer.length) return;
    if (this.#start > 0) {
      this.#buffer.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
      return;
    }
    // Full from its start, and the message not complete: it is larger.
    const grown = new Uint8Array(
      Math.min(this.#buffer.length * 2, LENGTH_BYTES + MAX_PICKLE_MESSAGE),
    );
    grown.set(this.#buffer.subarray(0, this.#end));
    this.#buffer = grown;
  }
}

/**
 * Decodes a message, a slice at a time and one message at a time across
 * connections.
 *
 * @throws {SyntaxError} When the reader refuses the message.
 */
async function decode(
  message: Uint8Array,
  context: FeedContext,
): Promise<PickleSamples> {
  const reader = new PickleReader(message, Math.floor(Date.now() / 1000));
  const entering = context.decoding.enter();
  if (entering !== undefined) await entering;
  try {
    while (true) {
      const samples = reader.read(STEPS_PER_LOOK);
      if (samples !== undefined) return samples;
      if (context.turns.overdue(SLICE_MS)) await nextTurn();
    }
  } finally {
    context.decoding.leave();
  }
}

/** Appends a message's samples, giving way to others now and then. */
async function store(
  samples: PickleSamples,
  sink: GraphiteSink,
  context: FeedContext,
): Promise<void> {
  const { keys, values, timestamps } = samples;
  for (let i = 0; i < keys.length; i++) {
    sink.add(keys[i], values[i], timestamps[i]);
    if (
      (i % STEPS_PER_LOOK) === STEPS_PER_LOOK - 1 &&
      context.turns.overdue(SLICE_MS)
    ) {
      const committing = sink.commit();
      if (committing !== undefined) await committing;
      await nextTurn();
    }
  }
  const committing = sink.commit();
  if (committing !== undefined) await committing;
}

/**
 * Reads a connection's messages until it ends, a message is refused, or
 * the listeners shut down.
 *
 * @param conn The connection.
 * @param context What the feeds share.
 * @param state The peer's address; updated for the idle sweep.
 */
export async function servePickle(
  conn: Deno.Conn,
  context: FeedContext,
  state: ConnectionState,
): Promise<void> {
  const { counters, turns } = context;
  const log = new ProblemLog(context.onLog, state.source);
  const sink = new GraphiteSink(
    context.storage.appender(),
    counters,
    log,
    "pickle",
  );
  const messages = new MessageReader(conn, (n) => {
    counters.bytesIn += n;
    state.activity++;
  });
  try {
    while (!context.closing()) {
      const message = await messages.next();
      if (message === null) break;
      if (turns.overdue(SLICE_MS)) await nextTurn();
      let samples: PickleSamples;
      try {
        if (typeof message === "number") {
          throw new RangeError(
            `Cannot take a message of ${message} bytes: over ${MAX_PICKLE_MESSAGE}`,
          );
        }
        samples = await decode(message, context);
      } catch (error) {
        if (!(error instanceof SyntaxError || error instanceof RangeError)) {
          throw error;
        }
        counters.pickleRefused++;
        log.note(`closed the connection: ${error.message}`);
        break;
      }
      counters.pickleMessages++;
      counters.nonFinite += samples.nonFinite;
      if (samples.bad > 0) {
        counters.badLines += samples.bad;
        log.note(
          `skipped ${samples.bad} entries; the first: ${samples.problem}`,
        );
      }
      await store(samples, sink, context);
    }
  } finally {
    sink.rollback();
  }
}
