/**
 * Unit tests of the durability layer: the record framing and every way a
 * record can be torn or corrupted, the journal's group commit and its
 * failures against a fake file, snapshots, and a data directory's restore,
 * lock and compaction.
 *
 * @module
 */

import {
  deepStrictEqual as deepEqual,
  ok as assert,
  rejects,
  strictEqual as equal,
  throws,
} from "node:assert/strict";
import { type FsyncPolicy, Journal } from "../persist/journal.ts";
import {
  COMPRESSION_NONE,
  ENTRY_PUT,
  FILE_LOG,
  FILE_SNAPSHOT,
  readHeader,
  RECORD_BATCH,
  RECORD_CHUNKS,
  RECORD_HEADER,
  RecordReader,
  RecordWriter,
  scanRecords,
  type ScanReport,
} from "../persist/records.ts";
import {
  restoreRecords,
  type RestoreReport,
  writeSnapshot,
} from "../persist/snapshot.ts";
import {
  type DataDir as Storage,
  openDataDir as openStorage,
} from "../persist/data_dir.ts";
import { Logger } from "../internal/logger.ts";
import { LocalStorage } from "../storage/local.ts";
import { serve } from "../server.ts";
import { Store } from "../store.ts";
import { encodeChunk } from "../store/chunkenc/chunkenc.ts";
import {
  bytes,
  concat,
  delay,
  randomInt,
  RawConnection,
  rng,
  within,
} from "./_helpers.ts";

const MAX = Number.MAX_SAFE_INTEGER;
const FRAME = 8;

// ---------------------------------------------------------------------------
// Helpers

/** Every series of a store as `[key, [timestamp, value][]]`, in order. */
function dump(store: Store): [string, [number, number][]][] {
  return [...store.series()].map((series) => [series.key, series.toArray()]);
}

/** Encodes records whose payloads are `[id]` as a varint and some filler. */
function numberedRecords(count: number, filler = 20): Uint8Array {
  const w = new RecordWriter();
  for (let id = 0; id < count; id++) {
    w.begin(RECORD_BATCH);
    w.varint(id);
    for (let i = 0; i < filler; i++) w.byte((id * 31 + i) & 0xff);
    w.end();
  }
  return w.bytes().slice();
}

/** Scans `bytes` and returns the ids of the numbered records it visits. */
function scanIds(bytes: Uint8Array): [number[], ScanReport] {
  const ids: number[] = [];
  const report = scanRecords(
    bytes,
    (_kind, reader) => ids.push(reader.varint()),
  );
  return [ids, report];
}

/** Offsets where each record of an intact file starts, read by hand. */
function recordStarts(bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const starts: number[] = [];
  for (let at = 0; at < bytes.length; at += FRAME + view.getUint32(at, true)) {
    starts.push(at);
  }
  return starts;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** The error a full disk gives, as Deno reports it. */
function noSpace(): Error {
  return new Error("No space left on device (os error 28)");
}

/**
 * A stand-in for a `Deno.FsFile` open for appending: bytes in memory, a
 * capacity past which writes fail as on a full disk, gates to hold a write
 * or an fsync, and counts of what was called.
 */
class FakeFile {
  data: Uint8Array = new Uint8Array(0);
  /** Bytes the "disk" can hold; a write past it writes what fits. */
  capacity = Infinity;
  /** Fsyncs still to fail. */
  failSyncs = 0;
  writeGate: Promise<void> | undefined;
  syncGate: Promise<void> | undefined;
  writes = 0;
  syncs = 0;
  truncates: number[] = [];
  /** How many bytes were on "disk" at the last successful fsync. */
  synced = 0;
  closed = false;
  /** Settles at the next call of `write`. */
  writeCalled = Promise.withResolvers<void>();

  async write(p: Uint8Array): Promise<number> {
    this.writeCalled.resolve();
    await this.writeGate;
    if (this.closed) throw new Deno.errors.BadResource("closed");
    const room = this.capacity - this.data.length;
    if (room <= 0) throw noSpace();
    const n = Math.min(room, p.length);
    this.data = concat(this.data, p.subarray(0, n));
    this.writes++;
    return n;
  }

  async syncData(): Promise<void> {
    this.syncs++;
    await this.syncGate;
    if (this.failSyncs > 0) {
      this.failSyncs--;
      throw new Error("Input/output error (os error 5)");
    }
    this.synced = this.data.length;
  }

  truncate(length: number): Promise<void> {
    this.truncates.push(length);
    this.data = this.data.slice(0, length);
    return Promise.resolve();
  }

  close(): void {
    if (this.closed) throw new Deno.errors.BadResource("closed twice");
    this.closed = true;
  }

  asFile(): Deno.FsFile {
    return this as unknown as Deno.FsFile;
  }
}

/** A journal on a fake file, closed (and its timers cleared) on dispose. */
function fakeJournal(
  fsync: FsyncPolicy,
  file = new FakeFile(),
): [Journal, FakeFile, AsyncDisposable] {
  const journal = new Journal(file.asFile(), { fsync });
  const disposable = {
    async [Symbol.asyncDispose]() {
      file.capacity = Infinity;
      file.failSyncs = 0;
      await journal.close().catch(() => {});
    },
  };
  return [journal, file, disposable];
}

/** Polls `condition` until it holds; a guard against hangs, not a timing. */
async function until(
  condition: () => boolean,
  what: string,
  ms = 10_000,
): Promise<void> {
  await within(
    (async () => {
      while (!condition()) await delay(5);
    })(),
    what,
    ms,
  );
}

/** The samples in the batches of a log's bytes, as a store. */
function replay(bytes: Uint8Array): [Store, RestoreReport] {
  const store = new Store();
  return [store, restoreRecords(store, bytes)];
}

async function tempDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "pulse-storage-test-" });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true });
    },
  };
}

/**
 * Opens a storage whose events are collected instead of printed, each as
 * `<level> <event>: <msg>`.
 */
async function open(
  dir: string,
  options: { compactBytes?: number; fsync?: FsyncPolicy } = {},
): Promise<[Storage, string[]]> {
  const messages: string[] = [];
  const storage = await openStorage(dir, {
    ...options,
    logger: new Logger((line) => {
      const { level, event, msg } = JSON.parse(line);
      messages.push(`${level} ${event}: ${msg}`);
    }),
  });
  return [storage, messages];
}

/** Puts a sample into a storage's store and log, as a session does. */
function put(
  storage: Storage,
  key: string,
  value: number,
  timestamp: number,
): void {
  storage.journal.put(key, value, timestamp);
  storage.store.put(key, value, timestamp);
}

async function logNames(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name.startsWith("log-")) names.push(entry.name);
  }
  return names.sort();
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

// ---------------------------------------------------------------------------
// Records

Deno.test("`RecordWriter` and `RecordReader` round-trip every field", async (t) => {
  const random = rng(4);
  await t.step("varints", () => {
    const values = [0, 1, 127, 128, 16_383, 16_384, 2 ** 31, 2 ** 32, MAX];
    for (let i = 0; i < 200; i++) {
      values.push(Math.floor(random() * 2 ** randomInt(random, 1, 53)));
    }
    const w = new RecordWriter();
    w.begin(RECORD_BATCH);
    for (const value of values) w.varint(value);
    w.end();
    const read: number[] = [];
    scanRecords(w.bytes(), (_, r) => {
      while (!r.done) read.push(r.varint());
    });
    deepEqual(read, values);
  });
  await t.step("signed integers, to the ends of the safe range", () => {
    const values = [0, 1, -1, 63, -63, 64, -64, -65, 2 ** 52, -(2 ** 52)];
    values.push(2 ** 52 + 1, -(2 ** 52) - 1, 2 ** 53 - 2, MAX, -MAX);
    for (let i = 0; i < 500; i++) {
      const magnitude = Math.floor(random() * 2 ** randomInt(random, 1, 53));
      values.push(random() < 0.5 ? -magnitude - 1 : magnitude);
    }
    const w = new RecordWriter();
    w.begin(RECORD_BATCH);
    for (const value of values) w.signed(value);
    w.end();
    const read: number[] = [];
    scanRecords(w.bytes(), (_, r) => {
      while (!r.done) read.push(r.signed());
    });
    deepEqual(read, values);
  });
  await t.step("small signed integers take one byte", () => {
    const w = new RecordWriter();
    w.begin(RECORD_BATCH);
    const start = w.length;
    for (let value = -64; value < 64; value++) w.signed(value);
    equal(w.length - start, 128);
  });
  await t.step("floats, bit for bit", () => {
    const values = [0, -0, 0.1, -1.5, 1e300, -1e-300, Number.MIN_VALUE];
    values.push(Number.MAX_VALUE, Infinity, -Infinity, 2 ** 53 + 2);
    const w = new RecordWriter();
    w.begin(RECORD_BATCH);
    for (const value of values) w.float(value);
    w.end();
    const read: number[] = [];
    scanRecords(w.bytes(), (_, r) => {
      while (!r.done) read.push(r.float());
    });
    deepEqual(read, values);
  });
  await t.step("puts with key numbers of one to three bytes", () => {
    const puts = [[0, 0, 0.5], [127, -64, 1], [128, 63, -2], [16_383, 64, 3]];
    puts.push([16_384, -65, 1e300], [2 ** 21, 2 ** 40, -0], [5, -MAX, 7]);
    const w = new RecordWriter();
    w.begin(RECORD_BATCH);
    for (const [id, offset, value] of puts) w.put(id, offset, value);
    w.end();
    const read: number[][] = [];
    scanRecords(w.bytes(), (_, r) => {
      while (!r.done) {
        equal(r.byte(), ENTRY_PUT);
        read.push([r.varint(), r.signed(), r.float()]);
      }
    });
    deepEqual(read, puts);
  });
  await t.step("strings, short, long and multi-byte", () => {
    const values = ["", "a", "palm.cpu", "x".repeat(127), "y".repeat(128)];
    values.push("z".repeat(70_000), "ключ.€.𝄞", "€".repeat(50), "é".repeat(64));
    const w = new RecordWriter();
    w.begin(RECORD_BATCH);
    for (const value of values) w.string(value);
    w.end();
    const read: string[] = [];
    scanRecords(w.bytes(), (_, r) => {
      while (!r.done) read.push(r.string());
    });
    deepEqual(read, values);
  });
});

