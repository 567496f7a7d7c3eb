/**
 * A data directory: the lock, the snapshot, the logs, restoring them at
 * start-up and compacting them while serving.
 *
 * Files in the directory:
 * - `LOCK`: held (flock) by the one server using the directory; holds its pid.
 * - `snapshot.pulse`: the store as of some moment, and the number of the
 *   first log it does not hold.
 * - `log-<number>.pulse`: changes since, replayed in order on start-up.
 * - `<file>.<offset>.damaged`: bytes that start-up found damaged at that
 *   offset of that file, set aside before it skipped or cut them. Never read
 *   back, never removed.
 *
 * @module
 */

import { describe } from "../internal/describe.ts";
import { type Logger, SILENT } from "../internal/logger.ts";
import { writeAll } from "../internal/write_all.ts";
import { Store } from "../store.ts";
import { setAside } from "./_damaged.ts";
import { type Backup, openBackup } from "./backup.ts";
import { type FsyncPolicy, Journal } from "./journal.ts";
import {
  type FaultKind,
  FILE_LOG,
  type RecordFault,
  RecordWriter,
} from "./records.ts";
import {
  restoreRecords,
  type RestoreReport,
  syncDirectory,
  writeSnapshot,
} from "./snapshot.ts";

/** Options of {@linkcode openDataDir}. */
export interface DataDirOptions {
  /**
   * When the log is fsynced: `always` before each answer, `everysec` once a
   * second, `no` when the OS likes.
   *
   * @default {"everysec"}
   */
  fsync?: FsyncPolicy;
  /**
   * The log is compacted into a new snapshot once it is larger than this
   * many bytes and holds as many changes (puts, deletes and drops) as the
   * snapshot holds samples.
   *
   * @default {67108864}
   */
  compactBytes?: number;
  /**
   * The event log: `restore` (what start-up restored, and at `warn` each
   * stretch of damaged bytes it set aside) and `compaction` (each one, and
   * at `error` a failure).
   *
   * @default {a logger that writes nothing}
   */
  logger?: Logger;
}

/** What start-up found in the data directory. */
export interface RestoreSummary {
  /** Samples restored. */
  samples: number;
  /** Series restored. */
  series: number;
  /** Milliseconds it took. */
  milliseconds: number;
  /** Stretches of damaged bytes found: every fault but a torn one. */
  corrupted: number;
  /** Bytes of unfinished records (writes cut short) at the end of files. */
  tornBytes: number;
  /** Every fault found, in the order of the files, and where it went. */
  damaged: DamagedBytes[];
}

/** Bytes that start-up could not restore, set aside in a file of their own. */
export interface DamagedBytes {
  /** The file they were found in, such as `log-00000003.pulse`. */
  file: string;
  /** What was wrong with them. */
  kind: FaultKind;
  /** Where they start in that file. */
  offset: number;
  /** How many bytes. */
  length: number;
  /** The file holding a copy of them: `<file>.<offset>.damaged`. */
  path: string;
  /**
   * Whether they were cut off the end of a log; otherwise they were
   * skipped and are still in their file.
   */
  cut: boolean;
}

/** The default of {@linkcode DataDirOptions.compactBytes}: 64 MiB. */
export const DEFAULT_COMPACT_BYTES = 64 * 1024 * 1024;
const SNAPSHOT = "snapshot.pulse";
const LOG_PATTERN = /^log-(\d+)\.pulse$/;
const COMPACT_CHECK_MS = 1_000;

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

function logName(sequence: number): string {
  return `log-${String(sequence).padStart(8, "0")}.pulse`;
}

async function lock(dir: string): Promise<Deno.FsFile> {
  const path = `${dir}/LOCK`;
  const file = await Deno.open(path, { read: true, write: true, create: true });
  if (!(await file.tryLock(true))) {
    file.close();
    const holder = (await Deno.readTextFile(path).catch(() => "")).trim();
    throw new Deno.errors.AlreadyExists(
      `Cannot use the data directory ${dir}: it is locked by another Pulse server${
        holder ? ` (pid ${holder})` : ""
      }`,
    );
  }
  await file.truncate(0);
  await writeAll(file, new TextEncoder().encode(`${Deno.pid}\n`));
  return file;
}

