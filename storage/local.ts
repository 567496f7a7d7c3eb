/**
 * The local backend: series in this process's memory, with an optional data
 * directory (a log and snapshots) that keeps them across restarts, and
 * retention. It answers at once: appends, commits without a log, and reads
 * never cost a promise.
 *
 * @example In memory
 * ```ts
 * import { LocalStorage } from "@pulse/metrics";
 * import { equal } from "node:assert/strict";
 *
 * await using storage = new LocalStorage();
 * const appender = storage.appender();
 * appender.append("palm.cpu", 10.6, 1501864247);
 * appender.commit();
 * equal(storage.store.get("palm.cpu")?.length, 1);
 * ```
 *
 * @module
 */

import {
  type DataDir,
  type DataDirOptions,
  openDataDir,
  type RestoreSummary,
} from "../persist/data_dir.ts";
import { type Logger, SILENT } from "../internal/logger.ts";
import { Store } from "../store.ts";
import { LocalAppender } from "./_local_appender.ts";
import { LocalQuerier } from "./_local_querier.ts";
import { LocalWriter } from "./_local_writer.ts";
import type {
  Appender,
  Querier,
  Storage,
  StorageSnapshot,
  StorageStats,
} from "./storage.ts";

/** Options of {@linkcode LocalStorage} and {@linkcode openStorage}. */
export interface LocalStorageOptions {
  /**
   * Seconds samples are kept: older ones are dropped, at start and at least
   * once a minute (from the log too), and puts of older ones are refused.
   * Kept for ever when unset.
   *
   * @default {undefined}
   */
  retention?: number;
  /**
   * The event log: `retention`, each time old samples are dropped, with
   * how many; with a data directory also its `restore` and `compaction`.
   *
   * @default {a logger that writes nothing}
   */
  logger?: Logger;
}

/** Options of {@linkcode openStorage}: a data directory's, and retention. */
export interface StorageOptions extends DataDirOptions, LocalStorageOptions {}

// How often retention drops old samples at most: at least once a minute.
const RETENTION_CHECK_MS = 60_000;
// How often the retention window's start moves on, for refusing puts.
const CUTOFF_STEP_MS = 1_000;

/** Writes a number of seconds as the largest whole unit: `30d`, `90s`. */
function formatSeconds(seconds: number): string {
  for (const [unit, size] of [["w", 604_800], ["d", 86_400], ["h", 3_600]]) {
    if (seconds % (size as number) === 0) {
      return `${seconds / (size as number)}${unit}`;
    }
  }
  return seconds % 60 === 0 ? `${seconds / 60}m` : `${seconds}s`;
}

/** Samples in this process's memory, and on disk with a data directory. */
export class LocalStorage implements Storage {
  /** `memory` without a data directory, `local` with one. */
  readonly backend: "memory" | "local";
  /** The store. */
  readonly store: Store;
  /** Reads, at once. */
  readonly querier: Querier;
  #dataDir: DataDir | undefined;
  #writer: LocalWriter;
  #logger: Logger;
  #timers: ReturnType<typeof setInterval>[] = [];
  #closing: Promise<void> | undefined;