Deno.test("`RecordReader` rejects reads past the end of a payload", async (t) => {
  const bytes = new Uint8Array([0x80, 0x80, 1, 2, 3, 5, 0x61]);
  await t.step("a float", () => {
    throws(() => new RecordReader(bytes, 2, 5).float(), RangeError);
  });
  await t.step("a varint cut short", () => {
    throws(() => new RecordReader(bytes, 0, 2).varint(), RangeError);
  });
  await t.step("a string longer than what is left", () => {
    throws(() => new RecordReader(bytes, 5, 7).string(), RangeError);
  });
  await t.step("a varint longer than 8 bytes", () => {
    const long = new Uint8Array(10).fill(0xff);
    throws(() => new RecordReader(long, 0, 10).varint(), RangeError);
  });
});

Deno.test("`readHeader()` reads a header and rejects foreign files", async (t) => {
  await t.step("a log's and a snapshot's", () => {
    const w = new RecordWriter();
    w.header(FILE_LOG, 7);
    w.header(FILE_SNAPSHOT, 2 ** 40);
    const headers: unknown[] = [];
    scanRecords(w.bytes(), (kind, r) => {
      equal(kind, RECORD_HEADER);
      headers.push(readHeader(r));
    });
    deepEqual(headers, [
      { kind: FILE_LOG, sequence: 7 },
      { kind: FILE_SNAPSHOT, sequence: 2 ** 40 },
    ]);
  });
  await t.step("a wrong magic or version", () => {
    for (
      const payload of [[...bytesOf("PULSX"), 1, 1, 1], [
        ...bytesOf("PULSE"),
        9,
        1,
        1,
      ]]
    ) {
      const reader = new RecordReader(
        new Uint8Array(payload),
        0,
        payload.length,
      );
      throws(() => readHeader(reader), TypeError);
    }
  });
});

function bytesOf(text: string): number[] {
  return [...new TextEncoder().encode(text)];
}

Deno.test("`scanRecords()` reads every record of an intact file", () => {
  const bytes = numberedRecords(50);
  const [ids, report] = scanIds(bytes);
  deepEqual(ids, range(50));
  deepEqual(report, {
    records: 50,
    corrupted: 0,
    tornBytes: 0,
    validEnd: bytes.length,
    faults: [],
  });
  deepEqual(scanIds(new Uint8Array(0))[1], {
    records: 0,
    corrupted: 0,
    tornBytes: 0,
    validEnd: 0,
    faults: [],
  });
});

Deno.test("`scanRecords()` reports a record cut short at the end as torn", async (t) => {
  const bytes = numberedRecords(5);
  const starts = recordStarts(bytes);
  const last = starts.at(-1)!;
  await t.step("the last record cut at every length", () => {
    for (let cut = last + 1; cut < bytes.length; cut++) {
      const [ids, report] = scanIds(bytes.subarray(0, cut));
      deepEqual(ids, range(4), `cut at ${cut}`);
      deepEqual(report, {
        records: 4,
        corrupted: 0,
        tornBytes: cut - last,
        validEnd: last,
        faults: [{ kind: "torn", start: last, end: cut }],
      }, `cut at ${cut}`);
    }
  });
  await t.step(
    "zeros after the last record (space allocated, not written)",
    () => {
      const [ids, report] = scanIds(concat(bytes, new Uint8Array(4096)));
      deepEqual(ids, range(5));
      deepEqual(report.faults, [{
        kind: "torn",
        start: bytes.length,
        end: bytes.length + 4096,
      }]);
      equal(report.corrupted, 0);
      equal(report.tornBytes, 4096);
      equal(report.validEnd, bytes.length);
    },
  );
  await t.step("a damaged record, then one cut short", () => {
    const damaged = bytes.slice();
    damaged[starts[3] + FRAME + 2] ^= 0x04;
    const cut = last + FRAME + 3;
    const [ids, report] = scanIds(damaged.subarray(0, cut));
    deepEqual(ids, range(3));
    deepEqual(report.faults, [
      { kind: "checksum", start: starts[3], end: last },
      { kind: "torn", start: last, end: cut },
    ]);
    deepEqual([report.corrupted, report.tornBytes], [1, cut - last]);
    equal(report.validEnd, starts[3]);
  });
});

Deno.test("`scanRecords()` tells a damaged last record from one cut short", async (t) => {
  const bytes = numberedRecords(5);
  const last = recordStarts(bytes).at(-1)!;
  await t.step("a flipped bit in every byte of it", () => {
    for (let at = last; at < bytes.length; at++) {
      for (const bit of [0x01, 0x80]) {
        const damaged = bytes.slice();
        damaged[at] ^= bit;
        const [ids, report] = scanIds(damaged);
        const what = `byte ${at - last} ^ ${bit}`;
        deepEqual(ids, range(4), what);
        // Its length flipped, the rest still matches the checksum.
        const kind = at < last + 4 ? "length" : "checksum";
        deepEqual(report, {
          records: 4,
          corrupted: 1,
          tornBytes: 0,
          validEnd: last,
          faults: [{ kind, start: last, end: bytes.length }],
        }, what);
      }
    }
  });
  await t.step("bytes after the last record that frame no record", () => {
    const garbage = new Uint8Array(1000).fill(0xff);
    const [ids, report] = scanIds(concat(bytes, garbage));
    deepEqual(ids, range(5));
    deepEqual(report.faults, [{
      kind: "garbage",
      start: bytes.length,
      end: bytes.length + 1000,
    }]);
    deepEqual([report.corrupted, report.tornBytes], [1, 0]);
    equal(report.validEnd, bytes.length);
  });
});

Deno.test("`scanRecords()` skips a corrupted record in the middle", async (t) => {
  const bytes = numberedRecords(5);
  const starts = recordStarts(bytes);
  const [start, end] = [starts[2], starts[3]];
  await t.step("a flipped bit in every byte of it", () => {
    for (let at = start; at < end; at++) {
      for (const bit of [0x01, 0x80]) {
        const damaged = bytes.slice();
        damaged[at] ^= bit;
        const [ids, report] = scanIds(damaged);
        const what = `byte ${at - start} ^ ${bit}`;
        deepEqual(ids, [0, 1, 3, 4], what);
        const kind = at < start + 4 ? "length" : "checksum";
        deepEqual(report, {
          records: 4,
          corrupted: 1,
          tornBytes: 0,
          validEnd: bytes.length,
          faults: [{ kind, start, end }],
        }, what);
      }
    }
  });
  await t.step("a length of zero or past any record", () => {
    for (const length of [0, 1, 0xffffffff, 2 ** 28 + 1]) {
      const damaged = bytes.slice();
      new DataView(damaged.buffer).setUint32(start, length, true);
      const [ids, report] = scanIds(damaged);
      deepEqual(ids, [0, 1, 3, 4], `length ${length}`);
      deepEqual(report.faults, [{ kind: "length", start, end }]);
    }
  });
  await t.step("two damaged stretches count twice", () => {
    const damaged = bytes.slice();
    damaged[starts[1] + FRAME + 2] ^= 0xff;
    damaged[starts[3] + FRAME + 2] ^= 0xff;
    const [ids, report] = scanIds(damaged);
    deepEqual(ids, [0, 2, 4]);
    equal(report.corrupted, 2);
    deepEqual(report.faults, [
      { kind: "checksum", start: starts[1], end: starts[2] },
      { kind: "checksum", start: starts[3], end: starts[4] },
    ]);
  });
  await t.step("garbage between two records", () => {
    const garbage = new Uint8Array(100).fill(0x02);
    const joined = concat(bytes.subarray(0, end), garbage, bytes.subarray(end));
    const [ids, report] = scanIds(joined);
    deepEqual(ids, range(5));
    equal(report.corrupted, 1);
    equal(report.validEnd, joined.length);
    deepEqual(report.faults, [{ kind: "garbage", start: end, end: end + 100 }]);
  });
  await t.step("a checksummed record of an unknown kind", () => {
    const w = new RecordWriter();
    w.begin(9);
    w.varint(99);
    w.end();
    const joined = concat(
      bytes.subarray(0, end),
      w.bytes(),
      bytes.subarray(end),
    );
    const [ids, report] = scanIds(joined);
    deepEqual(ids, range(5));
    equal(report.corrupted, 1);
    deepEqual(report.faults, [{
      kind: "content",
      start: end,
      end: end + w.length,
      reason: "unknown record kind 9",
    }]);
  });
});