/** Creates log `sequence` with its header, durably, and opens it. */
async function createLog(
  dir: string,
  sequence: number,
): Promise<[Deno.FsFile, number]> {
  const file = await Deno.open(`${dir}/${logName(sequence)}`, {
    append: true,
    create: true,
  });
  // Left over from a crash while it was being created, it holds nothing.
  await file.truncate(0);
  const w = new RecordWriter();
  w.header(FILE_LOG, sequence);
  await writeAll(file, w.bytes());
  await file.syncData();
  await syncDirectory(dir);
  return [file, w.length];
}

/** What restoring the snapshot and the logs found. */
interface Restored {
  store: Store;
  /** Damage in every file, as in {@linkcode RestoreSummary}. */
  corrupted: number;
  tornBytes: number;
  damaged: DamagedBytes[];
  snapshotSize: number;
  snapshotSamples: number;
  /** Changes in the logs that the snapshot does not hold. */
  logged: number;
  /** The first log the snapshot does not hold. */
  nextLog: number;
  /** The last log and where its last whole record ends. */
  last: { sequence: number; size: number } | undefined;
}

/** Restores the snapshot, then the logs it does not hold, in order. */
async function restoreDirectory(
  dir: string,
  logger: Logger,
): Promise<Restored> {
  const restored: Restored = {
    store: new Store(),
    corrupted: 0,
    tornBytes: 0,
    damaged: [],
    snapshotSize: 0,
    snapshotSamples: 0,
    logged: 0,
    nextLog: 1,
    last: undefined,
  };
  const snapshot = await restoreFile(restored, dir, SNAPSHOT, logger);
  if (snapshot !== undefined) {
    restored.snapshotSize = snapshot.size;
    restored.snapshotSamples = snapshot.changes;
    restored.nextLog = snapshot.header?.sequence ?? 1;
  }
  // Left over from a compaction cut short; the snapshot it was to replace
  // and the logs are still there.
  await Deno.remove(`${dir}/${SNAPSHOT}.tmp`).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
  const logs: number[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const match = LOG_PATTERN.exec(entry.name);
    if (match) logs.push(Number(match[1]));
  }
  logs.sort((a, b) => a - b);
  for (const sequence of logs) {
    if (sequence < restored.nextLog) {
      // Held by the snapshot: left over from a compaction cut short.
      await Deno.remove(`${dir}/${logName(sequence)}`);
      continue;
    }
    const log = await restoreFile(
      restored,
      dir,
      logName(sequence),
      logger,
    );
    restored.logged += log!.changes;
    restored.last = { sequence, size: log!.validEnd };
  }
  return restored;
}

/**
 * Restores one file into the store. Its damaged bytes are set aside, and
 * the directory fsynced, before anything is cut: a log's torn or damaged
 * tail is cut off so that appending goes on after its last whole record,
 * while damage before that, and in a snapshot, stays where it is and is
 * skipped again at the next start (set aside once).
 *
 * @returns What was restored, or `undefined` when the file does not exist.
 */
