/**
 * The record format shared by the log and the snapshot: a file is a run of
 * records, each `[u32 length][u32 CRC-32][payload]` (little-endian), so that
 * a torn or corrupted record is detected and skipped on its own.
 *
 * Payloads start with a kind byte:
 * - `HEADER`: the file's kind and sequence number, first in every file.
 * - `BATCH`: log entries of one write to the log: runs of put lines as the
 *   clients sent them, and encoded entries whose keys are numbered and whose
 *   timestamps are offsets from a base within the record, so every record
 *   reads on its own.
 * - `SERIES`: part of one series in a snapshot of format 3 or earlier:
 *   timestamps as zigzag varint deltas, then values as float64.
 * - `CHUNKS`: encoded chunks of series, as the store keeps them, the payload
 *   compressed with zstd where that makes it smaller (snapshots of format 4).
 *
 * See docs/STORAGE.md.
 *
 * @module
 */

import { crc32 } from "node:zlib";

/** The kinds of record. */
export const RECORD_HEADER = 1;
/** A batch of log entries. */
export const RECORD_BATCH = 2;
/** Samples of one series in a snapshot of format 3 or earlier. */
export const RECORD_SERIES = 3;
/**
 * Encoded chunks of series in a snapshot: a compression byte (0 none, 1
 * zstd), then the body, compressed or not: for each series a key, its
 * chunks each after its varint length, and a length of 0.
 */
export const RECORD_CHUNKS = 4;
/** A `CHUNKS` record's body as it is. */
export const COMPRESSION_NONE = 0;
/** A `CHUNKS` record's body compressed with zstd. */
export const COMPRESSION_ZSTD = 1;

/** Log entry: defines key number `id` for the rest of the record. */
export const ENTRY_KEY = 1;
/** Log entry: a put, its timestamp an offset from the record's base. */
export const ENTRY_PUT = 2;
/** Log entry: a series deleted. */
export const ENTRY_DELETE = 3;
/** Log entry: every sample older than a cutoff dropped (retention). */
export const ENTRY_TRIM = 4;
/**
 * Log entry: the base that the timestamps of later puts in the record are
 * offsets from. A record starts with base 0; format 1 has no such entry.
 */
export const ENTRY_BASE = 5;
/**
 * Log entry: a run of `put` request lines exactly as a client sent them, each
 * ended by `\n` but the last (a `\r` before a `\n` is allowed), after a
 * varint length. Copying the bytes costs a put far less than encoding it; a
 * restore parses them as the server did. Format 3 added it.
 */
export const ENTRY_LINES = 6;

/** What a file holds, written in its header. */
export const FILE_LOG = 1;
/** A snapshot file. */
export const FILE_SNAPSHOT = 2;

const MAGIC = "PULSE";
// Format 2 added ENTRY_BASE, format 3 ENTRY_LINES and format 4 CHUNKS
// records; older files read the same way. Logs are still written as format
// 3, which they are, so that a Pulse of format 3 reads them; snapshots hold
// CHUNKS records and are format 4.
const FORMAT_VERSION = 4;
const LOG_FORMAT_VERSION = 3;
const HEADER_SIZE = 8;
// A record larger than this is corruption, not data.
const MAX_RECORD_SIZE = 256 * 1024 * 1024;

const ENCODER = new TextEncoder();
const DECODER = new TextDecoder("utf-8", { fatal: true });

/** A growable buffer that records are encoded into. */
export class RecordWriter {
  #bytes = new Uint8Array(64 * 1024);
  #view = new DataView(this.#bytes.buffer);
  #length = 0;
  #recordStart = -1;

  /** How many bytes are encoded. */
  get length(): number {
    return this.#length;
  }

  /** Whether a record is open. */
  get open(): boolean {
    return this.#recordStart >= 0;
  }

  /** The bytes encoded so far (a view the next write may change). */
  bytes(): Uint8Array {
    return this.#bytes.subarray(0, this.#length);
  }

  /** Forgets the encoded bytes. */
  reset(): void {
    this.#length = 0;
    this.#recordStart = -1;
  }

  /** Starts a record of `kind`. */
  begin(kind: number): void {
    this.#reserve(HEADER_SIZE + 1);
    this.#recordStart = this.#length;
    this.#length += HEADER_SIZE;
    this.#bytes[this.#length++] = kind;
  }

  /** Finishes the open record: fills in its length and checksum. */
  end(): void {
    const start = this.#recordStart;
    const payload = this.#bytes.subarray(start + HEADER_SIZE, this.#length);
    this.#view.setUint32(start, payload.length, true);
    this.#view.setUint32(start + 4, crc32(payload), true);
    this.#recordStart = -1;
  }