Deno.test("`scanRecords()` counts a record it cannot apply as corrupted and goes on", () => {
  const bytes = numberedRecords(4);
  const starts = recordStarts(bytes);
  const seen: number[] = [];
  const report = scanRecords(bytes, (_, reader) => {
    const id = reader.varint();
    if (id === 1) throw new RangeError("cannot apply");
    seen.push(id);
  });
  deepEqual(seen, [0, 2, 3]);
  deepEqual(report, {
    records: 3,
    corrupted: 1,
    tornBytes: 0,
    validEnd: bytes.length,
    faults: [{
      kind: "content",
      start: starts[1],
      end: starts[2],
      reason: "cannot apply",
    }],
  });
});

// ---------------------------------------------------------------------------
// Journal

Deno.test("`Journal.commit()` under always settles once the batch is fsynced", async () => {
  const [journal, file, disposable] = fakeJournal("always");
  await using _ = disposable;
  const gate = Promise.withResolvers<void>();
  file.syncGate = gate.promise;
  journal.put("a", 1.5, 10);
  journal.put("b", -2, -10);
  let settled = false;
  const committed = journal.commit()!;
  assert(committed instanceof Promise);
  committed.then(() => settled = true);
  await until(() => file.syncs === 1, "the fsync");
  await delay(20);
  equal(settled, false, "settled before the fsync finished");
  gate.resolve();
  await within(committed, "the commit");
  equal(file.synced, file.data.length);
  deepEqual(dump(replay(file.data)[0]), [["a", [[10, 1.5]]], ["b", [[
    -10,
    -2,
  ]]]]);
  equal(journal.size, file.data.length);
});

Deno.test("`Journal` shares one fsync among the commits made while one runs", async () => {
  const [journal, file, disposable] = fakeJournal("always");
  await using _ = disposable;
  const gate = Promise.withResolvers<void>();
  file.syncGate = gate.promise;
  journal.put("first", 1, 1);
  const first = journal.commit()!;
  await until(() => file.syncs === 1, "the first fsync");
  // Ten connections commit while the first fsync runs.
  const later: Promise<void>[] = [];
  for (let i = 0; i < 10; i++) {
    journal.put(`c${i}`, i, i);
    later.push(journal.commit()!);
  }
  equal(file.writes, 1);
  gate.resolve();
  await within(Promise.all([first, ...later]), "the commits");
  equal(file.syncs, 2, "one fsync for the ten commits");
  equal(file.writes, 2, "one write for the ten commits");
  const [store, report] = replay(file.data);
  equal(report.records, 2, "a record per write");
  equal(store.stats.samples, 11);
});

Deno.test("`Journal.commit()` under everysec writes soon and fsyncs within a second", async () => {
  const [journal, file, disposable] = fakeJournal("everysec");
  await using _ = disposable;
  journal.put("k", 1, 1);
  equal(journal.commit(), undefined);
  await until(() => file.data.length > 0, "the write");
  await until(() => file.synced === file.data.length, "the fsync");
  deepEqual(dump(replay(file.data)[0]), [["k", [[1, 1]]]]);
});

Deno.test("`Journal.commit()` under no leaves the fsync to close()", async () => {
  const [journal, file] = fakeJournal("no");
  journal.put("k", 1, 1);
  equal(journal.commit(), undefined);
  await until(() => file.data.length > 0, "the write");
  equal(file.syncs, 0);
  journal.put("k", 2, 2);
  journal.commit();
  await journal.close();
  equal(file.syncs, 1);
  equal(file.synced, file.data.length);
  assert(file.closed);
  deepEqual(dump(replay(file.data)[0]), [["k", [[1, 1], [2, 2]]]]);
});

Deno.test("`Journal.close()` writes and fsyncs what was committed", async (t) => {
  for (const fsync of ["always", "everysec", "no"] as const) {
    await t.step(fsync, async () => {
      const [journal, file] = fakeJournal(fsync);
      for (let i = 0; i < 100; i++) {
        journal.put(`k${i % 7}`, i, i);
        journal.commit()?.catch(() => {});
      }
      journal.delete("k3");
      journal.commit()?.catch(() => {});
      await journal.close();
      await journal.close();
      assert(file.closed);
      equal(file.synced, file.data.length);
      equal(journal.size, file.data.length);
      const [store, report] = replay(file.data);
      equal(report.records, file.writes, "a record per write");
      equal(store.stats.samples, 100 - 14);
    });
  }
});

Deno.test("`Journal.commit()` asks the caller to wait past 8 MiB unwritten", async () => {
  const [journal, file, disposable] = fakeJournal("everysec");
  await using _ = disposable;
  const gate = Promise.withResolvers<void>();
  file.writeGate = gate.promise;
  let waited: Promise<void> | undefined;
  let puts = 0;
  while (waited === undefined) {
    for (let i = 0; i < 1000; i++) journal.put("k", puts, puts++);
    waited = journal.commit();
    assert(puts < 1_000_000, "never asked to wait");
  }
  assert(puts > 8 * 1024 * 1024 / 16, `asked to wait after ${puts} puts`);
  gate.resolve();
  await within(waited, "the write");
  await journal.close();
  equal(replay(file.data)[0].stats.samples, puts);
});

Deno.test("`Journal` on a full disk fails the commit, cuts the file back and recovers", async (t) => {
  await t.step("a write that does not fit", async () => {
    const [journal, file, disposable] = fakeJournal("always");
    await using _ = disposable;
    journal.put("before", 1, 1);
    await journal.commit();
    const size = file.data.length;
    // Room for part of the next record only, and of any record.
    file.capacity = size + 5;
    for (let i = 0; i < 100; i++) journal.put("full", i, i);
    const error = await journal.commit()!.then(() => undefined, (e) => e);
    assert(error instanceof Error, "the commit did not fail");
    equal(error.message, noSpace().message);
    equal(journal.failure, error);
    equal(file.data.length, size, "the torn bytes were not cut");
    equal(journal.size, size);
    // It stays failed, so that puts are refused at once, until space returns.
    await delay(1_200);
    assert(journal.failure !== undefined);
    equal(file.data.length, size);
    file.capacity = Infinity;
    await until(() => journal.failure === undefined, "the recovery");
    // Refused to its writer, the batch leaves no trace; an empty record
    // told that the disk takes bytes again.
    const [store, report] = replay(file.data);
    equal(report.records, 2, "the batch before, and the empty record");
    equal(report.corrupted + report.tornBytes, 0);
    equal(store.get("full"), undefined);
    deepEqual(dump(store), [["before", [[1, 1]]]]);
    equal(file.synced, file.data.length);
  });
  await t.step(
    "commits queued behind the failed write fail at once",
    async () => {
      const [journal, file, disposable] = fakeJournal("always");
      await using _ = disposable;
      const gate = Promise.withResolvers<void>();
      file.writeGate = gate.promise;
      journal.put("a", 1, 1);
      const first = journal.commit()!.then(() => "ok", (e) => e.message);
      await file.writeCalled.promise;
      journal.put("b", 2, 2);
      const second = journal.commit()!.then(() => "ok", (e) => e.message);
      file.capacity = 0;
      gate.resolve();
      deepEqual(
        await within(Promise.all([first, second]), "the failed commits", 5_000),
        [noSpace().message, noSpace().message],
      );
      file.capacity = Infinity;
      await until(() => journal.failure === undefined, "the recovery");
      await journal.close();
      deepEqual(dump(replay(file.data)[0]), [], "both were refused");
    },
  );
  await t.step(
    "a failed fsync cuts the refused batch out for good",
    async () => {
      const [journal, file, disposable] = fakeJournal("always");
      await using _ = disposable;
      file.failSyncs = 1;
      journal.put("k", 1, 1);
      await rejects(journal.commit()!, /Input\/output error/);
      deepEqual(file.truncates, [0]);
      await until(() => journal.failure === undefined, "the recovery");
      const [store, report] = replay(file.data);
      equal(report.records, 1, "only the empty record that probed the disk");
      equal(store.stats.samples, 0);
      equal(file.synced, file.data.length);
    },
  );
  await t.step("under everysec, written once space returns", async () => {
    const [journal, file, disposable] = fakeJournal("everysec");
    await using _ = disposable;
    file.capacity = 0;
    journal.put("k", 1, 1);
    equal(journal.commit(), undefined);
    await until(() => journal.failure !== undefined, "the failure");
    file.capacity = Infinity;
    await until(() => journal.failure === undefined, "the recovery");
    await journal.close();
    deepEqual(dump(replay(file.data)[0]), [["k", [[1, 1]]]]);
  });
  await t.step(
    "close() throws while the disk is full, and closes the file",
    async () => {
      const [journal, file] = fakeJournal("everysec");
      file.capacity = 0;
      journal.put("k", 1, 1);
      journal.commit();
      await rejects(journal.close(), /No space left/);
      assert(file.closed);
    },
  );
});

