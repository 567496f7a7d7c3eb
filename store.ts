/**
 * The in-memory store that all connections share: series of samples, each
 * sorted by timestamp, keyed by name in the order they were first put.
 *
 * Pure TypeScript with no I/O, so that the server, the durability layer and
 * tests can all drive it directly.
 *
 * @example Usage
 * ```ts
 * import { Store } from "@pulse/metrics";
 * import { deepEqual } from "node:assert/strict";
 *
 * const store = new Store();
 * store.put("palm.cpu", 0.5, 1150864247);
 * store.put("palm.cpu", 2.0, 1150864248);
 * deepEqual(store.get("palm.cpu")?.toArray(), [
 *   [1150864247, 0.5],
 *   [1150864248, 2.0],
 * ]);
 * ```
 *
 * @module
 */

import { isKey } from "./protocol/grammar.ts";
import { matchesOne, type PathGlob, pathGlob } from "./store/_path_glob.ts";
import type { Pattern } from "./store/pattern.ts";

// Samples per chunk. Series grow by whole chunks rather than by copying one
// ever larger array: copies leave garbage behind that the allocator keeps
// resident, while fixed chunks cost a few bytes of headers per sample.
const CHUNK_SIZE = 512;
// A new series starts this small, so that many short series stay cheap.
const FIRST_CHUNK_SIZE = 4;
// Timestamps are kept as 32-bit offsets from their chunk's base: 12 bytes a
// sample instead of 16. A timestamp too far from a chunk's base starts a
// chunk of its own.
const MAX_OFFSET = 2 ** 31 - 1;
const MIN_OFFSET = -(2 ** 31);

/**
 * One run of samples, values and timestamp offsets as columns in one buffer.
 * Sorted, and every timestamp within 32 bits of `base`.
 */
class Chunk {
  readonly base: number;
  values: Float64Array;
  offsets: Int32Array;
  length = 0;

  constructor(base: number, capacity: number) {
    this.base = base;
    const buffer = new ArrayBuffer(capacity * 12);
    this.values = new Float64Array(buffer, 0, capacity);
    this.offsets = new Int32Array(buffer, capacity * 8, capacity);
  }

  get capacity(): number {
    return this.values.length;
  }

  get first(): number {
    return this.base + this.offsets[0];
  }

  get last(): number {
    return this.base + this.offsets[this.length - 1];
  }

  /** Whether `timestamp` can be kept in this chunk. */
  fits(timestamp: number): boolean {
    const offset = timestamp - this.base;
    return offset >= MIN_OFFSET && offset <= MAX_OFFSET;
  }

  timestamp(index: number): number {
    return this.base + this.offsets[index];
  }

