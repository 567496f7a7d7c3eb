/**
 * A series: the samples of one key, sorted by timestamp, one value per
 * second. The newest samples are in a raw head chunk, where an append is
 * two stores; once the head is full it is sealed into an encoded chunk
 * (see chunkenc/) kept in the store's arena, and the head takes the next.
 *
 * Invariants: the sealed chunks are in timestamp order, each after the one
 * before, and all before the head's samples.
 *
 * @module
 */

import { ChunkArena } from "./chunk_arena.ts";
import {
  chunkFirst,
  chunkLength,
  decodeChunk,
  encodeChunk,
  type EncodedChunk,
  MAX_CHUNK_SAMPLES,
  type SampleColumns,
} from "./chunkenc/chunkenc.ts";
import { RAW_SAMPLE_BYTES, RawChunk } from "./chunkenc/raw.ts";
import { MAX_SPAN } from "./chunkenc/timestamps.ts";

/** The most samples a head holds: a sealed chunk's usual size. */
export const HEAD_SIZE = 128;
// A new series' head starts this small, so that many short series stay
// cheap, and grows fourfold up to HEAD_SIZE.
const FIRST_HEAD_SIZE = 4;
// A sealed chunk that inserts grow past this splits in two.
const MAX_SEALED_SAMPLES = 2 * HEAD_SIZE;

// Decoded chunks, shared: every use is synchronous and keeps nothing.
const SCRATCH: SampleColumns = {
  timestamps: new Float64Array(MAX_CHUNK_SAMPLES + 1),
  values: new Float64Array(MAX_CHUNK_SAMPLES + 1),
};

/** The next capacity of a head that fills up while it is small. */
function grown(capacity: number): number {
  return Math.min(capacity * 4, HEAD_SIZE);
}