Deno.test("`Journal.rotate()` puts earlier commits in the old file, later ones in the new", async () => {
  const [journal, old, disposable] = fakeJournal("everysec");
  await using _ = disposable;
  journal.put("k", 1, 1);
  journal.commit();
  const next = new FakeFile();
  next.data = new Uint8Array(5);
  const rotated = journal.rotate(next.asFile(), 5);
  journal.put("k", 2, 2);
  journal.commit();
  await within(rotated, "the rotation");
  assert(old.closed, "the old file is closed");
  equal(old.synced, old.data.length, "the old file is fsynced");
  deepEqual(dump(replay(old.data)[0]), [["k", [[1, 1]]]]);
  await journal.close();
  equal(journal.size, next.data.length);
  deepEqual(dump(replay(next.data.subarray(5))[0]), [["k", [[2, 2]]]]);
});

// ---------------------------------------------------------------------------
// Snapshots and restore

Deno.test("`writeSnapshot()` and `restoreRecords()` round-trip a store", async (t) => {
  await using dir = await tempDir();
  const path = `${dir.path}/snapshot.pulse`;
  async function roundTrip(store: Store): Promise<void> {
    const info = await writeSnapshot(store, path, 42);
    const bytes = await Deno.readFile(path);
    equal(info.bytes, bytes.length);
    equal(info.samples, store.stats.samples);
    assert(!await exists(`${path}.tmp`), "the temporary file is left");
    const restored = new Store();
    const report = restoreRecords(restored, bytes);
    deepEqual(report.header, { kind: FILE_SNAPSHOT, sequence: 42 });
    equal(report.corrupted + report.tornBytes, 0);
    deepEqual(dump(restored), dump(store));
    deepEqual(restored.stats, store.stats);
  }
  await t.step("an empty store", () => roundTrip(new Store()));
  await t.step("timestamps far apart", async () => {
    const store = new Store();
    const far = [-MAX, -MAX + 1, -(2 ** 52) - 1, -(2 ** 31) - 1, -1, 0, 1];
    far.push(2 ** 31, 2 ** 32 + 7, 2 ** 52 + 1, MAX - 1, MAX);
    for (const [i, timestamp] of far.entries()) {
      store.put("far", i - 0.5, timestamp);
      store.put("alone", i, far[far.length - 1 - i]);
    }
    store.put("min", -1e-300, -MAX);
    store.put("max", 1e300, MAX);
    await roundTrip(store);
  });
  await t.step("random series, values and keys", async () => {
    const random = rng(17);
    const store = new Store();
    for (let s = 0; s < 40; s++) {
      const key = s % 5 === 0 ? `ключ.${s}.€𝄞` : `host${s}.cpu`;
      let timestamp = randomInt(random, -1e9, 1e9);
      for (let i = randomInt(random, 1, 300); i > 0; i--) {
        timestamp += randomInt(random, 1, random() < 0.1 ? 1e7 : 100);
        const value = random() < 0.1 ? -0 : (random() - 0.5) * 10 ** (
              randomInt(random, -20, 20)
            );
        store.put(key, value, timestamp);
      }
    }
    await roundTrip(store);
  });
  await t.step("a series longer than one record", async () => {
    const store = new Store();
    for (let i = 0; i < 10_000; i++) store.put("long", i % 13, 1e9 + i * 10);
    store.put("long", 1, -5);
    await roundTrip(store);
  });
});

Deno.test("`writeSnapshot()` keeps the store's encoded chunks, compressed where that wins", async () => {
  await using dir = await tempDir();
  const store = new Store();
  const random = rng(3);
  const samples = 100_000;
  for (let s = 0; s < 10; s++) {
    let value = 500;
    for (let i = 0; i < samples / 10; i++) {
      value += randomInt(random, -20, 20);
      store.put(`host${s}.cpu`, value / 10, 1_700_000_000 + 10 * i);
    }
  }
  const { encodings } = store.chunkFigures();
  equal(encodings.decimal.samples + encodings.raw.samples, samples);
  const info = await writeSnapshot(store, `${dir.path}/snapshot.pulse`, 1);
  equal(info.samples, samples);
  // Random steps of at most 2.0 take about 6 bits: no compression finds
  // more, and the head chunks are encoded too.
  const perSample = info.bytes / samples;
  assert(perSample < 0.9, `${perSample} bytes a sample`);
  assert(
    info.bytes < encodings.decimal.bytes * 1.05 + 1024,
    `${info.bytes} bytes, the chunks ${encodings.decimal.bytes}`,
  );
});