  /** The index of the first timestamp >= `timestamp`, or `length`. */
  lowerBound(timestamp: number): number {
    const offset = timestamp - this.base;
    const offsets = this.offsets;
    let low = 0;
    let high = this.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (offsets[mid] < offset) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  /** The index of the first timestamp > `timestamp`, or `length`. */
  upperBound(timestamp: number): number {
    const offset = timestamp - this.base;
    const offsets = this.offsets;
    let low = 0;
    let high = this.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (offsets[mid] <= offset) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  /** Adds a sample after the last; it must fit and there must be room. */
  append(timestamp: number, value: number): void {
    this.offsets[this.length] = timestamp - this.base;
    this.values[this.length] = value;
    this.length++;
  }

  /** Inserts at `index`, shifting later samples; there must be room. */
  insert(index: number, timestamp: number, value: number): void {
    const { offsets, values } = this;
    offsets.copyWithin(index + 1, index, this.length);
    values.copyWithin(index + 1, index, this.length);
    offsets[index] = timestamp - this.base;
    values[index] = value;
    this.length++;
  }

  /** A copy with room for `capacity` samples. */
  resized(capacity: number): Chunk {
    const chunk = new Chunk(this.base, capacity);
    chunk.offsets.set(this.offsets.subarray(0, this.length));
    chunk.values.set(this.values.subarray(0, this.length));
    chunk.length = this.length;
    return chunk;
  }

  /** Moves the samples from `index` on into a new chunk and returns it. */
  split(index: number): Chunk {
    const chunk = new Chunk(this.base, CHUNK_SIZE);
    chunk.offsets.set(this.offsets.subarray(index, this.length));
    chunk.values.set(this.values.subarray(index, this.length));
    chunk.length = this.length - index;
    this.length = index;
    return chunk;
  }
}

/** One named series of samples, sorted by timestamp, one value per second. */
export class Series {
  /** The series' name. */
  readonly key: string;
  /** Orders series by when their key was first put: larger is later. */
  readonly created: number;
  #chunks: Chunk[] = [];
  // The last chunk and the latest timestamp, kept at hand for appends.
  #tail: Chunk | undefined;
  #latest = -Infinity;
  #length = 0;
  #version = 0;

  /**
   * Creates an empty series. Series are normally made by
   * {@linkcode Store.put}.
   *
   * @param key The series' name.
   * @param created Where it sorts among series, by creation.
   */
  constructor(key: string, created = 0) {
    this.key = key;
    this.created = created;
  }

  /** How many samples the series holds. */
  get length(): number {
    return this.#length;
  }

  /**
   * Grows with every change to the series, so that what was derived from
   * it (a rendered answer) can tell whether it is still current.
   */
  get version(): number {
    return this.#version;
  }

  /** The earliest timestamp, or `undefined` when the series is empty. */
  get first(): number | undefined {
    return this.#length === 0 ? undefined : this.#chunks[0].first;
  }

  /** The latest timestamp, or `undefined` when the series is empty. */
  get last(): number | undefined {
    return this.#length === 0 ? undefined : this.#latest;
  }

  /**
   * Stores a sample, replacing the value of an equal timestamp. Appending in
   * timestamp order is O(1); an earlier timestamp costs a binary search and
   * a shift within one chunk.
   *
   * @param timestamp A safe integer.
   * @param value A finite number.
   * @returns `true` when the sample is new, `false` when it replaced one.
   */
  put(timestamp: number, value: number): boolean {
    this.#version++;
    // The usual put, after every sample and with room in the last chunk, is
    // decided from fields alone: with many series in turn, each object read
    // is likely a cache miss.
    const tail = this.#tail;
    if (
      timestamp > this.#latest && tail !== undefined &&
      tail.length < tail.capacity && tail.fits(timestamp)
    ) {
      tail.append(timestamp, value);
      // As stored: a timestamp of -0 reads back as 0.
      this.#latest = tail.last;
      this.#length++;
      return true;
    }
    const chunks = this.#chunks;
    const c = chunks.length - 1;
    const chunk = chunks[c];
    if (chunk !== undefined && timestamp <= chunk.last) {
      const added = this.#putEarlier(timestamp, value);
      this.#tail = chunks.at(-1);
      return added;
    }
    if (chunk === undefined || !chunk.fits(timestamp)) {
      chunks.push(new Chunk(timestamp, FIRST_CHUNK_SIZE));
    } else if (chunk.length === chunk.capacity) {
      chunks.push(
        chunk.capacity < CHUNK_SIZE
          ? chunk.resized(Math.min(chunk.capacity * 4, CHUNK_SIZE))
          : new Chunk(timestamp, CHUNK_SIZE),
      );
      if (chunk.capacity < CHUNK_SIZE) chunks.splice(c, 1);
    }
    this.#tail = chunks[chunks.length - 1];
    this.#tail.append(timestamp, value);
    this.#latest = this.#tail.last;
    this.#length++;
    return true;
  }

  #putEarlier(timestamp: number, value: number): boolean {
    const chunks = this.#chunks;
    const c = this.#chunkFor(timestamp);
    let chunk = chunks[c];
    if (!chunk.fits(timestamp)) {
      // Before the first chunk or past the end of this one, far off.
      const at = timestamp < chunk.first ? c : c + 1;
      const own = new Chunk(timestamp, FIRST_CHUNK_SIZE);
      own.append(timestamp, value);
      chunks.splice(at, 0, own);
      this.#length++;
      return true;
    }
    const index = chunk.lowerBound(timestamp);
    if (index < chunk.length && chunk.timestamp(index) === timestamp) {
      chunk.values[index] = value;
      return false;
    }
    if (chunk.length === chunk.capacity) {
      if (chunk.capacity < CHUNK_SIZE) {
        chunk = chunk.resized(Math.min(chunk.capacity * 4, CHUNK_SIZE));
        chunks[c] = chunk;
      } else {
        const tail = chunk.split(CHUNK_SIZE / 2);
        chunks.splice(c + 1, 0, tail);
        if (index > chunk.length) {
          tail.insert(index - chunk.length, timestamp, value);
          this.#length++;
          return true;
        }
      }
    }
    chunk.insert(index, timestamp, value);
    this.#length++;
    return true;
  }

  /** The index of the chunk where `timestamp` belongs or would be. */
  #chunkFor(timestamp: number): number {
    const chunks = this.#chunks;
    let low = 0;
    let high = chunks.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >>> 1;
      if (chunks[mid].first <= timestamp) low = mid;
      else high = mid - 1;
    }
    return low;
  }

  /**
   * Copies the samples with `from <= timestamp <= to`, in order, into the
   * given arrays, as many as fit. Call again with `from` just past the last
   * timestamp copied to read on: a cursor that stays right even when samples
   * are put between the calls. Costs O(log n + copied).
   *
   * @param from The earliest timestamp wanted.
   * @param to The latest timestamp wanted.
   * @param timestamps Where the timestamps go.
   * @param values Where the values go; at least as long as `timestamps`.
   * @returns How many samples were copied.
   */
  read(
    from: number,
    to: number,
    timestamps: Float64Array,
    values: Float64Array,
  ): number {
    const chunks = this.#chunks;
    if (this.#length === 0 || from > to) return 0;
    let c = this.#chunkFor(from);
    let index = chunks[c].lowerBound(from);
    let copied = 0;
    while (c < chunks.length && copied < timestamps.length) {
      const chunk = chunks[c];
      let stop = Math.min(chunk.length, index + timestamps.length - copied);
      if (stop > index && chunk.timestamp(stop - 1) > to) {
        stop = chunk.upperBound(to);
      }
      if (stop > index) {
        const { base, offsets } = chunk;
        for (let i = index; i < stop; i++) {
          timestamps[copied + i - index] = base + offsets[i];
        }
        values.set(chunk.values.subarray(index, stop), copied);
        copied += stop - index;
      }
      if (stop < chunk.length) break;
      c++;
      index = 0;
    }
    return copied;
  }

  /**
   * The value at `timestamp`.
   *
   * @param timestamp A timestamp.
   * @returns The value, or `undefined` when there is no sample then.
   */
  at(timestamp: number): number | undefined {
    if (this.#length === 0) return undefined;
    const chunk = this.#chunks[this.#chunkFor(timestamp)];
    const index = chunk.lowerBound(timestamp);
    return index < chunk.length && chunk.timestamp(index) === timestamp
      ? chunk.values[index]
      : undefined;
  }

  /**
   * Removes the samples older than `cutoff`: whole chunks at once, and a
   * shift within the chunk that holds the cutoff.
   *
   * @param cutoff The earliest timestamp kept.
   * @returns How many samples were removed.
   */
  dropBefore(cutoff: number): number {
    this.#version++;
    const chunks = this.#chunks;
    let whole = 0;
    let dropped = 0;
    while (whole < chunks.length && chunks[whole].last < cutoff) {
      dropped += chunks[whole].length;
      whole++;
    }
    chunks.splice(0, whole);
    const chunk = chunks[0];
    if (chunk !== undefined && chunk.first < cutoff) {
      const index = chunk.lowerBound(cutoff);
      chunk.offsets.copyWithin(0, index, chunk.length);
      chunk.values.copyWithin(0, index, chunk.length);
      chunk.length -= index;
      dropped += index;
    }
    this.#length -= dropped;
    this.#tail = chunks.at(-1);
    return dropped;
  }

  /**
   * All samples as `[timestamp, value]` pairs, sorted by timestamp; for tests
   * and small series.
   *
   * @returns A new array of pairs.
   */
  toArray(): [timestamp: number, value: number][] {
    const pairs: [number, number][] = [];
    for (const chunk of this.#chunks) {
      for (let i = 0; i < chunk.length; i++) {
        pairs.push([chunk.timestamp(i), chunk.values[i]]);
      }
    }
    return pairs;
  }
}

interface IndexNode {
  children: Map<string, IndexNode>;
  series: Series | undefined;
}

/** Statistics of a {@linkcode Store}. */
export interface StoreStats {
  /** How many series there are. */
  series: number;
  /** How many samples there are in all series. */
  samples: number;
}

/**
 * Series by name, in the order their names were first put.
 */
export class Store {
  #series = new Map<string, Series>();
  #samples = 0;
  #created = 0;
  // Series by dot-separated segments, so that a pattern visits only the
  // branches its segments can match.
  #index: IndexNode = { children: new Map(), series: undefined };

  /**
   * Stores a sample. The same key and timestamp again replaces the value.
   *
   * @param key The series' name: not empty, no whitespace.
   * @param value A finite number.
   * @param timestamp Unix seconds, a safe integer.
   * @throws {TypeError} When the key is empty or holds whitespace.
   * @throws {RangeError} When the value is not finite or the timestamp not a
   * safe integer.
   */
  put(key: string, value: number, timestamp: number): void {
    if (!Number.isFinite(value)) {
      throw new RangeError(`Cannot put ${value}: not a finite number`);
    }
    if (!Number.isSafeInteger(timestamp)) {
      throw new RangeError(
        `Cannot put at ${timestamp}: not a safe integer timestamp`,
      );
    }
    let series = this.#series.get(key);
    if (series === undefined) {
      if (!isKey(key)) {
        throw new TypeError(
          `Cannot put ${
            JSON.stringify(key)
          }: a key is not empty and holds no whitespace`,
        );
      }
      series = new Series(key, this.#created++);
      this.#series.set(key, series);
      let node = this.#index;
      for (const segment of key.split(".")) {
        let child = node.children.get(segment);
        if (child === undefined) {
          child = { children: new Map(), series: undefined };
          node.children.set(segment, child);
        }
        node = child;
      }
      node.series = series;
    }
    if (series.put(timestamp, value)) this.#samples++;
  }

  /**
   * The series whose names match `pattern`, in the order their keys were
   * first put. The segments before any `**` follow the index level by level,
   * a literal one along its branch alone; below them, `**` visits every
   * node once per alternative.
   *
   * @param pattern A compiled pattern.
   * @returns The matching series.
   */
  match(pattern: Pattern): Series[] {
    const found = new Set<Series>();
    for (const segments of pattern.alternatives) {
      const glob = pathGlob(segments);
      let level = [this.#index];
      for (const segment of glob.prefix) {
        const next: IndexNode[] = [];
        for (const node of level) {
          if (typeof segment === "string") {
            const child = node.children.get(segment);
            if (child !== undefined) next.push(child);
            continue;
          }
          for (const [name, child] of node.children) {
            if (matchesOne(segment, name)) next.push(child);
          }
        }
        level = next;
      }
      for (const node of level) {
        if (glob.runs.length > 0) this.#below(node, glob, found);
        else if (node.series !== undefined) found.add(node.series);
      }
    }
    return [...found].sort((a, b) => a.created - b.created);
  }

  /**
   * Adds the series below `start` that the runs of `glob` match, `start`
   * having matched its prefix: a walk of every node below, each once,
   * carrying along the path which run it is in and that run's state.
   */
  #below(start: IndexNode, glob: PathGlob, found: Set<Series>): void {
    const { runs, words } = glob;
    const last = runs.length - 1;
    // The state after the node at depth d sits at d * words; depth 0 is
    // `start`, before any run has read anything.
    let states = new Uint32Array(words * 16);
    // A stack, not recursion: keys may be thousands of segments deep.
    const children = [start.children.entries()];
    const inRun = [0];
    while (children.length > 0) {
      const depth = children.length - 1;
      const next = children[depth].next();
      if (next.done) {
        children.pop();
        inRun.pop();
        continue;
      }
      const [name, child] = next.value;
      const to = (depth + 1) * words;
      if (to + words > states.length) {
        const grown = new Uint32Array(states.length * 2);
        grown.set(states);
        states = grown;
      }
      let run = inRun[depth];
      const ended = runs[run].step(states, depth * words, to, name);
      if (run === last) {
        if (ended && child.series !== undefined) found.add(child.series);
      } else if (ended) {
        // The next run starts after this segment.
        run++;
        states.fill(0, to, to + words);
      }
      if (child.children.size > 0) {
        children.push(child.children.entries());
        inRun.push(run);
      }
    }
  }

  /**
   * Removes the samples older than `cutoff` from every series, and the
   * series left empty.
   *
   * @param cutoff The earliest timestamp kept.
   * @returns How many samples were removed.
   */
  dropBefore(cutoff: number): number {
    let dropped = 0;
    for (const series of this.#series.values()) {
      if (series.first! >= cutoff) continue;
      const n = series.dropBefore(cutoff);
      dropped += n;
      this.#samples -= n;
      if (series.length === 0) this.delete(series.key);
    }
    return dropped;
  }

  /**
   * The series named `key`.
   *
   * @param key The series' name.
   * @returns The series, or `undefined` when nothing was put under it.
   */
  get(key: string): Series | undefined {
    return this.#series.get(key);
  }

  /**
   * Every series in the order their keys were first put. The iterator stays
   * valid while series are added or deleted: it sees the new ones.
   *
   * @returns An iterator of series.
   */
  series(): MapIterator<Series> {
    return this.#series.values();
  }

  /**
   * Removes the series named `key`.
   *
   * @param key The series' name.
   * @returns Whether there was such a series.
   */
  delete(key: string): boolean {
    const series = this.#series.get(key);
    if (series === undefined) return false;
    this.#samples -= series.length;
    this.#series.delete(key);
    // Unlink the key's node and prune the branches left empty.
    const path: IndexNode[] = [this.#index];
    const segments = key.split(".");
    for (const segment of segments) {
      path.push(path.at(-1)!.children.get(segment)!);
    }
    path.at(-1)!.series = undefined;
    for (let i = segments.length; i > 0; i--) {
      const node = path[i];
      if (node.series !== undefined || node.children.size > 0) break;
      path[i - 1].children.delete(segments[i - 1]);
    }
    return true;
  }

  /** How many series and samples the store holds. */
  get stats(): StoreStats {
    return { series: this.#series.size, samples: this.#samples };
  }
}

export { isKey };
