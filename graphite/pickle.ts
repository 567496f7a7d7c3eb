/**
 * Carbon's pickle protocol: each message is a 4-byte big-endian length, then
 * a pickled list of `(path, (timestamp, value))`, at most 1 MiB. The pickle
 * is read by a restricted reader (`_unpickle.ts`) that knows only the
 * opcodes carbon-relay, statsd and pcp2graphite emit, for protocols 0 to 2.
 *
 * Each entry is then read as carbon does: the path a string (`str` or
 * `bytes`), the timestamp and the value numbers or strings of numbers
 * (statsd sends values as strings). Paths follow Pulse's key rules,
 * timestamps and values the plaintext protocol's: a timestamp is truncated
 * and -1 means the time of arrival, and a value that is not a finite number
 * is dropped. An entry of another shape is skipped and counted, as carbon
 * skips it.
 *
 * @example Usage
 * ```ts
 * import { readPickle } from "./pickle.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * // pickle.dumps([("palm.cpu", (1501864247, 10.6))], protocol=0)
 * const message = new TextEncoder().encode(
 *   "(lp0\n(Vpalm.cpu\np1\n(I1501864247\nF10.6\ntp2\ntp3\na.",
 * );
 * const samples = readPickle(message, 1700000000);
 * deepEqual(samples.keys, ["palm.cpu"]);
 * deepEqual(samples.values, [10.6]);
 * deepEqual(samples.timestamps, [1501864247]);
 * ```
 *
 * @module
 */

import { isKey } from "../protocol/grammar.ts";
import { quote } from "./_quote.ts";
import { PickleList, type PickleValue, Unpickler } from "./_unpickle.ts";
import { parseGraphiteTimestamp, parseGraphiteValue } from "./plaintext.ts";

/** The largest pickle message, in bytes after its length: carbon's. */
export const MAX_PICKLE_MESSAGE = 1024 * 1024;

/** The samples of one pickle message, and what was skipped. */
export interface PickleSamples {
  /** The samples' keys. */
  keys: string[];
  /** Their values, finite. */
  values: number[];
  /** Their timestamps, in Unix seconds. */
  timestamps: number[];
  /** Entries skipped for their shape, path, timestamp or value. */
  bad: number;
  /** Why the first skipped entry was, if any was. */
  problem: string | undefined;
  /** Entries dropped because their value is not a finite number. */
  nonFinite: number;
}

const ENCODER = new TextEncoder();

/** The items of a list or tuple, or `undefined` for anything else. */
function itemsOf(value: PickleValue): readonly PickleValue[] | undefined {
  if (value instanceof PickleList) return value.items;
  return Array.isArray(value) ? value : undefined;
}

/**
 * A value as Python's `float()` reads it: `NaN` when it is not a number, and
 * `Infinity` for a string that spells a NaN or an infinity.
 */
function numberOf(value: PickleValue): number {
  if (typeof value === "number") return value;
  if (typeof value === "boolean") return value ? 1 : 0;
  if (typeof value !== "string") return NaN;
  const bytes = ENCODER.encode(value);
  return parseGraphiteValue(bytes, 0, bytes.length);
}

/** A timestamp by the plaintext protocol's rules; `NaN` when it is none. */
function timestampOf(value: PickleValue, now: number): number {
  if (typeof value === "string") {
    const bytes = ENCODER.encode(value);
    return parseGraphiteTimestamp(bytes, 0, bytes.length, now);
  }
  const number = numberOf(value);
  const timestamp = Math.trunc(number);
  if (!Number.isSafeInteger(timestamp)) return NaN;
  return timestamp === -1 ? now : timestamp + 0;
}

/**
 * Decodes one pickle message into samples.
 *
 * @param message The pickle, without its length.
 * @param now The time of arrival, in Unix seconds, for timestamps of -1.
 * @returns The samples, and counts of the entries skipped.
 * @throws {SyntaxError} When the pickle uses an opcode that is not allowed,
 * is malformed, or does not hold a list.
 */
export function readPickle(message: Uint8Array, now: number): PickleSamples {
  return new PickleReader(message, now).read(Infinity)!;
}

/**
 * Decodes one pickle message into samples a bounded number of steps at a
 * time (an opcode, or an entry read), so that a large message can be
 * decoded between turns of the event loop.
 */
export class PickleReader {
  #unpickler: Unpickler;
  #now: number;
  #entries: readonly PickleValue[] | undefined;
  #next = 0;
  // Paths checked, by the string: a memoized path is checked once.
  #checked = new Map<string, boolean>();
  #samples: PickleSamples = {
    keys: [],
    values: [],
    timestamps: [],
    bad: 0,
    problem: undefined,
    nonFinite: 0,
  };

  /**
   * @param message The pickle, without its length; read until done.
   * @param now The time of arrival, in Unix seconds, for timestamps of -1.
   */
  constructor(message: Uint8Array, now: number) {
    this.#unpickler = new Unpickler(message);
    this.#now = now;
  }

  /**
   * Decodes up to `steps` opcodes, then up to `steps` entries.
   *
   * @param steps How many at most.
   * @returns The samples once done, else `undefined`.
   * @throws {SyntaxError} When the pickle uses an opcode that is not
   * allowed, is malformed, or does not hold a list.
   */
  read(steps: number): PickleSamples | undefined {
    if (this.#entries === undefined) {
      if (!this.#unpickler.run(steps)) return undefined;
      this.#entries = itemsOf(this.#unpickler.result);
      if (this.#entries === undefined) {
        throw new SyntaxError("Cannot read a pickle that does not hold a list");
      }
    }
    const entries = this.#entries;
    const end = Math.min(entries.length, this.#next + steps);
    for (let i = this.#next; i < end; i++) this.#entry(entries[i]);
    this.#next = end;
    return end === entries.length ? this.#samples : undefined;
  }

  /** Counts a skipped entry; the first one's problem is kept. */
  #skip(problem: string, path?: string): void {
    const samples = this.#samples;
    samples.bad++;
    if (samples.problem === undefined) {
      samples.problem = path === undefined
        ? problem
        : `${quote(path)}: ${problem}`;
    }
  }

  /** The path as a key, or `undefined` when it cannot be one. */
  #key(path: PickleValue): string | undefined {
    if (typeof path !== "string") return undefined;
    let valid = this.#checked.get(path);
    if (valid === undefined) {
      valid = isKey(path) && path.isWellFormed();
      this.#checked.set(path, valid);
    }
    return valid ? path : undefined;
  }

  /** Reads one entry: a sample, or a count of what was skipped. */
  #entry(entry: PickleValue): void {
    const pair = itemsOf(entry);
    const point = pair?.length === 2 ? itemsOf(pair[1]) : undefined;
    if (point?.length !== 2) {
      return this.#skip("an entry that is not (path, (timestamp, value))");
    }
    const path = this.#key(pair![0]);
    if (path === undefined) {
      return this.#skip("a path that is not a string without whitespace");
    }
    const timestamp = timestampOf(point[0], this.#now);
    if (timestamp !== timestamp) {
      return this.#skip("the timestamp is not a number of seconds", path);
    }
    const value = numberOf(point[1]);
    const samples = this.#samples;
    if (value !== value && typeof point[1] !== "number") {
      this.#skip("the value is not a number", path);
    } else if (!Number.isFinite(value)) {
      samples.nonFinite++;
    } else {
      samples.keys.push(path);
      samples.values.push(value);
      samples.timestamps.push(timestamp);
    }
  }
}