Deno.test("`restoreRecords()` replays the puts, deletes and trims of a log", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/log`;
  const file = await Deno.open(path, { append: true, create: true });
  const journal = new Journal(file, { fsync: "always" });
  const random = rng(23);
  const expected = new Store();
  for (let batch = 0; batch < 200; batch++) {
    for (let i = randomInt(random, 1, 20); i > 0; i--) {
      const roll = random();
      const key = `k${randomInt(random, 0, 9)}`;
      if (roll < 0.9) {
        const [value, timestamp] = [random() * 100, randomInt(random, 0, 999)];
        journal.put(key, value, timestamp);
        expected.put(key, value, timestamp);
      } else if (roll < 0.96) {
        journal.delete(key);
        expected.delete(key);
      } else {
        const cutoff = randomInt(random, 0, 300);
        journal.trim(cutoff);
        expected.dropBefore(cutoff);
      }
    }
    await journal.commit();
  }
  await journal.close();
  const [store, report] = replay(await Deno.readFile(path));
  equal(report.records, 200);
  equal(report.corrupted + report.tornBytes, 0);
  deepEqual(dump(store), dump(expected));
  assert(expected.stats.samples > 0);
});

Deno.test("`Journal` and `restoreRecords()` round-trip timestamps far apart", async () => {
  const [journal, file] = fakeJournal("no");
  const timestamps = [
    0,
    1,
    -1,
    2 ** 20,
    2 ** 20 + 1,
    -(2 ** 20) - 1,
    MAX,
    -MAX,
  ];
  timestamps.push(
    MAX - 2 ** 20,
    -MAX + 2 ** 20 + 1,
    1_700_000_000,
    2 ** 52 + 1,
  );
  const expected = new Store();
  for (
    const [i, timestamp] of [...timestamps, ...timestamps.toReversed()]
      .entries()
  ) {
    journal.put(`k${i % 3}`, i + 0.5, timestamp);
    expected.put(`k${i % 3}`, i + 0.5, timestamp);
  }
  journal.commit();
  await journal.close();
  const [store, report] = replay(file.data);
  equal(report.records, 1);
  deepEqual(dump(store), dump(expected));
});

Deno.test("`Journal` numbers tens of thousands of keys afresh in each record", async () => {
  const [journal, file] = fakeJournal("no");
  const expected = new Store();
  for (let i = 0; i < 20_000; i++) {
    journal.put(`key${i}`, i, i % 300 - 150);
    expected.put(`key${i}`, i, i % 300 - 150);
  }
  journal.put("key5", -1, 7);
  expected.put("key5", -1, 7);
  journal.commit();
  await journal.close();
  const [store, report] = replay(file.data);
  assert(report.records > 10, `${report.records} records`);
  deepEqual(dump(store), dump(expected));
});

/** The samples each record of a log holds, replayed on its own. */
function samplesPerRecord(log: Uint8Array): number[] {
  const starts = recordStarts(log);
  return starts.map((start, i) =>
    replay(log.subarray(start, starts[i + 1] ?? log.length))[1].changes
  );
}

/** The payload sizes of a log's records. */
function payloadSizes(log: Uint8Array): number[] {
  const view = new DataView(log.buffer, log.byteOffset, log.length);
  return recordStarts(log).map((start) => view.getUint32(start, true));
}

Deno.test("`Journal` seals a record once it holds 32 KiB, whatever a write holds", async (t) => {
  const LIMIT = 32 * 1024;
  await t.step("a run of put lines, split at lines", async () => {
    const [journal, file] = fakeJournal("no");
    const expected = new Store();
    let text = "";
    for (let i = 0; i < 40_000; i++) {
      const [key, value, time] = [`host${i % 50}.cpu`, i + 0.5, 1e9 + i];
      text += `put ${key} ${value} ${time}${i % 7 === 0 ? "\r\n" : "\n"}`;
      expected.put(key, value, time);
    }
    const all = bytes(text);
    // The run ends before the last line's newline, as a session gives it.
    journal.lines(all, 0, all.length - 1, 40_000);
    journal.commit();
    await journal.close();
    const [store, report] = replay(file.data);
    deepEqual(dump(store), dump(expected));
    equal(report.corrupted + report.tornBytes, 0);
    const sizes = payloadSizes(file.data);
    assert(sizes.length > all.length / LIMIT, `${sizes.length} records`);
    assert(sizes.every((size) => size <= LIMIT), `${Math.max(...sizes)}`);
    equal(samplesPerRecord(file.data).reduce((a, b) => a + b), 40_000);
  });
  await t.step(
    "the shortest put lines: at most 3,277 samples a record",
    async () => {
      const [journal, file] = fakeJournal("no");
      const line = bytes("put a 1 1\n".repeat(100_000));
      journal.lines(line, 0, line.length - 1, 100_000);
      // And encoded puts after a record that lines filled.
      journal.put("b", 1, 1);
      journal.commit();
      await journal.close();
      const counts = samplesPerRecord(file.data);
      equal(counts.reduce((a, b) => a + b), 100_001);
      assert(Math.max(...counts) <= 3_277, `${Math.max(...counts)} samples`);
      assert(Math.max(...counts) >= 3_270, `${Math.max(...counts)} samples`);
    },
  );
  await t.step("encoded puts, deletes and trims", async () => {
    const [journal, file] = fakeJournal("no");
    const expected = new Store();
    for (let i = 0; i < 30_000; i++) {
      journal.put(`k${i % 3}`, i, i);
      expected.put(`k${i % 3}`, i, i);
      if (i % 1000 === 999) {
        journal.delete("k1");
        expected.delete("k1");
        journal.trim(i - 2000);
        expected.dropBefore(i - 2000);
      }
    }
    journal.commit();
    await journal.close();
    const [store, report] = replay(file.data);
    deepEqual(dump(store), dump(expected));
    // All but the header and the last: sealed once they reach the bound,
    // past it by less than one put.
    const sizes = payloadSizes(file.data).slice(1, -1);
    assert(sizes.length >= 10, `${sizes.length} records`);
    assert(sizes.every((size) => size >= LIMIT && size < LIMIT + 16));
    assert(report.records > 1);
  });
  await t.step("a line longer than a record goes alone", async () => {
    const [journal, file] = fakeJournal("no");
    const long = `put ${"x".repeat(50_000)} 1 1`;
    const text = bytes(`put a 1 1\n${long}\nput b 2 2`);
    journal.lines(text, 0, text.length, 3);
    journal.commit();
    await journal.close();
    deepEqual(samplesPerRecord(file.data), [1, 1, 1]);
    equal(replay(file.data)[0].stats.samples, 3);
  });
});

Deno.test("`Journal` takes about 12 bytes a put of regular series", async () => {
  const [journal, file] = fakeJournal("no");
  const puts = 100_000;
  for (let i = 0; i < puts; i++) {
    journal.put(
      `host${i % 100}.cpu`,
      (i * 7919 % 1000) / 10,
      1_700_000_000 + Math.floor(i / 100),
    );
    if (i % 5_000 === 4_999) journal.commit();
  }
  await journal.close();
  assert(
    file.data.length / puts < 12.5,
    `${file.data.length / puts} bytes a put`,
  );
  equal(replay(file.data)[0].stats.samples, puts);
});

Deno.test("`restoreRecords()` reads logs of format 1", () => {
  // Format 1 had no timestamp base: a put's timestamp was whole.
  const w = new RecordWriter();
  w.begin(RECORD_HEADER);
  for (const byte of bytesOf("PULSE")) w.byte(byte);
  w.byte(1);
  w.byte(FILE_LOG);
  w.varint(3);
  w.end();
  w.begin(RECORD_BATCH);
  w.byte(1); // key
  w.varint(0);
  w.string("palm.cpu");
  w.byte(2); // put
  w.varint(0);
  w.signed(1_700_000_000);
  w.float(0.5);
  w.byte(2);
  w.varint(0);
  w.signed(-MAX);
  w.float(1.5);
  w.end();
  const [store, report] = replay(w.bytes());
  deepEqual(report.header, { kind: FILE_LOG, sequence: 3 });
  equal(report.corrupted, 0);
  deepEqual(dump(store), [["palm.cpu", [[-MAX, 1.5], [1_700_000_000, 0.5]]]]);
});

Deno.test("`restoreRecords()` reads every batch on its own", async () => {
  // Keys are numbered within a record: losing one record must not garble
  // the keys of the next.
  const [journal, file] = fakeJournal("always");
  journal.put("lost", 1, 1);
  journal.put("kept", 1, 1);
  await journal.commit();
  journal.put("kept", 2, 2);
  journal.put("other", 3, 3);
  await journal.commit();
  await journal.close();
  const starts = recordStarts(file.data);
  file.data[starts[0] + FRAME + 3] ^= 0xff;
  const [store, report] = replay(file.data);
  equal(report.corrupted, 1);
  deepEqual(dump(store), [["kept", [[2, 2]]], ["other", [[3, 3]]]]);
});

// ---------------------------------------------------------------------------
// Data directories

Deno.test("`openStorage()` restores what was put and reports it", async () => {
  await using dir = await tempDir();
  const expected = new Store();
  {
    const [storage, messages] = await open(dir.path);
    await using _ = storage;
    deepEqual(storage.restored.samples, 0);
    assert(messages.some((m) => m.includes("restored 0 samples in 0 series")));
    for (let i = 0; i < 1000; i++) {
      put(storage, `s${i % 10}`, i / 4, 1_700_000_000 + i);
      expected.put(`s${i % 10}`, i / 4, 1_700_000_000 + i);
      if (i % 100 === 99) storage.journal.commit();
    }
  }
  const [storage, messages] = await open(dir.path);
  await using _ = storage;
  deepEqual(dump(storage.store), dump(expected));
  const { samples, series, corrupted, tornBytes } = storage.restored;
  deepEqual({ samples, series, corrupted, tornBytes }, {
    samples: 1000,
    series: 10,
    corrupted: 0,
    tornBytes: 0,
  });
  equal(messages.length, 1, messages.join("\n"));
  assert(
    /^info restore: restored 1000 samples in 10 series from .+ in \d+ ms$/.test(
      messages[0],
    ),
    messages[0],
  );
});

/**
 * Random requests for a session, as text: puts with odd spacing and line
 * ends, replacements, reads, deletes, bad and blank lines. Returns the text
 * and how many answers it gets.
 */
function randomSession(random: () => number, lines: number): [string, number] {
  const space = () => [" ", "  ", "\t", " \t "][randomInt(random, 0, 3)];
  const end = () => (random() < 0.2 ? "\r\n" : "\n");
  const key = () => `k${randomInt(random, 0, 5)}`;
  let text = "";
  let answers = 0;
  for (let i = 0; i < lines; i++) {
    const roll = random();
    if (roll < 0.03) {
      text += end();
      continue;
    }
    answers++;
    if (roll < 0.8) {
      const lead = random() < 0.1 ? space() : "";
      const value = (randomInt(random, -999, 999) / 8).toString();
      const time = randomInt(random, 1, 40);
      text += `${lead}put${space()}${key()}${space()}${value}${space()}${time}`;
    } else if (roll < 0.87) {
      text += `get ${key()}`;
    } else if (roll < 0.9) {
      text += `delete ${key()}`;
    } else if (roll < 0.95) {
      text += `put ${key()} nan 5`;
    } else {
      text += "PUT k1 1 1";
    }
    text += end();
  }
  return [text, answers];
}

Deno.test("`serve()` logs what sessions change so that a restore rebuilds it", async (t) => {
  for (const fsync of ["always", "everysec"] as const) {
    await t.step(
      `random sessions in random pieces, --fsync ${fsync}`,
      async () => {
        await using dir = await tempDir();
        const random = rng(fsync === "always" ? 11 : 12);
        let live: [string, [number, number][]][];
        {
          const [storage] = await open(dir.path, { fsync });
          await using _ = storage;
          await using server = serve({
            port: 0,
            storage: new LocalStorage({ dataDir: storage }),
          });
          const sessions = Array.from({ length: 3 }, async () => {
            await using conn = await RawConnection.connect(server.addr.port);
            const [text, answers] = randomSession(random, 400);
            const all = bytes(text);
            for (let at = 0; at < all.length;) {
              const size = randomInt(random, 1, 300);
              await conn.send(all.subarray(at, at + size));
              at += size;
              if (random() < 0.3) await delay(1);
            }
            await conn.answers(answers);
          });
          await Promise.all(sessions);
          live = dump(storage.store);
          assert(live.length > 0);
        }
        const [storage] = await open(dir.path);
        await using _ = storage;
        deepEqual(dump(storage.store), live);
      },
    );
  }

  await t.step("puts refused before `auth` stay out of the log", async () => {
    await using dir = await tempDir();
    {
      const [storage] = await open(dir.path);
      await using _ = storage;
      await using server = serve({
        port: 0,
        storage: new LocalStorage({ dataDir: storage }),
        token: "secret",
      });
      await using conn = await RawConnection.connect(server.addr.port);
      await conn.send(
        "put early 1 1\nput early 2 2\nauth secret\nput late 3 3\n",
      );
      equal(
        await conn.answers(4),
        "error\nauthentication required\n\n".repeat(2) + "ok\n\n".repeat(2),
      );
    }
    const [storage] = await open(dir.path);
    await using _ = storage;
    deepEqual(dump(storage.store), [["late", [[3, 3]]]]);
  });
});

Deno.test("`openStorage()` refuses a directory another storage holds", async () => {
  await using dir = await tempDir();
  const [storage] = await open(dir.path);
  await using _ = storage;
  await rejects(open(dir.path), (error: Error) => {
    assert(error instanceof Deno.errors.AlreadyExists);
    equal(
      error.message,
      `Cannot use the data directory ${dir.path}: it is locked by another Pulse server (pid ${Deno.pid})`,
    );
    return true;
  });
});

/** The `.damaged` files of a directory, by name. */
async function damagedNames(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name.endsWith(".damaged")) names.push(entry.name);
  }
  return names.sort();
}

/** Writes `batches` commits of 100 puts each to key `b<batch>`. */
async function writeBatches(
  dir: string,
  batches: number,
  expected: Store,
): Promise<void> {
  const [storage] = await open(dir, { fsync: "always" });
  await using _ = storage;
  for (let batch = 0; batch < batches; batch++) {
    for (let i = 0; i < 100; i++) {
      put(storage, `b${batch}`, i / 2, 1_700_000_000 + i);
      expected.put(`b${batch}`, i / 2, 1_700_000_000 + i);
    }
    await storage.journal.commit();
  }
}

/** Puts one sample more and restarts: the log takes appends after a cut. */
async function appendAndRestart(
  dir: string,
  expected: Store,
): Promise<string[]> {
  {
    const [storage] = await open(dir);
    await using _ = storage;
    put(storage, "after", 1, 1);
    expected.put("after", 1, 1);
  }
  const [storage, messages] = await open(dir);
  await using _ = storage;
  deepEqual(dump(storage.store), dump(expected));
  return messages;
}

Deno.test("`openStorage()` sets a torn tail aside, cuts it and reports a write cut short", async (t) => {
  for (const how of ["a partial record appended", "the last record cut"]) {
    await t.step(how, async () => {
      await using dir = await tempDir();
      const expected = new Store();
      await writeBatches(dir.path, 3, expected);
      const [log] = await logNames(dir.path);
      const path = `${dir.path}/${log}`;
      const whole = await Deno.readFile(path);
      let bytes: Uint8Array;
      let end: number;
      if (how === "a partial record appended") {
        end = whole.length;
        const partial = [50, 0, 0, 0, 1, 2, 3, 4, RECORD_BATCH, 1, 2];
        bytes = concat(whole, new Uint8Array(partial));
      } else {
        end = recordStarts(whole).at(-1)!;
        bytes = whole.subarray(0, whole.length - 7);
        expected.delete("b2");
      }
      await Deno.writeFile(path, bytes);
      const aside = `${path}.${end}.damaged`;
      {
        const [storage, messages] = await open(dir.path);
        await using _ = storage;
        deepEqual(dump(storage.store), dump(expected));
        const length = bytes.length - end;
        deepEqual(storage.restored.damaged, [
          {
            file: log,
            kind: "torn",
            offset: end,
            length,
            path: aside,
            cut: true,
          },
        ]);
        equal(storage.restored.tornBytes, length);
        equal(storage.restored.corrupted, 0);
        deepEqual(messages.slice(0, -1), [
          `warn restore: ${log}: cut off an unfinished record of ${length} bytes at offset ${end} (a write cut short), its bytes set aside in ${aside}`,
        ]);
        deepEqual(await Deno.readFile(aside), bytes.subarray(end));
        equal((await Deno.stat(path)).size, end);
      }
      const messages = await appendAndRestart(dir.path, expected);
      equal(messages.length, 1, messages.join("\n"));
      deepEqual(await damagedNames(dir.path), [`${log}.${end}.damaged`]);
    });
  }
});

Deno.test("`openStorage()` names a damaged last record a checksum mismatch, not a write cut short", async () => {
  await using dir = await tempDir();
  const expected = new Store();
  await writeBatches(dir.path, 4, expected);
  expected.delete("b3");
  const [log] = await logNames(dir.path);
  const path = `${dir.path}/${log}`;
  const bytes = await Deno.readFile(path);
  const last = recordStarts(bytes).at(-1)!;
  bytes[last + FRAME + 30] ^= 0x21;
  bytes[bytes.length - 3] ^= 0x80;
  await Deno.writeFile(path, bytes);
  const aside = `${path}.${last}.damaged`;
  {
    const [storage, messages] = await open(dir.path);
    await using _ = storage;
    deepEqual(dump(storage.store), dump(expected));
    const length = bytes.length - last;
    deepEqual(storage.restored.damaged, [
      {
        file: log,
        kind: "checksum",
        offset: last,
        length,
        path: aside,
        cut: true,
      },
    ]);
    deepEqual([storage.restored.corrupted, storage.restored.tornBytes], [1, 0]);
    deepEqual(messages.slice(0, -1), [
      `warn restore: ${log}: cut off a record of ${length} bytes at offset ${last} (damaged: checksum mismatch), its bytes set aside in ${aside}`,
    ]);
    deepEqual(await Deno.readFile(aside), bytes.subarray(last));
    equal((await Deno.stat(path)).size, last);
  }
  const messages = await appendAndRestart(dir.path, expected);
  equal(messages.length, 1, messages.join("\n"));
  deepEqual(await damagedNames(dir.path), [`${log}.${last}.damaged`]);
});

Deno.test("`openStorage()` skips a corrupted record, sets it aside once and keeps it through compaction", async () => {
  await using dir = await tempDir();
  const expected = new Store();
  await writeBatches(dir.path, 5, expected);
  expected.delete("b2");
  const [log] = await logNames(dir.path);
  const path = `${dir.path}/${log}`;
  const bytes = await Deno.readFile(path);
  // Record 0 is the header; record 3 holds batch 2.
  const [start, end] = recordStarts(bytes).slice(3, 5);
  bytes[start + FRAME + 20] ^= 0x10;
  await Deno.writeFile(path, bytes);
  const aside = `${path}.${start}.damaged`;
  const warning = (already: string) =>
    `warn restore: ${log}: skipped a record of ${
      end - start
    } bytes at offset ${start} (damaged: checksum mismatch), its bytes ${already}set aside in ${aside}`;
  for (const already of ["", "already "]) {
    const [storage, messages] = await open(dir.path);
    await using _ = storage;
    deepEqual(dump(storage.store), dump(expected));
    equal(storage.restored.corrupted, 1);
    deepEqual(messages.slice(0, -1), [warning(already)]);
    // Skipped, not cut: the bytes stay in the log too.
    deepEqual(await Deno.readFile(path), bytes);
    deepEqual(await Deno.readFile(aside), bytes.subarray(start, end));
    deepEqual(await damagedNames(dir.path), [`${log}.${start}.damaged`]);
  }
  {
    const [storage] = await open(dir.path);
    await using _ = storage;
    await storage.compact();
  }
  deepEqual(await damagedNames(dir.path), [`${log}.${start}.damaged`]);
  deepEqual(await Deno.readFile(aside), bytes.subarray(start, end));
  const [storage, messages] = await open(dir.path);
  await using _ = storage;
  deepEqual(dump(storage.store), dump(expected));
  equal(messages.length, 1, messages.join("\n"));
});

Deno.test("`openStorage()` skips garbage between records and sets it aside", async () => {
  await using dir = await tempDir();
  const expected = new Store();
  await writeBatches(dir.path, 5, expected);
  const [log] = await logNames(dir.path);
  const path = `${dir.path}/${log}`;
  const whole = await Deno.readFile(path);
  const at = recordStarts(whole)[3];
  const random = rng(77);
  const garbage = Uint8Array.from(range(300), () => randomInt(random, 0, 255));
  garbage.fill(0xee, 0, 4); // a length past any record
  const bytes = concat(whole.subarray(0, at), garbage, whole.subarray(at));
  await Deno.writeFile(path, bytes);
  const [storage, messages] = await open(dir.path);
  await using _ = storage;
  deepEqual(dump(storage.store), dump(expected));
  const aside = `${path}.${at}.damaged`;
  deepEqual(storage.restored.damaged, [
    {
      file: log,
      kind: "garbage",
      offset: at,
      length: 300,
      path: aside,
      cut: false,
    },
  ]);
  deepEqual(messages.slice(0, -1), [
    `warn restore: ${log}: skipped 300 bytes at offset ${at} that frame no record (damaged: garbage between records), its bytes set aside in ${aside}`,
  ]);
  deepEqual(await Deno.readFile(aside), garbage);
  deepEqual(await Deno.readFile(path), bytes);
});

Deno.test("`openStorage()` skips a damaged snapshot record and sets it aside", async () => {
  await using dir = await tempDir();
  const expected = new Store();
  const random = rng(9);
  {
    const [storage] = await open(dir.path);
    await using _ = storage;
    // Random doubles take about 8 bytes a sample: x spans several records.
    for (let i = 0; i < 100_000; i++) {
      const value = (random() - 0.5) * 1e6;
      put(storage, "x", value, 1_700_000_000 + i);
      expected.put("x", value, 1_700_000_000 + i);
    }
    for (let i = 0; i < 100; i++) {
      put(storage, "y", i % 17, 1_700_000_000 + i);
      expected.put("y", i % 17, 1_700_000_000 + i);
    }
    await storage.compact();
  }
  const path = `${dir.path}/snapshot.pulse`;
  const bytes = await Deno.readFile(path);
  const starts = recordStarts(bytes);
  assert(starts.length >= 4, `${starts.length} records`);
  // The header, then x's chunks in records, the first of which is damaged.
  const [start, end] = starts.slice(2, 4);
  const lost = new Store();
  restoreRecords(
    lost,
    concat(bytes.subarray(0, starts[1]), bytes.subarray(start, end)),
  );
  const lostTimestamps = new Set(lost.get("x")!.toArray().map(([t]) => t));
  assert(lostTimestamps.size > 0);
  bytes[start + FRAME + 500] ^= 0x01;
  await Deno.writeFile(path, bytes);
  const aside = `${path}.${start}.damaged`;
  {
    const [storage, messages] = await open(dir.path);
    await using _ = storage;
    deepEqual(
      storage.store.get("x")!.toArray(),
      expected.get("x")!.toArray().filter(([t]) => !lostTimestamps.has(t)),
    );
    deepEqual(dump(storage.store)[1], dump(expected)[1]);
    deepEqual(storage.restored.damaged, [{
      file: "snapshot.pulse",
      kind: "checksum",
      offset: start,
      length: end - start,
      path: aside,
      cut: false,
    }]);
    deepEqual(messages.slice(0, -1), [
      `warn restore: snapshot.pulse: skipped a record of ${
        end - start
      } bytes at offset ${start} (damaged: checksum mismatch), its bytes set aside in ${aside}`,
    ]);
    deepEqual(await Deno.readFile(aside), bytes.subarray(start, end));
    deepEqual(await Deno.readFile(path), bytes);
    await storage.compact();
  }
  deepEqual(await damagedNames(dir.path), [`snapshot.pulse.${start}.damaged`]);
  const [storage, messages] = await open(dir.path);
  await using _ = storage;
  equal(storage.store.get("x")!.length, 100_000 - lostTimestamps.size);
  equal(messages.length, 1, messages.join("\n"));
});

Deno.test("`openStorage()` skips a chunk that cannot be decoded, restores the rest of its record and reports it", async () => {
  await using dir = await tempDir();
  const timestamps = Float64Array.from({ length: 10 }, (_, i) => 1e9 + i);
  const values = Float64Array.from({ length: 10 }, (_, i) => i / 4);
  const good = encodeChunk({ timestamps, values }, 5).slice();
  const later = encodeChunk({
    timestamps: timestamps.subarray(5),
    values: values.subarray(5),
  }, 5).slice();
  // Its checksum will match: the record is framed after the damage.
  const damaged = later.slice(0, -1);
  const w = new RecordWriter();
  w.header(FILE_SNAPSHOT, 1);
  const start = w.length;
  w.begin(RECORD_CHUNKS);
  w.byte(COMPRESSION_NONE);
  w.string("palm.cpu");
  for (const chunk of [good, damaged]) {
    w.varint(chunk.length);
    w.raw(chunk);
  }
  w.varint(0);
  w.string("palm.gpu");
  w.varint(later.length);
  w.raw(later);
  w.varint(0);
  w.end();
  const file = w.bytes().slice();
  const path = `${dir.path}/snapshot.pulse`;
  await Deno.writeFile(path, file);
  const [storage, messages] = await open(dir.path);
  await using _ = storage;
  deepEqual(dump(storage.store), [
    ["palm.cpu", [...timestamps.subarray(0, 5)].map((t, i) => [t, i / 4])],
    ["palm.gpu", [...timestamps.subarray(5)].map((t, i) => [t, (i + 5) / 4])],
  ]);
  const aside = `${path}.${start}.damaged`;
  const reason =
    `series "palm.cpu", a chunk of ${damaged.length} bytes: Cannot decode a chunk: it ends early`;
  deepEqual(storage.restored.damaged, [{
    file: "snapshot.pulse",
    kind: "chunk",
    offset: start,
    length: file.length - start,
    path: aside,
    cut: false,
  }]);
  equal(storage.restored.corrupted, 1);
  deepEqual(messages.slice(0, -1), [
    `warn restore: snapshot.pulse: skipped a chunk in the record of ${
      file.length - start
    } bytes at offset ${start} that cannot be decoded (damaged: ${reason}); the record's other chunks are restored, its bytes set aside in ${aside}`,
  ]);
  deepEqual(await Deno.readFile(aside), file.subarray(start));
});

