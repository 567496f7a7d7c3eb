/**
 * The requests that the load generators send.
 *
 * Put requests keep every series in order: a connection owns the keys whose
 * index modulo the number of connections is its own, and gives each of them
 * increasing timestamps, so that whatever order the server interleaves the
 * connections in, each series receives its samples in order. Values vary so
 * that the server cannot profit from repeated values more than real data
 * would let it.
 *
 * Requests are written byte by byte into a reused buffer from pieces encoded
 * once: with a fast server the load generator is the bottleneck, and building
 * and encoding a string per request would cost it a third of its rate.
 *
 * @module
 */

/**
 * The workloads the load generators know: `graphite` sends Graphite
 * plaintext lines, `<key> <value> <timestamp>`, the samples of `put`.
 */
export type Workload = "put" | "get" | "graphite";

/** How the keys and timestamps of a workload are chosen. */
export interface KeySpace {
  /** Keys are `<prefix><index>.cpu`. */
  prefix: string;
  /** How many keys the workload spreads over. */
  keys: number;
  /** The timestamp of the first sample of every key. */
  timestampStart: number;
}

/** How many distinct values the samples cycle through. */
const VALUE_COUNT = 1009;
/** A timestamp is a safe integer, so at most 16 digits. */
const MAX_TIMESTAMP_DIGITS = 16;
const NEWLINE = 0x0a;
const ZERO = 0x30;

const encoder = new TextEncoder();

/** The value of the sample with the given sequence number. */
export function sampleValue(sequence: number): string {
  return String((sequence % VALUE_COUNT * 7919 % 100_000) / 100);
}

/** The name of the key with the given index. */
export function keyName(prefix: string, index: number): string {
  return `${prefix}${index}.cpu`;
}

const VALUES = Array.from(
  { length: VALUE_COUNT },
  (_, sequence) => encoder.encode(` ${sampleValue(sequence)} `),
);
const LONGEST_VALUE = Math.max(...VALUES.map((value) => value.length));

function copy(from: Uint8Array, to: Uint8Array, offset: number): number {
  // Requests are short: a plain loop beats `set` on a dozen bytes.
  for (let i = 0; i < from.length; i++) to[offset + i] = from[i];
  return offset + from.length;
}

function writeInteger(value: number, to: Uint8Array, offset: number): number {
  let digits = 1;
  for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;
  let rest = value;
  for (let i = offset + digits - 1; i >= offset; i--) {
    to[i] = ZERO + rest % 10;
    rest = Math.floor(rest / 10);
  }
  return offset + digits;
}

/** Produces the requests of one connection, in batches. */
export class RequestSource {
  #workload: Workload;
  #timestampStart: number;
  /** `put <key>`, `get <key>\n` or `<key>`, one per key of this connection. */
  #heads: Uint8Array[];
  #longestRequest: number;
  #buffer = new Uint8Array(0);
  #sent = 0;
  #lastTimestamp: number;

  /**
   * @param workload What the requests do.
   * @param space The keys and timestamps to use.
   * @param connection This connection's index, from 0.
   * @param connections How many connections share the key space.
   */
  constructor(
    workload: Workload,
    space: KeySpace,
    connection: number,
    connections: number,
  ) {
    this.#workload = workload;
    this.#timestampStart = space.timestampStart;
    this.#lastTimestamp = space.timestampStart - 1;
    // Gets may share keys; puts may not, as two connections putting to one
    // key could deliver its samples out of order.
    const [first, step] = workload === "get"
      ? [0, 1]
      : [connection, connections];
    this.#heads = [];
    const head = {
      get: (key: string) => `get ${key}\n`,
      put: (key: string) => `put ${key}`,
      graphite: (key: string) => key,
    }[workload];
    for (let index = first; index < space.keys; index += step) {
      this.#heads.push(encoder.encode(head(keyName(space.prefix, index))));
    }
    if (this.#heads.length === 0) {
      throw new RangeError(
        `${space.keys} keys cannot be spread over ${connections} connections`,
      );
    }
    this.#longestRequest = Math.max(...this.#heads.map((head) => head.length)) +
      LONGEST_VALUE + MAX_TIMESTAMP_DIGITS + 1;
  }

  /** The highest timestamp put so far, or one below the start if none. */
  get lastTimestamp(): number {
    return this.#lastTimestamp;
  }

  /**
   * Returns the next `count` requests, encoded as one block to write. The
   * block is valid until the next call.
   *
   * @param count How many requests the block holds.
   */
  next(count: number): Uint8Array {
    const heads = this.#heads;
    if (this.#buffer.length < count * this.#longestRequest) {
      this.#buffer = new Uint8Array(count * this.#longestRequest);
    }
    const buffer = this.#buffer;
    let offset = 0;
    for (let i = 0; i < count; i++) {
      const sequence = this.#sent++;
      const key = sequence % heads.length;
      offset = copy(heads[key], buffer, offset);
      if (this.#workload !== "get") {
        const timestamp = this.#timestampStart +
          Math.floor(sequence / heads.length);
        offset = copy(VALUES[sequence % VALUE_COUNT], buffer, offset);
        offset = writeInteger(timestamp, buffer, offset);
        buffer[offset++] = NEWLINE;
        this.#lastTimestamp = timestamp;
      }
    }
    return buffer.subarray(0, offset);
  }
}