  /**
   * Serves `store` (a new one by default) in memory, or the store of an
   * open data directory.
   *
   * @param options Retention; `store` or `dataDir`, the one to serve.
   * @throws {TypeError} When both `store` and `dataDir` are given.
   * @throws {RangeError} When the retention is not a positive number.
   */
  constructor(
    options: LocalStorageOptions & { store?: Store; dataDir?: DataDir } = {},
  ) {
    if (options.store !== undefined && options.dataDir !== undefined) {
      throw new TypeError("Cannot serve both a store and a data directory");
    }
    const retention = options.retention;
    if (retention !== undefined && !(retention > 0)) {
      throw new RangeError(
        `Cannot keep samples for ${retention} seconds: not a number > 0`,
      );
    }
    this.#dataDir = options.dataDir;
    this.backend = this.#dataDir === undefined ? "memory" : "local";
    this.store = this.#dataDir?.store ?? options.store ?? new Store();
    this.querier = new LocalQuerier(this.store);
    const journal = this.#dataDir?.journal;
    this.#writer = new LocalWriter(this.store, journal, {
      deferred: journal?.policy === "always",
      retention: retention === undefined ? undefined : formatSeconds(retention),
    });
    this.#logger = options.logger ?? SILENT;
    if (retention !== undefined) this.#startRetention(retention);
  }

  /** What start-up restored, with a data directory. */
  get restored(): RestoreSummary | undefined {
    return this.#dataDir?.restored;
  }

  /** Sizes of the snapshot and of the current log, with a data directory. */
  get sizes(): { snapshot: number; log: number } | undefined {
    return this.#dataDir?.sizes;
  }

  /**
   * Starts a run of changes.
   *
   * @returns A new appender.
   */
  appender(): Appender {
    return new LocalAppender(this.#writer);
  }

  /**
   * Writes a new snapshot and drops the logs it holds, while serving goes
   * on.
   *
   * @returns A promise that settles once the old logs are removed.
   * @throws {TypeError} When there is no data directory, or it is closed.
   */
  compact(): Promise<void> {
    if (this.#dataDir === undefined) {
      return Promise.reject(
        new TypeError("Cannot compact: the samples are kept in memory only"),
      );
    }
    return this.#dataDir.compact();
  }

  /**
   * Takes a consistent snapshot of the data directory while serving goes
   * on: it compacts, then closes the log the new snapshot does not hold,
   * and streams the snapshot followed by that log's records. Restored on its
   * own, as the `snapshot.pulse` of an empty data directory, it gives the
   * store as it stood when that log was closed: every change committed
   * before the call, and maybe some after.
   *
   * @returns The snapshot, to be read or cancelled: it holds two open
   * files until then.
   * @throws {Deno.errors.NotSupported} When there is no data directory.
   * @throws {TypeError} When the backend is closed.
   */
  snapshot(): Promise<StorageSnapshot> {
    if (this.#dataDir === undefined) {
      return Promise.reject(
        new Deno.errors.NotSupported(
          "Cannot take a snapshot: the samples are kept in memory only",
        ),
      );
    }
    return this.#dataDir.backup();
  }

  /**
   * The backend's figures.
   *
   * @returns Series, samples, with a data directory the sizes of the log
   * and the snapshot, and what the samples take in memory by the encoding
   * of their chunks: `chunk_bytes_<encoding>` and `samples_<encoding>` for
   * `raw` (the open head chunks), `decimal` and `xor`, and
   * `chunk_pages_bytes`, the pages that hold the encoded chunks, free space
   * not yet reclaimed included.
   */
  stats(): StorageStats {
    const { series, samples } = this.store.stats;
    const figures: StorageStats = { series, samples };
    const sizes = this.#dataDir?.sizes;
    if (sizes !== undefined) {
      figures.log_bytes = sizes.log;
      figures.snapshot_bytes = sizes.snapshot;
    }
    const chunks = this.store.chunkFigures();
    const encodings = Object.entries(chunks.encodings);
    for (const [name, { bytes }] of encodings) {
      figures[`chunk_bytes_${name}`] = bytes;
    }
    for (const [name, { samples }] of encodings) {
      figures[`samples_${name}`] = samples;
    }
    figures.chunk_pages_bytes = chunks.pageBytes;
    return figures;
  }

  /**
   * Stops retention and closes the data directory: waits for a compaction
   * under way, writes and fsyncs the log, and unlocks. Safe to call more
   * than once.
   *
   * @throws When the last of the log cannot be written.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const timer of this.#timers) clearInterval(timer);
      await this.#dataDir?.close();
    })();
    return this.#closing;
  }

  /** Closes the backend, as {@linkcode LocalStorage.close} does. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #startRetention(retention: number): void {
    const moveCutoff = () => {
      this.#writer.cutoff = Math.floor(Date.now() / 1000) - retention;
    };
    const window = formatSeconds(retention);
    const report = (dropped: number, cutoff: number) => {
      if (dropped === 0) return;
      this.#logger.info("retention", {
        msg:
          `dropped ${dropped} samples older than ${cutoff} (kept: ${window})`,
        dropped,
        cutoff,
        window,
      });
    };
    const enforce = () => {
      moveCutoff();
      const cutoff = this.#writer.cutoff;
      if (this.store.stats.samples === 0) return;
      const dropped = this.#writer.trim(cutoff);
      if (typeof dropped === "number") report(dropped, cutoff);
      else dropped.then((count) => report(count, cutoff));
    };
    enforce();
    this.#timers.push(
      setInterval(moveCutoff, CUTOFF_STEP_MS),
      setInterval(enforce, Math.min(RETENTION_CHECK_MS, retention * 100)),
    );
  }
}

/**
 * Opens a data directory as a local backend: locks it, restores the
 * snapshot and replays the logs, and logs every change from then on.
 *
 * @example Usage
 * ```ts
 * import { openStorage, serve } from "@pulse/metrics";
 *
 * const dir = await Deno.makeTempDir();
 * await using storage = await openStorage(dir, { fsync: "always" });
 * await using server = serve({ port: 0, storage });
 * ```
 *
 * @param dir The directory, created if need be.
 * @param options The fsync policy, when to compact, and retention.
 * @returns The open backend.
 * @throws {Deno.errors.AlreadyExists} When another server holds the lock.
 */
export async function openStorage(
  dir: string,
  options: StorageOptions = {},
): Promise<LocalStorage> {
  const dataDir = await openDataDir(dir, options);
  try {
    return new LocalStorage({ ...options, dataDir });
  } catch (error) {
    await dataDir.close();
    throw error;
  }
}
