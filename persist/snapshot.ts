/**
 * Snapshots: the whole store written as `CHUNKS` records, the series' encoded
 * chunks as the store keeps them, and restoring records of snapshots (of
 * every format) and logs into a store.
 *
 * A snapshot is written while the server keeps serving: it walks the live
 * store in steps, sealing a record of at most 32 KiB of chunks (compressed
 * with zstd where that makes it smaller) and writing it before taking more,
 * so no pause lasts more than a few milliseconds. Samples put meanwhile are
 * in the new log as well, and replaying a log is idempotent, so the snapshot
 * need not be a point in time.
 *
 * @module
 */

import { zstdCompressSync, zstdDecompressSync } from "node:zlib";
import { writeAll } from "../internal/write_all.ts";
import { RequestParser } from "../protocol/request.ts";
import type { Store } from "../store.ts";
import {
  chunkLength,
  EncodedChunk,
  MAX_CHUNK_SAMPLES,
  type SampleColumns,
} from "../store/chunkenc/chunkenc.ts";
import {
  COMPRESSION_NONE,
  COMPRESSION_ZSTD,
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
  RECORD_CHUNKS,
  RECORD_HEADER,
  RECORD_SERIES,
  type RecordFault,
  RecordReader,
  RecordWriter,
  scanRecords,
  type ScanReport,
} from "./records.ts";

// Bytes of chunks per CHUNKS record, before compression: as a log record,
// what one damaged record can lose. zstd finds nearly as much to take out as
// in records eight times larger (0.7 % less, on realistic host data). Each
// record is written as soon as it is sealed: bounding the work between two
// writes by the bytes written would let data that compresses well (a
// hundredfold, for constants) hold the event loop for tens of milliseconds.
const CHUNKS_PER_RECORD = 32 * 1024;
// A CHUNKS record's body is refused past this when decompressed: a record
// that claims more is damage, not data.
const MAX_BODY_SIZE = 16 * 1024 * 1024;
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
  const body = new RecordWriter();
  let bytes = 0;
  let samples = 0;
  const visit = (chunk: Uint8Array) => {
    body.varint(chunk.length);
    body.raw(chunk);
    samples += chunkLength(chunk, 0);
  };
  const flush = async () => {
    bytes += w.length;
    await writeAll(file, w.bytes());
    w.reset();
  };
  try {
    w.header(FILE_SNAPSHOT, nextLog);
    for (const series of store.series()) {
      let from: number | undefined = -Infinity;
      while (from !== undefined) {
        body.string(series.key);
        from = series.chunks(from, CHUNKS_PER_RECORD - body.length, visit);
        body.varint(0);
        if (body.length < CHUNKS_PER_RECORD) continue;
        sealChunks(w, body);
        await flush();
      }
    }
    if (body.length > 0) sealChunks(w, body);
    await flush();
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

/** Seals the body of chunks into a `CHUNKS` record, and empties it. */
function sealChunks(w: RecordWriter, body: RecordWriter): void {
  const plain = body.bytes();
  const compressed = zstdCompressSync(plain);
  w.begin(RECORD_CHUNKS);
  if (compressed.length < plain.length) {
    w.byte(COMPRESSION_ZSTD);
    w.raw(compressed);
  } else {
    w.byte(COMPRESSION_NONE);
    w.raw(plain);
  }
  w.end();
  body.reset();
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
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const chunkFaults: RecordFault[] = [];
  let changes = 0;
  const report = scanRecords(bytes, (kind, r, start) => {
    switch (kind) {
      case RECORD_HEADER:
        header = readHeader(r);
        break;
      case RECORD_CHUNKS: {
        // The record's end, for the faults of its chunks: after its frame
        // of a length and a checksum, and its payload.
        const end = start + 8 + view.getUint32(start, true);
        const faults = (reason: string) =>
          chunkFaults.push({ kind: "chunk", start, end, reason });
        changes += restoreChunks(store, r, faults);
        break;
      }
      case RECORD_SERIES:
        changes += restoreSeries(store, r, timestamps);
        break;
      case RECORD_BATCH:
        keys.length = 0;
        changes += restoreBatch(store, r, keys, parser);
        break;
    }
  });
  if (chunkFaults.length > 0) {
    report.faults = [...report.faults, ...chunkFaults].sort((a, b) =>
      a.start - b.start
    );
    report.corrupted += chunkFaults.length;
  }
  return { ...report, header, changes };
}

// Decoded chunks of a restore: synchronous, so one pair serves all.
const DECODED: SampleColumns = {
  timestamps: new Float64Array(MAX_CHUNK_SAMPLES),
  values: new Float64Array(MAX_CHUNK_SAMPLES),
};

/**
 * Puts the chunks of a `CHUNKS` record, each checked by decoding it whole;
 * a chunk that cannot be decoded is skipped and handed to `fault`. Returns
 * how many samples were put.
 */
function restoreChunks(
  store: Store,
  r: RecordReader,
  fault: (reason: string) => void,
): number {
  const compression = r.byte();
  let payload = r.rest();
  if (compression === COMPRESSION_ZSTD) {
    payload = zstdDecompressSync(payload, { maxOutputLength: MAX_BODY_SIZE });
  } else if (compression !== COMPRESSION_NONE) {
    throw new RangeError(
      `Cannot restore chunks: unknown compression ${compression}`,
    );
  }
  const body = new RecordReader(payload, 0, payload.length);
  let samples = 0;
  while (!body.done) {
    const key = body.string();
    for (let length = body.varint(); length > 0; length = body.varint()) {
      const bytes = body.raw(length);
      let chunk: EncodedChunk;
      try {
        chunk = new EncodedChunk(bytes, DECODED);
      } catch (error) {
        fault(
          `series ${JSON.stringify(key)}, a chunk of ${length} bytes: ${
            (error as Error).message
          }`,
        );
        continue;
      }
      store.putChunk(key, chunk, DECODED);
      samples += chunk.length;
    }
  }
  return samples;
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