Deno.test("`restoreRecords()` reads snapshots of format 3", async () => {
  // Written by Pulse 0.2.0's writeSnapshot() from fixtureStore()'s store.
  const bytes = await Deno.readFile(
    new URL("./fixtures/snapshot_v3.pulse", import.meta.url),
  );
  const store = new Store();
  const report = restoreRecords(store, bytes);
  deepEqual(report.header, { kind: FILE_SNAPSHOT, sequence: 3 });
  equal(report.corrupted + report.tornBytes, 0);
  equal(report.changes, 5015);
  const expected = fixtureStore(new Store());
  deepEqual(dump(store), dump(expected));
  for (const [key, samples] of dump(store)) {
    samples.forEach(([, value], i) => {
      const want = expected.get(key)!.toArray()[i][1];
      assert(Object.is(value, want), `${key}[${i}]: ${value}, not ${want}`);
    });
  }
});

/** The store that tests/fixtures/snapshot_v3.pulse was written from. */
function fixtureStore(store: Store): Store {
  let state = 7;
  const next = () =>
    (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let i = 0; i < 5000; i++) {
    store.put(
      "regular.cpu",
      Math.round(next() * 1000) / 10,
      1_700_000_000 + 10 * i,
    );
  }
  const odd = [0, -0, 5e-324, -2.2250738585072014e-308, 1e308];
  odd.push(-1.7976931348623157e308, 0.1 + 0.2, 2 ** 53 + 2, -(2 ** 60));
  odd.forEach((value, i) => store.put("odd.values", value, 1_600_000_000 + i));
  const far = [-MAX, -(2 ** 40), -1, 0, 2 ** 33, MAX];
  far.forEach((timestamp, i) =>
    store.put("far.timestamps", i + 0.5, timestamp)
  );
  return store;
}

