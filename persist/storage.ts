/**
 * A data directory: the lock, the snapshot, the logs, restoring them at
 * start-up and compacting them while serving.
 *
 * Files in the directory:
 * - `LOCK`: held (flock) by the one server using the directory; holds its pid.
 * - `snapshot.pulse`: the store as of some moment, and the number of the
 *   first log it does not hold.
 * - `log-<number>.pulse`: changes since, replayed in order on start-up.
 *
 * @module
 */

import { writeAll } from "../_write_all.ts";
import { Store } from "../store.ts";
import { type FsyncPolicy, Journal } from "./journal.ts";
import { FILE_LOG, RecordWriter } from "./records.ts";
import { restoreRecords, syncDirectory, writeSnapshot } from "./snapshot.ts";

/** Options of {@linkcode openStorage}. */
export interface StorageOptions {
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
   * Receives what start-up restored, warnings about damaged records, and
   * failures of compaction.
   *
   * @default {console.error}
   */
  onLog?: (message: string) => void;
}

/** What start-up found in the data directory. */
export interface RestoreSummary {
  /** Samples restored. */
  samples: number;
  /** Series restored. */
  series: number;
  /** Milliseconds it took. */
  milliseconds: number;
  /** Damaged records skipped. */
  corrupted: number;
  /** Bytes of unfinished records dropped at the end of logs. */
  tornBytes: number;
}

/** An open data directory: its store, its log, and compaction. */
export interface Storage extends AsyncDisposable {
  /** The store, restored from the directory. */
  readonly store: Store;
  /** The log that changes to the store are appended to. */
  readonly journal: Journal;
  /** What start-up restored. */
  readonly restored: RestoreSummary;
  /** Sizes of the snapshot and of the current log, in bytes. */
  readonly sizes: { snapshot: number; log: number };
  /**
   * Writes a new snapshot and drops the logs it holds, while serving goes
   * on. Compaction also starts by itself when the log grows large.
   *
   * @returns A promise that settles once the old logs are removed; a call
   * during a compaction shares it.
   * @throws {TypeError} When the storage is closed.
   */
  compact(): Promise<void>;
  /**
   * Waits for a compaction under way, writes and fsyncs the log, and
   * unlocks. Safe to call more than once.
   *
   * @returns A promise that settles once the directory is unlocked.
   * @throws When the last of the log cannot be written.
   */
  close(): Promise<void>;
}

/** The default of {@linkcode StorageOptions.compactBytes}: 64 MiB. */
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

/**
 * Opens a data directory, creating it if need be: locks it, restores the
 * snapshot and replays the logs into a new store, and opens the log for
 * appending.
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
 * @param dir The directory.
 * @param options The fsync policy and when to compact.
 * @returns The open storage.
 * @throws {Deno.errors.AlreadyExists} When another server holds the lock.
 */
