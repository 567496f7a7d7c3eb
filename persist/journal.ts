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
 * record, keeps the unwritten bytes, rejects the commits waiting for them,
 * sets {@linkcode Journal.failure} and retries every second; the failure
 * stays set until a retry succeeds.
 *
 * @module
 */

import { writeAll } from "../internal/write_all.ts";
import {
  encodeString,
  ENTRY_BASE,
  ENTRY_DELETE,
  ENTRY_KEY,
  ENTRY_LINES,
  ENTRY_TRIM,
  RECORD_BATCH,
  RecordWriter,
} from "./records.ts";

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
// A put's timestamp further than this from the record's base sets a new
// base: offsets stay short and exact.
const MAX_OFFSET = 2 ** 20;
// Keys whose encoding is kept; past this the cache starts afresh.
const MAX_CACHED_KEYS = 1_000_000;
// A record is sealed once its payload reaches this many bytes, and a run of
// put lines is split at a line so as not to pass it: one damaged record then
// costs at most 3,277 samples (3,276 put lines of at least 10 bytes, and an
// encoded put, which may pass the bound). Keys are numbered again in every
// record, which HTTP puts pay for in bytes.
const RECORD_BYTES = 32 * 1024;
// An ENTRY_LINES entry's kind and length (a varint of up to 3 bytes for a
// run or line shorter than 2^21 bytes, which a line always is).
const LINES_HEAD = 4;
const NEWLINE = 0x0a;

/** A key as the log writes it, and its number in the open record. */
interface KeyEntry {
  /** `ENTRY_KEY`'s string: the length and UTF-8 bytes. */
  encoded: Uint8Array;
  /** The record in which `id` was given, by count. */
  record: number;
  id: number;
}

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
  #pending = new RecordWriter();
  #writing = new RecordWriter();
  // Keys by name, so that a key is encoded once, not once per record.
  #keys = new Map<string, KeyEntry>();
  // The open record's count, its next key number and its timestamp base.
  #record = 0;
  // The length of #pending at which the open record is full, and at which
  // it was empty.
  #sealAt = 0;
  #emptyAt = 0;
  #nextId = 0;
  #base = 0;
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
    const id = this.#keyId(key);
    let offset = timestamp - this.#base;
    if (offset > MAX_OFFSET || offset < -MAX_OFFSET) {
      this.#pending.byte(ENTRY_BASE);
      this.#pending.signed(timestamp);
      this.#base = timestamp;
      offset = 0;
    }
    this.#pending.put(id, offset, value);
    this.#changes++;
    if (this.#pending.length >= this.#sealAt) this.#pending.end();
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
    this.#open();
    this.#changes += count;
    if (end - start > this.#sealAt - this.#pending.length - LINES_HEAD) {
      this.#splitLines(bytes, start, end);
    } else {
      this.#linesEntry(bytes, start, end);
    }
  }

  /**
   * Adds the deletion of a series to the open batch.
   *
   * @param key The series' name.
   */
  delete(key: string): void {
    const id = this.#keyId(key);
    this.#pending.byte(ENTRY_DELETE);
    this.#pending.varint(id);
    this.#changes++;
    if (this.#pending.length >= this.#sealAt) this.#pending.end();
  }

  /**
   * Adds the dropping of every sample older than `cutoff` to the open batch.
   *
   * @param cutoff The earliest timestamp kept.
   */
  trim(cutoff: number): void {
    this.#open();
    this.#pending.byte(ENTRY_TRIM);
    this.#pending.signed(cutoff);
    this.#changes++;
    if (this.#pending.length >= this.#sealAt) this.#pending.end();
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
    if (this.#pending.open) this.#pending.end();
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
    if (this.#pending.open) this.#pending.end();
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

  #open(): void {
    if (this.#pending.open) return;
    this.#pending.begin(RECORD_BATCH);
    // The payload counts from the kind byte that begin() wrote.
    this.#emptyAt = this.#pending.length;
    this.#sealAt = this.#emptyAt - 1 + RECORD_BYTES;
    this.#record++;
    this.#nextId = 0;
    this.#base = 0;
    if (this.#keys.size > MAX_CACHED_KEYS) this.#keys.clear();
  }

  #linesEntry(bytes: Uint8Array, start: number, end: number): void {
    const w = this.#pending;
    w.byte(ENTRY_LINES);
    w.varint(end - start);
    w.raw(bytes.subarray(start, end));
  }

  /**
   * Writes a run of put lines longer than the open record has room for,
   * split at lines across as many records as it takes. A line longer than a
   * record goes alone in one.
   */
  #splitLines(bytes: Uint8Array, start: number, end: number): void {
    while (true) {
      this.#open();
      const room = this.#sealAt - this.#pending.length - LINES_HEAD;
      if (end - start <= room) {
        this.#linesEntry(bytes, start, end);
        return;
      }
      // The last newline at most `room` bytes on ends the part that fits.
      let cut = room > 0
        ? bytes.subarray(start, start + room + 1).lastIndexOf(NEWLINE)
        : -1;
      if (cut === -1 && this.#pending.length > this.#emptyAt) {
        this.#pending.end();
        continue;
      }
      if (cut === -1) cut = bytes.subarray(start, end).indexOf(NEWLINE);
      if (cut === -1) cut = end - start;
      this.#linesEntry(bytes, start, start + cut);
      this.#pending.end();
      start += cut + 1;
      if (start >= end) return;
    }
  }

  #keyId(key: string): number {
    this.#open();
    let entry = this.#keys.get(key);
    if (entry === undefined) {
      entry = { encoded: encodeString(key), record: 0, id: 0 };
      this.#keys.set(key, entry);
    }
    if (entry.record !== this.#record) {
      entry.record = this.#record;
      entry.id = this.#nextId++;
      const w = this.#pending;
      w.byte(ENTRY_KEY);
      w.varint(entry.id);
      w.raw(entry.encoded);
    }
    return entry.id;
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
          if (this.#pending.open) this.#pending.end();
          [this.#writing, this.#pending] = [this.#pending, this.#writing];
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
          // they are answered now, and their bytes written with the retry.
          this.#pendingDone?.reject(error);
          this.#pendingDone = undefined;
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
      this.#start();
    }, RETRY_INTERVAL_MS);
  }
}
