/**
 * A series: the samples of one key, sorted by timestamp, one value per
 * second, kept in chunks.
 *
 * @module
 */

import { Chunk, CHUNK_SIZE, FIRST_CHUNK_SIZE } from "./chunk.ts";

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
