/**
 * Snapshots: the whole store written as `SERIES` records, and restoring
 * records of both snapshots and logs into a store.
 *
 * A snapshot is written while the server keeps serving: it walks the live
 * store in steps, writing every 256 KiB before encoding more, so no pause
 * lasts more than a few milliseconds. Samples put meanwhile are in the new
 * log as well, and replaying a log is idempotent, so the snapshot need not
 * be a point in time.
 *
 * @module
 */

import { writeAll } from "../internal/write_all.ts";
import { RequestParser } from "../protocol/request.ts";
import type { Store } from "../store.ts";
import {
  ENTRY_BASE,
  ENTRY_DELETE,
  ENTRY_KEY,
  ENTRY_LINES,
  ENTRY_PUT,
  ENTRY_TRIM,
  FILE_SNAPSHOT,
  type FileHeader,
  readHeader,
  RECORD_BATCH,
  RECORD_HEADER,
  RECORD_SERIES,
  type RecordReader,
  RecordWriter,
  scanRecords,
  type ScanReport,
} from "./records.ts";

// Samples per SERIES record: small enough to encode between writes.
const SAMPLES_PER_RECORD = 4096;
const WRITE_SIZE = 256 * 1024;
const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;

/** What writing a snapshot produced. */
export interface SnapshotInfo {
  /** The snapshot's size in bytes. */
  bytes: number;
  /** Samples written. */
  samples: number;
}

/**
 * Writes the store to `path` atomically: to a temporary file, fsynced, then
 * renamed over `path`, and the directory fsynced.
 *
 * @param store The store to write.
 * @param path Where the snapshot goes.
 * @param nextLog The first log the snapshot does not hold.
 * @returns The snapshot's size and sample count.
 */
export async function writeSnapshot(
  store: Store,
  path: string,
  nextLog: number,
): Promise<SnapshotInfo> {
  const temporary = `${path}.tmp`;
  const file = await Deno.open(temporary, {
    write: true,
    create: true,
    truncate: true,
  });
  const w = new RecordWriter();
  const timestamps = new Float64Array(SAMPLES_PER_RECORD);
  const values = new Float64Array(SAMPLES_PER_RECORD);
  let bytes = 0;
  let samples = 0;
  try {
    w.header(FILE_SNAPSHOT, nextLog);
    for (const series of store.series()) {
      let from = -Infinity;
      while (true) {
        const n = series.read(from, Infinity, timestamps, values);
        if (n === 0) break;
        encodeSeries(w, series.key, timestamps, values, n);
        samples += n;
        if (w.length >= WRITE_SIZE) {
          bytes += w.length;
          await writeAll(file, w.bytes());
          w.reset();
        }
        if (n < SAMPLES_PER_RECORD) break;
        from = timestamps[n - 1] + 1;
      }
    }
    bytes += w.length;
    await writeAll(file, w.bytes());
    await file.syncData();
  } catch (error) {
    file.close();
    await Deno.remove(temporary).catch(() => {});
    throw error;
  }
  file.close();
  await Deno.rename(temporary, path);
  await syncDirectory(path.slice(0, path.lastIndexOf("/")) || ".");
  return { bytes, samples };
}

/**
 * Fsyncs a directory, so that files created, renamed or removed in it stay so
 * after a power loss.
 *
 * @param path The directory.
 */
export async function syncDirectory(path: string): Promise<void> {
  const dir = await Deno.open(path, { read: true });
  try {
    await dir.sync();
  } finally {
    dir.close();
  }
}

function encodeSeries(
  w: RecordWriter,
  key: string,
  timestamps: Float64Array,
  values: Float64Array,
  n: number,
): void {
  w.begin(RECORD_SERIES);
  w.string(key);
  w.varint(n);
  w.signed(timestamps[0]);
  w.gaps(timestamps, n);
  w.floats(values, n);
  w.end();
}

/** What restoring one file found. */
export interface RestoreReport extends ScanReport {
  /** The file's header, when it had a valid one. */
  header: FileHeader | undefined;
  /** The samples of a snapshot, or the changes of a log, that it applied. */
  changes: number;
}

/**
 * Applies the records of a snapshot or log file to `store`.
 *
 * @param store Where the samples go.
 * @param bytes The whole file.
 * @returns What was found: records, damage, and the file's header.
 */
export function restoreRecords(store: Store, bytes: Uint8Array): RestoreReport {
  let header: FileHeader | undefined;
  const timestamps: number[] = [];
  const keys: string[] = [];
  const parser = new RequestParser();
  let changes = 0;
  const report = scanRecords(bytes, (kind, r) => {
    switch (kind) {
      case RECORD_HEADER:
        header = readHeader(r);
        break;
      case RECORD_SERIES:
        changes += restoreSeries(store, r, timestamps);
        break;
      case RECORD_BATCH:
        keys.length = 0;
        changes += restoreBatch(store, r, keys, parser);
        break;
    }
  });
  return { ...report, header, changes };
}

/** Puts the samples of a run of logged `put` lines; returns how many. */
function restoreLines(
  store: Store,
  bytes: Uint8Array,
  parser: RequestParser,
): number {
  let count = 0;
  let start = 0;
  while (start <= bytes.length) {
    let end = bytes.indexOf(NEWLINE, start);
    if (end === -1) end = bytes.length;
    const request = parser.parse(
      bytes,
      start,
      end > start && bytes[end - 1] === CARRIAGE_RETURN ? end - 1 : end,
    );
    if (request?.command !== "put") {
      throw new RangeError(
        "Cannot restore a batch: a logged line is not a put",
      );
    }
    store.put(request.key, request.value, request.timestamp);
    count++;
    start = end + 1;
  }
  return count;
}

/** Puts the samples of a series record; returns how many. */
function restoreSeries(
  store: Store,
  r: RecordReader,
  timestamps: number[],
): number {
  const key = r.string();
  const n = r.varint();
  timestamps.length = 0;
  let timestamp = r.signed();
  timestamps.push(timestamp);
  for (let i = 1; i < n; i++) {
    const delta = r.varint();
    timestamp = delta === 0 ? r.signed() : timestamp + delta;
    timestamps.push(timestamp);
  }
  for (let i = 0; i < n; i++) store.put(key, r.float(), timestamps[i]);
  return n;
}

/** Applies the entries of a log batch; returns how many changes. */
function restoreBatch(
  store: Store,
  r: RecordReader,
  keys: string[],
  parser: RequestParser,
): number {
  let base = 0;
  let changes = 0;
  while (!r.done) {
    const entry = r.byte();
    if (entry === ENTRY_LINES) {
      changes += restoreLines(store, r.raw(r.varint()), parser);
      continue;
    }
    if (entry === ENTRY_KEY) {
      keys[r.varint()] = r.string();
      continue;
    }
    if (entry === ENTRY_BASE) {
      base = r.signed();
      continue;
    }
    if (entry === ENTRY_TRIM) {
      store.dropBefore(r.signed());
      changes++;
      continue;
    }
    const key = keys[r.varint()];
    if (key === undefined) {
      throw new RangeError("Cannot restore a batch: unknown key number");
    }
    if (entry === ENTRY_PUT) {
      const timestamp = base + r.signed();
      store.put(key, r.float(), timestamp);
    } else if (entry === ENTRY_DELETE) {
      store.delete(key);
    } else {
      throw new RangeError(`Cannot restore a batch: unknown entry ${entry}`);
    }
    changes++;
  }
  return changes;
}