async function restoreFile(
  restored: Restored,
  dir: string,
  name: string,
  logger: Logger,
): Promise<(RestoreReport & { size: number }) | undefined> {
  const path = `${dir}/${name}`;
  const bytes = await Deno.readFile(path).catch((error) => {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  });
  if (bytes === undefined) return undefined;
  const report = restoreRecords(restored.store, bytes);
  restored.corrupted += report.corrupted;
  restored.tornBytes += report.tornBytes;
  const isLog = name !== SNAPSHOT;
  let written = false;
  for (const fault of report.faults) {
    const cut = isLog && fault.start >= report.validEnd;
    const aside = await setAside(path, {
      offset: fault.start,
      bytes: bytes.subarray(fault.start, fault.end),
    });
    written ||= aside.fresh;
    restored.damaged.push({
      file: name,
      kind: fault.kind,
      offset: fault.start,
      length: fault.end - fault.start,
      path: aside.path,
      cut,
    });
    logger.warn("restore", {
      msg: `${name}: ${cut ? "cut off" : "skipped"} ${
        describeFault(fault, fault.start >= report.validEnd)
      }, its bytes ${aside.fresh ? "" : "already "}set aside in ${aside.path}`,
      file: name,
      kind: fault.kind,
      offset: fault.start,
      length: fault.end - fault.start,
      aside: aside.path,
      cut,
    });
  }
  if (written) await syncDirectory(dir);
  if (isLog && report.validEnd < bytes.length) {
    const file = await Deno.open(path, { write: true });
    try {
      await file.truncate(report.validEnd);
      await file.syncData();
    } finally {
      file.close();
    }
  }
  return { ...report, size: bytes.length };
}

/** What a fault is, for an operator: which kind, how long, and where. */
function describeFault(fault: RecordFault, atEnd: boolean): string {
  const size = plural(fault.end - fault.start, "byte");
  const where = `at offset ${fault.start}`;
  switch (fault.kind) {
    case "torn":
      return `an unfinished record of ${size} ${where} (a write cut short)`;
    case "checksum":
      return `a record of ${size} ${where} (damaged: checksum mismatch)`;
    case "length":
      return `a record of ${size} ${where} (damaged: its length is wrong)`;
    case "content":
      return `a record of ${size} ${where} that cannot be read (damaged: ${fault.reason})`;
    case "chunk":
      return `a chunk in the record of ${size} ${where} that cannot be decoded (damaged: ${fault.reason}); the record's other chunks are restored`;
    case "garbage":
      return `${size} ${where} that frame no record (damaged: garbage ${
        atEnd ? "after the last record" : "between records"
      })`;
  }
}

/**
 * Opens the last log for appending after its last whole record, or creates
 * it when there is none or nothing whole in it.
 *
 * @returns The file, its size and its number.
 */
async function openLastLog(
  dir: string,
  { last, nextLog }: Restored,
): Promise<[Deno.FsFile, number, number]> {
  if (last === undefined || last.size === 0) {
    const sequence = last?.sequence ?? nextLog;
    return [...await createLog(dir, sequence), sequence];
  }
  const path = `${dir}/${logName(last.sequence)}`;
  return [await Deno.open(path, { append: true }), last.size, last.sequence];
}

/**
 * Removes the logs a new snapshot holds. Only `log-<number>.pulse` files
 * match: the `.damaged` files next to them stay, for an operator to look at.
 */
async function removeLogsBefore(dir: string, next: number): Promise<void> {
  for await (const entry of Deno.readDir(dir)) {
    const match = LOG_PATTERN.exec(entry.name);
    if (match && Number(match[1]) < next) {
      await Deno.remove(`${dir}/${entry.name}`);
    }
  }
  await syncDirectory(dir);
}

/**
 * An open data directory: its lock, its store as restored, its log, and
 * compaction into a snapshot while serving goes on.
 */
export class DataDir implements AsyncDisposable {
  /** The directory. */
  readonly path: string;
  /** The store, restored from the directory. */
  readonly store: Store;
  /** The log that changes to the store are appended to. */
  readonly journal: Journal;
  /** What start-up restored. */
  readonly restored: RestoreSummary;
  #lock: Deno.FsFile;
  #sequence: number;
  #snapshotSize: number;
  #snapshotSamples: number;
  #compactBytes: number;
  #logger: Logger;
  #compacting: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  #timer: ReturnType<typeof setInterval>;