  /** Writes one byte. */
  byte(value: number): void {
    this.#reserve(1);
    this.#bytes[this.#length++] = value;
  }

  /** Writes a non-negative safe integer, 7 bits a byte. */
  varint(value: number): void {
    this.#reserve(8);
    const bytes = this.#bytes;
    let n = this.#length;
    while (value >= 0x80) {
      bytes[n++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    bytes[n++] = value;
    this.#length = n;
  }

  /**
   * Writes a safe integer, zigzag-encoded so small negatives stay short.
   * The zigzag number of a large negative is odd and past 2^53, which a
   * double cannot hold, so its first seven bits are written on their own.
   */
  signed(value: number): void {
    const negative = value < 0;
    const magnitude = negative ? -value - 1 : value;
    const rest = Math.floor(magnitude / 0x40);
    this.byte(
      ((magnitude % 0x40) * 2 + (negative ? 1 : 0)) | (rest > 0 ? 0x80 : 0),
    );
    if (rest > 0) this.varint(rest);
  }

  /**
   * Writes a put entry: its kind, the key's number, the timestamp's offset
   * from the record's base (zigzag) and the value. One call, as puts are the
   * bulk of a log.
   *
   * @param id The key's number in the record.
   * @param offset The timestamp minus the record's base, a safe integer.
   * @param value The sample's value.
   */
  put(id: number, offset: number, value: number): void {
    this.#reserve(1 + 8 + 9 + 8);
    const bytes = this.#bytes;
    let n = this.#length;
    bytes[n++] = ENTRY_PUT;
    if (id < 0x80) {
      bytes[n++] = id;
    } else if (id < 0x4000) {
      bytes[n++] = (id & 0x7f) | 0x80;
      bytes[n++] = id >>> 7;
    } else {
      this.#length = n;
      this.varint(id);
      n = this.#length;
    }
    if (offset >= -0x40 && offset < 0x40) {
      bytes[n++] = offset < 0 ? -2 * offset - 1 : 2 * offset;
      this.#length = n;
    } else {
      this.#length = n;
      this.signed(offset);
      n = this.#length;
    }
    this.#view.setFloat64(this.#length, value, true);
    this.#length += 8;
  }

  /**
   * Writes bytes as they are.
   *
   * @param bytes Such as a string from {@linkcode encodeString}.
   */
  raw(bytes: Uint8Array): void {
    this.#reserve(bytes.length);
    this.#bytes.set(bytes, this.#length);
    this.#length += bytes.length;
  }

  /** Writes a float64. */
  float(value: number): void {
    this.#reserve(8);
    this.#view.setFloat64(this.#length, value, true);
    this.#length += 8;
  }

  /** Writes a string as its length and UTF-8 bytes. */
  string(value: string): void {
    this.#reserve(value.length * 3 + 8);
    const start = this.#length;
    this.#length++; // room for a one-byte length, the usual case
    const { written } = ENCODER.encodeInto(
      value,
      this.#bytes.subarray(this.#length),
    );
    if (written < 0x80) {
      this.#bytes[start] = written;
      this.#length += written;
    } else {
      const encoded = this.#bytes.slice(this.#length, this.#length + written);
      this.#length = start;
      this.varint(written);
      this.#reserve(written);
      this.#bytes.set(encoded, this.#length);
      this.#length += written;
    }
  }

  /** Writes the header record of a file. */
  header(fileKind: number, sequence: number): void {
    this.begin(RECORD_HEADER);
    for (let i = 0; i < MAGIC.length; i++) this.byte(MAGIC.charCodeAt(i));
    this.byte(fileKind === FILE_LOG ? LOG_FORMAT_VERSION : FORMAT_VERSION);
    this.byte(fileKind);
    this.varint(sequence);
    this.end();
  }

  #reserve(extra: number): void {
    const needed = this.#length + extra;
    if (needed <= this.#bytes.length) return;
    let capacity = this.#bytes.length * 2;
    while (capacity < needed) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.#bytes.subarray(0, this.#length));
    this.#bytes = grown;
    this.#view = new DataView(grown.buffer);
  }
}

/**
 * Encodes a string as {@linkcode RecordWriter.string} writes it, to be
 * written later with {@linkcode RecordWriter.raw}.
 *
 * @param value Any string.
 * @returns Its length as a varint, then its UTF-8 bytes.
 */
export function encodeString(value: string): Uint8Array {
  const utf8 = ENCODER.encode(value);
  let prefix = 1;
  for (let n = utf8.length; n >= 0x80; n = Math.floor(n / 0x80)) prefix++;
  const encoded = new Uint8Array(prefix + utf8.length);
  let at = 0;
  let n = utf8.length;
  while (n >= 0x80) {
    encoded[at++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  encoded[at] = n;
  encoded.set(utf8, prefix);
  return encoded;
}

/** Reads the fields of one record's payload in order. */
export class RecordReader {
  #bytes: Uint8Array;
  #view: DataView;
  #offset: number;
  #end: number;

  /** Reads `bytes[start, end)`. */
  constructor(bytes: Uint8Array, start: number, end: number) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    this.#offset = start;
    this.#end = end;
  }

  /** Whether all of the payload is read. */
  get done(): boolean {
    return this.#offset >= this.#end;
  }

  /** Reads one byte. */
  byte(): number {
    this.#need(1);
    return this.#bytes[this.#offset++];
  }

  /** Reads a varint. */
  varint(): number {
    let value = 0;
    let scale = 1;
    while (true) {
      const b = this.byte();
      value += (b & 0x7f) * scale;
      if (b < 0x80) break;
      scale *= 0x80;
      if (scale > 2 ** 56) {
        throw new RangeError("Cannot read a varint: too long");
      }
    }
    return value;
  }

  /** Reads a zigzag varint, its first seven bits on their own (see writer). */
  signed(): number {
    const first = this.byte();
    const rest = first >= 0x80 ? this.varint() : 0;
    const magnitude = rest * 0x40 + ((first & 0x7f) >>> 1);
    return (first & 1) === 1 ? -magnitude - 1 : magnitude;
  }

  /**
   * Reads bytes as they are.
   *
   * @param length How many.
   * @returns A view of them in the file's bytes.
   */
  raw(length: number): Uint8Array {
    this.#need(length);
    const start = this.#offset;
    this.#offset += length;
    return this.#bytes.subarray(start, this.#offset);
  }

  /**
   * Reads the rest of the payload as it is.
   *
   * @returns A view of it in the file's bytes.
   */
  rest(): Uint8Array {
    return this.raw(this.#end - this.#offset);
  }

  /** Reads a float64. */
  float(): number {
    this.#need(8);
    const value = this.#view.getFloat64(this.#offset, true);
    this.#offset += 8;
    return value;
  }

  /** Reads a string written by {@linkcode RecordWriter.string}. */
  string(): string {
    const length = this.varint();
    this.#need(length);
    const text = DECODER.decode(
      this.#bytes.subarray(this.#offset, this.#offset + length),
    );
    this.#offset += length;
    return text;
  }

  #need(n: number): void {
    if (this.#offset + n > this.#end) {
      throw new RangeError("Cannot read a record: it ends early");
    }
  }
}

/** A file's header. */
export interface FileHeader {
  /** `FILE_LOG` or `FILE_SNAPSHOT`. */
  kind: number;
  /** The log's number, or for a snapshot the first log it does not hold. */
  sequence: number;
}

/** Reads a header record's payload (after its kind byte). */
export function readHeader(reader: RecordReader): FileHeader {
  for (let i = 0; i < MAGIC.length; i++) {
    if (reader.byte() !== MAGIC.charCodeAt(i)) {
      throw new TypeError("Cannot read the file: not a Pulse file");
    }
  }
  const version = reader.byte();
  if (version < 1 || version > FORMAT_VERSION) {
    throw new TypeError(`Cannot read the file: unknown format ${version}`);
  }
  return { kind: reader.byte(), sequence: reader.varint() };
}

/**
 * The kinds of damage {@linkcode scanRecords} tells apart:
 * - `torn`: a write cut short. A record's declared length runs past the end
 *   of the file, the file ends inside a record's frame, or it ends in zeros
 *   (space the file system allocated but the write never filled).
 * - `checksum`: a whole record (its length ends where the next record, or
 *   the file, starts) whose checksum does not match its payload.
 * - `length`: a record whose payload up to the next record matches its
 *   checksum, but whose length field is wrong.
 * - `content`: a record whose checksum matches but which cannot be read: an
 *   unknown kind, or a payload the reader rejects.
 * - `chunk`: a chunk in a record whose checksum matches, that cannot be
 *   decoded: it is skipped, the record's other chunks are restored.
 * - `garbage`: bytes that frame no record, between records or at the end.
 */
export type FaultKind =
  | "torn"
  | "checksum"
  | "length"
  | "content"
  | "chunk"
  | "garbage";

/** A stretch of a file that held no record that could be read. */
export interface RecordFault {
  /** What is wrong with it. */
  kind: FaultKind;
  /** Where it starts in the file, in bytes. */
  start: number;
  /** Where it ends, exclusive. */
  end: number;
  /** For `content` and `chunk`: why it could not be read. */
  reason?: string;
}

/** What {@linkcode scanRecords} found besides the records. */
export interface ScanReport {
  /** Valid records found. */
  records: number;
  /** Stretches of damage skipped: every fault but a torn one. */
  corrupted: number;
  /** Bytes of an unfinished record at the end, a write cut short. */
  tornBytes: number;
  /**
   * Where the last record that checks out ends: every fault from here on
   * (a torn or damaged tail) has no valid record after it.
   */
  validEnd: number;
  /** Every fault, in the order of the file. */
  faults: RecordFault[];
}

function kindIsKnown(kind: number): boolean {
  return kind >= RECORD_HEADER && kind <= RECORD_CHUNKS;
}

function validAt(bytes: Uint8Array, view: DataView, at: number): number {
  if (at + HEADER_SIZE > bytes.length) return -1;
  const length = view.getUint32(at, true);
  if (length === 0 || length > MAX_RECORD_SIZE) return -1;
  const end = at + HEADER_SIZE + length;
  if (end > bytes.length) return -1;
  if (!kindIsKnown(bytes[at + HEADER_SIZE])) return -1;
  const payload = bytes.subarray(at + HEADER_SIZE, end);
  return crc32(payload) === view.getUint32(at + 4, true) ? end : -1;
}

function isZero(bytes: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (bytes[i] !== 0) return false;
  return true;
}

/**
 * Tells what the damage at `at` is, given that the next valid record starts
 * at `next` (or the file ends there). Returns the first fault; when it ends
 * before `next`, the rest is looked at again.
 */
function classify(
  bytes: Uint8Array,
  view: DataView,
  at: number,
  next: number,
): RecordFault {
  const atEnd = next === bytes.length;
  if (next - at < HEADER_SIZE + 1) {
    return { kind: atEnd ? "torn" : "garbage", start: at, end: next };
  }
  const length = view.getUint32(at, true);
  const declared = at + HEADER_SIZE + length;
  const checks = crc32(bytes.subarray(at + HEADER_SIZE, next)) ===
    view.getUint32(at + 4, true);
  if (declared === next) {
    // Framed whole: a checksum that matches leaves only the kind unknown.
    if (!checks) return { kind: "checksum", start: at, end: next };
    const reason = `unknown record kind ${bytes[at + HEADER_SIZE]}`;
    return { kind: "content", start: at, end: next, reason };
  }
  if (checks) return { kind: "length", start: at, end: next };
  const framed = length > 0 && length <= MAX_RECORD_SIZE &&
    kindIsKnown(bytes[at + HEADER_SIZE]);
  if (atEnd && (framed && declared > next || isZero(bytes, at, next))) {
    return { kind: "torn", start: at, end: next };
  }
  // A frame that ends before the next record: a damaged record, then more.
  if (framed && declared < next) {
    return { kind: "checksum", start: at, end: declared };
  }
  return { kind: "garbage", start: at, end: next };
}

/**
 * Calls `visit` with every valid record of `bytes`: its kind and a reader of
 * the rest of its payload. Damage is skipped by searching for the next valid
 * record, and reported as faults of its kind, with where they are.
 *
 * @param bytes A whole file.
 * @param visit Called per record, with where it starts in the file (for
 * faults of its own to report); a throw makes the record a `content` fault.
 * @returns What was found.
 */
export function scanRecords(
  bytes: Uint8Array,
  visit: (kind: number, reader: RecordReader, start: number) => void,
): ScanReport {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const report: ScanReport = {
    records: 0,
    corrupted: 0,
    tornBytes: 0,
    validEnd: 0,
    faults: [],
  };
  const fault = (found: RecordFault) => {
    report.faults.push(found);
    if (found.kind === "torn") report.tornBytes += found.end - found.start;
    else report.corrupted++;
  };
  let at = 0;
  while (at < bytes.length) {
    let end = validAt(bytes, view, at);
    if (end === -1) {
      // Search on for the next record that checks out.
      let next = at + 1;
      while (next < bytes.length && (end = validAt(bytes, view, next)) === -1) {
        next++;
      }
      while (at < next) {
        const found = classify(bytes, view, at, next);
        fault(found);
        at = found.end;
      }
      if (end === -1) break;
    }
    try {
      const reader = new RecordReader(bytes, at + HEADER_SIZE + 1, end);
      visit(bytes[at + HEADER_SIZE], reader, at);
      report.records++;
    } catch (error) {
      fault({
        kind: "content",
        start: at,
        end,
        reason: error instanceof Error ? error.message : String(error),
      });
    }
    at = end;
    report.validEnd = end;
  }
  return report;
}