Deno.test("`openStorage()` never overwrites a .damaged file and never reads one back", async () => {
  await using dir = await tempDir();
  const expected = new Store();
  await writeBatches(dir.path, 2, expected);
  const [log] = await logNames(dir.path);
  const path = `${dir.path}/${log}`;
  const whole = await Deno.readFile(path);
  // A whole log, with a name a log might have had: not restored.
  const [journal, ghost] = fakeJournal("no");
  journal.put("ghost", 1, 1);
  journal.commit();
  await journal.close();
  const header = new RecordWriter();
  header.header(FILE_LOG, 2);
  await Deno.writeFile(
    `${dir.path}/log-00000002.pulse.0.damaged`,
    concat(header.bytes(), ghost.data),
  );
  const earlier = bytes("from an earlier file of the same name");
  await Deno.writeFile(`${path}.${whole.length}.damaged`, earlier);
  const tail = new Uint8Array([9, 0, 0]);
  await Deno.writeFile(path, tail, { append: true });
  const [storage, messages] = await open(dir.path);
  await using _ = storage;
  const aside = `${path}.${whole.length}.2.damaged`;
  equal(storage.restored.damaged[0].path, aside);
  assert(messages[0].endsWith(`set aside in ${aside}`), messages[0]);
  deepEqual(await Deno.readFile(aside), tail);
  deepEqual(await Deno.readFile(`${path}.${whole.length}.damaged`), earlier);
  deepEqual(dump(storage.store), dump(expected));
  equal(storage.store.stats.samples, 200);
});