  private constructor(
    path: string,
    lock: Deno.FsFile,
    found: Restored,
    log: { journal: Journal; sequence: number; restored: RestoreSummary },
    options: DataDirOptions,
  ) {
    this.path = path;
    this.#lock = lock;
    this.store = found.store;
    this.#snapshotSize = found.snapshotSize;
    this.#snapshotSamples = found.snapshotSamples;
    this.journal = log.journal;
    this.#sequence = log.sequence;
    this.restored = log.restored;
    this.#compactBytes = options.compactBytes ?? DEFAULT_COMPACT_BYTES;
    this.#logger = options.logger ?? SILENT;
    this.#timer = setInterval(() => this.#compactIfDue(), COMPACT_CHECK_MS);
  }

  /**
   * Opens a data directory, creating it if need be: locks it, restores the
   * snapshot and replays the logs into a new store, and opens the log for
   * appending.
   *
   * @param dir The directory.
   * @param options The fsync policy and when to compact.
   * @returns The open directory.
   * @throws {Deno.errors.AlreadyExists} When another server holds the lock.
   */
  static async open(
    dir: string,
    options: DataDirOptions = {},
  ): Promise<DataDir> {
    const logger = options.logger ?? SILENT;
    await Deno.mkdir(dir, { recursive: true });
    const lockFile = await lock(dir);
    try {
      const started = performance.now();
      const found = await restoreDirectory(dir, logger);
      const [file, size, sequence] = await openLastLog(dir, found);
      const journal = new Journal(file, {
        fsync: options.fsync,
        size,
        changes: found.logged,
      });
      const { series, samples } = found.store.stats;
      const restored: RestoreSummary = {
        samples,
        series,
        milliseconds: Math.round(performance.now() - started),
        corrupted: found.corrupted,
        tornBytes: found.tornBytes,
        damaged: found.damaged,
      };
      logger.info("restore", {
        msg:
          `restored ${samples} samples in ${series} series from ${dir} in ${restored.milliseconds} ms`,
        dir,
        samples,
        series,
        ms: restored.milliseconds,
        corrupted: restored.corrupted,
        torn_bytes: restored.tornBytes,
      });
      return new DataDir(
        dir,
        lockFile,
        found,
        { journal, sequence, restored },
        options,
      );
    } catch (error) {
      lockFile.close();
      throw error;
    }
  }

