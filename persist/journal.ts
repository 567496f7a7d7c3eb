/**
 * The append-only log: every change to the store is added to an in-memory
 * batch, and one writer task writes what was committed and fsyncs by
 * policy, like Redis's append-only file.
 *
 * The batch is sealed into records of at most 32 KiB, a run of put lines
 * split at a line if need be, so that a damaged record costs a bounded
 * number of samples however much one write holds (see docs/STORAGE.md).
 *
 * - `always`: {@linkcode Journal.commit} resolves once the batch is on disk;
 *   the batches of all connections that commit meanwhile share one fsync.
 * - `everysec`: batches are written within a few milliseconds and fsynced
 *   once a second.
 * - `no`: batches are written within a few milliseconds; the OS flushes them.
 *
 * A failed write or fsync (a full disk) cuts the file back to its last whole
 * record, rejects the commits waiting for it, sets
 * {@linkcode Journal.failure} and retries every second; the failure stays
 * set until a retry succeeds. What happens to the bytes that failed follows
 * from what their writers were told: under `always` they were refused, so
 * they are dropped and leave no trace; under `everysec` and `no` they were
 * acknowledged, so they are kept and written by the retry.
 *
 * @module
 */

import { writeAll } from "../internal/write_all.ts";
import { LogEncoder } from "./log_encoder.ts";
import { RecordWriter } from "./records.ts";

/** When the log is fsynced, with the meanings of Redis's `appendfsync`. */
export type FsyncPolicy = "always" | "everysec" | "no";

/** The fsync policies, for validating input. */
export const FSYNC_POLICIES: readonly FsyncPolicy[] = [
  "always",
  "everysec",
  "no",
];

/** Options of {@linkcode Journal}. */
export interface JournalOptions {
  /**
   * When to fsync.
   *
   * @default {"everysec"}
   */
  fsync?: FsyncPolicy;
  /**
   * Bytes already in the file (its header and any earlier records).
   *
   * @default {0}
   */
  size?: number;
  /**
   * Changes already in the file: puts, deletes and drops.
   *
   * @default {0}
   */
  changes?: number;
}

// Under `everysec` and `no`, how long a sealed batch may wait to be written:
// a process killed within this loses it, a power loss up to a second.
const WRITE_DELAY_MS = 5;
const SYNC_INTERVAL_MS = 1_000;
const RETRY_INTERVAL_MS = 1_000;
// Past this many unwritten bytes, commits wait for the disk to catch up.
const MAX_PENDING_BYTES = 8 * 1024 * 1024;
interface Rotation {
  file: Deno.FsFile;
  size: number;
  done: PromiseWithResolvers<void>;
}

/** The log file being appended to. */
export class Journal {
  #file: Deno.FsFile;
  #policy: FsyncPolicy;
  #size: number;
  #changes: number;
  #pending = new LogEncoder();
  #writing = new RecordWriter();
  // Settles when the pending bytes are written (and fsynced under `always`).
  #pendingDone: PromiseWithResolvers<void> | undefined;
  #writer: Promise<void> | undefined;
  #draining = false;
  #writeTimer: ReturnType<typeof setTimeout> | undefined;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #syncTimer: ReturnType<typeof setInterval> | undefined;
  #unsynced = false;
  #syncDue = false;
  #rotation: Rotation | undefined;
  #failure: Error | undefined;
  #closing = false;

