/**
 * Setting damaged bytes aside. Before start-up skips a damaged record, or
 * cuts a torn or damaged tail off a log, it copies the bytes into a file of
 * their own next to the file they were in, so that recovery never destroys
 * evidence: `log-00000003.pulse.1048.damaged` holds the bytes found at byte
 * offset 1048 of `log-00000003.pulse`. Pulse never reads these files back
 * and never removes them.
 *
 * @module
 */

import { writeAll } from "../internal/write_all.ts";

/** The suffix of the files that hold damaged bytes. */
export const DAMAGED_SUFFIX = ".damaged";

/** Where damaged bytes were set aside. */
export interface SetAside {
  /** The file's path. */
  path: string;
  /** Whether it was written now, rather than found holding these bytes. */
  fresh: boolean;
}

/**
 * Copies damaged bytes into `<path>.<offset>.damaged` and fsyncs it; the
 * caller fsyncs the directory. A file of that name that holds other bytes
 * (from an earlier file of the same name, or a copy cut short by a crash) is
 * never overwritten: the bytes go to `<path>.<offset>.<n>.damaged` for the
 * first `n` from 2 that is free. A file that holds the same bytes is reused,
 * so that damage skipped at every start-up is set aside once.
 *
 * @param path The file the bytes were found in.
 * @param damage Where they start in it, and the bytes.
 * @returns Where they are.
 * @throws {Error} When they cannot be written (a full disk), saying so.
 */
export async function setAside(
  path: string,
  damage: { offset: number; bytes: Uint8Array },
): Promise<SetAside> {
  try {
    return await copy(path, damage);
  } catch (error) {
    throw new Error(
      `Cannot set aside the ${damage.bytes.length} damaged bytes at offset ${damage.offset} of ${path}: ${
        (error as Error).message
      }`,
      { cause: error },
    );
  }
}

async function copy(
  path: string,
  damage: { offset: number; bytes: Uint8Array },
): Promise<SetAside> {
  for (let n = 1;; n++) {
    const candidate = `${path}.${damage.offset}${
      n === 1 ? "" : `.${n}`
    }${DAMAGED_SUFFIX}`;
    let file: Deno.FsFile;
    try {
      file = await Deno.open(candidate, { write: true, createNew: true });
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      if (sameBytes(await Deno.readFile(candidate), damage.bytes)) {
        return { path: candidate, fresh: false };
      }
      continue;
    }
    try {
      await writeAll(file, damage.bytes);
      await file.syncData();
    } finally {
      file.close();
    }
    return { path: candidate, fresh: true };
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