Deno.test("`openStorage()` cuts nothing it could not set aside", async () => {
  await using dir = await tempDir();
  await writeBatches(dir.path, 2, new Store());
  const [log] = await logNames(dir.path);
  const path = `${dir.path}/${log}`;
  const whole = await Deno.readFile(path);
  const bytes = concat(whole, new Uint8Array([9, 0, 0]));
  await Deno.writeFile(path, bytes);
  // Neither free nor holding the bytes, nor a file that can be read.
  await Deno.mkdir(`${path}.${whole.length}.damaged`);
  await rejects(open(dir.path), (error: Error) => {
    equal(
      error.message.split(": ")[0],
      `Cannot set aside the 3 damaged bytes at offset ${whole.length} of ${path}`,
    );
    return true;
  });
  deepEqual(await Deno.readFile(path), bytes);
  // Once it can, start-up sets them aside and cuts; the lock was let go.
  await Deno.remove(`${path}.${whole.length}.damaged`);
  const [storage] = await open(dir.path);
  await using _ = storage;
  deepEqual(
    await Deno.readFile(`${path}.${whole.length}.damaged`),
    new Uint8Array([9, 0, 0]),
  );
  equal((await Deno.stat(path)).size, whole.length);
});

Deno.test("`openStorage()` loses at most one record's samples of a big group commit to a flipped byte", async () => {
  await using dir = await tempDir();
  const puts = 100_000;
  {
    const [storage] = await open(dir.path, { fsync: "always" });
    await using _ = storage;
    let text = "";
    for (let i = 0; i < puts; i++) {
      text += `put host${i % 1000}.cpu ${i % 100}.5 ${1_700_000_000 + i}\n`;
    }
    const all = bytes(text);
    storage.journal.lines(all, 0, all.length - 1, puts);
    await storage.journal.commit();
  }
  const [log] = await logNames(dir.path);
  const path = `${dir.path}/${log}`;
  const data = await Deno.readFile(path);
  const records = recordStarts(data).length;
  data[Math.floor(data.length / 2)] ^= 0x08;
  await Deno.writeFile(path, data);
  const [storage] = await open(dir.path);
  await using _ = storage;
  const lost = puts - storage.store.stats.samples;
  assert(lost > 0 && lost <= 3_277, `${lost} samples lost`);
  equal(storage.restored.corrupted, 1);
  assert(records > 90, `${records} records`);
});

Deno.test("`Storage.compact()` writes a snapshot, drops old logs and keeps every change", async () => {
  await using dir = await tempDir();
  const random = rng(31);
  const expected = new Store();
  const change = (storage: Storage) => {
    const key = `k${randomInt(random, 0, 49)}`;
    const roll = random();
    if (roll < 0.97) {
      const [value, timestamp] = [random(), randomInt(random, 0, 5000)];
      put(storage, key, value, timestamp);
      expected.put(key, value, timestamp);
    } else if (roll < 0.99) {
      storage.journal.delete(key);
      storage.store.delete(key);
      expected.delete(key);
    } else {
      const cutoff = randomInt(random, 0, 100);
      storage.journal.trim(cutoff);
      storage.store.dropBefore(cutoff);
      expected.dropBefore(cutoff);
    }
  };
  {
    const [storage, messages] = await open(dir.path, { fsync: "always" });
    await using _ = storage;
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 20_000; i++) change(storage);
      await storage.journal.commit();
      // Changes go on while the snapshot is written.
      let compacted = false;
      const compaction = storage.compact().then(() => compacted = true);
      while (!compacted) {
        for (let i = 0; i < 200; i++) change(storage);
        await storage.journal.commit();
      }
      await compaction;
      deepEqual(await logNames(dir.path), [
        `log-0000000${round + 2}.pulse`,
      ]);
      assert(await exists(`${dir.path}/snapshot.pulse`));
      equal(
        storage.sizes.snapshot,
        (await Deno.stat(`${dir.path}/snapshot.pulse`)).size,
      );
      deepEqual(dump(storage.store), dump(expected));
    }
    // Each compaction is an event, and nothing went wrong.
    deepEqual(messages.map((message) => message.split(":")[0]), [
      "info restore",
      "info compaction",
      "info compaction",
      "info compaction",
    ]);
  }
  const [storage, messages] = await open(dir.path);
  await using _ = storage;
  deepEqual(dump(storage.store), dump(expected));
  equal(messages.length, 1, messages.join("\n"));
});

Deno.test("`openStorage()` compacts by itself once the log passes compactBytes", async () => {
  await using dir = await tempDir();
  const expected = new Store();
  {
    const [storage] = await open(dir.path, { compactBytes: 16 * 1024 });
    await using _ = storage;
    for (let i = 0; i < 5000; i++) {
      put(storage, `k${i % 10}`, i, i);
      expected.put(`k${i % 10}`, i, i);
    }
    storage.journal.commit();
    await until(
      () => storage.sizes.snapshot > 0,
      "a compaction",
      20_000,
    );
  }
  assert(!(await logNames(dir.path)).includes("log-00000001.pulse"));
  const [storage] = await open(dir.path);
  await using _ = storage;
  deepEqual(dump(storage.store), dump(expected));
});

Deno.test("`openStorage()` compacts once the log holds as many changes as the snapshot has samples", async () => {
  await using dir = await tempDir();
  const expected = new Store();
  let next = 0;
  const putMany = (storage: Storage, count: number) => {
    for (const end = next + count; next < end; next++) {
      put(storage, `k${next % 10}`, next, next);
      expected.put(`k${next % 10}`, next, next);
    }
    storage.journal.commit();
  };
  {
    const [storage] = await open(dir.path, { compactBytes: 16 * 1024 });
    await using _ = storage;
    putMany(storage, 5000);
    await until(() => storage.sizes.snapshot > 0, "a first compaction", 20_000);
    putMany(storage, 3000);
  }
  const [storage] = await open(dir.path, { compactBytes: 16 * 1024 });
  await using _ = storage;
  equal(storage.journal.changes, 3000, "changes restored from the log");
  const snapshot = storage.sizes.snapshot;
  assert(storage.sizes.log > 16 * 1024);
  // Past compactBytes, but 3000 changes against 5000 samples: it waits.
  await delay(2500);
  equal(storage.sizes.snapshot, snapshot);
  putMany(storage, 2000);
  await until(
    () => storage.sizes.snapshot > snapshot,
    "a compaction at 5000 changes",
    20_000,
  );
  assert(storage.journal.changes < 2000, "a fresh log after compacting");
  deepEqual(dump(storage.store), dump(expected));
});

Deno.test("`openStorage()` cleans up after a compaction cut short", async () => {
  await using dir = await tempDir();
  let staleLog: Uint8Array;
  {
    const [storage] = await open(dir.path, { fsync: "always" });
    await using _ = storage;
    put(storage, "k", 1, 1);
    await storage.journal.commit();
    staleLog = await Deno.readFile(`${dir.path}/log-00000001.pulse`);
    await storage.compact();
    put(storage, "k", 2, 2);
    storage.journal.commit();
  }
  // A crash after the rename leaves the old log; one before it, the
  // temporary snapshot.
  await Deno.writeFile(`${dir.path}/log-00000001.pulse`, staleLog);
  await Deno.writeFile(`${dir.path}/snapshot.pulse.tmp`, new Uint8Array(9));
  const [storage, messages] = await open(dir.path);
  await using _ = storage;
  deepEqual(dump(storage.store), [["k", [[1, 1], [2, 2]]]]);
  deepEqual(await logNames(dir.path), ["log-00000002.pulse"]);
  assert(!await exists(`${dir.path}/snapshot.pulse.tmp`));
  equal(messages.length, 1, messages.join("\n"));
});

Deno.test("`Storage.close()` is safe to call twice; `compact()` then rejects", async () => {
  await using dir = await tempDir();
  const [storage] = await open(dir.path);
  put(storage, "k", 1, 1);
  storage.journal.commit();
  await Promise.all([storage.close(), storage.close()]);
  await storage.close();
  await rejects(storage.compact(), TypeError);
  const [reopened] = await open(dir.path);
  await using _ = reopened;
  deepEqual(dump(reopened.store), [["k", [[1, 1]]]]);
});