  /**
   * Appends to `file`, which must be open for writing at its end.
   *
   * @param file The log file, opened with `append: true`.
   * @param options The fsync policy and the file's size.
   */
  constructor(file: Deno.FsFile, options: JournalOptions = {}) {
    this.#file = file;
    this.#policy = options.fsync ?? "everysec";
    this.#size = options.size ?? 0;
    this.#changes = options.changes ?? 0;
    if (this.#policy === "everysec") {
      this.#syncTimer = setInterval(() => {
        if (!this.#unsynced) return;
        this.#syncDue = true;
        this.#kick();
      }, SYNC_INTERVAL_MS);
    }
  }

  /** When the log is fsynced. */
  get policy(): FsyncPolicy {
    return this.#policy;
  }

  /** Bytes in the current log file. */
  get size(): number {
    return this.#size;
  }

  /**
   * Changes added for the current log file (puts, deletes and drops), those
   * it held when opened included: what a restore of it would replay.
   */
  get changes(): number {
    return this.#changes;
  }

  /** Why the last write failed, until a write succeeds again. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /**
   * Adds a put to the open batch.
   *
   * @param key The series' name.
   * @param value The sample's value.
   * @param timestamp The sample's time.
   */
  put(key: string, value: number, timestamp: number): void {
    this.#pending.put(key, value, timestamp);
    this.#changes++;
  }

  /**
   * Adds a run of `put` request lines to the open batch, as the bytes a
   * client sent: a restore parses them again.
   *
   * @param bytes Holds the lines.
   * @param start Where the first line starts.
   * @param end Where the last line ends, before its newline.
   * @param count How many lines there are.
   */
  lines(bytes: Uint8Array, start: number, end: number, count: number): void {
    this.#pending.lines(bytes, start, end, count);
    this.#changes += count;
  }

  /**
   * Adds the deletion of a series to the open batch.
   *
   * @param key The series' name.
   */
  delete(key: string): void {
    this.#pending.delete(key);
    this.#changes++;
  }

  /**
   * Adds the dropping of every sample older than `cutoff` to the open batch.
   *
   * @param cutoff The earliest timestamp kept.
   */
  trim(cutoff: number): void {
    this.#pending.trim(cutoff);
    this.#changes++;
  }

  /**
   * Adds the changes of a batch encoded aside, whole, after those added so
   * far: a large batch is encoded a slice at a time without its records
   * mixing with other writers' changes.
   *
   * @param batch The encoder holding the batch; it is emptied.
   */
  absorb(batch: LogEncoder): void {
    this.#changes += batch.changes;
    this.#pending.absorb(batch);
  }

  /**
   * Has the open batch written, in the record of the next write.
   *
   * @returns Under `always`, a promise that settles once the batch is on
   * disk, and rejects when it could not be written; otherwise `undefined`,
   * or a promise when the disk is behind and the caller should wait.
   */
  commit(): Promise<void> | undefined {
    if (this.#pending.length === 0) return undefined;
    if (
      this.#policy === "always" || this.#pending.length >= MAX_PENDING_BYTES
    ) {
      this.#pendingDone ??= Promise.withResolvers<void>();
      const done = this.#pendingDone.promise;
      this.#kick();
      return done;
    }
    this.#writeTimer ??= setTimeout(() => {
      this.#writeTimer = undefined;
      this.#kick();
    }, WRITE_DELAY_MS);
    return undefined;
  }

  /**
   * Moves on to a new log file: what was committed before goes to the old
   * file, which is then fsynced and closed; what comes after goes to `file`.
   *
   * @param file The new log file, open for writing at its end.
   * @param size Bytes already in it (its header).
   * @returns A promise that settles once the old file is closed.
   */
  rotate(file: Deno.FsFile, size: number): Promise<void> {
    this.#changes = 0;
    const done = Promise.withResolvers<void>();
    this.#rotation = { file, size, done };
    this.#kick();
    return done.promise;
  }

  /**
   * Writes and fsyncs everything committed and closes the file.
   *
   * @throws When the last bytes cannot be written.
   */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    clearTimeout(this.#writeTimer);
    clearTimeout(this.#retryTimer);
    clearInterval(this.#syncTimer);
    this.#syncDue = true;
    this.#start();
    try {
      await this.#writer;
      if (this.#failure) throw this.#failure;
    } finally {
      this.#file.close();
    }
  }

  #kick(): void {
    // While failing, only the retry timer and close() write.
    if (this.#failure !== undefined) return;
    this.#start();
  }

  #start(): void {
    if (this.#draining) return;
    this.#draining = true;
    this.#writer = this.#drain();
  }

  /**
   * The one writer: all file operations happen here, one at a time. It
   * clears `#draining` in the same step that settles the last commit, so
   * that a commit made as soon as that one settles starts it anew.
   */
  async #drain(): Promise<void> {
    try {
      let done: PromiseWithResolvers<void> | undefined;
      while (true) {
        if (this.#writing.length === 0) {
          if (this.#pending.length === 0 && !this.#rotation && !this.#syncDue) {
            return;
          }
          // Under everysec and no, what was committed meanwhile waits for the
          // write timer, so that a busy log is written in few large writes.
          if (
            this.#writeTimer !== undefined && this.#pendingDone === undefined &&
            !this.#rotation && !this.#syncDue
          ) {
            return;
          }
          this.#writing = this.#pending.swap(this.#writing);
          done = this.#pendingDone;
          this.#pendingDone = undefined;
        }
        const rotation = this.#rotation;
        this.#rotation = undefined;
        const before = this.#size;
        try {
          const bytes = this.#writing.bytes();
          if (bytes.length > 0) {
            await writeAll(this.#file, bytes);
            this.#size += bytes.length;
            this.#unsynced = true;
          }
          if (
            this.#unsynced &&
            (this.#policy === "always" || this.#syncDue || rotation)
          ) {
            this.#syncDue = false;
            await this.#file.syncData();
            this.#unsynced = false;
          }
          this.#syncDue = false;
        } catch (error) {
          this.#rotation ??= rotation;
          done?.reject(error);
          // Commits sealed meanwhile would wait for the disk to come back:
          // they are answered now.
          this.#pendingDone?.reject(error);
          this.#pendingDone = undefined;
          if (this.#policy === "always") {
            // Every byte of this write and the next was refused to its
            // writer: none may show up later.
            this.#writing.reset();
            this.#writing = this.#pending.swap(this.#writing);
            this.#writing.reset();
          }
          await this.#fail(error as Error, before);
          return;
        }
        this.#writing.reset();
        this.#failure = undefined;
        done?.resolve();
        done = undefined;
        if (rotation) {
          this.#file.close();
          this.#file = rotation.file;
          this.#size = rotation.size;
          rotation.done.resolve();
        }
      }
    } finally {
      this.#draining = false;
    }
  }

  /**
   * Cuts the file back to `size`, its last whole record, and retries later.
   * Bytes written but not fsynced are cut too: after a failed fsync the
   * kernel may have dropped them, so they are written again.
   */
  async #fail(error: Error, size: number): Promise<void> {
    this.#failure = error;
    this.#size = size;
    try {
      // The file is open for appending: the next write lands at the cut.
      await this.#file.truncate(size);
    } catch {
      // The next successful write starts where the file ends; a torn record
      // left in between is skipped as corrupt on restore.
    }
    if (this.#closing) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      // Under `always` the refused bytes are gone; an empty record tells
      // whether the disk takes bytes again.
      if (this.#writing.length === 0 && this.#pending.length === 0) {
        this.#pending.probe();
      }
      this.#start();
    }, RETRY_INTERVAL_MS);
  }
}
