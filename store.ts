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
import { ChunkArena, type ChunkFigures } from "./store/chunk_arena.ts";
import type { EncodedChunk, SampleColumns } from "./store/chunkenc/chunkenc.ts";
import { KeyIndex } from "./store/key_index.ts";
import type { Pattern } from "./store/pattern.ts";
import { Series } from "./store/series.ts";

/** Statistics of a {@linkcode Store}. */
export interface StoreStats {
  /** How many series there are. */
  series: number;
  /** How many samples there are in all series. */
  samples: number;
}

export {
  ChunkArena,
  type ChunkFigures,
  type EncodingFigures,
  type Relocate,
} from "./store/chunk_arena.ts";
export {
  type Chunk,
  type ChunkAppender,
  decodeChunk,
  encodeChunk,
  EncodedChunk,
  type EncodeOptions,
  Encoding,
  ENCODING_NAMES,
  MAX_CHUNK_SAMPLES,
  type SampleColumns,
} from "./store/chunkenc/chunkenc.ts";

/**
 * Series by name, in the order their names were first put.
 */
export class Store {
  #series = new Map<string, Series>();
  #samples = 0;
  #created = 0;
  #index = new KeyIndex();
  // The sealed chunks of every series; when a page of it is mostly free,
  // what is left in it moves, series by series.
  #arena = new ChunkArena((page) => {
    for (const series of this.#series.values()) series.relocate(page);
  });

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
    const series = this.#series.get(key) ?? this.#create(key);
    if (series.put(timestamp, value)) this.#samples++;
  }

  #create(key: string): Series {
    if (!isKey(key)) {
      throw new TypeError(
        `Cannot put ${
          JSON.stringify(key)
        }: a key is not empty and holds no whitespace`,
      );
    }
    const series = new Series(key, this.#created++, this.#arena);
    this.#series.set(key, series);
    this.#index.add(series);
    return series;
  }

  /**
   * Stores the samples of an encoded chunk, restoring a snapshot: after the
   * series' latest sample, the chunk is kept as it is; otherwise its samples
   * are put one by one.
   *
   * @param key The series' name: not empty, no whitespace.
   * @param chunk A checked chunk.
   * @param samples Its samples, as it decoded them.
   * @throws {TypeError} When the key is empty or holds whitespace.
   */
  putChunk(
    key: string,
    chunk: EncodedChunk,
    samples: SampleColumns,
  ): void {
    const series = this.#series.get(key) ?? this.#create(key);
    this.#samples += series.adopt(chunk, samples);
  }

  /**
   * The series whose names match `pattern`, in the order their keys were
   * first put.
   *
   * @param pattern A compiled pattern.
   * @returns The matching series.
   */
  match(pattern: Pattern): Series[] {
    return [...this.#index.match(pattern)].sort((a, b) =>
      a.created - b.created
    );
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
    this.#index.remove(key);
    series.release();
    return true;
  }

  /** How many series and samples the store holds. */
  get stats(): StoreStats {
    return { series: this.#series.size, samples: this.#samples };
  }

  /**
   * What the samples take in memory, by the encoding of their chunks: the
   * raw heads of the series, and their sealed chunks.
   *
   * @returns Bytes and samples by encoding, and the arena's pages.
   */
  chunkFigures(): ChunkFigures {
    const figures = this.#arena.figures();
    let sealed = 0;
    for (const { samples } of Object.values(figures.encodings)) {
      sealed += samples;
    }
    figures.encodings = {
      raw: { bytes: this.#arena.rawBytes, samples: this.#samples - sealed },
      ...figures.encodings,
    };
    return figures;
  }
}

export { isKey, Series };