  /** Sizes of the snapshot and of the current log, in bytes. */
  get sizes(): { snapshot: number; log: number } {
    return { snapshot: this.#snapshotSize, log: this.journal.size };
  }

  /**
   * Writes a new snapshot and drops the logs it holds, while serving goes
   * on. Compaction also starts by itself when the log grows large.
   *
   * @returns A promise that settles once the old logs are removed; a call
   * during a compaction shares it.
   * @throws {TypeError} When the directory is closed.
   */
  compact(): Promise<void> {
    if (this.#closing !== undefined) {
      return Promise.reject(
        new TypeError(`Cannot compact ${this.path}: the storage is closed`),
      );
    }
    return this.#startCompaction("request");
  }

  /**
   * A backup of the directory as it stands: one file that restores on its
   * own as the `snapshot.pulse` of an empty directory, to the store as it
   * stood at one moment after the call (every change applied before the
   * call, and maybe some after). It compacts, then closes the log the new
   * snapshot does not hold by moving on to the next; the backup is the
   * snapshot followed by that log's records (see `backup.ts`). Compactions
   * and backups run one at a time.
   *
   * @returns The backup, to be read or cancelled: it holds two open files.
   * @throws {TypeError} When the directory is closed.
   * @throws When the log cannot be written, or a file cannot be.
   */
  async backup(): Promise<Backup> {
    // Each compaction moves the log on and replaces the snapshot: the files
    // are opened before another may start.
    while (this.#compacting !== undefined) {
      await this.#compacting.catch(() => {});
    }
    if (this.#closing !== undefined) {
      throw new TypeError(`Cannot back up ${this.path}: the storage is closed`);
    }
    const failure = this.journal.failure;
    if (failure !== undefined) {
      throw new Error(`Cannot back up ${this.path}: ${failure.message}`, {
        cause: failure,
      });
    }
    const backup = this.#backup();
    this.#compacting = backup.then(() => {}).finally(() => {
      this.#compacting = undefined;
    });
    // Its failure is the caller's, and of a compact() that shared it.
    this.#compacting.catch(() => {});
    return await backup;
  }

  /**
   * Waits for a compaction under way, writes and fsyncs the log, and
   * unlocks. Safe to call more than once.
   *
   * @returns A promise that settles once the directory is unlocked.
   * @throws When the last of the log cannot be written.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#timer);
      try {
        await this.#compacting?.catch(() => {});
        await this.journal.close();
      } finally {
        this.#lock.close();
      }
    })();
    return this.#closing;
  }

  /** Closes the directory, as {@linkcode DataDir.close} does. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Starts a compaction, or shares the one under way. */
  #startCompaction(trigger: "request" | "size"): Promise<void> {
    this.#compacting ??= this.#compactLogged(trigger).finally(() => {
      this.#compacting = undefined;
    });
    return this.#compacting;
  }

  /** Compacts, and logs how it went: `trigger` says who asked. */
  async #compactLogged(trigger: "request" | "size"): Promise<void> {
    const started = performance.now();
    const dir = this.path;
    try {
      await this.#compact();
    } catch (error) {
      this.#logger.error("compaction", {
        msg: `compaction failed: ${describe(error)}`,
        dir,
        trigger,
        error: describe(error),
      });
      throw error;
    }
    const ms = Math.round(performance.now() - started);
    this.#logger.info("compaction", {
      msg:
        `compacted ${dir}: ${this.#snapshotSamples} samples in a snapshot of ${this.#snapshotSize} bytes in ${ms} ms`,
      dir,
      trigger,
      samples: this.#snapshotSamples,
      snapshot_bytes: this.#snapshotSize,
      ms,
    });
  }

  async #compact(): Promise<void> {
    const dir = this.path;
    const next = this.#sequence + 1;
    const [newFile, newSize] = await createLog(dir, next);
    await this.journal.rotate(newFile, newSize);
    this.#sequence = next;
    const info = await writeSnapshot(this.store, `${dir}/${SNAPSHOT}`, next);
    this.#snapshotSize = info.bytes;
    this.#snapshotSamples = info.samples;
    await removeLogsBefore(dir, next);
  }

  async #backup(): Promise<Backup> {
    await this.#compact();
    const dir = this.path;
    const held = this.#sequence;
    const next = held + 1;
    const [newFile, newSize] = await createLog(dir, next);
    // Written out, fsynced and closed: the log holds every change applied
    // until now, and no later one.
    await this.journal.rotate(newFile, newSize);
    this.#sequence = next;
    return await openBackup(`${dir}/${SNAPSHOT}`, `${dir}/${logName(held)}`);
  }

  /**
   * Compacts once the log holds as many changes as the snapshot holds
   * samples: compacting writes every sample, and this keeps its cost a
   * constant per change, however long keys are and however the log encodes
   * them.
   */
  #compactIfDue(): void {
    const journal = this.journal;
    if (
      this.#compacting === undefined && this.#closing === undefined &&
      journal.size > this.#compactBytes &&
      journal.changes >= this.#snapshotSamples
    ) {
      this.#startCompaction("size").catch(() => {
        // Logged; the next check tries again.
      });
    }
  }
}

/**
 * Opens a data directory, as {@linkcode DataDir.open} does.
 *
 * @param dir The directory.
 * @param options The fsync policy and when to compact.
 * @returns The open directory.
 * @throws {Deno.errors.AlreadyExists} When another server holds the lock.
 */
export function openDataDir(
  dir: string,
  options: DataDirOptions = {},
): Promise<DataDir> {
  return DataDir.open(dir, options);
}