/** The index of the first of `n` timestamps >= `timestamp`. */
function lowerBound(timestamps: Float64Array, n: number, timestamp: number) {
  let low = 0;
  let high = n;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (timestamps[mid] < timestamp) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** The index of the first of `n` timestamps > `timestamp`. */
function upperBound(timestamps: Float64Array, n: number, timestamp: number) {
  let low = 0;
  let high = n;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (timestamps[mid] <= timestamp) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** Moves samples `[from, n)` of the scratch columns by `by` places. */
function shift(n: number, from: number, by: number): void {
  SCRATCH.timestamps.copyWithin(from + by, from, n);
  SCRATCH.values.copyWithin(from + by, from, n);
}

/** One named series of samples, sorted by timestamp, one value per second. */
export class Series {
  /** The series' name. */
  readonly key: string;
  /** Orders series by when their key was first put: larger is later. */
  readonly created: number;
  #arena: ChunkArena;
  // The sealed chunks, in order, by their references in the arena.
  #refs: number[] = [];
  #sealedLast = -Infinity;
  #head: RawChunk | undefined;
  #latest = -Infinity;
  #length = 0;
  #version = 0;

  /**
   * Creates an empty series. Series are normally made by
   * {@linkcode Store.put}.
   *
   * @param key The series' name.
   * @param created Where it sorts among series, by creation.
   * @param arena Where its sealed chunks go: a store's, shared by its
   * series. By default one of its own.
   */
  constructor(key: string, created = 0, arena?: ChunkArena) {
    this.key = key;
    this.created = created;
    this.#arena = arena ?? new ChunkArena((page) => this.relocate(page));
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
    if (this.#length === 0) return undefined;
    return this.#refs.length > 0 ? this.#first(0) : this.#head!.first;
  }

  /** The latest timestamp, or `undefined` when the series is empty. */
  get last(): number | undefined {
    return this.#length === 0 ? undefined : this.#latest;
  }

  /**
   * Stores a sample, replacing the value of an equal timestamp. Appending in
   * timestamp order is O(1), and every {@linkcode HEAD_SIZE} appends the
   * head is encoded; an earlier timestamp costs a binary search and a shift
   * within the head, or decoding and encoding one sealed chunk.
   *
   * @param timestamp A safe integer.
   * @param value A finite number.
   * @returns `true` when the sample is new, `false` when it replaced one.
   */
  put(timestamp: number, value: number): boolean {
    this.#version++;
    // The usual put, after every sample and with room in the head, is
    // decided from fields alone: with many series in turn, each object read
    // is likely a cache miss.
    const head = this.#head;
    if (
      timestamp > this.#latest && head !== undefined &&
      head.length < head.capacity && head.fits(timestamp)
    ) {
      head.append(timestamp, value);
      // As stored: a timestamp of -0 reads back as 0.
      this.#latest = head.last;
      this.#length++;
      return true;
    }
    const added = timestamp > this.#latest
      ? this.#append(timestamp, value)
      : this.#putEarlier(timestamp, value);
    if (this.#arena.pending) this.#arena.settle();
    return added;
  }

  /** Appends after the latest sample, to a head that is full or far off. */
  #append(timestamp: number, value: number): boolean {
    let head = this.#head;
    if (head === undefined) {
      head = this.#setHead(new RawChunk(timestamp, FIRST_HEAD_SIZE));
    } else if (
      head.length === head.capacity && head.capacity < HEAD_SIZE &&
      head.fits(timestamp)
    ) {
      head = this.#setHead(head.resized(grown(head.capacity)));
    } else {
      this.#seal();
      head.clear(timestamp);
    }
    head.append(timestamp, value);
    this.#latest = head.last;
    this.#length++;
    return true;
  }

  /** Puts a sample at or before the latest one. */
  #putEarlier(timestamp: number, value: number): boolean {
    const head = this.#head;
    if (
      head !== undefined && head.length > 0 && head.fits(timestamp) &&
      (timestamp >= head.first || timestamp > this.#sealedLast)
    ) {
      const index = head.lowerBound(timestamp);
      if (index < head.length && head.timestamp(index) === timestamp) {
        head.values[index] = value;
        return false;
      }
      if (head.length === head.capacity && head.capacity < HEAD_SIZE) {
        this.#setHead(head.resized(grown(head.capacity)));
      }
      if (this.#head!.length < this.#head!.capacity) {
        this.#head!.insert(index, timestamp, value);
      } else {
        this.#sealWith(index, timestamp, value);
      }
      this.#length++;
      return true;
    }
    return this.#putSealed(timestamp, value);
  }

  #setHead(head: RawChunk): RawChunk {
    this.#arena.rawBytes += (head.capacity - (this.#head?.capacity ?? 0)) *
      RAW_SAMPLE_BYTES;
    this.#head = head;
    return head;
  }

  /** Encodes the head's samples into a sealed chunk and empties it. */
  #seal(): void {
    const head = this.#head!;
    const n = head.read(SCRATCH);
    if (n === 0) return;
    this.#refs.push(this.#arena.allocate(encodeChunk(SCRATCH, n)));
    this.#sealedLast = SCRATCH.timestamps[n - 1];
    head.clear(this.#latest);
  }

  /** Seals a full head with one more sample inserted at `index`. */
  #sealWith(index: number, timestamp: number, value: number): void {
    const head = this.#head!;
    const n = head.read(SCRATCH);
    shift(n, index, 1);
    SCRATCH.timestamps[index] = timestamp;
    SCRATCH.values[index] = value;
    this.#refs.push(this.#arena.allocate(encodeChunk(SCRATCH, n + 1)));
    this.#sealedLast = this.#latest;
    head.clear(this.#latest);
  }

  /** Puts a sample among the sealed chunks: decodes one and encodes it. */
  #putSealed(timestamp: number, value: number): boolean {
    const refs = this.#refs;
    if (refs.length === 0) {
      this.#insertOwn(0, timestamp, value);
      return true;
    }
    const c = this.#chunkFor(timestamp);
    const n = this.#decode(c);
    const { timestamps, values } = SCRATCH;
    const index = lowerBound(timestamps, n, timestamp);
    if (index < n && timestamps[index] === timestamp) {
      if (Object.is(values[index], value)) return false;
      values[index] = value;
      this.#replace(c, n);
      return false;
    }
    const first = Math.min(timestamps[0], timestamp);
    const last = Math.max(timestamps[n - 1], timestamp);
    if (last - first > MAX_SPAN) {
      // Too far from the chunk's samples to share its encoding.
      this.#insertOwn(index === 0 ? c : c + 1, timestamp, value);
      return true;
    }
    shift(n, index, 1);
    timestamps[index] = timestamp;
    values[index] = value;
    this.#replace(c, n + 1);
    if (c === refs.length - 1 && timestamp > this.#sealedLast) {
      this.#sealedLast = timestamp;
    }
    this.#length++;
    return true;
  }

  /** A chunk of one sample of its own, at place `c` among the sealed. */
  #insertOwn(c: number, timestamp: number, value: number): void {
    SCRATCH.timestamps[0] = timestamp;
    SCRATCH.values[0] = value;
    this.#refs.splice(c, 0, this.#arena.allocate(encodeChunk(SCRATCH, 1)));
    if (c === this.#refs.length - 1) this.#sealedLast = timestamp;
    this.#length++;
  }

  /**
   * Replaces sealed chunk `c` by the `n` samples in the scratch columns,
   * split in two when they are too many for one.
   */
  #replace(c: number, n: number): void {
    const arena = this.#arena;
    arena.free(this.#refs[c]);
    if (n <= MAX_SEALED_SAMPLES) {
      this.#refs[c] = arena.allocate(encodeChunk(SCRATCH, n));
      return;
    }
    const half = n >>> 1;
    const first = arena.allocate(encodeChunk(SCRATCH, half));
    shift(n, half, -half);
    this.#refs.splice(
      c,
      1,
      first,
      arena.allocate(encodeChunk(SCRATCH, n - half)),
    );
  }

  /** Decodes sealed chunk `c` into the scratch columns; returns its length. */
  #decode(c: number): number {
    return decodeChunk(this.#arena.bytes(this.#refs[c]), SCRATCH);
  }

  /** The first timestamp of sealed chunk `c`. */
  #first(c: number): number {
    const ref = this.#refs[c];
    return chunkFirst(this.#arena.page(ref), this.#arena.offset(ref));
  }

  /** The sealed chunk where `timestamp` belongs or would be. */
  #chunkFor(timestamp: number): number {
    let low = 0;
    let high = this.#refs.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >>> 1;
      if (this.#first(mid) <= timestamp) low = mid;
      else high = mid - 1;
    }
    return low;
  }

  /**
   * Copies the samples with `from <= timestamp <= to`, in order, into the
   * given arrays, as many as fit. Call again with `from` just past the last
   * timestamp copied to read on: a cursor that stays right even when samples
   * are put between the calls. Costs O(log n + copied), and decoding the
   * sealed chunks it reads from.
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
    if (this.#length === 0 || from > to) return 0;
    let copied = 0;
    const refs = this.#refs;
    if (refs.length > 0 && from <= this.#sealedLast) {
      for (let c = this.#chunkFor(from); c < refs.length; c++) {
        if (this.#first(c) > to) return copied;
        const n = this.#decode(c);
        const start = copied === 0
          ? lowerBound(SCRATCH.timestamps, n, from)
          : 0;
        const room = timestamps.length - copied;
        let stop = Math.min(n, start + room);
        if (stop > start && SCRATCH.timestamps[stop - 1] > to) {
          stop = upperBound(SCRATCH.timestamps, stop, to);
        }
        timestamps.set(SCRATCH.timestamps.subarray(start, stop), copied);
        values.set(SCRATCH.values.subarray(start, stop), copied);
        copied += stop - start;
        if (stop < n) return copied;
      }
    }
    return copied + this.#readHead(from, to, timestamps, values, copied);
  }

  #readHead(
    from: number,
    to: number,
    timestamps: Float64Array,
    values: Float64Array,
    copied: number,
  ): number {
    const head = this.#head;
    if (head === undefined || head.length === 0) return 0;
    const start = head.lowerBound(from);
    let stop = Math.min(head.length, start + timestamps.length - copied);
    if (stop > start && head.timestamp(stop - 1) > to) {
      stop = head.upperBound(to);
    }
    if (stop <= start) return 0;
    const { base, offsets } = head;
    for (let i = start; i < stop; i++) {
      timestamps[copied + i - start] = base + offsets[i];
    }
    values.set(head.values.subarray(start, stop), copied);
    return stop - start;
  }

  /**
   * Removes the samples older than `cutoff`: whole chunks at once, and the
   * rest of the chunk that holds the cutoff encoded again (or shifted, in
   * the head).
   *
   * @param cutoff The earliest timestamp kept.
   * @returns How many samples were removed.
   */
  dropBefore(cutoff: number): number {
    this.#version++;
    const refs = this.#refs;
    const arena = this.#arena;
    let dropped = 0;
    let whole = 0;
    while (whole < refs.length) {
      if (whole + 1 < refs.length && this.#first(whole + 1) <= cutoff) {
        dropped += this.#sealedLength(whole);
        arena.free(refs[whole++]);
        continue;
      }
      const n = this.#decode(whole);
      const index = lowerBound(SCRATCH.timestamps, n, cutoff);
      if (index === n) {
        dropped += n;
        arena.free(refs[whole++]);
        continue;
      }
      if (index > 0) {
        shift(n, index, -index);
        this.#replace(whole, n - index);
        dropped += index;
      }
      break;
    }
    refs.splice(0, whole);
    if (refs.length === 0) {
      this.#sealedLast = -Infinity;
      const head = this.#head;
      if (head !== undefined && head.length > 0 && head.first < cutoff) {
        const index = head.lowerBound(cutoff);
        head.dropFirst(index);
        dropped += index;
      }
    }
    this.#length -= dropped;
    // Emptied, it starts afresh: the next put is after nothing.
    if (this.#length === 0) this.#latest = -Infinity;
    if (arena.pending) arena.settle();
    return dropped;
  }

  #sealedLength(c: number): number {
    const ref = this.#refs[c];
    return chunkLength(this.#arena.page(ref), this.#arena.offset(ref));
  }

  /**
   * All samples as `[timestamp, value]` pairs, sorted by timestamp; for tests
   * and small series.
   *
   * @returns A new array of pairs.
   */
  toArray(): [timestamp: number, value: number][] {
    const pairs: [number, number][] = [];
    const timestamps = new Float64Array(1024);
    const values = new Float64Array(1024);
    let from = -Infinity;
    while (true) {
      const n = this.read(from, Infinity, timestamps, values);
      for (let i = 0; i < n; i++) pairs.push([timestamps[i], values[i]]);
      if (n < timestamps.length) return pairs;
      from = timestamps[n - 1] + 1;
    }
  }

  /**
   * Hands the samples from `from` on to `visit` as encoded chunks, in
   * order, until at least `bytes` were handed over or all were: sealed
   * chunks as they are, the head encoded. Samples before `from` in the
   * first chunk are left out (it is encoded again without them).
   *
   * @param from The earliest timestamp wanted.
   * @param bytes About how many bytes to hand over.
   * @param visit Receives each chunk; its bytes are valid during the call.
   * @returns The timestamp to go on from, or `undefined` when done.
   */
  chunks(
    from: number,
    bytes: number,
    visit: (chunk: Uint8Array) => void,
  ): number | undefined {
    const refs = this.#refs;
    let handed = 0;
    if (refs.length > 0 && from <= this.#sealedLast) {
      for (let c = this.#chunkFor(from); c < refs.length; c++) {
        handed += this.#visitSealed(c, from, visit);
        const next = c + 1 < refs.length
          ? this.#first(c + 1)
          : this.#sealedLast + 1;
        if (handed >= bytes) return next;
      }
    }
    const head = this.#head;
    if (head === undefined || head.length === 0) return undefined;
    const n = head.read(SCRATCH);
    const start = lowerBound(SCRATCH.timestamps, n, from);
    if (start < n) {
      shift(n, start, -start);
      visit(encodeChunk(SCRATCH, n - start));
    }
    return undefined;
  }

  #visitSealed(
    c: number,
    from: number,
    visit: (chunk: Uint8Array) => void,
  ): number {
    const bytes = this.#arena.bytes(this.#refs[c]);
    if (this.#first(c) >= from) {
      visit(bytes);
      return bytes.length;
    }
    const n = decodeChunk(bytes, SCRATCH);
    const start = lowerBound(SCRATCH.timestamps, n, from);
    if (start === n) return 0;
    shift(n, start, -start);
    const encoded = encodeChunk(SCRATCH, n - start);
    visit(encoded);
    return encoded.length;
  }

  /**
   * Adds a checked chunk's samples: as the chunk itself, copied into the
   * arena, when they all come after the latest sample (restoring a
   * snapshot), else one by one.
   *
   * @param chunk An encoded chunk, checked.
   * @param samples Its samples, decoded.
   * @returns How many samples are new.
   */
  adopt(chunk: EncodedChunk, samples: SampleColumns): number {
    this.#version++;
    if (chunk.first <= this.#latest) {
      let added = 0;
      for (let i = 0; i < chunk.length; i++) {
        if (this.put(samples.timestamps[i], samples.values[i])) added++;
      }
      return added;
    }
    if (this.#head !== undefined) this.#seal();
    this.#refs.push(this.#arena.allocate(chunk.bytes));
    this.#sealedLast = this.#latest = chunk.last;
    this.#head?.clear(this.#latest);
    this.#length += chunk.length;
    return chunk.length;
  }

  /**
   * Moves the sealed chunks that lie in an arena page out of it.
   *
   * @param page The page's number.
   */
  relocate(page: number): void {
    const refs = this.#refs;
    for (let c = 0; c < refs.length; c++) {
      if (this.#arena.inPage(refs[c], page)) {
        refs[c] = this.#arena.move(refs[c]);
      }
    }
  }

  /** Frees every chunk: the series is left empty, for deletion. */
  release(): void {
    this.#version++;
    for (const ref of this.#refs) this.#arena.free(ref);
    this.#refs = [];
    this.#sealedLast = -Infinity;
    if (this.#head !== undefined) {
      this.#arena.rawBytes -= this.#head.capacity * RAW_SAMPLE_BYTES;
      this.#head = undefined;
    }
    this.#latest = -Infinity;
    this.#length = 0;
    if (this.#arena.pending) this.#arena.settle();
  }
}
