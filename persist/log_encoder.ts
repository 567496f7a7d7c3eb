/**
 * Encoding changes into the log's records: the batch a journal fills until
 * its next write, or a batch built aside (a large HTTP put) and handed to
 * the journal whole. Records are sealed at 32 KiB of payload, a run of put
 * lines split at a line if need be, so that a damaged record costs a
 * bounded number of samples (see docs/STORAGE.md); each record numbers its
 * keys and sets its timestamp base afresh, so it reads on its own.
 *
 * @module
 */

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

// A put's timestamp further than this from the record's base sets a new
// base: offsets stay short and exact.
const MAX_OFFSET = 2 ** 20;
// Keys whose encoding is kept; past this the cache starts afresh.
const MAX_CACHED_KEYS = 1_000_000;
// A record is sealed once its payload reaches this many bytes, and a run of
// put lines is split at a line so as not to pass it: one damaged record then
// costs at most 3,277 samples (3,276 put lines of at least 10 bytes, and an
// encoded put, which may pass the bound). Keys are numbered again in every
// record.
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

/** Changes encoded as sealed `BATCH` records, ready to be written. */
export class LogEncoder {
  #pending = new RecordWriter();
  #changes = 0;
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

  /** Bytes encoded and not yet taken. */
  get length(): number {
    return this.#pending.length;
  }

  /** Changes encoded and not yet taken: puts, deletes and drops. */
  get changes(): number {
    return this.#changes;
  }

  /**
   * Adds a put.
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
   * Adds a run of `put` request lines, as the bytes a client sent: a
   * restore parses them again.
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
   * Adds the deletion of a series.
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
   * Adds the dropping of every sample older than `cutoff`.
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
   * Adds an empty record: a write of it tells whether the disk takes bytes
   * again, and a restore skips it.
   */
  probe(): void {
    if (this.#pending.open) this.#pending.end();
    this.#open();
    this.#pending.end();
  }

  /**
   * Takes what is encoded: the open record is sealed, and `empty` takes the
   * place of the encoded bytes, so that two writers serve in turn.
   *
   * @param empty A writer holding nothing, to encode into from now on.
   * @returns The writer holding the sealed records.
   */
  swap(empty: RecordWriter): RecordWriter {
    if (this.#pending.open) this.#pending.end();
    const full = this.#pending;
    this.#pending = empty;
    this.#changes = 0;
    return full;
  }

  /**
   * Adds the records of another encoder after these, whole: the changes of
   * a batch built aside.
   *
   * @param other The encoder whose records to take; it is emptied.
   */
  absorb(other: LogEncoder): void {
    if (this.#pending.open) this.#pending.end();
    const changes = other.changes;
    const taken = other.swap(new RecordWriter());
    this.#pending.raw(taken.bytes());
    this.#changes += changes;
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
}
