/**
 * Where the server's event log goes: a file, or stderr. Lines are gathered
 * and written together once the code that logged them gives way (a
 * microtask), so that a chunk of requests logged line by line costs one
 * write; past 64 KiB gathered they are written at once. A file is reopened
 * on demand, for log rotation: `logrotate` renames it, and SIGHUP makes the
 * server write to a new file of the old name.
 *
 * A write that fails (a full disk, a closed stderr) never stops the server:
 * its lines are lost, counted, and the next line that can be written says
 * how many.
 *
 * @module
 */

import { describe } from "../internal/describe.ts";

/** The name that means stderr. */
export const STDERR = "-";

// Gathered lines past this are written at once.
const FLUSH_CHARS = 64 * 1024;
const ENCODER = new TextEncoder();

/** Writes all of `bytes` to a file or stderr, synchronously. */
function writeAllSync(
  target: { writeSync(p: Uint8Array): number },
  bytes: Uint8Array,
): void {
  let written = 0;
  while (written < bytes.length) {
    written += target.writeSync(bytes.subarray(written));
  }
}

function openAppend(path: string): Deno.FsFile {
  // Not world-readable: with --log-requests the log holds what clients sent.
  return Deno.openSync(path, { append: true, create: true, mode: 0o640 });
}

/** The event log's destination: a file, or stderr. */
export class LogFile implements Disposable {
  /** The file's path, or `"-"` for stderr. */
  readonly path: string;
  #file: Deno.FsFile | undefined;
  #lines: string[] = [];
  #chars = 0;
  #scheduled = false;
  #lost = 0;
  #lostBecause = "";
  #closed = false;

  /**
   * Opens the log, creating the file if need be and appending to it.
   *
   * @param path A file, or `"-"` for stderr.
   * @throws When the file cannot be opened.
   */
  constructor(path: string) {
    this.path = path;
    this.#file = path === STDERR ? undefined : openAppend(path);
  }

  /**
   * Adds a line (without its newline); it is written soon, in order.
   *
   * @param line One JSON object.
   */
  readonly write = (line: string): void => {
    if (this.#closed) return;
    this.#lines.push(line);
    this.#chars += line.length + 1;
    if (this.#chars >= FLUSH_CHARS) {
      this.flush();
    } else if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => this.flush());
    }
  };

  /** Writes the lines gathered so far. */
  flush(): void {
    this.#scheduled = false;
    if (this.#lines.length === 0) return;
    const lines = this.#lines;
    this.#lines = [];
    this.#chars = 0;
    if (this.#lost > 0) {
      lines.unshift(JSON.stringify({
        time: new Date().toISOString(),
        level: "error",
        event: "error",
        msg: `lost ${this.#lost} lines of the log: ${this.#lostBecause}`,
      }));
    }
    try {
      writeAllSync(
        this.#file ?? Deno.stderr,
        ENCODER.encode(`${lines.join("\n")}\n`),
      );
      this.#lost = 0;
    } catch (error) {
      // The lost-lines line itself was lost too: leave it out of the count.
      this.#lost += this.#lost > 0 ? lines.length - 1 : lines.length;
      this.#lostBecause = describe(error);
    }
  }

  /**
   * Writes what is gathered and opens the file again by its name, so that
   * lines go to a new file once the old one was renamed (log rotation).
   * Nothing changes for stderr.
   *
   * @throws When the file cannot be opened; the old one is kept then.
   */
  reopen(): void {
    this.flush();
    if (this.#file === undefined || this.#closed) return;
    const file = openAppend(this.path);
    this.#file.close();
    this.#file = file;
  }

  /** Writes what is gathered and closes the file. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    this.#file?.close();
  }

  /** Closes the log, as {@linkcode LogFile.close} does. */
  [Symbol.dispose](): void {
    this.close();
  }
}
