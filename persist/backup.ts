/**
 * Backups of a live data directory: one file that restores on its own, as
 * `snapshot.pulse` of an empty directory, the store as it stood at one
 * moment.
 *
 * A snapshot is written while the store keeps changing, so on its own it
 * need not be any moment's store: each series, each sample even, is as the
 * walk found it. The log started just before the walk holds every change
 * made meanwhile, in the order they were applied. Once that log is closed
 * (the next change goes to a new one), the snapshot followed by the log's
 * records gives, replayed, the store as it stood when the log was closed:
 * replaying a change sets what it set again (a put one value, a delete a
 * series gone, a drop samples gone), so every sample ends as the last
 * change to it left it, whatever the walk saw. A backup is that: the
 * snapshot's bytes, then the closed log's records without its header.
 * Start-up restores the records of a snapshot file whatever their kind.
 *
 * @module
 */

/** A backup: its size, and its bytes as they are read. */
export interface Backup {
  /** Its size in bytes. */
  readonly size: number;
  /** Its bytes; cancelling the stream closes the files it reads. */
  readonly stream: ReadableStream<Uint8Array>;
}

// A record's frame: a u32 length and a u32 checksum before its payload.
const FRAME_SIZE = 8;
const READ_SIZE = 64 * 1024;

/** A stretch of an open file, read once. */
interface Part {
  file: Deno.FsFile;
  path: string;
  left: number;
}

/** Reads the first record's frame: where the record after it starts. */
async function firstRecordEnd(
  file: Deno.FsFile,
  path: string,
): Promise<number> {
  const frame = new Uint8Array(FRAME_SIZE);
  let filled = 0;
  while (filled < FRAME_SIZE) {
    const n = await file.read(frame.subarray(filled));
    if (n === null) {
      throw new RangeError(`Cannot back up ${path}: it has no header`);
    }
    filled += n;
  }
  return FRAME_SIZE + new DataView(frame.buffer).getUint32(0, true);
}

/**
 * Opens a snapshot and the closed log after it as one backup. Both files
 * must no longer change; they may be renamed or removed while the backup is
 * read.
 *
 * @param snapshotPath The snapshot.
 * @param logPath The log started before the snapshot was written, closed
 * after.
 * @returns The backup, to be read or cancelled.
 * @throws When a file cannot be opened.
 */
export async function openBackup(
  snapshotPath: string,
  logPath: string,
): Promise<Backup> {
  const parts: Part[] = [];
  try {
    for (const path of [snapshotPath, logPath]) {
      const file = await Deno.open(path, { read: true });
      parts.push({ file, path, left: (await file.stat()).size });
    }
    const log = parts[1];
    const header = await firstRecordEnd(log.file, log.path);
    await log.file.seek(header, Deno.SeekMode.Start);
    log.left = Math.max(0, log.left - header);
  } catch (error) {
    for (const part of parts) part.file.close();
    throw error;
  }
  const size = parts[0].left + parts[1].left;
  return { size, stream: partsStream(parts) };
}

/** The bytes of `parts`, one after the other, read as they are pulled. */
function partsStream(parts: Part[]): ReadableStream<Uint8Array> {
  let index = 0;
  const closeAll = () => {
    for (; index < parts.length; index++) parts[index].file.close();
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      while (index < parts.length && parts[index].left === 0) {
        parts[index++].file.close();
      }
      if (index === parts.length) {
        controller.close();
        return;
      }
      const part = parts[index];
      const chunk = new Uint8Array(Math.min(READ_SIZE, part.left));
      let n: number | null;
      try {
        n = await part.file.read(chunk);
      } catch (error) {
        closeAll();
        throw error;
      }
      if (n === null) {
        closeAll();
        throw new RangeError(
          `Cannot back up ${part.path}: it ended ${part.left} bytes early`,
        );
      }
      part.left -= n;
      controller.enqueue(chunk.subarray(0, n));
    },
    cancel() {
      closeAll();
    },
  });
}