export async function openStorage(
  dir: string,
  options: StorageOptions = {},
): Promise<Storage> {
  const onLog = options.onLog ?? console.error;
  const compactBytes = options.compactBytes ?? DEFAULT_COMPACT_BYTES;
  await Deno.mkdir(dir, { recursive: true });
  const lockFile = await lock(dir);
  try {
    const started = performance.now();
    const store = new Store();
    let corrupted = 0;
    let tornBytes = 0;
    let snapshotSize = 0;
    let snapshotSamples = 0;
    // Changes in the logs that the snapshot does not hold.
    let logged = 0;
    let nextLog = 1;

    const snapshot = await Deno.readFile(`${dir}/${SNAPSHOT}`).catch(
      (error) => {
        if (error instanceof Deno.errors.NotFound) return undefined;
        throw error;
      },
    );
    if (snapshot !== undefined) {
      const report = restoreRecords(store, snapshot);
      snapshotSize = snapshot.length;
      snapshotSamples = report.changes;
      nextLog = report.header?.sequence ?? 1;
      corrupted += report.corrupted + (report.tornBytes > 0 ? 1 : 0);
      if (report.corrupted > 0 || report.tornBytes > 0) {
        onLog(
          `pulse: warning: ${SNAPSHOT}: skipped ${
            plural(report.corrupted, "damaged record")
          } and ${plural(report.tornBytes, "byte")} at its end`,
        );
      }
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
    let last: { sequence: number; size: number } | undefined;
    for (const sequence of logs) {
      const path = `${dir}/${logName(sequence)}`;
      if (sequence < nextLog) {
        // Held by the snapshot: left over from a compaction cut short.
        await Deno.remove(path);
        continue;
      }
      const report = restoreRecords(store, await Deno.readFile(path));
      logged += report.changes;
      if (report.corrupted > 0) {
        corrupted += report.corrupted;
        onLog(
          `pulse: warning: ${logName(sequence)}: skipped ${
            plural(report.corrupted, "damaged record")
          }`,
        );
      }
      if (report.tornBytes > 0) {
        tornBytes += report.tornBytes;
        onLog(
          `pulse: warning: ${
            logName(sequence)
          }: dropped an unfinished record of ${report.tornBytes} bytes at its end (a write cut short)`,
        );
        await Deno.truncate(path, report.validEnd);
      }
      last = { sequence, size: report.validEnd };
    }

    let file: Deno.FsFile;
    let size: number;
    let sequence: number;
    if (last === undefined || last.size === 0) {
      sequence = last?.sequence ?? nextLog;
      [file, size] = await createLog(dir, sequence);
    } else {
      sequence = last.sequence;
      size = last.size;
      file = await Deno.open(`${dir}/${logName(sequence)}`, { append: true });
    }
    const journal = new Journal(file, {
      fsync: options.fsync,
      size,
      changes: logged,
    });
    const { series, samples } = store.stats;
    const restored: RestoreSummary = {
      samples,
      series,
      milliseconds: Math.round(performance.now() - started),
      corrupted,
      tornBytes,
    };
    onLog(
      `pulse: restored ${samples} samples in ${series} series from ${dir} in ${restored.milliseconds} ms`,
    );

    let compacting: Promise<void> | undefined;
    let closing: Promise<void> | undefined;
    const compact = () => {
      if (closing !== undefined) {
        return Promise.reject(
          new TypeError(`Cannot compact ${dir}: the storage is closed`),
        );
      }
      compacting ??= (async () => {
        try {
          const next = sequence + 1;
          const [newFile, newSize] = await createLog(dir, next);
          await journal.rotate(newFile, newSize);
          sequence = next;
          const info = await writeSnapshot(store, `${dir}/${SNAPSHOT}`, next);
          snapshotSize = info.bytes;
          snapshotSamples = info.samples;
          for await (const entry of Deno.readDir(dir)) {
            const match = LOG_PATTERN.exec(entry.name);
            if (match && Number(match[1]) < next) {
              await Deno.remove(`${dir}/${entry.name}`);
            }
          }
          await syncDirectory(dir);
        } finally {
          compacting = undefined;
        }
      })();
      return compacting;
    };
    // Compacting writes every sample; doing it once the log holds as many
    // changes as the snapshot holds samples keeps that cost a constant per
    // change, however long keys are and however the log encodes them.
    const timer = setInterval(() => {
      if (
        !compacting && !closing && journal.size > compactBytes &&
        journal.changes >= snapshotSamples
      ) {
        compact().catch((error) =>
          onLog(`pulse: compaction failed: ${(error as Error).message}`)
        );
      }
    }, COMPACT_CHECK_MS);

    const close = () => {
      closing ??= (async () => {
        clearInterval(timer);
        try {
          await compacting?.catch(() => {});
          await journal.close();
        } finally {
          lockFile.close();
        }
      })();
      return closing;
    };
    return {
      store,
      journal,
      restored,
      get sizes() {
        return { snapshot: snapshotSize, log: journal.size };
      },
      compact,
      close,
      [Symbol.asyncDispose]: close,
    };
  } catch (error) {
    lockFile.close();
    throw error;
  }
}
